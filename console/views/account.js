/**
 * My account: who I am (`/auth/me`), my sessions (revoke one, sign out, sign out everywhere),
 * password change, two-step verification and passkeys.
 */
import { api, logout, logoutEverywhere, session } from '../lib/api.js';
import { actionButton, dl, field, form, h, replace, section, showError, timeEl } from '../lib/dom.js';
import { backupCodesList, badge, deviceName, svgImage } from './shared.js';
import { connectedAppsCard } from './oidc.js';
import { selfServiceCards } from './account-self.js';
import { identitiesCard } from './identities.js';

const AUTH = '/api/v1/auth';

/** The account screen. */
export async function accountView(ctx) {
  const me = await api('GET', `${AUTH}/me`);
  session.setUser({ ...session.user, ...me });
  const sessionsCard = section('Sessions');
  const sessionsBody = h('div', {});
  sessionsCard.append(
    h('p', { class: 'muted', text: 'Where your account is signed in. Revoking a session signs that device out within a second.' }),
    sessionsBody,
    h(
      'div',
      { class: 'actions' },
      actionButton('Sign out', async () => {
        await logout();
        ctx.notify('You are signed out.');
      }, { onError: fail(ctx) }),
      actionButton('Sign out everywhere', async () => {
        await logoutEverywhere();
        ctx.notify('Every session of your account is signed out.');
      }, { className: 'danger', onError: fail(ctx) }),
    ),
  );
  await drawSessions(ctx, sessionsBody);

  return h(
    'div',
    {},
    h('h1', { text: 'My account' }),
    accountCard(ctx, me),
    selfServiceCards(ctx, me),
    sessionsCard,
    passwordCard(ctx, () => drawSessions(ctx, sessionsBody)),
    mfaCard(ctx, me),
    passkeysCard(ctx),
    await identitiesCard(ctx),
    await connectedAppsCard(ctx, section),
  );
}

/**
 * A hidden username field for password forms: password managers need it to know which
 * account the password belongs to (and fill or update the right entry).
 */
function usernameHint() {
  return h('input', { type: 'text', name: 'username', autocomplete: 'username', value: session.user?.email ?? '', hidden: true, readonly: true, tabindex: '-1', 'aria-hidden': 'true' });
}

function fail(ctx) {
  return (err) => ctx.notify(err.detail ?? err.message, 'error');
}

function accountCard(ctx, me) {
  const verified = me.emailVerified
    ? badge('verified', 'ok')
    : h(
        'span',
        {},
        badge('not verified', 'warn'),
        ' ',
        actionButton('Send verification email', async (b) => {
          await api('POST', `${AUTH}/email/verify/resend`, { body: {} });
          b.replaceWith(h('span', { class: 'muted', role: 'status', text: 'Sent — check your inbox.' }));
        }, { className: 'link', onError: fail(ctx) }),
      );
  return section(
    'Account',
    dl([
      ['Email', h('span', { class: 'email' }, h('span', { 'data-field': 'email', text: me.email }), ' ', verified)],
      ['Username', me.username ?? '—'],
      ['Display name', me.displayName ?? '—'],
      ['Roles', h('span', {}, me.roles.map((r) => badge(r)))],
      ['Two-step verification', me.mfaEnabled ? badge('on', 'ok') : badge('off')],
      ['Member since', timeEl(me.createdAt)],
      ['Last sign-in', timeEl(me.lastLoginAt)],
    ]),
  );
}

async function drawSessions(ctx, holder) {
  const { items } = await api('GET', `${AUTH}/sessions`);
  if (!ctx.current) return;
  items.sort((a, b) => Number(b.current) - Number(a.current) || b.lastUsedAt.localeCompare(a.lastUsedAt));
  replace(
    holder,
    h(
      'ul',
      { class: 'rows', 'aria-label': 'Active sessions' },
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
          s.current
            ? null
            : actionButton('Revoke', async (b) => {
                await api('DELETE', `${AUTH}/sessions/${encodeURIComponent(s.id)}`);
                b.closest('li')?.remove();
                ctx.notify('The session is revoked.');
              }, { className: 'small', 'aria-label': `Revoke session of ${deviceName(s.userAgent)} from ${s.ip ?? 'unknown address'}`, onError: fail(ctx) }),
        ),
      ),
    ),
  );
}

function passwordCard(ctx, afterChange) {
  return section(
    'Password',
    form({
      label: 'Change password',
      submit: 'Change password',
      children: [
        usernameHint(),
        field({ label: 'Current password', name: 'currentPassword', type: 'password', autocomplete: 'current-password', required: true }),
        field({ label: 'New password', name: 'newPassword', type: 'password', autocomplete: 'new-password', required: true, minlength: '8', hint: 'At least 8 characters; a long passphrase is best. Your other sessions will be signed out.' }),
      ],
      onSubmit: async ({ currentPassword, newPassword }, f) => {
        await api('POST', `${AUTH}/password/change`, { body: { currentPassword, newPassword } });
        f.reset();
        ctx.notify('Your password is changed; your other sessions are signed out.');
        await afterChange();
      },
    }),
  );
}

