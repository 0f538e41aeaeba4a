/**
 * The pages the gateway serves itself (the web console and the /docs reference) and the
 * Content-Security-Policy each one gets; every other answer keeps the API's `default-src 'none'`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOCS_CSP } from '../security/security.hooks';

/**
 * Paths that answer with the console's `index.html`: the root, the links that emails carry
 * (`PUBLIC_URL/reset-password?token=…`, `PUBLIC_URL/verify-email?token=…`,
 * `PUBLIC_URL/confirm-email?token=…`), and where a social sign-in returns
 * (`/oauth-callback?code=…`; put it on the tenant's redirect URIs). Screens
 * inside the console are `#/…` fragments, so reloading one never needs another server path.
 */
export const CONSOLE_PAGES = ['/', '/reset-password', '/verify-email', '/confirm-email', '/oauth-callback'] as const;

/** Where the console's files (scripts, styles, icon) are served from. */
export const CONSOLE_ASSETS_PREFIX = '/console/';

/**
 * Libraries the console loads from the installed packages (no CDN, nothing copied into the
 * repository): `/console/vendor/<name>/<file>` is `<file>` of the package's `dist` directory.
 * Only the listed files are served.
 */
export const CONSOLE_VENDOR = {
  /** uPlot, the Dashboard's charts (ES module and its stylesheet) */
  uplot: { pkg: 'uplot', files: ['uPlot.esm.js', 'uPlot.min.css'] },
  /** jsQR, the QR decoder of the check-in scanner where the browser has no BarcodeDetector (UMD: sets window.jsQR) */
  jsqr: { pkg: 'jsqr', files: ['jsQR.js'] },
} as const;

/**
 * CSP of the console, stricter than "self for everything": nothing inline (no inline script
 * or style, no `style` attributes), images from the gateway or blob: URLs the page makes itself
 * (QR codes, the TOTP enrollment code), fetch only to the gateway, no plugins, no <base>, no
 * native form submission (every form is handled by script, so a form that somehow submitted
 * natively must not carry a password into a URL), never framed. Trusted Types with no policy
 * make the browser itself refuse every HTML-string sink (innerHTML and the like): the console
 * builds the DOM with DOM APIs only, and this turns that rule into an enforced one.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** The CSP for a page the gateway serves itself, or undefined for API answers. */
export function pageCsp(urlPath: string): string | undefined {
  if ((CONSOLE_PAGES as readonly string[]).includes(urlPath) || urlPath.startsWith(CONSOLE_ASSETS_PREFIX)) return CONSOLE_CSP;
  if (urlPath === '/docs' || urlPath.startsWith('/docs/')) return DOCS_CSP;
  return undefined;
}

/**
 * Finds the repository's `console/` directory (the one holding `index.html`) by walking up
 * from this module. The gateway runs from source (`services/gateway/src/modules/console/`),
 * bundled (`services/gateway/dist/`, `cli/dist/`), or with another working directory, so
 * neither a fixed relative path nor the cwd would do. Undefined when there is none.
 */
export function findConsoleDir(from: string = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from;
  for (let depth = 0; depth < 8; depth++) {
    const candidate = path.join(dir, 'console');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}
