/**
 * Gatehouse web console: entry point. Restores the session from the refresh cookie, then
 * routes. Screens are `#/…` fragments of `/`; the two emailed links arrive as the paths
 * `/reset-password?token=…` and `/verify-email?token=…`, which the gateway also serves this
 * page for. No framework and no build step: plain ES modules the gateway serves as they are.
 */
import { hasRole, logout, restoreSession, session } from './lib/api.js';
import { actionButton, h, replace } from './lib/dom.js';
import { forgotView, oauthCallbackView, registerView, resetView, signInView, verifyEmailView } from './views/auth.js';
import { accountView } from './views/account.js';
import { profileView } from './views/profile.js';
import { activityView } from './views/activity.js';
import { adminUsersView } from './views/admin.js';
import { rolesView } from './views/roles.js';
import { settingsView } from './views/settings.js';
import { tenantsView } from './views/tenants.js';
import { auditView } from './views/audit.js';
import { confirmEmailView } from './views/account-self.js';
import { eventsView } from './views/events.js';
import { systemView } from './views/system.js';
import { dashboardView } from './views/dashboard.js';
import { webhooksView } from './views/webhooks.js';
import { oidcView, rememberPendingInteraction } from './views/oidc.js';
import { applicationsView } from './views/applications.js';
import { resourcesView } from './views/resources.js';

