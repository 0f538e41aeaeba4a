/**
 * Roles of the tenant (role admin): the built-in ones (fixed), and custom roles with
 * permissions: create, edit, delete (confirmed). A change reaches the holders' tokens within a
 * second (their next refresh carries the new `permissions`).
 */
import { api } from '../lib/api.js';
import { field, form, h, replace, showError } from '../lib/dom.js';
import { badge } from './shared.js';
import { confirmButton, lines } from './confirm.js';

const ROLES = '/api/v1/admin/roles';

/** The roles screen. */
export async function rolesView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Roles' });

  const load = async () => {
    const { items } = await api('GET', ROLES);
    if (!ctx.current) return;
    replace(list, items.map((r) => roleRow(ctx, r, load)));
  };

  const create = form({
    label: 'Create a role',
    submit: 'Create role',
    children: [
      field({ label: 'Name', name: 'name', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', hint: 'Lower case letters, digits and _ . : - (e.g. editor, billing.viewer).' }),
      field({ label: 'Description (optional)', name: 'description', autocomplete: 'off' }),
      field({ label: 'Permissions', name: 'permissions', type: 'textarea', rows: '3', hint: 'One per line (or comma-separated), e.g. reports:read.' }),
    ],
    onSubmit: async (values, el) => {
      const role = await api('POST', ROLES, { body: { name: values.name.trim(), description: values.description.trim() || null, permissions: lines(values.permissions) } });
      el.reset();
      ctx.notify(`Role ${role.name} created.`);
      await load();
    },
  });

  await load();
  return h(
    'div',
    {},
    h('h1', { text: 'Roles' }),
    h('section', { class: 'card', 'aria-label': 'New role' }, h('h2', { text: 'New role' }), create),
    h('section', { class: 'card', 'aria-label': 'All roles' }, h('h2', { text: 'All roles' }), list),
  );
}

function roleRow(ctx, role, reload) {
  const li = h('li', { class: 'row role', dataset: { role: role.name } });
  if (role.builtin) {
    return replace(li, h('div', { class: 'row-main' }, h('strong', { text: role.name }), badge('built in'), h('div', { class: 'muted small', text: builtinText(role.name) })));
  }
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const edit = form({
    label: `Edit ${role.name}`,
    submit: 'Save',
    children: [
      field({ label: `Description of ${role.name}`, name: 'description', value: role.description ?? '', autocomplete: 'off' }),
      field({ label: `Permissions of ${role.name}`, name: 'permissions', type: 'textarea', rows: '3', value: role.permissions.join('\n') }),
    ],
    onSubmit: async (values) => {
      await api('PATCH', `${ROLES}/${encodeURIComponent(role.name)}`, { body: { description: values.description.trim() || null, permissions: lines(values.permissions) } });
      ctx.notify(`Role ${role.name} saved. Its holders' next tokens carry the new permissions.`);
      await reload();
    },
  });
  const del = confirmButton('Delete', {
    'aria-label': `Delete role ${role.name}`,
    question: `Delete the role ${role.name}? It is taken from every user who holds it.`,
    confirmText: `Yes, delete ${role.name}`,
    action: async () => {
      await api('DELETE', `${ROLES}/${encodeURIComponent(role.name)}`);
      ctx.notify(`Role ${role.name} deleted.`);
      await reload();
    },
    onError: (err) => showError(alert, err),
  });
  return replace(
    li,
    h(
      'div',
      { class: 'row-main' },
      h('strong', { text: role.name }),
      role.permissions.map((p) => badge(p, 'ok')),
      role.description ? h('div', { class: 'muted small', text: role.description }) : null,
      alert,
      h('details', {}, h('summary', { text: 'Edit' }), edit, h('div', { class: 'actions' }, del)),
    ),
  );
}

function builtinText(name) {
  return {
    user: 'Everyone: their own account, profile and activity.',
    organizer: 'Creates events and checks members in.',
    admin: 'Manages this tenant: users, roles, settings.',
    superadmin: 'Manages tenants (in the default tenant).',
  }[name] ?? '';
}
