/**
 * The hosted login of the OpenID provider (issue 11). An application's authorization request
 * sends the browser to `/oidc/interaction/<uid>`, which lands here as `#/oidc?uid=<uid>`. The
 * user signs in the usual way (password, second factor, passkey, social login: the console's
 * own sign-in screen), then this screen finishes the provider's step with the Gatehouse
 * access token: the sign-in, and the consent naming the application and what it asks for
 * (skipped for first-party applications and for consents already given). The interaction's
 * cookies are scoped to its path, so only this page's requests carry them.
 */
import { api, logout } from '../lib/api.js';
import { actionButton, h, replace, showError } from '../lib/dom.js';

const KEY = 'gatehouse.oidc.uid';

/** Remembers a pending interaction across the sign-in screens (tab-local, not a secret). */
export function rememberPendingInteraction() {
  const m = /^#\/oidc\?uid=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!m) return;
  try {
    sessionStorage.setItem(KEY, m[1]);
  } catch {
    // storage off: the user starts again from the application after signing in
  }
}

/** The hash to go to after a sign-in: the pending interaction's, else the account. */
export function afterSignIn() {
  try {
    const uid = sessionStorage.getItem(KEY);
    if (uid) return `#/oidc?uid=${uid}`;
  } catch {
    // ignore
  }
  return '#/account';
}

function forget() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // ignore
  }
}

const SCOPE_TEXT = {
  openid: 'Know who you are (your account id)',
  profile: 'Your name and username',
  email: 'Your email address and whether it is verified',
  offline_access: 'Stay connected when you are not using it',
};

async function step(uid, what) {
  const res = await api('POST', `/oidc/interaction/${encodeURIComponent(uid)}/${what}`, { body: {}, auth: what !== 'abort' });
  forget();
  location.assign(res.redirectTo);
}

/** The screen. */
export async function oidcView(ctx) {
  const uid = /[?&]uid=([A-Za-z0-9_-]+)/.exec(location.hash)?.[1];
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  if (!uid) return h('div', { class: 'card' }, h('h1', { text: 'Sign in to an application' }), h('p', { text: 'This link is incomplete. Start again from the application.' }));
  let details;
  try {
    details = await api('GET', `/oidc/interaction/${encodeURIComponent(uid)}/details`, { auth: false });
  } catch (err) {
    forget();
    throw err;
  }
  const appName = details.application.name;

  if (details.prompt === 'login') {
    const body = h('div', { class: 'card narrow' }, h('h1', { text: `Continue to ${appName}` }), alert);
    try {
      await step(uid, 'login');
      body.append(h('p', { role: 'status', text: `Signing you in to ${appName}…` }));
    } catch (err) {
      if (err.code === 'reauthentication_required') {
        body.append(
          h('p', { text: `${appName} asks you to sign in again.` }),
          actionButton('Sign in again', async () => {
            await logout();
            ctx.navigate('#/signin');
          }),
        );
      } else showError(alert, err);
    }
    return body;
  }

  const list = h(
    'ul',
    { 'aria-label': 'What the application asks for' },
    details.scopes.map((s) => h('li', { text: SCOPE_TEXT[s] ?? s })),
  );
  const card = h(
    'div',
    { class: 'card narrow' },
    h('h1', { text: `Allow ${appName}?` }),
    h('p', { class: 'lead', text: `${appName} asks to:` }),
    list,
    alert,
    h(
      'div',
      { class: 'actions' },
      actionButton('Allow', () => step(uid, 'consent'), { className: 'primary', onError: (err) => showError(alert, err) }),
      actionButton('Deny', () => step(uid, 'abort'), { onError: (err) => showError(alert, err) }),
    ),
  );
  return card;
}

/** "Connected apps" of the account screen: applications the user allowed, with a way out. */
export async function connectedAppsCard(ctx, section) {
  const card = section('Connected apps');
  const body = h('div', {});
  card.append(h('p', { class: 'muted', text: 'Applications you allowed to use your account. Disconnecting one ends its access at once.' }), body);
  const draw = async () => {
    const { items } = await api('GET', '/api/v1/auth/consents');
    if (items.length === 0) return replace(body, h('p', { class: 'muted', text: 'No connected apps.' }));
    replace(
      body,
      h(
        'ul',
        { class: 'rows', 'aria-label': 'Connected apps' },
        items.map((c) =>
          h(
            'li',
            { class: 'row' },
            h('span', { text: `${c.name} — ${c.scopes.join(', ')}` }),
            actionButton(`Disconnect ${c.name}`, async () => {
              await api('DELETE', `/api/v1/auth/consents/${encodeURIComponent(c.applicationId)}`);
              ctx.notify(`${c.name} is disconnected.`);
              await draw();
            }, { className: 'danger', onError: (err) => ctx.notify(err.detail ?? err.message, 'error') }),
          ),
        ),
      ),
    );
  };
  await draw();
  return card;
}
