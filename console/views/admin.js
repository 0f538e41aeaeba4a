/**
 * Users of the tenant (role admin): search, disable or enable, roles. Role changes reach the
 * user's access tokens at their next refresh; disabling ends their sessions at once.
 */
import { api, hasRole, session } from '../lib/api.js';
import { actionButton, checkbox, field, form, h, replace, showError, timeEl } from '../lib/dom.js';
import { badge } from './shared.js';

const ADMIN = '/api/v1/admin/users';
const PAGE = 25;

/** The users screen. */
export async function adminUsersView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Users' });
  const more = h('div', { class: 'actions' });
  const summary = h('p', { class: 'muted', role: 'status' });
  let query = '';

  const load = async (cursor) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (query) q.set('query', query);
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `${ADMIN}?${q}`);
    if (!ctx.current) return;
    if (!cursor) list.replaceChildren();
    for (const u of page.items) list.append(userRow(ctx, u));
    summary.textContent = list.children.length === 0 ? (query ? `No user matches “${query}”.` : 'No users yet.') : `${list.children.length}${page.nextCursor ? '+' : ''} user${list.children.length === 1 ? '' : 's'}${query ? ` matching “${query}”` : ''}.`;
    replace(more, page.nextCursor ? actionButton('Show more', () => load(page.nextCursor), { onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }) : null);
  };

  const search = form({
    label: 'Search users',
    submit: 'Search',
    children: [field({ label: 'Email or username contains', name: 'query', type: 'search', maxlength: '254', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' })],
    onSubmit: async (values) => {
      query = values.query.trim();
      await load();
    },
  });
  search.classList.add('inline');
  await load();
  return h('div', {}, h('h1', { text: 'Users' }), h('section', { class: 'card', 'aria-label': 'Search' }, search), h('section', { class: 'card', 'aria-label': 'Results' }, summary, list, more));
}

/** One user: facts, disable/enable, roles. */
function userRow(ctx, initial) {
  let u = initial;
  const li = h('li', { class: 'row user', dataset: { user: u.id } });
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const self = u.id === session.user?.id;
  const roleChoices = ['organizer', 'admin', ...(hasRole('superadmin') ? ['superadmin'] : [])];

  const patch = async (body) => {
    showError(alert, null);
    u = await api('PATCH', `${ADMIN}/${encodeURIComponent(u.id)}`, { body });
    draw();
  };

  const draw = () => {
    const open = li.querySelector('details')?.open ?? false;
    const name = u.displayName || u.username || u.email;
    const roles = h(
      'fieldset',
      { class: 'roles' },
      h('legend', { text: `Roles of ${name}` }),
      roleChoices.map((r) => checkbox({ label: r, name: r, checked: u.roles.includes(r) })),
    );
    const saveRoles = actionButton('Save roles', async () => {
      const chosen = ['user', ...roleChoices.filter((r) => roles.querySelector(`input[name="${r}"]`).checked)];
      // a superadmin role the viewer cannot grant or remove stays as it is
      if (!roleChoices.includes('superadmin') && u.roles.includes('superadmin')) chosen.push('superadmin');
      await patch({ roles: chosen });
      ctx.notify(`Roles of ${name} saved. They apply from the user's next token refresh (within 15 minutes).`);
    }, { className: 'small', onError: (err) => showError(alert, err) });
    const toggle = self
      ? null
      : actionButton(u.disabled ? 'Enable' : 'Disable', async () => {
          await patch({ disabled: !u.disabled });
          ctx.notify(u.disabled ? `${name} is disabled and signed out everywhere.` : `${name} is enabled.`);
        }, { className: u.disabled ? 'small' : 'small danger', 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${name}`, onError: (err) => showError(alert, err) });
    replace(
      li,
      h(
        'div',
        { class: 'row-main' },
        h('strong', { text: u.email }),
        u.disabled ? badge('disabled', 'bad') : null,
        u.emailVerified ? null : badge('unverified', 'warn'),
        u.mfaEnabled ? badge('2-step', 'ok') : null,
        self ? badge('you') : null,
        h('div', { class: 'muted small' }, [u.username ? `@${u.username}` : null, u.displayName].filter(Boolean).join(' · ') || '—', ' · joined ', timeEl(u.createdAt), ' · last sign-in ', timeEl(u.lastLoginAt)),
        alert,
        h('details', { open }, h('summary', { text: 'Manage' }), roles, h('div', { class: 'actions' }, saveRoles, toggle)),
      ),
    );
  };
  draw();
  return li;
}