/** The screens: fragment → view, who may see it, its menu label. */
const ROUTES = {
  '#/signin': { view: signInView, title: 'Sign in', guest: true },
  '#/register': { view: registerView, title: 'Create account', guest: true },
  '#/forgot': { view: forgotView, title: 'Forgot password', guest: true },
  '#/account': { view: accountView, title: 'My account', role: 'user', menu: 'Account' },
  '#/profile': { view: profileView, title: 'My profile', role: 'user', menu: 'Profile' },
  '#/activity': { view: activityView, title: 'My activity', role: 'user', menu: 'Activity' },
  '#/events': { view: eventsView, title: 'Events', role: 'organizer', menu: 'Events' },
  '#/admin/dashboard': { view: dashboardView, title: 'Dashboard', role: 'admin', menu: 'Dashboard' },
  '#/admin/users': { view: adminUsersView, title: 'Users', role: 'admin', menu: 'Users' },
  '#/admin/webhooks': { view: webhooksView, title: 'Webhooks', role: 'admin', menu: 'Webhooks' },
  '#/admin/applications': { view: applicationsView, title: 'Applications', role: 'admin', menu: 'Applications' },
  '#/admin/resources': { view: resourcesView, title: 'API resources', role: 'admin', menu: 'API resources' },
  '#/oidc': { view: oidcView, title: 'Sign in to an application', role: 'user' },
  '#/admin/roles': { view: rolesView, title: 'Roles', role: 'admin', menu: 'Roles' },
  '#/admin/audit': { view: auditView, title: 'Audit log', role: 'admin', menu: 'Audit log' },
  '#/admin/settings': { view: settingsView, title: 'Settings', role: 'admin', menu: 'Settings' },
  '#/admin/tenants': { view: tenantsView, title: 'Tenants', role: 'superadmin', menu: 'Tenants' },
  '#/admin/system': { view: systemView, title: 'System', role: 'superadmin', menu: 'System' },
};
/** Paths of emailed links: their view and the token they carry. */
const LINK_PATHS = {
  '/reset-password': { view: resetView, title: 'Choose a new password' },
  '/verify-email': { view: verifyEmailView, title: 'Verify email' },
  '/confirm-email': { view: confirmEmailView, title: 'Confirm your new email' },
  '/oauth-callback': { view: oauthCallbackView, title: 'Signing in' },
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const notice = document.getElementById('notice');

// The one-time token of an emailed link is read once and taken out of the address bar (and so
// out of the history and of anything that reads location later).
const linkParams = new URLSearchParams(location.search);
const linkToken = linkParams.get('token');
// a social sign-in returns with a one-time `code` (or an `error`): read once and removed likewise
const linkCode = linkParams.get('code');
const linkError = linkParams.get('error');
// a link from the Account screen returns with `linked=<provider>` (views/identities.js)
const linkLinked = linkParams.get('linked');
if (linkToken !== null || linkCode !== null || linkError !== null || linkLinked !== null) history.replaceState(null, '', location.pathname + location.hash);

// An application's sign-in request (OpenID provider) waits through the sign-in screens.
rememberPendingInteraction();

let cleanups = [];
let noticeTimer;

/** Shows a short message in the live region (read out by screen readers). */
function notify(text, kind = 'info') {
  clearTimeout(noticeTimer);
  notice.className = `notice ${kind}`;
  notice.textContent = text;
  notice.hidden = false;
  noticeTimer = setTimeout(() => {
    notice.hidden = true;
  }, 8000);
}

/** Goes to a screen (`#/…`), leaving an emailed-link path if the page is on one. */
function navigate(hash, { replace: replaceEntry = false } = {}) {
  const url = `/${hash}`;
  if (location.pathname + location.hash !== url) {
    if (replaceEntry) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
  }
  return render();
}

function currentRoute() {
  const hash = location.hash.split('?')[0];
  if (ROUTES[hash]) return { key: hash, ...ROUTES[hash] };
  if ((!hash || hash === '#/') && LINK_PATHS[location.pathname]) return { key: location.pathname, ...LINK_PATHS[location.pathname], link: true };
  return null;
}

function renderNav() {
  const items = [];
  if (session.signedIn) {
    for (const [hash, r] of Object.entries(ROUTES)) {
      if (r.menu && hasRole(r.role)) items.push([hash, r.menu]);
    }
  } else {
    items.push(['#/signin', 'Sign in'], ['#/register', 'Create account']);
  }
  const active = location.pathname === '/' ? location.hash : '';
  replace(
    nav,
    h(
      'ul',
      {},
      items.map(([hash, label]) =>
        h('li', {}, h('a', { href: `/${hash}`, 'data-nav': hash, 'aria-current': active === hash ? 'page' : undefined, text: label })),
      ),
    ),
  );
  const who = document.getElementById('who');
  if (!session.user) {
    replace(who);
    return;
  }
  replace(
    who,
    h('span', { class: 'who-name', text: session.user.displayName || session.user.username || session.user.email }),
    actionButton(
      'Sign out',
      async () => {
        await logout();
        notify('You are signed out.');
      },
      { className: 'link', onError: (err) => notify(err.detail ?? err.message, 'error') },
    ),
  );
}

let rendering = 0;
/** Draws the current screen: leaves the last one (its timers), checks access, mounts the view. */
async function render() {
  const ticket = ++rendering;
  for (const fn of cleanups.splice(0)) fn();
  let route = currentRoute();
  if (!route) {
    navigate(session.signedIn ? '#/account' : '#/signin', { replace: true });
    return;
  }
  if (route.guest && session.signedIn) return navigate('#/account', { replace: true });
  if (route.role && !session.signedIn) return navigate('#/signin', { replace: true });
  if (route.role && !hasRole(route.role)) {
    notify(`${route.title} needs the ${route.role} role.`, 'error');
    return navigate('#/account', { replace: true });
  }
  renderNav();
  document.title = `${route.title} · Gatehouse`;
  const ctx = {
    navigate,
    notify,
    token: route.link ? linkToken : null,
    code: route.link ? linkCode : null,
    error: route.link ? linkError : null,
    linked: route.link ? linkLinked : null,
    /** registers work to undo when the screen is left (timers, object URLs) */
    onLeave: (fn) => cleanups.push(fn),
    /** true while this screen is still the one shown (async work checks before touching the page) */
    get current() {
      return ticket === rendering;
    },
  };
  main.setAttribute('aria-busy', 'true');
  let view;
  try {
    view = await route.view(ctx);
  } catch (err) {
    view = h('div', { class: 'card' }, h('h1', { text: route.title, tabindex: '-1' }), h('p', { class: 'alert', role: 'alert', text: err.detail ?? err.message }));
  }
  if (ticket !== rendering) return;
  main.removeAttribute('aria-busy');
  replace(main, view);
  // Move focus to the new screen's heading, so keyboard and screen-reader users start there.
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

// In-page links (`data-nav`) switch screens without reloading, also from an emailed-link path.
document.addEventListener('click', (event) => {
  const a = event.target instanceof Element ? event.target.closest('a[data-nav]') : null;
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.dataset.nav);
});
window.addEventListener('popstate', () => render());
window.addEventListener('hashchange', () => render());

session.onChange((user, reason) => {
  renderNav();
  if (user) return;
  if (reason === 'expired') notify('Your session has ended. Please sign in again.', 'error');
  else if (reason === 'elsewhere') notify('You signed out in another tab.');
  const route = currentRoute();
  if (route?.role) navigate('#/signin', { replace: true });
});

await restoreSession();
await render();
document.documentElement.dataset.ready = 'true';
