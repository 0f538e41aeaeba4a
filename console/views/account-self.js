/**
 * Self-service parts of "My account": username and display name, email change (a link to the
 * new address, a notice to the old), account deletion (password, confirmed); and the emailed
 * link `/confirm-email?token=…` that completes an email change.
 */
import { api, forgetSession, session } from '../lib/api.js';
import { field, form, h, section } from '../lib/dom.js';

const AUTH = '/api/v1/auth';

/** The cards the account screen shows for these. */
export function selfServiceCards(ctx, me) {
  const details = form({
    label: 'Your name',
    submit: 'Save name',
    children: [
      field({ label: 'Username', name: 'username', value: me.username ?? '', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', hint: 'Letters, digits and . _ -; you can sign in with it. Empty removes it.' }),
      field({ label: 'Display name', name: 'displayName', value: me.displayName ?? '', autocomplete: 'name' }),
    ],
    onSubmit: async (v) => {
      const user = await api('PATCH', `${AUTH}/me`, { body: { username: v.username.trim() || null, displayName: v.displayName.trim() || null } });
      session.setUser({ ...session.user, ...user });
      // drawn again (the header shows the new name), then said, so nothing is typed into a form about to be replaced
      await ctx.navigate('#/account');
      ctx.notify('Your name is saved.');
    },
  });

  const email = form({
    label: 'Change email',
    submit: 'Send confirmation link',
    children: [
      field({ label: 'New email', name: 'newEmail', type: 'email', required: true, autocomplete: 'email' }),
      field({ label: 'Password to confirm', name: 'password', type: 'password', required: true, autocomplete: 'current-password' }),
    ],
    onSubmit: async (v, el) => {
      await api('POST', `${AUTH}/email/change`, { body: { newEmail: v.newEmail.trim(), password: v.password } });
      el.reset();
      ctx.notify(`We sent a link to ${v.newEmail.trim()}. Your address changes when you open it.`);
    },
  });

  const question = h('p', { class: 'alert', role: 'alert', hidden: true, text: 'This deletes your account, profile and sessions for good. Press the button again to confirm.' });
  let armed = false;
  const remove = form({
    label: 'Delete account',
    submit: 'Delete my account',
    children: [
      h('p', { class: 'muted', text: 'Your account, profile, picture and sessions are deleted; this cannot be undone.' }),
      field({ label: 'Password to delete', name: 'password', type: 'password', autocomplete: 'current-password' }),
      question,
    ],
    onSubmit: async (v) => {
      if (!armed) {
        armed = true;
        question.hidden = false;
        remove.querySelector('button[type="submit"]').textContent = 'Yes, delete my account for good';
        return;
      }
      await api('DELETE', `${AUTH}/me`, { body: v.password ? { password: v.password } : {} });
      forgetSession();
      ctx.notify('Your account is deleted.');
      return ctx.navigate('#/signin');
    },
  });
  remove.querySelector('button[type="submit"]').classList.add('danger');

  return [section('Name', details), section('Email address', h('p', { class: 'muted', text: `Now: ${me.email}` }), email), section('Delete account', remove)];
}

/** `/confirm-email?token=…`: completes an email change. */
export async function confirmEmailView(ctx) {
  const box = h('div', { class: 'narrow' }, h('h1', { text: 'Confirm your new email' }));
  if (!ctx.token) {
    box.append(h('p', { class: 'alert', role: 'alert', text: 'This link has no token. Open the link from the email again.' }));
    return box;
  }
  try {
    await api('POST', `${AUTH}/email/change/confirm`, { auth: false, body: { token: ctx.token } });
    if (session.signedIn) {
      const me = await api('GET', `${AUTH}/me`);
      session.setUser({ ...session.user, ...me });
    }
    box.append(h('p', { class: 'lead', role: 'status', text: 'Your email address is changed and confirmed.' }), h('a', { href: '/#/account', 'data-nav': session.signedIn ? '#/account' : '#/signin', text: session.signedIn ? 'Back to your account' : 'Sign in' }));
  } catch (err) {
    box.append(h('p', { class: 'alert', role: 'alert', text: err.detail ?? err.message }));
  }
  return box;
}
