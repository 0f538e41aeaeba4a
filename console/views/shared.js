/** Pieces more than one screen uses. */
import { h } from '../lib/dom.js';

/**
 * An <img> of SVG text the API returned (a QR code), through a blob: URL: the SVG never
 * becomes part of the page's DOM (it could carry script or styles), and as an image it runs
 * nothing. The URL is released when the screen is left.
 */
export function svgImage(svgText, alt, ctx) {
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  ctx?.onLeave(() => URL.revokeObjectURL(url));
  return h('img', { src: url, alt, width: '200', height: '200' });
}

/** Backup codes to write down, with a button that saves them as a text file. */
export function backupCodesList(codes) {
  const download = () => {
    const url = URL.createObjectURL(new Blob([`Gatehouse backup codes (each works once)\n\n${codes.join('\n')}\n`], { type: 'text/plain' }));
    const a = h('a', { href: url, download: 'gatehouse-backup-codes.txt' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return h(
    'div',
    { class: 'codes' },
    h('ul', { class: 'backup-codes', 'aria-label': 'Backup codes' }, codes.map((c) => h('li', {}, h('code', { text: c })))),
    h('button', { type: 'button', text: 'Save as a file', on: { click: download } }),
  );
}

/** A short, human description of a browser user-agent string. */
export function deviceName(userAgent) {
  if (!userAgent) return 'Unknown device';
  const ua = userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : null;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? ua.slice(0, 60);
}

/** A small label ("badge"). */
export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}`.trim(), text });
}
