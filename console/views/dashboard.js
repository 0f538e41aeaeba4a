/**
 * Dashboard (tenant admin): sign-ups, sign-ins, failed sign-ins and active users per UTC day
 * over the last 30 days (`GET /api/v1/audit/stats/daily`, counted from the audit trail), one
 * uPlot chart each. uPlot is served by the gateway from the installed package
 * (`/console/vendor/uplot/`, no CDN) and loaded only when this screen opens. Each chart has a
 * text twin (today's figure and the 30-day total) for screen readers and narrow screens.
 */
import { api } from '../lib/api.js';
import { dl, h } from '../lib/dom.js';

const DAYS = 30;
const UPLOT = '/console/vendor/uplot/';
const METRICS = [
  { key: 'signUps', label: 'Sign-ups', colour: '#2563eb' },
  { key: 'signIns', label: 'Sign-ins', colour: '#16a34a' },
  { key: 'failedSignIns', label: 'Failed sign-ins', colour: '#dc2626' },
  { key: 'activeUsers', label: 'Active users', colour: '#9333ea' },
];

let loading;
/** uPlot's module and stylesheet, once per page. */
function loadUplot() {
  loading ??= (async () => {
    if (!document.querySelector(`link[href="${UPLOT}uPlot.min.css"]`)) {
      document.head.append(h('link', { rel: 'stylesheet', href: `${UPLOT}uPlot.min.css` }));
    }
    const mod = await import(`${UPLOT}uPlot.esm.js`);
    return mod.default;
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** Chart width: the card's content width, never under 240 px (the card scrolls below that). */
function widthOf(el) {
  return Math.max(240, Math.floor(el.clientWidth || 320));
}

function chartOptions(uPlot, metric, width) {
  return {
    width,
    height: 160,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    // half a day either side, so the first and last days' bars are whole
    scales: { x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] }, y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
    axes: [{ space: 60 }, { size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] }],
    series: [
      { label: 'Day', value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
      { label: metric.label, stroke: metric.colour, fill: `${metric.colour}33`, width: 1, paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } },
    ],
  };
}

/** The dashboard screen. */
export async function dashboardView(ctx) {
  const status = h('p', { class: 'muted small', role: 'status' });
  const grid = h('div', { class: 'dashboard' });
  const charts = [];

  const [stats, uPlot] = await Promise.all([
    api('GET', `/api/v1/audit/stats/daily?days=${DAYS}`),
    loadUplot().catch(() => null),
  ]);
  if (!ctx.current) return h('div');
  const xs = stats.items.map((i) => Date.parse(`${i.day}T00:00:00Z`) / 1000);
  const today = stats.items[stats.items.length - 1];
  status.textContent = `Last ${stats.items.length} days (UTC), ${stats.from} to ${stats.to}, from the audit trail.${uPlot ? '' : ' The charts could not be loaded; the figures are below.'}`;

  for (const metric of METRICS) {
    const total = stats.items.reduce((n, i) => n + i[metric.key], 0);
    const plot = h('div', { class: 'plot', role: 'img', 'aria-label': `${metric.label} per day: ${total} in ${stats.items.length} days, ${today?.[metric.key] ?? 0} today` });
    const card = h(
      'section',
      { class: 'card', 'aria-label': metric.label, dataset: { metric: metric.key } },
      h('h2', { text: metric.label }),
      dl([
        ['Today', String(today?.[metric.key] ?? 0)],
        [`Last ${stats.items.length} days`, String(total)],
      ]),
      plot,
    );
    grid.append(card);
    charts.push({ metric, plot });
  }

  if (uPlot) {
    // drawn once the cards are in the page (their width is known then)
    window.requestAnimationFrame(() => {
      if (!ctx.current) return;
      for (const c of charts) {
        c.chart = new uPlot(chartOptions(uPlot, c.metric, widthOf(c.plot)), [xs, stats.items.map((i) => i[c.metric.key])], c.plot);
      }
    });
    const onResize = () => {
      for (const c of charts) c.chart?.setSize({ width: widthOf(c.plot), height: 160 });
    };
    window.addEventListener('resize', onResize);
    ctx.onLeave(() => {
      window.removeEventListener('resize', onResize);
      for (const c of charts) c.chart?.destroy();
    });
  }

  const body = h('div', {}, h('h1', { text: 'Dashboard' }), status, grid);
  return body;
}