function mfaCard(ctx, me) {
  const card = section('Two-step verification');
  const body = h('div', {});
  card.append(body);
  const drawOff = () =>
    replace(
      body,
      h('p', { text: 'Add a second step to sign-in: a 6-digit code from an authenticator app on your phone.' }),
      actionButton('Set up an authenticator app', async () => {
        const setup = await api('POST', `${AUTH}/mfa/totp/setup`, { body: {} });
        replace(
          body,
          h('ol', { class: 'steps' }, h('li', { text: 'Scan this code with an authenticator app (or type the key below).' }), h('li', { text: 'Enter the 6-digit code the app shows.' })),
          h('div', { class: 'qr' }, svgImage(setup.qrCodeSvg, 'QR code to add Gatehouse to your authenticator app', ctx)),
          h('p', {}, 'Key: ', h('code', { class: 'secret', text: setup.secret })),
          form({
            label: 'Confirm authenticator',
            submit: 'Turn on',
            children: [field({ label: 'Authentication code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true })],
            onSubmit: async ({ code }) => {
              const res = await api('POST', `${AUTH}/mfa/totp/confirm`, { body: { code: code.replace(/\s+/g, '') } });
              session.setUser({ ...session.user, mfaEnabled: true });
              replace(
                body,
                h('p', { class: 'success', role: 'status', text: 'Two-step verification is on. Save these backup codes somewhere safe: each lets you sign in once without your phone.' }),
                backupCodesList(res.backupCodes),
                h('button', { type: 'button', text: 'Done', on: { click: drawOn } }),
              );
            },
          }),
          h('button', { type: 'button', class: 'link', text: 'Cancel', on: { click: drawOff } }),
        );
      }, { className: 'primary', onError: fail(ctx) }),
    );
  const drawOn = () => {
    const codes = h('div', {});
    replace(
      body,
      h('p', {}, badge('on', 'ok'), ' Sign-in asks for a code from your authenticator app (or a backup code).'),
      h('details', {}, h('summary', { text: 'New backup codes' }), form({
        label: 'New backup codes',
        submit: 'Make new codes',
        children: [usernameHint(), field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, hint: 'Your old backup codes stop working.' })],
        onSubmit: async ({ password }, f) => {
          const res = await api('POST', `${AUTH}/mfa/backup-codes`, { body: { password } });
          f.reset();
          replace(codes, backupCodesList(res.backupCodes));
        },
      }), codes),
      h('details', {}, h('summary', { text: 'Turn off two-step verification' }), form({
        label: 'Turn off two-step verification',
        submit: 'Turn off',
        children: [usernameHint(), field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })],
        onSubmit: async ({ password }) => {
          await api('DELETE', `${AUTH}/mfa/totp`, { body: { password } });
          session.setUser({ ...session.user, mfaEnabled: false });
          ctx.notify('Two-step verification is off.');
          drawOff();
        },
      })),
    );
  };
  if (me.mfaEnabled) drawOn();
  else drawOff();
  return card;
}

function passkeysCard(ctx) {
  const PKC = globalThis.PublicKeyCredential;
  const card = section('Passkeys');
  const list = h('div', {});
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const draw = async () => {
    const { items } = await api('GET', `${AUTH}/passkeys`);
    if (!ctx.current) return;
    replace(
      list,
      items.length === 0
        ? h('p', { class: 'muted', text: 'No passkeys yet. A passkey signs you in with your fingerprint, face or device PIN instead of a password.' })
        : h(
            'ul',
            { class: 'rows', 'aria-label': 'Passkeys' },
            items.map((p) =>
              h(
                'li',
                { class: 'row' },
                h('div', { class: 'row-main' }, h('strong', { text: p.name || 'Passkey' }), p.backedUp ? badge('synced') : null, h('div', { class: 'muted small' }, 'added ', timeEl(p.createdAt), ' · last used ', timeEl(p.lastUsedAt))),
                actionButton('Delete', async (b) => {
                  await api('DELETE', `${AUTH}/passkeys/${encodeURIComponent(p.id)}`);
                  b.closest('li')?.remove();
                }, { className: 'small', 'aria-label': `Delete passkey ${p.name || ''}`.trim(), onError: (err) => showError(alert, err) }),
              ),
            ),
          ),
    );
  };
  card.append(alert, list);
  if (PKC?.parseCreationOptionsFromJSON) {
    card.append(
      h('div', { class: 'actions' }, actionButton('Add a passkey', async () => {
        showError(alert, null);
        const options = await api('POST', `${AUTH}/passkeys/register/options`, { body: {} });
        const credential = await navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(options) });
        if (!credential) return;
        await api('POST', `${AUTH}/passkeys/register/verify`, { body: { response: credential.toJSON(), name: deviceName(navigator.userAgent) } });
        await draw();
      }, { onError: (err) => showError(alert, err.name === 'NotAllowedError' ? new Error('Adding the passkey was cancelled.') : err) })),
    );
  } else {
    card.append(h('p', { class: 'muted', text: 'This browser cannot create passkeys.' }));
  }
  draw().catch((err) => showError(alert, err));
  return card;
}
