/**
 * Screens before a session: sign in (with the second-factor step and, where a tenant requires
 * it, enrollment), create an account, forgot password, and the two emailed links: reset
 * password and verify email.
 */
import { ApiError, adoptTokens, api, exchangeOAuthCode, forgetSession, login, loginMfa, loginWithPasskey, register, session } from '../lib/api.js';
import { actionButton, field, form, h, replace, section, showError } from '../lib/dom.js';
import { backupCodesList, svgImage } from './shared.js';
import { afterSignIn } from './oidc.js';
import { linkReturned } from './identities.js';

const AUTH = '/api/v1/auth';
const PASSWORD_HINT = 'At least 8 characters; a long passphrase is best. Common passwords are refused.';

function page(title, lead, ...children) {
  return h('div', { class: 'narrow' }, h('h1', { text: title }), lead ? h('p', { class: 'lead', text: lead }) : null, children);
}

function welcome(ctx, user) {
  ctx.notify(`Signed in as ${user.displayName || user.username || user.email}.`);
  return ctx.navigate(afterSignIn());
}

/** Sign in: email or username and password; then a second factor when the account has one. */
export function signInView(ctx) {
  const body = h('div', {});
  const signIn = form({
    label: 'Sign in',
    submit: 'Sign in',
    children: [
      field({ label: 'Email or username', name: 'identifier', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' }),
      field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    ],
    onSubmit: async ({ identifier, password }) => {
      const res = await login(identifier, password);
      if (res.signedIn) return welcome(ctx, res.user);
      if (res.mfaRequired && res.enrollmentRequired) return replace(body, enrollmentStep(ctx, res));
      if (res.mfaRequired) return replace(body, mfaStep(ctx, res));
      throw new Error('The server answered in a way this console does not know.');
    },
  });
  const passkeyAlert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const passkey = globalThis.PublicKeyCredential?.parseRequestOptionsFromJSON
    ? h(
        'div',
        { class: 'alt' },
        passkeyAlert,
        actionButton(
          'Sign in with a passkey',
          async () => {
            showError(passkeyAlert, null);
            if (await loginWithPasskey()) await welcome(ctx, session.user);
          },
          { onError: (err) => showError(passkeyAlert, err.name === 'NotAllowedError' ? new Error('The passkey sign-in was cancelled.') : err) },
        ),
      )
    : null;
  // The tenant's enabled social sign-in providers (none: no buttons); the provider returns to
  // /oauth-callback, which must be on the tenant's redirect URIs (Settings).
  const social = h('div', { class: 'alt social', 'aria-label': 'Sign in with another account' });
  api('GET', `${AUTH}/oauth/providers`, { auth: false })
    .then(({ items }) => {
      const redirectUri = `${location.origin}/oauth-callback`;
      replace(
        social,
        items.map((p) =>
          h('a', { class: 'button', href: `${AUTH}/oauth/${encodeURIComponent(p.id)}/start?redirectUri=${encodeURIComponent(redirectUri)}`, text: `Sign in with ${p.name}` }),
        ),
      );
    })
    .catch(() => replace(social));
  replace(
    body,
    signIn,
    passkey,
    social,
    h('p', { class: 'links' }, h('a', { href: '/#/forgot', 'data-nav': '#/forgot', text: 'Forgot your password?' }), ' · ', h('a', { href: '/#/register', 'data-nav': '#/register', text: 'Create an account' })),
  );
  return page('Sign in', null, body);
}

/** The second step: a code from the authenticator app, or a backup code. */
function mfaStep(ctx, challenge) {
  const methods = challenge.methods ?? [];
  let useBackup = !methods.includes('totp') && methods.includes('backup_code');
  const holder = h('div', {});
  const expires = Date.now() + (challenge.expiresIn ?? 300) * 1000;

  const toggle = () => {
    useBackup = !useBackup;
    draw();
  };
  const draw = () => {
    const f = form({
      label: 'Two-step verification',
      submit: 'Verify',
      children: useBackup
        ? [field({ label: 'Backup code', name: 'backupCode', autocomplete: 'off', required: true, autocapitalize: 'none', spellcheck: 'false', hint: 'One of the codes you saved when you set up two-step verification. Each works once.' })]
        : [field({ label: 'Authentication code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,8}', maxlength: '8', required: true, hint: 'The 6-digit code your authenticator app shows now.' })],
      onSubmit: async (values) => {
        if (Date.now() > expires) throw new Error('This sign-in took too long. Start again.');
        try {
          const res = await loginMfa(challenge.mfaToken, useBackup ? { backupCode: values.backupCode.trim() } : { code: values.code });
          if (res.signedIn) return welcome(ctx, res.user);
        } catch (err) {
          if (err instanceof ApiError && err.code === 'invalid_mfa_token') throw new Error('This sign-in expired. Start again with your password.', { cause: err });
          throw err;
        }
      },
      extraButtons: methods.includes('totp') && methods.includes('backup_code')
        ? [h('button', { type: 'button', class: 'link', text: useBackup ? 'Use the authenticator app' : 'Use a backup code', on: { click: toggle } })]
        : [],
    });
    replace(holder, f);
    f.querySelector('input')?.focus();
  };
  draw();
  return h(
    'div',
    {},
    h('h2', { text: 'Two-step verification' }),
    h('p', { text: methods.includes('passkey') && !methods.includes('totp') ? 'This account signs in with a passkey.' : 'Enter the code to finish signing in.' }),
    holder,
    h('p', { class: 'links' }, h('a', { href: '/#/signin', 'data-nav': '#/signin', text: 'Start over' })),
  );
}

/** A tenant that requires two-step verification, an account without it: set it up to finish signing in. */
function enrollmentStep(ctx, challenge) {
  const holder = h('div', {}, h('p', { text: 'Preparing your authenticator setup…' }));
  const bearer = { authorization: `Bearer ${challenge.mfaToken}` };
  (async () => {
    try {
      const setup = await api('POST', `${AUTH}/mfa/totp/setup`, { auth: false, headers: bearer, body: {} });
      const img = svgImage(setup.qrCodeSvg, 'QR code to add Gatehouse to your authenticator app', ctx);
      replace(
        holder,
        h('ol', { class: 'steps' }, h('li', { text: 'Scan this code with an authenticator app (or type the key below).' }), h('li', { text: 'Enter the 6-digit code the app shows.' })),
        h('div', { class: 'qr' }, img),
        h('p', {}, 'Key: ', h('code', { class: 'secret', text: setup.secret })),
        form({
          label: 'Confirm authenticator',
          submit: 'Turn on and sign in',
          children: [field({ label: 'Authentication code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true })],
          onSubmit: async ({ code }) => {
            const res = await api('POST', `${AUTH}/mfa/totp/confirm`, { auth: false, headers: bearer, body: { code: code.replace(/\s+/g, '') } });
            if (res.tokens) await adoptTokens(res.tokens);
            replace(
              holder,
              h('p', { text: 'Two-step verification is on. Save these backup codes somewhere safe: each lets you sign in once without your phone.' }),
              backupCodesList(res.backupCodes),
              h('button', { type: 'button', class: 'primary', text: 'I saved them — continue', on: { click: () => welcome(ctx, session.user) } }),
            );
          },
        }),
      );
    } catch (err) {
      replace(holder, h('div', { class: 'alert', role: 'alert', text: err.detail ?? err.message }));
    }
  })();
  return h('div', {}, h('h2', { text: 'Set up two-step verification' }), h('p', { text: 'Your organization requires a second step at sign-in.' }), holder);
}

/** Create an account (and sign in). */
export function registerView(ctx) {
  return page(
    'Create your account',
    null,
    form({
      label: 'Create account',
      submit: 'Create account',
      children: [
        field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'email', required: true }),
        field({ label: 'Username (optional)', name: 'username', autocomplete: 'username', minlength: '3', maxlength: '32', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*', autocapitalize: 'none', spellcheck: 'false', hint: '3–32 letters, digits, dots, dashes or underscores.' }),
        field({ label: 'Display name (optional)', name: 'displayName', autocomplete: 'name', maxlength: '100' }),
        field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8', hint: PASSWORD_HINT }),
      ],
      onSubmit: async ({ email, username, displayName, password }) => {
        const body = { email: email.trim(), password };
        if (username.trim()) body.username = username.trim();
        if (displayName.trim()) body.displayName = displayName.trim();
        const res = await register(body);
        ctx.notify(`Welcome! We sent a link to ${res.user.email} to confirm the address.`);
        return ctx.navigate('#/account');
      },
    }),
    h('p', { class: 'links' }, 'Already have an account? ', h('a', { href: '/#/signin', 'data-nav': '#/signin', text: 'Sign in' })),
  );
}

/** Ask for a reset link (the answer never says whether the address has an account). */
export function forgotView() {
  const holder = h('div', {});
  replace(
    holder,
    form({
      label: 'Forgot password',
      submit: 'Send reset link',
      children: [field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'email', required: true })],
      onSubmit: async ({ email }) => {
        await api('POST', `${AUTH}/password/forgot`, { auth: false, body: { email: email.trim() } });
        replace(holder, h('p', { class: 'success', role: 'status', text: `If ${email.trim()} has an account here, a link to choose a new password is on its way. It works once, within 30 minutes.` }));
      },
    }),
  );
  return page('Forgot your password?', 'We will email you a link to choose a new one.', holder, h('p', { class: 'links' }, h('a', { href: '/#/signin', 'data-nav': '#/signin', text: 'Back to sign in' })));
}

/** `/reset-password?token=…`: a new password; every session ends, then sign in. */
export function resetView(ctx) {
  if (!ctx.token) {
    return page('Choose a new password', null, h('p', { class: 'alert', role: 'alert', text: 'This link is incomplete. Open the link from the email again, or ask for a new one.' }), h('p', {}, h('a', { href: '/#/forgot', 'data-nav': '#/forgot', text: 'Ask for a new link' })));
  }
  return page(
    'Choose a new password',
    'After this, every session of your account is signed out.',
    form({
      label: 'Set a new password',
      submit: 'Set password',
      children: [field({ label: 'New password', name: 'newPassword', type: 'password', autocomplete: 'new-password', required: true, minlength: '8', hint: PASSWORD_HINT })],
      onSubmit: async ({ newPassword }) => {
        try {
          await api('POST', `${AUTH}/password/reset`, { auth: false, body: { token: ctx.token, newPassword } });
        } catch (err) {
          if (err instanceof ApiError && err.code === 'invalid_token') throw new Error('This link has expired or was already used. Ask for a new one.', { cause: err });
          throw err;
        }
        // every session of the account ended, this page's too if it had one
        if (session.signedIn) forgetSession();
        ctx.notify('Your password is changed. Sign in with it now.');
        return ctx.navigate('#/signin');
      },
    }),
  );
}

/** `/verify-email?token=…`: confirms the address at once. */
export async function verifyEmailView(ctx) {
  const out = h('div', {});
  if (!ctx.token) {
    replace(out, h('p', { class: 'alert', role: 'alert', text: 'This link is incomplete. Open the link from the email again.' }));
  } else {
    try {
      await api('POST', `${AUTH}/email/verify`, { auth: false, body: { token: ctx.token } });
      if (session.user) session.setUser({ ...session.user, emailVerified: true });
      replace(out, h('p', { class: 'success', role: 'status', text: 'Your email address is confirmed. Thank you!' }));
    } catch (err) {
      const text = err instanceof ApiError && err.code === 'invalid_token' ? 'This link has expired or was already used.' : (err.detail ?? err.message);
      replace(
        out,
        h('p', { class: 'alert', role: 'alert', text }),
        session.signedIn
          ? section(
              'Need a new link?',
              actionButton('Send a new link', async (b) => {
                await api('POST', `${AUTH}/email/verify/resend`, { body: {} });
                b.replaceWith(h('p', { class: 'success', role: 'status', text: 'A new link is on its way.' }));
              }, { onError: (e) => ctx.notify(e.detail ?? e.message, 'error') }),
            )
          : h('p', { text: 'Sign in, then ask for a new link from your account page.' }),
      );
    }
  }
  const next = session.signedIn ? ['#/account', 'Go to my account'] : ['#/signin', 'Sign in'];
  return page('Verify email', null, out, h('p', { class: 'links' }, h('a', { href: `/${next[0]}`, 'data-nav': next[0], text: next[1] })));
}

/** `/oauth-callback?code=…`: the social provider sent the browser back; the code becomes a session. */
export async function oauthCallbackView(ctx) {
  // the return of a link flow started on the Account screen
  if (linkReturned(ctx)) return h('div', {});
  const body = h('div', {});
  const fail = (text) => replace(body, h('p', { class: 'alert', role: 'alert', text }), h('p', {}, h('a', { href: '/#/signin', 'data-nav': '#/signin', text: 'Back to sign in' })));
  if (ctx.error) fail(`The provider did not sign you in (${ctx.error}).`);
  else if (!ctx.code) fail('This address has no sign-in code. Start again from the sign-in page.');
  else {
    try {
      const res = await exchangeOAuthCode(ctx.code);
      if (res.signedIn) {
        await welcome(ctx, res.user);
        return body;
      }
      if (res.mfaRequired && res.enrollmentRequired) replace(body, enrollmentStep(ctx, res));
      else if (res.mfaRequired) replace(body, mfaStep(ctx, res));
    } catch (err) {
      fail(err.detail ?? err.message);
    }
  }
  return page('Signing in', null, body);
}
