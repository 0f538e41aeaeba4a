/**
 * The static landing page at `/` (the web console replaces it later) and the CSP of each
 * page the gateway serves itself.
 */
import { createHash } from 'node:crypto';
import { DOCS_CSP } from '../security/security.hooks';

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { max-width: 40rem; margin: 4rem auto; padding: 0 1.25rem; line-height: 1.5; }
  h1 { font-size: 1.6rem; margin-bottom: .25rem; }
  p.lead { margin-top: 0; opacity: .8; }
  ul { padding-left: 1.1rem; }
  code { font-size: .95em; }
`;

const styleHash = createHash('sha256').update(STYLE).digest('base64');

/** The landing page: static, no script, one inline style allowed by its hash. */
export const LANDING_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Gatehouse</h1>
<p class="lead">Identity and user platform: sign-up, login, sessions, MFA, passkeys, tenants, profiles, attendance and an audit log.</p>
<ul>
  <li><a href="/docs">API reference</a> (interactive)</li>
  <li><a href="/openapi.json">OpenAPI document</a> (<code>/openapi.json</code>)</li>
  <li><a href="/.well-known/jwks.json">Public signing keys</a> (<code>/.well-known/jwks.json</code>)</li>
  <li>Health: <a href="/healthz"><code>/healthz</code></a>, <a href="/readyz"><code>/readyz</code></a>, metrics at <code>/metrics</code></li>
</ul>
</body>
</html>
`;

/** CSP of the landing page: nothing but its own inline style. */
export const LANDING_CSP = `default-src 'none'; style-src 'sha256-${styleHash}'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

/** The CSP for a page the gateway serves itself, or undefined for API answers. */
export function pageCsp(path: string): string | undefined {
  if (path === '/') return LANDING_CSP;
  if (path === '/docs' || path.startsWith('/docs/')) return DOCS_CSP;
  return undefined;
}
