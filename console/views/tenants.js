/**
 * Tenants (role superadmin, default tenant): list with paging, create one with its first admin,
 * disable (confirmed: every session of the tenant ends) or enable, and see its settings.
 */
import { api } from '../lib/api.js';
import { actionButton, dl, field, form, h, replace, showError, timeEl } from '../lib/dom.js';
import { badge } from './shared.js';
import { confirmButton } from './confirm.js';

const TENANTS = '/api/v1/admin/tenants';

/** The tenants screen. */
export async function tenantsView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Tenants' });
  const more = h('div', { class: 'actions' });

  const load = async (cursor) => {
    const q = new URLSearchParams({ limit: '25' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `${TENANTS}?${q}`);
    if (!ctx.current) return;
    if (!cursor) list.replaceChildren();
    for (const t of page.items) list.append(tenantRow(ctx, t));
    replace(more, page.nextCursor ? actionButton('Show more', () => load(page.nextCursor), { onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }) : null);
  };

  const create = form({
    label: 'Create a tenant',
    submit: 'Create tenant',
    children: [
      field({ label: 'Slug', name: 'slug', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', hint: 'A DNS label: the tenant is reached at <slug>.<base domain>. It never changes.' }),
      field({ label: 'Name', name: 'name', required: true, maxlength: '100', autocomplete: 'off' }),
      field({ label: 'First admin’s email (optional)', name: 'adminEmail', type: 'email', autocomplete: 'off' }),
      field({ label: 'First admin’s password', name: 'adminPassword', type: 'password', autocomplete: 'new-password', hint: 'Needed with the email.' }),
    ],
    onSubmit: async (v, el) => {
      const body = { slug: v.slug.trim(), name: v.name.trim() };
      if (v.adminEmail.trim()) body.admin = { email: v.adminEmail.trim(), password: v.adminPassword };
      const t = await api('POST', TENANTS, { body });
      el.reset();
      ctx.notify(`Tenant ${t.slug} created${t.admin ? ` with ${t.admin.email} as its admin` : ''}.`);
      await load();
    },
  });

  await load();
  return h(
    'div',
    {},
    h('h1', { text: 'Tenants' }),
    h('section', { class: 'card', 'aria-label': 'New tenant' }, h('details', {}, h('summary', { text: 'Create a tenant' }), create)),
    h('section', { class: 'card', 'aria-label': 'All tenants' }, list, more),
  );
}

function tenantRow(ctx, initial) {
  let t = initial;
  const li = h('li', { class: 'row tenant', dataset: { tenant: t.slug } });
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const onError = (err) => showError(alert, err);
  const setStatus = async (status) => {
    showError(alert, null);
    t = await api('PATCH', `${TENANTS}/${encodeURIComponent(t.id)}`, { body: { status } });
    draw();
  };
  const draw = () => {
    const toggle =
      t.status === 'disabled'
        ? actionButton('Enable', async () => {
            await setStatus('active');
            ctx.notify(`${t.slug} is enabled.`);
          }, { className: 'small', 'aria-label': `Enable ${t.slug}`, onError })
        : t.slug === 'default'
          ? null
          : confirmButton('Disable', {
              'aria-label': `Disable ${t.slug}`,
              question: `Disable ${t.slug}? Every session in it ends and nobody can sign in until it is enabled.`,
              confirmText: `Yes, disable ${t.slug}`,
              action: async () => {
                await setStatus('disabled');
                ctx.notify(`${t.slug} is disabled.`);
              },
              onError,
            });
    const settings = Object.entries(t.settings ?? {});
    replace(
      li,
      h(
        'div',
        { class: 'row-main' },
        h('strong', { text: t.name }),
        ' ',
        h('code', { text: t.slug }),
        t.status === 'disabled' ? badge('disabled', 'bad') : badge('active', 'ok'),
        h('div', { class: 'muted small' }, 'created ', timeEl(t.createdAt)),
        alert,
        h('div', { class: 'actions' }, toggle),
        h(
          'details',
          {},
          h('summary', { text: 'Settings' }),
          settings.length ? dl(settings.map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') || '—' : String(v)])) : h('p', { class: 'muted', text: 'All defaults.' }),
        ),
      ),
    );
  };
  draw();
  return li;
}
