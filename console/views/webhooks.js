/**
 * Webhooks of the tenant (role admin): endpoints with their event filters, create (the
 * signing secret is shown once), disable or enable, delete, a test event, and each endpoint's
 * deliveries with status and last response, which can be replayed. See docs/webhooks.md.
 */
import { api } from '../lib/api.js';
import { actionButton, dl, field, form, h, replace, showError, timeEl } from '../lib/dom.js';
import { badge } from './shared.js';

const BASE = '/api/v1/admin/webhooks';
const DELIVERY_PAGE = 20;

/** Event patterns from a text box: one per line or comma-separated. */
function patterns(text) {
  return text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
}

const STATUS_KIND = { succeeded: 'ok', pending: 'warn', failed: 'bad' };

/** The webhooks screen. */
export async function webhooksView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Webhook endpoints' });
  const summary = h('p', { class: 'muted', role: 'status' });
  const secretBox = h('div', { class: 'card secret', hidden: true, 'aria-live': 'polite' });

  const load = async () => {
    const page = await api('GET', `${BASE}?limit=200`);
    if (!ctx.current) return;
    list.replaceChildren(...page.items.map((w) => endpointRow(ctx, w, load)));
    summary.textContent = page.items.length === 0 ? 'No webhook endpoints yet.' : `${page.items.length} endpoint${page.items.length === 1 ? '' : 's'}.`;
  };

  const create = form({
    label: 'New webhook endpoint',
    submit: 'Create endpoint',
    children: [
      field({ label: 'URL', name: 'url', type: 'url', required: true, maxlength: '2048', placeholder: 'https://hooks.example.com/gatehouse', autocomplete: 'off' }),
      field({
        label: 'Events',
        name: 'events',
        type: 'textarea',
        required: true,
        rows: '2',
        value: 'user.events.*',
        hint: 'Subject patterns, one per line or comma-separated: user.events.* (one name), auth.events.> (everything below).',
      }),
      field({ label: 'Description', name: 'description', maxlength: '500', autocomplete: 'off' }),
    ],
    onSubmit: async (values, el) => {
      const created = await api('POST', BASE, { body: { url: values.url.trim(), events: patterns(values.events), description: values.description.trim() || undefined } });
      el.reset();
      replace(
        secretBox,
        h('h2', { text: 'Signing secret' }),
        h('p', { text: `Copy the signing secret of ${created.url} now: it is shown only this once. Verify each request's webhook-signature with it (docs/webhooks.md).` }),
        h('p', {}, h('code', { class: 'webhook-secret', text: created.secret })),
        h('button', {
          type: 'button',
          text: 'I have copied it',
          on: {
            click: () => {
              replace(secretBox);
              secretBox.hidden = true;
            },
          },
        }),
      );
      secretBox.hidden = false;
      ctx.notify('Webhook endpoint created.');
      await load();
    },
  });
  await load();
  return h(
    'div',
    {},
    h('h1', { text: 'Webhooks' }),
    secretBox,
    h('section', { class: 'card', 'aria-label': 'Create' }, h('h2', { text: 'New endpoint' }), create),
    h('section', { class: 'card', 'aria-label': 'Endpoints' }, summary, list),
  );
}

