/**
 * The web console (plain HTML, CSS and ES modules from the repository's `console/`, nothing to
 * build): `GET /`, `/reset-password` and `/verify-email` answer its index.html, its files are
 * under `/console/`. Served with @fastify/static; the CSP comes from the security hook
 * (console.pages.ts), nosniff and the other headers from helmet.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform';
import { consoleErrors } from './console.errors';
import { CONSOLE_ASSETS_PREFIX, CONSOLE_PAGES, CONSOLE_VENDOR, findConsoleDir } from './console.pages';

export interface ConsoleRoutesOptions {
  /** the directory holding index.html; default: the repository's `console/`, found from this module */
  dir?: string;
}

/**
 * The files have no content hash in their names (there is no build step), so a long max-age
 * would keep an old module next to a new one after an upgrade. `no-cache` with the ETag and
 * Last-Modified @fastify/static sends makes every load a cheap conditional request (304).
 */
const CACHE_CONTROL = 'no-cache';

const pageSchema = {
  hide: true,
  tags: ['gateway'],
  querystring: Type.Object({
    token: Type.Optional(Type.String({ description: 'the one-time token of an emailed link (read by the page, never by the server)' })),
  }),
  response: { 200: Type.String({ description: 'the console (text/html)' }) },
};

/** Registers the console's pages and files; without its files, the pages answer 503 `console_unavailable`. */
export async function consoleRoutes(app: HttpApp, opts: ConsoleRoutesOptions = {}) {
  const dir = opts.dir ?? findConsoleDir();
  if (!dir || !existsSync(path.join(dir, 'index.html'))) {
    app.log.warn('console/index.html not found: the web console is not served (the API, /docs and /openapi.json are)');
    for (const url of CONSOLE_PAGES) {
      app.get(url, { schema: { ...pageSchema, summary: 'The web console (not installed here)' } }, async () => {
        throw consoleErrors.unavailable();
      });
    }
    return;
  }

  await app.register(fastifyStatic, {
    root: dir,
    prefix: CONSOLE_ASSETS_PREFIX,
    // One route per file found at start-up (no catch-all): nothing added later is served,
    // and an unknown name is the usual 404 problem.
    wildcard: false,
    index: false,
    serveDotFiles: false,
    dotfiles: 'deny',
    cacheControl: false,
    etag: true,
    lastModified: true,
    setHeaders: (reply) => {
      reply.header('cache-control', CACHE_CONTROL);
    },
  });

  // the libraries of CONSOLE_VENDOR, from the installed packages' dist directories
  const require = createRequire(import.meta.url);
  for (const [name, lib] of Object.entries(CONSOLE_VENDOR)) {
    let root: string;
    try {
      root = path.dirname(require.resolve(lib.pkg));
    } catch {
      app.log.warn({ pkg: lib.pkg }, 'a console library is not installed: the screens that use it will say so');
      continue;
    }
    const files: readonly string[] = lib.files;
    await app.register(fastifyStatic, {
      root,
      prefix: `${CONSOLE_ASSETS_PREFIX}vendor/${name}/`,
      decorateReply: false,
      wildcard: false,
      index: false,
      serveDotFiles: false,
      dotfiles: 'deny',
      allowedPath: (pathName) => files.includes(pathName.replace(/^\//, '')),
      cacheControl: false,
      etag: true,
      lastModified: true,
      setHeaders: (reply) => {
        reply.header('cache-control', CACHE_CONTROL);
      },
    });
  }

  for (const url of CONSOLE_PAGES) {
    app.get(url, { schema: { ...pageSchema, summary: 'The web console' } }, (_req, reply) => {
      // streams the file (with ETag, Last-Modified and the cache header above); not a return value
      void reply.sendFile('index.html');
    });
  }
}
