/**
 * System (superadmin): every service's readiness, version and uptime as the gateway sees them,
 * its checks, and the last hour of requests, 5xx answers and p99 latency per minute
 * (`GET /api/v1/admin/system`). Refreshes every 30 seconds while shown.
 */
import { api } from '../lib/api.js';
import { dl, h, replace } from '../lib/dom.js';
import { badge } from './shared.js';

const REFRESH_MS = 30_000;
const SVG = 'http://www.w3.org/2000/svg';
const STATUS = { ready: 'ok', degraded: 'warn', down: 'bad' };

/** An SVG element with attributes (presentation attributes, not inline styles: the CSP forbids those). */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** "3 d 4 h", "5 h 2 min", "42 s". */
export function uptime(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const d = Math.floor(seconds / 86400);
  const hr = Math.floor((seconds % 86400) / 3600);
  const min = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${min} min`;
  if (min > 0) return `${min} min`;
  return `${seconds} s`;
}

/** Bars of requests per minute over the last hour, 5xx in the error colour; a text summary for screen readers. */
function chart(history, name) {
  const width = 240;
  const height = 48;
  const max = Math.max(1, ...history.map((p) => p.requests));
  const bar = width / 60;
  const total = history.reduce((n, p) => n + p.requests, 0);
  const errors = history.reduce((n, p) => n + p.errors, 0);
  const label = `${name}: ${total} requests and ${errors} errors in the last ${history.length} minute${history.length === 1 ? '' : 's'}`;
  const bars = [];
  history.slice(-60).forEach((p, i) => {
    const x = (60 - Math.min(60, history.length) + i) * bar;
    const hReq = (p.requests / max) * height;
    const hErr = (p.errors / max) * height;
    const title = svg('title');
    title.textContent = `${new Date(p.at).toLocaleTimeString()}: ${p.requests} requests, ${p.errors} errors${p.p99Ms === null ? '' : `, p99 ${p.p99Ms} ms`}`;
    bars.push(svg('rect', { x, y: height - hReq, width: Math.max(1, bar - 1), height: hReq, class: 'bar' }, title));
    if (p.errors > 0) bars.push(svg('rect', { x, y: height - hErr, width: Math.max(1, bar - 1), height: hErr, class: 'bar error' }));
  });
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label, class: 'chart' }, svg('line', { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: 'axis' }), ...bars);
}

function serviceCard(s) {
  const f = s.figures;
  const checks = Object.entries(s.checks);
  return h(
    'section',
    { class: 'card service', 'aria-label': s.name, dataset: { service: s.name, status: s.status } },
    h('h2', {}, s.name, ' ', badge(s.status, STATUS[s.status] ?? '')),
    dl([
      ['Version', s.version ?? '—'],
      ['Uptime', uptime(s.uptimeSeconds)],
      ['Requests (last hour)', String(f.requestsLastHour)],
      ['Errors (5xx, last hour)', String(f.errorsLastHour)],
      ['p99 latency (last hour)', f.p99MsLastHour === null ? '—' : `${f.p99MsLastHour} ms`],
    ]),
    chart(f.history, s.name),
    checks.length
      ? h('ul', { class: 'checks', 'aria-label': `Checks of ${s.name}` }, checks.map(([name, v]) => h('li', {}, badge(v === 'ok' ? 'ok' : 'failing', v === 'ok' ? 'ok' : 'bad'), ' ', h('strong', { text: name }), v === 'ok' ? null : h('span', { class: 'muted small', text: ` ${v}` }))))
      : null,
  );
}

/** The system screen. */
export async function systemView(ctx) {
  const body = h('div', { class: 'system' });
  const stamp = h('p', { class: 'muted small', role: 'status' });
  const draw = async () => {
    const view = await api('GET', '/api/v1/admin/system');
    if (!ctx.current) return;
    const down = view.services.filter((s) => s.status !== 'ready').map((s) => s.name);
    stamp.textContent = `${down.length ? `Not ready: ${down.join(', ')}.` : 'Every service is ready.'} As of ${new Date(view.generatedAt).toLocaleTimeString()}; refreshes every 30 seconds.`;
    replace(body, view.services.map(serviceCard));
  };
  await draw();
  const timer = setInterval(() => {
    draw().catch((err) => ctx.notify(err.detail ?? err.message, 'error'));
  }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
  return h('div', {}, h('h1', { text: 'System' }), stamp, body);
}
