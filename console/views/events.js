/**
 * Events (role organizer): list and create events, each event's attendance with a CSV
 * download, and check-in/out of a member by their QR code: read with the device camera
 * (events-scan.js), or the token it carries typed by a scanner that types what it reads, or pasted.
 */
import { api } from '../lib/api.js';
import { actionButton, field, form, h, replace, section, showError, timeEl, when } from '../lib/dom.js';
import { badge } from './shared.js';
import { rosterEditor } from './roster.js';
import { cameraScanner } from './events-scan.js';

const EVENTS = '/api/v1/events';
/** The list starts with events that ended at most this long ago. */
const PAST_DAYS = 30;

/** A datetime-local input value (local time) as an RFC 3339 UTC string. */
function toIso(local) {
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) throw new Error('A date and time are needed.');
  return d.toISOString();
}

/** A Date as a datetime-local value in local time. */
function toLocalInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The events screen. */
export async function eventsView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Events' });
  const empty = h('p', { class: 'muted', hidden: true, text: 'No events in this period yet.' });
  const more = h('div', { class: 'actions' });
  const from = new Date(Date.now() - PAST_DAYS * 86_400_000).toISOString();

  const load = async (cursor) => {
    const q = new URLSearchParams({ from, limit: '25' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `${EVENTS}?${q}`);
    if (!ctx.current) return;
    if (!cursor) list.replaceChildren();
    for (const e of page.items) list.append(eventRow(ctx, e));
    empty.hidden = list.children.length > 0;
    replace(more, page.nextCursor ? actionButton('Show more', () => load(page.nextCursor), { onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }) : null);
  };

  const start = new Date(Date.now() + 3_600_000);
  start.setMinutes(0, 0, 0);
  const end = new Date(start.getTime() + 3_600_000);
  const create = form({
    label: 'New event',
    submit: 'Create event',
    children: [
      field({ label: 'Title', name: 'title', required: true, maxlength: '200' }),
      field({ label: 'Description (optional)', name: 'description', type: 'textarea', maxlength: '5000', rows: '3' }),
      field({ label: 'Location (optional)', name: 'location', maxlength: '200' }),
      h('div', { class: 'two' }, field({ label: 'Starts', name: 'startsAt', type: 'datetime-local', required: true, value: toLocalInput(start) }), field({ label: 'Ends', name: 'endsAt', type: 'datetime-local', required: true, value: toLocalInput(end) })),
      field({ label: 'Late after (minutes)', name: 'lateAfterMinutes', type: 'number', min: '0', max: '10080', value: '10', hint: 'A check-in this long after the start counts as late.' }),
    ],
    onSubmit: async (v, f) => {
      const body = { title: v.title.trim(), startsAt: toIso(v.startsAt), endsAt: toIso(v.endsAt) };
      if (v.description.trim()) body.description = v.description;
      if (v.location.trim()) body.location = v.location.trim();
      if (v.lateAfterMinutes !== '') body.lateAfterMinutes = Number(v.lateAfterMinutes);
      const created = await api('POST', EVENTS, { body });
      f.reset();
      ctx.notify(`“${created.title}” is created.`);
      await load();
    },
  });
  await load();
  return h(
    'div',
    {},
    h('h1', { text: 'Events' }),
    section('New event', h('details', {}, h('summary', { text: 'Create an event' }), create)),
    section('Upcoming and recent', h('p', { class: 'muted small', text: `Events that end after ${when(from)}, by start time.` }), empty, list, more),
  );
}

function eventRow(ctx, e) {
  const panel = h('div', { class: 'panel' });
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const li = h(
    'li',
    { class: 'row event', dataset: { event: e.id } },
    h(
      'div',
      { class: 'row-main' },
      h('strong', { text: e.title }),
      h('div', { class: 'muted small' }, timeEl(e.startsAt), ' – ', timeEl(e.endsAt), e.location ? ` · ${e.location}` : ''),
      e.description ? h('p', { class: 'small pre', text: e.description }) : null,
      alert,
      h('details', { on: { toggle: (ev) => ev.currentTarget.open && drawAttendance(ctx, e, panel).catch((err) => showError(alert, err)) } }, h('summary', { text: 'Attendance' }), panel),
    ),
  );
  return li;
}

/** The camera scanner shown in each attendance panel (closed when the panel is drawn again). */
const scanners = new WeakMap();

/** An event's attendance, the CSV download, the camera scanner and the check-in/out form. */
async function drawAttendance(ctx, e, panel) {
  const { items } = await api('GET', `${EVENTS}/${encodeURIComponent(e.id)}/attendance`);
  const roster = await rosterEditor(ctx, e, () => drawAttendance(ctx, e, panel));
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  scanners.get(panel)?.stop();
  const camera = cameraScanner(ctx, {
    label: e.title,
    onCode: async (qrToken) => {
      // the action chosen in the form below (check in by default)
      const action = scan.querySelector('select[name="action"]')?.value === 'check-outs' ? 'check-outs' : 'check-ins';
      const a = await api('POST', `${EVENTS}/${encodeURIComponent(e.id)}/${action}`, { body: { qrToken } });
      ctx.notify(action === 'check-ins' ? `Checked in (${a.status}).` : 'Checked out.');
      await drawAttendance(ctx, e, panel);
    },
  });
  scanners.set(panel, camera);
  const scan = form({
    label: `Check in or out at ${e.title}`,
    submit: 'Record',
    children: [
      field({ label: 'Member’s QR code', name: 'qrToken', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', hint: 'The text a scanner reads from the member’s code.' }),
      field({ label: 'Action', name: 'action', type: 'select', options: [['check-ins', 'Check in'], ['check-outs', 'Check out']] }),
    ],
    onSubmit: async ({ qrToken, action }) => {
      const a = await api('POST', `${EVENTS}/${encodeURIComponent(e.id)}/${action}`, { body: { qrToken: qrToken.trim() } });
      ctx.notify(action === 'check-ins' ? `Checked in (${a.status}).` : 'Checked out.');
      await drawAttendance(ctx, e, panel);
    },
  });
  replace(
    panel,
    alert,
    items.length === 0
      ? h('p', { class: 'muted', text: 'Nobody has checked in yet.' })
      : h(
          'ul',
          { class: 'rows compact', 'aria-label': `Attendance at ${e.title}` },
          items.map((a) =>
            h('li', { class: 'row' }, h('div', { class: 'row-main' }, h('strong', { text: a.displayName || (a.username ? `@${a.username}` : a.userId) }), badge(a.status, a.status === 'late' ? 'warn' : a.status === 'absent' ? 'bad' : 'ok'), h('div', { class: 'muted small' }, 'in ', timeEl(a.checkedInAt), ' · out ', timeEl(a.checkedOutAt)))),
          ),
        ),
    h('div', { class: 'actions' }, actionButton('Download CSV', () => downloadCsv(e), { onError: (err) => showError(alert, err) })),
    camera.element,
    scan,
    roster,
  );
}

/** Fetches the CSV with the access token (a plain link could not send it) and saves it. */
async function downloadCsv(e) {
  const res = await api('GET', `${EVENTS}/${encodeURIComponent(e.id)}/attendance.csv`, { accept: 'text/csv', raw: true });
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: `attendance-${e.id}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