/** One endpoint: facts, enable/disable, test, delete, and its deliveries. */
function endpointRow(ctx, initial, reload) {
  let w = initial;
  const li = h('li', { class: 'row webhook', dataset: { webhook: w.id } });
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const deliveries = h('div', { class: 'deliveries' });
  const onError = (err) => showError(alert, err);

  const loadDeliveries = async (cursor) => {
    const q = new URLSearchParams({ limit: String(DELIVERY_PAGE) });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `${BASE}/${encodeURIComponent(w.id)}/deliveries?${q}`);
    if (!ctx.current) return;
    const table = cursor ? deliveries.querySelector('tbody') : null;
    const rows = page.items.map((d) => deliveryRow(ctx, w, d, () => loadDeliveries(), onError));
    if (table) table.append(...rows);
    else {
      replace(
        deliveries,
        page.items.length === 0
          ? h('p', { class: 'muted', text: 'No deliveries yet.' })
          : h(
              'table',
              { class: 'deliveries-table', 'aria-label': `Deliveries to ${w.url}` },
              h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Response', 'Next attempt', 'Created', ''].map((t) => h('th', { text: t })))),
              h('tbody', {}, rows),
            ),
      );
    }
    const more = deliveries.querySelector('.more');
    more?.remove();
    if (page.nextCursor) deliveries.append(h('div', { class: 'actions more' }, actionButton('Older deliveries', () => loadDeliveries(page.nextCursor), { className: 'small', onError })));
  };

  const patch = async (body) => {
    showError(alert, null);
    w = await api('PATCH', `${BASE}/${encodeURIComponent(w.id)}`, { body });
    draw();
  };

  const draw = () => {
    const open = li.querySelector('details')?.open ?? false;
    const editEvents = form({
      label: `Events of ${w.url}`,
      submit: 'Save events',
      children: [field({ label: 'Events', name: 'events', type: 'textarea', rows: '2', required: true, value: w.events.join('\n') })],
      onSubmit: async (values) => {
        await patch({ events: patterns(values.events) });
        ctx.notify('Event filter saved.');
      },
    });
    const details = h(
      'details',
      { open },
      h('summary', { text: 'Deliveries and settings' }),
      h('div', { class: 'actions' }, actionButton('Refresh deliveries', () => loadDeliveries(), { className: 'small', onError })),
      deliveries,
      editEvents,
    );
    details.addEventListener('toggle', () => {
      if (details.open) loadDeliveries().catch(onError);
    });
    replace(
      li,
      h(
        'div',
        { class: 'row-main' },
        h('strong', { class: 'webhook-url', text: w.url }),
        w.disabled ? badge(w.disabledReason === 'failures' ? 'disabled after failures' : 'disabled', 'bad') : badge('enabled', 'ok'),
        w.consecutiveFailures > 0 ? badge(`${w.consecutiveFailures} failures in a row`, 'warn') : null,
        h('div', { class: 'muted small' }, w.description || '—', ' · created ', timeEl(w.createdAt)),
        dl([['Events', w.events.join(', ')]]),
        alert,
        h(
          'div',
          { class: 'actions' },
          actionButton(w.disabled ? 'Enable' : 'Disable', async () => {
            await patch({ disabled: !w.disabled });
            ctx.notify(w.disabled ? 'Endpoint disabled: no new deliveries.' : 'Endpoint enabled.');
          }, { className: w.disabled ? 'small' : 'small danger', 'aria-label': `${w.disabled ? 'Enable' : 'Disable'} ${w.url}`, onError }),
          w.disabled
            ? null
            : actionButton('Send test event', async () => {
                await api('POST', `${BASE}/${encodeURIComponent(w.id)}/test`);
                ctx.notify('Test event queued.');
                details.open = true;
                await loadDeliveries();
              }, { className: 'small', 'aria-label': `Send a test event to ${w.url}`, onError }),
          actionButton('Delete', async () => {
            if (!window.confirm(`Delete the endpoint ${w.url} and its deliveries?`)) return;
            await api('DELETE', `${BASE}/${encodeURIComponent(w.id)}`);
            ctx.notify('Endpoint deleted.');
            await reload();
          }, { className: 'small danger', 'aria-label': `Delete ${w.url}`, onError }),
        ),
        details,
      ),
    );
    if (open) loadDeliveries().catch(onError);
  };
  draw();
  return li;
}

/** One delivery as a table row, with its replay button. */
function deliveryRow(ctx, w, d, reload, onError) {
  const response = d.responseStatus !== null ? `${d.responseStatus}${d.responseExcerpt ? ` ${d.responseExcerpt.slice(0, 80)}` : ''}` : (d.error ?? '—');
  return h(
    'tr',
    { dataset: { delivery: d.id, status: d.status } },
    h('td', {}, h('code', { text: d.eventType }), h('div', { class: 'muted small', text: d.eventId })),
    h('td', {}, badge(d.status, STATUS_KIND[d.status] ?? '')),
    h('td', { text: String(d.attempt) }),
    h('td', { class: 'response', text: response }),
    h('td', {}, timeEl(d.nextAttemptAt)),
    h('td', {}, timeEl(d.createdAt)),
    h(
      'td',
      {},
      w.disabled
        ? null
        : actionButton('Replay', async () => {
            await api('POST', `${BASE}/${encodeURIComponent(w.id)}/deliveries/${encodeURIComponent(d.id)}/replay`);
            ctx.notify('Delivery queued again (same webhook-id).');
            await reload();
          }, { className: 'small', 'aria-label': `Replay ${d.eventType} ${d.eventId}`, onError }),
    ),
  );
}
