/**
 * Users of the tenant (role admin): search by the start of the email or username (the API's
 * indexed `match=prefix`), or anywhere in them on request (`match=contains`, which reads every
 * user of the tenant), with filters (role, status, verified), create a user
 * with a password or invite one by email, and per user: roles (built-in and the tenant's
 * custom ones), active sessions with revoke per session, sign out everywhere, reset two-step verification, mark the email verified,
 * send a password reset, disable or enable, delete (confirmed), and the user's audit trail.
 * A role change cuts the user's access tokens at once; their next refresh carries the new roles.
 */
import { api, hasRole, session } from '../lib/api.js';
import { actionButton, checkbox, field, form, h, replace, section, showError, timeEl } from '../lib/dom.js';
import { badge, deviceName } from './shared.js';
import { confirmButton } from './confirm.js';

const ADMIN = '/api/v1/admin/users';
const PAGE = 25;

/** The tenant's role names: built-in ones the viewer may grant, then custom ones. */
async function assignableRoles() {
  const { items } = await api('GET', '/api/v1/admin/roles');
  return items.filter((r) => r.name !== 'user' && (r.name !== 'superadmin' || hasRole('superadmin'))).map((r) => r.name);
}

/** The users screen. */
export async function adminUsersView(ctx) {
  const roles = await assignableRoles();
  const list = h('ul', { class: 'rows', 'aria-label': 'Users' });
  const more = h('div', { class: 'actions' });
  const summary = h('p', { class: 'muted', role: 'status' });
  let filter = {};

  const load = async (cursor) => {
    const { query, match, ...others } = filter;
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (query) {
      q.set('query', query);
      q.set('match', match);
    }
    for (const [k, v] of Object.entries(others)) if (v) q.set(k, v);
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `${ADMIN}?${q}`);
    if (!ctx.current) return;
    if (!cursor) list.replaceChildren();
    for (const u of page.items) list.append(userRow(ctx, u, roles, () => load()));
    const n = list.children.length;
    const narrowed = Object.values(others).some(Boolean);
    const how = match === 'contains' ? 'containing' : 'starting with';
    const matching = query ? ` ${how} “${query}”${narrowed ? ' and matching the filters' : ''}` : narrowed ? ' matching the filters' : '';
    summary.textContent = n === 0 ? (query || narrowed ? `No user${matching}.` : 'No users yet.') : `${n}${page.nextCursor ? '+' : ''} user${n === 1 ? '' : 's'}${matching}.`;
    replace(more, page.nextCursor ? actionButton('Show more', () => load(page.nextCursor), { onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }) : null);
  };

  // By default the search is by the start of the email or username, which an index serves
  // however many users the tenant has; "anywhere" reads every user of the tenant (slow with many).
  const queryField = field({ label: 'Email or username starts with', name: 'query', type: 'search', maxlength: '254', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const anywhere = checkbox({
    label: 'Anywhere in the email or username (slower with many users)',
    name: 'anywhere',
    on: {
      change: (event) => {
        queryField.querySelector('label').textContent = event.target.checked ? 'Email or username contains' : 'Email or username starts with';
      },
    },
  });
  const search = form({
    label: 'Search users',
    submit: 'Search',
    children: [
      queryField,
      anywhere,
      field({ label: 'Role', name: 'role', type: 'select', options: [['', 'Any role'], ...['user', ...roles].map((r) => [r, r])] }),
      field({ label: 'Status', name: 'status', type: 'select', options: [['', 'Any status'], ['active', 'Active'], ['disabled', 'Disabled']] }),
      field({ label: 'Email status', name: 'verified', type: 'select', options: [['', 'Verified or not'], ['true', 'Verified'], ['false', 'Not verified']] }),
    ],
    onSubmit: async (values) => {
      filter = { query: values.query.trim(), match: values.anywhere ? 'contains' : 'prefix', role: values.role, status: values.status, verified: values.verified };
      await load();
    },
  });
  search.classList.add('filters');

  const create = form({
    label: 'Add a user',
    submit: 'Add user',
    children: [
      field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'off' }),
      field({ label: 'Username (optional)', name: 'username', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' }),
      field({ label: 'Display name (optional)', name: 'displayName', autocomplete: 'off' }),
      field({
        label: 'Password (optional)',
        name: 'password',
        type: 'password',
        autocomplete: 'new-password',
        hint: 'Leave empty to invite: the user gets an email with a link to choose a password (valid 72 hours).',
      }),
      h('fieldset', { class: 'roles' }, h('legend', { text: 'Roles' }), roles.map((r) => checkbox({ label: r, name: `role:${r}` }))),
    ],
    onSubmit: async (values, el) => {
      const body = { email: values.email.trim(), roles: ['user', ...roles.filter((r) => values[`role:${r}`])] };
      if (values.username.trim()) body.username = values.username.trim();
      if (values.displayName.trim()) body.displayName = values.displayName.trim();
      if (values.password) body.password = values.password;
      const u = await api('POST', ADMIN, { body });
      el.reset();
      ctx.notify(body.password ? `${u.email} can sign in now.` : `An invitation is on its way to ${u.email}.`);
      await load();
    },
  });

  await load();
  return h(
    'div',
    {},
    h('h1', { text: 'Users' }),
    h('section', { class: 'card', 'aria-label': 'Add a user' }, h('details', {}, h('summary', { text: 'Add or invite a user' }), create)),
    h('section', { class: 'card', 'aria-label': 'Search' }, search),
    h('section', { class: 'card', 'aria-label': 'Results' }, summary, list, more),
  );
}

/** One user: facts, and in "Manage" every action on them. */
function userRow(ctx, initial, roleChoices, reload) {
  let u = initial;
  const li = h('li', { class: 'row user', dataset: { user: u.id } });
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const self = u.id === session.user?.id;
  const path = `${ADMIN}/${encodeURIComponent(u.id)}`;
  const onError = (err) => showError(alert, err);

  const patch = async (body) => {
    showError(alert, null);
    u = await api('PATCH', path, { body });
    draw();
  };

  const draw = () => {
    const open = li.querySelector('details')?.open ?? false;
    const name = u.displayName || u.username || u.email;
    const grantable = [...roleChoices, ...u.roles.filter((r) => r !== 'user' && !roleChoices.includes(r))];
    const boxes = grantable.map((r) => checkbox({ label: r, name: r, checked: u.roles.includes(r) }));
    const roles = h('fieldset', { class: 'roles' }, h('legend', { text: `Roles of ${name}` }), boxes);
    const saveRoles = actionButton('Save roles', async () => {
      const chosen = ['user', ...grantable.filter((_, i) => boxes[i].control.checked)];
      // a superadmin role the viewer cannot grant or remove stays as it is
      if (!roleChoices.includes('superadmin') && u.roles.includes('superadmin') && !chosen.includes('superadmin')) chosen.push('superadmin');
      await patch({ roles: chosen });
      ctx.notify(`Roles of ${name} saved. They apply within a second: the user's next token carries them.`);
    }, { className: 'small', onError });

    const actions = [
      self
        ? null
        : u.disabled
          ? actionButton('Enable', async () => {
              await patch({ disabled: false });
              ctx.notify(`${name} is enabled.`);
            }, { className: 'small', 'aria-label': `Enable ${name}`, onError })
          : confirmButton('Disable', {
              'aria-label': `Disable ${name}`,
              question: `Disable ${name}? They are signed out everywhere and cannot sign in.`,
              confirmText: `Yes, disable ${name}`,
              action: async () => {
                await patch({ disabled: true });
                ctx.notify(`${name} is disabled and signed out everywhere.`);
              },
              onError,
            }),
      u.emailVerified
        ? null
        : actionButton('Mark email verified', async () => {
            await patch({ emailVerified: true });
            ctx.notify(`${u.email} is marked verified.`);
          }, { className: 'small', onError }),
      actionButton('Send password reset', async () => {
        showError(alert, null);
        await api('POST', `${path}/password-reset`, { body: {} });
        ctx.notify(`A password reset link is on its way to ${u.email}.`);
      }, { className: 'small', onError }),
      confirmButton('Sign out everywhere', {
        className: 'small',
        question: `End every session of ${name}?`,
        confirmText: 'Yes, sign them out',
        action: async () => {
          await api('POST', `${path}/sessions/revoke`, { body: {} });
          ctx.notify(`Every session of ${name} is ended.`);
        },
        onError,
      }),
      u.mfaEnabled
        ? confirmButton('Reset two-step verification', {
            className: 'small',
            question: `Remove the authenticator and backup codes of ${name}?`,
            confirmText: 'Yes, reset it',
            action: async () => {
              await api('POST', `${path}/mfa/reset`, { body: {} });
              u = await api('GET', path);
              draw();
              ctx.notify(`Two-step verification of ${name} is reset.`);
            },
            onError,
          })
        : null,
      self
        ? null
        : confirmButton('Delete', {
            'aria-label': `Delete ${name}`,
            question: `Delete ${name} for good? Their profile and sessions go too; this cannot be undone.`,
            confirmText: `Yes, delete ${name}`,
            action: async () => {
              await api('DELETE', path);
              ctx.notify(`${name} is deleted.`);
              li.remove();
              await reload();
            },
            onError,
          }),
    ];

    const sessionList = h('div', { class: 'sessions' });
    const drawSessions = async () => {
      const { items } = await api('GET', `${path}/sessions`);
      items.sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt));
      replace(
        sessionList,
        items.length === 0
          ? h('p', { class: 'muted', text: 'No active session.' })
          : h(
              'ul',
              { class: 'rows', 'aria-label': `Sessions of ${name}` },
              items.map((s) =>
                h(
                  'li',
                  { class: 'row', dataset: { session: s.id } },
                  h(
                    'div',
                    { class: 'row-main' },
                    h('strong', { text: deviceName(s.userAgent) }),
                    s.current ? badge('this device', 'ok') : null,
                    h('div', { class: 'muted small' }, `${s.ip ?? 'unknown address'} · signed in `, timeEl(s.createdAt), ' · last active ', timeEl(s.lastUsedAt)),
                  ),
                  confirmButton('Revoke', {
                    'aria-label': `Revoke session of ${deviceName(s.userAgent)} from ${s.ip ?? 'unknown address'}`,
                    question: `Sign ${name} out of this session?`,
                    confirmText: 'Yes, revoke it',
                    action: async () => {
                      showError(alert, null);
                      await api('DELETE', `${path}/sessions/${encodeURIComponent(s.id)}`);
                      ctx.notify(`The session of ${name} is revoked.`);
                      await drawSessions();
                    },
                    onError,
                  }),
                ),
              ),
            ),
      );
    };
    const showSessions = actionButton('Show sessions', async () => {
      showError(alert, null);
      await drawSessions();
    }, { className: 'small', onError });

    const trail = h('div', { class: 'trail' });
    const showTrail = actionButton('Show activity', async () => {
      const q = new URLSearchParams({ subjectId: u.id, limit: '20' });
      const { items } = await api('GET', `/api/v1/audit/events?${q}`);
      replace(
        trail,
        items.length === 0
          ? h('p', { class: 'muted', text: 'No activity recorded yet.' })
          : h('ul', { class: 'rows', 'aria-label': `Activity of ${name}` }, items.map((e) => h('li', { class: 'row' }, h('code', { text: e.type }), ' ', timeEl(e.occurredAt), e.ip ? h('span', { class: 'muted small', text: ` · ${e.ip}` }) : null))),
      );
    }, { className: 'small', onError });

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
        u.roles.filter((r) => r !== 'user').map((r) => badge(r)),
        h('div', { class: 'muted small' }, [u.username ? `@${u.username}` : null, u.displayName].filter(Boolean).join(' · ') || '—', ' · joined ', timeEl(u.createdAt), ' · last sign-in ', timeEl(u.lastLoginAt)),
        alert,
        h(
          'details',
          { open },
          h('summary', { text: 'Manage' }),
          roles,
          h('div', { class: 'actions' }, saveRoles),
          h('div', { class: 'actions wrap' }, actions),
          section('Sessions', showSessions, sessionList),
          section('Activity', showTrail, trail),
        ),
      ),
    );
  };
  draw();
  return li;
}
