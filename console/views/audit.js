/**
 * The tenant's audit trail (role admin): filters (type, actor, subject, time range), paging,
 * each entry's detail (data, hashes), CSV and NDJSON export of every match, and the hash
 * chain's verification status.
 */
import { api } from '../lib/api.js';
import { actionButton, dl, field, form, h, replace, section, showError, timeEl } from '../lib/dom.js';
import { badge } from './shared.js';
import { activityLabel } from './activity.js';

const AUDIT = '/api/v1/audit';

/** A datetime-local value (local time) as RFC 3339 UTC, or undefined when empty. */
function toIso(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The audit log screen. */
export async function auditView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Audit entries' });
  const more = h('div', { class: 'actions' });
  const summary = h('p', { class: 'muted', role: 'status' });
  const chain = h('div', { role: 'status' });
  const exportAlert = h('div', { class: 'alert', role: 'alert', hidden: true });
  let filter = {};

  const query = (extra = {}) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...filter, ...extra })) if (v) q.set(k, v);
    return q;
  };

  const load = async (cursor) => {
    const page = await api('GET', `${AUDIT}/events?${query({ limit: '50', cursor })}`);
    if (!ctx.current) return;
    if (!cursor) list.replaceChildren();
    for (const e of page.items) list.append(entryRow(e));
    const n = list.children.length;
    summary.textContent = n === 0 ? 'No entry matches.' : `${n}${page.nextCursor ? '+' : ''} entr${n === 1 ? 'y' : 'ies'}, newest first.`;
    replace(more, page.nextCursor ? actionButton('Show more', () => load(page.nextCursor), { onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }) : null);
  };

  const verify = async () => {
    const r = await api('GET', `${AUDIT}/verify`);
    replace(
      chain,
      r.ok ? badge('chain intact', 'ok') : badge('chain broken', 'bad'),
      h('span', { class: 'muted small', text: r.ok ? ` ${r.checked} entries checked.` : ` ${r.checked} entries checked; broken at entry ${r.brokenAt}.` }),
    );
  };

  const download = async (format) => {
    showError(exportAlert, null);
    const res = await api('GET', `${AUDIT}/events?${query({ format })}`, { accept: format === 'csv' ? 'text/csv' : 'application/x-ndjson', raw: true });
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: `audit.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  const filters = form({
    label: 'Filter the audit trail',
    submit: 'Filter',
    children: [
      field({ label: 'Type', name: 'type', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', hint: 'e.g. auth.events.login_succeeded' }),
      field({ label: 'Actor (user id)', name: 'actorId', autocomplete: 'off' }),
      field({ label: 'Subject (user id)', name: 'subjectId', autocomplete: 'off' }),
      field({ label: 'From', name: 'from', type: 'datetime-local' }),
      field({ label: 'To', name: 'to', type: 'datetime-local' }),
    ],
    onSubmit: async (v) => {
      filter = { type: v.type.trim(), actorId: v.actorId.trim(), subjectId: v.subjectId.trim(), from: toIso(v.from), to: toIso(v.to) };
      await load();
    },
  });
  filters.classList.add('filters');

  await Promise.all([load(), verify()]);
  return h(
    'div',
    {},
    h('h1', { text: 'Audit log' }),
    section('Chain', chain, h('div', { class: 'actions' }, actionButton('Verify again', verify, { className: 'small', onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }))),
    h('section', { class: 'card', 'aria-label': 'Filters' }, filters),
    h(
      'section',
      { class: 'card', 'aria-label': 'Entries' },
      exportAlert,
      h(
        'div',
        { class: 'actions' },
        actionButton('Export CSV', () => download('csv'), { className: 'small', onError: (err) => showError(exportAlert, err) }),
        actionButton('Export NDJSON', () => download('ndjson'), { className: 'small', onError: (err) => showError(exportAlert, err) }),
      ),
      summary,
      list,
      more,
    ),
  );
}

function entryRow(e) {
  return h(
    'li',
    { class: 'row entry', dataset: { seq: String(e.seq) } },
    h(
      'div',
      { class: 'row-main' },
      h('strong', { text: activityLabel(e.type) }),
      ' ',
      h('code', { class: 'small', text: e.type }),
      h('div', { class: 'muted small' }, timeEl(e.occurredAt), e.actorId ? ` · by ${e.actorId}` : '', e.ip ? ` · ${e.ip}` : ''),
      h(
        'details',
        {},
        h('summary', { text: `Entry ${e.seq}` }),
        dl([
          ['Sequence', String(e.seq)],
          ['Actor', e.actorId ?? '—'],
          ['Subject', e.subjectId ?? '—'],
          ['IP', e.ip ?? '—'],
          ['User agent', e.userAgent ?? '—'],
          ['Data', h('pre', { class: 'small', text: JSON.stringify(e.data ?? {}, null, 2) })],
          ['Hash', h('code', { class: 'small', text: e.hash })],
          ['Previous hash', h('code', { class: 'small', text: e.prevHash ?? '—' })],
        ]),
      ),
    ),
  );
}
