import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHttpApp } from '@gatehouse/platform';
import { testLogger } from '@gatehouse/platform/testing';
import { startStack, type Stack } from '../../testing/fixtures';
import { DOCS_CSP } from '../security/security.hooks';
import { consoleRoutes } from './console.routes';
import { CONSOLE_CSP, CONSOLE_VENDOR, findConsoleDir } from './console.pages';

const consoleDir = findConsoleDir();

/** Every file under `dir`, as paths relative to it with forward slashes. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else out.push(rel);
  }
  return out;
}

describe('console: serving', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s.close();
  });

  test('the console directory is found from the gateway module (source, bundled and other working directories)', () => {
    assert.ok(consoleDir, 'console/ with index.html next to the repository root');
    const root = path.dirname(consoleDir);
    assert.equal(findConsoleDir(path.join(root, 'services', 'gateway', 'dist')), consoleDir);
    assert.equal(findConsoleDir(path.join(root, 'cli', 'dist')), consoleDir);
    assert.equal(findConsoleDir(tmpdir()), undefined);
  });

  test('GET / is the console: HTML, its CSP, nosniff, no framing, revalidated caching', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.match(res.body, /<script type="module" src="\/console\/app\.js"><\/script>/);
    assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['referrer-policy'], 'no-referrer', 'emailed tokens in the URL must not leak in Referer');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.ok(res.headers.etag, 'an ETag, so reloads are 304s');
    const again = await s.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(res.headers.etag) } });
    assert.equal(again.statusCode, 304);
    const head = await s.app.inject({ method: 'HEAD', url: '/' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
  });

  test('the CSP is at least as strict as asked: nothing inline, nothing from elsewhere, never framed', () => {
    const directives = new Map<string, string[]>(
      CONSOLE_CSP.split(';').map((d) => {
        const [name = '', ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), ["'self'"]);
    assert.deepEqual(directives.get('style-src'), ["'self'"]);
    assert.deepEqual(directives.get('connect-src'), ["'self'"]);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
    for (const values of directives.values()) {
      for (const v of values) assert.doesNotMatch(v, /unsafe|https?:|\*/, `no ${v}`);
    }
  });

  test('the emailed-link paths serve the same page; their token is not echoed by the server', async () => {
    const index = (await s.app.inject({ method: 'GET', url: '/' })).body;
    for (const url of ['/reset-password?token=abc_DEF-123', '/verify-email?token=abc_DEF-123', '/reset-password', '/verify-email?token=%3Cscript%3E']) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.body, index, url);
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP, url);
    }
  });

  test('every console file is served with a type browsers accept for it, and every module import resolves', async () => {
    assert.ok(consoleDir);
    const files = await filesUnder(consoleDir);
    const types: Record<string, RegExp> = { '.js': /^(text|application)\/javascript/, '.css': /^text\/css/, '.html': /^text\/html/, '.svg': /^image\/svg\+xml/ };
    for (const file of files) {
      const res = await s.app.inject({ method: 'GET', url: `/console/${file}` });
      assert.equal(res.statusCode, 200, file);
      const expected = types[path.extname(file)];
      assert.ok(expected, `${file}: only web assets belong in console/`);
      assert.match(String(res.headers['content-type']), expected, file);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', file);
      assert.equal(res.headers['cache-control'], 'no-cache', file);
    }
    // the module graph from the page: a broken relative import would only show in a browser
    const seen = new Set<string>();
    const queue = ['/console/app.js'];
    while (queue.length) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await s.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, `${url} (imported)`);
      for (const m of res.body.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        queue.push(new URL(m[1]!, `http://x${url}`).pathname);
      }
    }
    const jsFiles = files.filter((f) => f.endsWith('.js')).map((f) => `/console/${f}`);
    assert.deepEqual([...seen].sort(), jsFiles.sort(), 'every module is reachable from app.js, and only those exist');
    // what index.html loads exists
    const html = (await s.app.inject({ method: 'GET', url: '/' })).body;
    for (const m of html.matchAll(/(?:src|href)="(\/console\/[^"]+)"/g)) {
      assert.equal((await s.app.inject({ method: 'GET', url: m[1]! })).statusCode, 200, m[1]!);
    }
  });

  test('the console has no inline script or style, and builds no HTML from strings', async () => {
    assert.ok(consoleDir);
    const html = await readFile(path.join(consoleDir, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline <script>');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler attributes');
    for (const file of (await filesUnder(consoleDir)).filter((f) => f.endsWith('.js'))) {
      const js = await readFile(path.join(consoleDir, file), 'utf8');
      assert.doesNotMatch(js, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/, file);
      assert.doesNotMatch(js, /(localStorage|sessionStorage)\.setItem\([^)]*(token|Token)/, `${file}: tokens never go to storage`);
    }
  });

  test('the console libraries (uPlot, jsQR) come from the installed packages, only the listed files, under the console CSP', async () => {
    for (const [name, lib] of Object.entries(CONSOLE_VENDOR)) {
      for (const file of lib.files) {
        const res = await s.app.inject({ method: 'GET', url: `/console/vendor/${name}/${file}` });
        assert.equal(res.statusCode, 200, file);
        assert.match(String(res.headers['content-type']), file.endsWith('.css') ? /^text\/css/ : /^(text|application)\/javascript/, file);
        assert.equal(res.headers['content-security-policy'], CONSOLE_CSP, file);
        assert.equal(res.headers['cache-control'], 'no-cache', file);
        assert.ok(res.body.length > 1000, file);
      }
    }
    for (const url of ['/console/vendor/uplot/uPlot.cjs.js', '/console/vendor/uplot/uPlot.d.ts', '/console/vendor/jsqr/index.d.ts', '/console/vendor/jsqr/decoder/decoder.js', '/console/vendor/uplot/../package.json', '/console/vendor/nope/x.js']) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.ok([400, 403, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
    }
  });

  test('nothing else is served: unknown files, traversal, dotfiles and other paths are 404 problems', async () => {
    for (const url of ['/console/nope.js', '/console/../package.json', '/console/%2e%2e/package.json', '/console/..%2fpackage.json', '/console/.gitignore', '/console/', '/console', '/account', '/index.html']) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.ok([400, 403, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/, url);
      assert.doesNotMatch(res.body, /"workspaces"/, url);
    }
  });

  test('/docs and /openapi.json keep working, /docs with its own CSP', async () => {
    const docs = await s.app.inject({ method: 'GET', url: '/docs' });
    assert.equal(docs.statusCode, 200);
    assert.equal(docs.headers['content-security-policy'], DOCS_CSP);
    const doc = await s.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(doc.statusCode, 200);
    assert.equal(doc.json().openapi, '3.1.0');
    // the console's routes are the gateway's own, not part of the public API document
    assert.equal(doc.json().paths['/'], undefined);
  });
});

describe('console: not installed', () => {
  test('without console/index.html the pages answer 503 console_unavailable, the rest still works', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'gh-console-'));
    const app = await createHttpApp({ name: 'gateway-test', logger: testLogger });
    try {
      await consoleRoutes(app, { dir: empty });
      for (const url of ['/', '/reset-password?token=x', '/verify-email']) {
        const res = await app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 503, url);
        assert.equal(res.json().code, 'console_unavailable', url);
        assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      }
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await app.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
