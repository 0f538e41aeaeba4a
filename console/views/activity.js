/** My activity: the caller's own entries of the audit log (`/audit/me`), newest first, paged. */
import { api } from '../lib/api.js';
import { h, replace, timeEl } from '../lib/dom.js';
import { deviceName } from './shared.js';

/** What people call the event types of the log; others are shown as they are. */
const LABELS = {
  'user.events.created': 'Account created',
  'user.events.updated': 'Account changed',
  'user.events.disabled': 'Account disabled',
  'user.events.deleted': 'Account deleted',
  'auth.events.login_succeeded': 'Signed in',
  'auth.events.login_failed': 'Sign-in failed',
  'auth.events.logout': 'Signed out',
  'auth.events.session_revoked': 'Session revoked',
  'auth.events.password_changed': 'Password changed',
  'auth.events.password_reset': 'Password reset',
  'auth.events.email_verified': 'Email verified',
  'auth.events.mfa_enabled': 'Two-step verification turned on',
  'auth.events.mfa_disabled': 'Two-step verification turned off',
  'auth.events.refresh_token_reused': 'Session ended: a used sign-in token was presented again',
  'auth.events.oauth_linked': 'Social account linked',
  'auth.events.oauth_unlinked': 'Social account unlinked',
  'profile.events.updated': 'Profile updated',
  'attendance.events.checked_in': 'Checked in',
  'attendance.events.checked_out': 'Checked out',
};

/** A label for an audit entry type. */
export function activityLabel(type) {
  if (LABELS[type]) return LABELS[type];
  if (type.startsWith('social.events.')) return `Activity: ${type.slice('social.events.'.length)}`;
  return type;
}

/** The activity screen. */
export async function activityView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'My activity' });
  const more = h('div', { class: 'actions' });
  const empty = h('p', { class: 'muted', hidden: true, text: 'Nothing yet. Sign-ins, password and profile changes and check-ins show up here.' });
  const load = async (cursor) => {
    const q = new URLSearchParams({ limit: '50' });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `/api/v1/audit/me?${q}`);
    if (!ctx.current) return;
    for (const e of page.items) {
      list.append(
        h(
          'li',
          { class: 'row' },
          h(
            'div',
            { class: 'row-main' },
            h('strong', { text: activityLabel(e.type) }),
            h('div', { class: 'muted small' }, timeEl(e.occurredAt), e.ip ? ` · ${e.ip}` : '', e.userAgent ? ` · ${deviceName(e.userAgent)}` : ''),
          ),
        ),
      );
    }
    empty.hidden = list.children.length > 0;
    replace(
      more,
      page.nextCursor
        ? h('button', {
            type: 'button',
            text: 'Show older',
            on: {
              click: async (e) => {
                const button = e.currentTarget;
                button.disabled = true;
                await load(page.nextCursor).catch((err) => {
                  button.disabled = false;
                  ctx.notify(err.detail ?? err.message, 'error');
                });
              },
            },
          })
        : null,
    );
  };
  await load();
  return h('div', {}, h('h1', { text: 'My activity' }), h('p', { class: 'lead', text: 'What happened on your account, from the tamper-evident audit log.' }), h('section', { class: 'card', 'aria-label': 'Activity' }, empty, list, more));
}
