/**
 * Linked sign-in identities on the Account screen (issue 12): the social providers linked to
 * my account, linking another (the provider's page, back through `/oauth-callback?linked=`),
 * and unlinking while another way to sign in remains (the API answers 409
 * `last_sign_in_method` otherwise; its detail is shown).
 */
import { api } from '../lib/api.js';
import { actionButton, h, replace, section, showError, timeEl } from '../lib/dom.js';
import { confirmButton } from './confirm.js';

const AUTH = '/api/v1/auth';
/** sessionStorage key: the provider of a link flow under way (the page is left for the provider's) */
const PENDING = 'gatehouse.linking';

const CALLBACK_MESSAGES = {
  identity_in_use: 'That account is already linked to another user here.',
  access_denied: 'The provider did not allow it.',
  invalid_id_token: 'The provider\'s answer could not be verified.',
};

/** The "Sign-in methods" card: linked identities, link another, unlink. */
export async function identitiesCard(ctx) {
  const card = section('Linked sign-ins');
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const list = h('div', {});
  const linkRow = h('div', { class: 'actions' });
  const providers = await api('GET', `${AUTH}/oauth/providers`, { auth: false }).then((r) => r.items).catch(() => []);

  const draw = async () => {
    const me = await api('GET', `${AUTH}/identities`);
    if (!ctx.current) return;
    const others = (provider) => me.password || me.passkeys > 0 || me.items.some((i) => i.provider !== provider);
    replace(
      list,
      me.items.length === 0
        ? h('p', { class: 'muted', text: 'No social accounts are linked. Link one to sign in with it as well.' })
        : h(
            'ul',
            { class: 'rows', 'aria-label': 'Linked sign-ins' },
            me.items.map((i) =>
              h(
                'li',
                { class: 'row', 'data-provider': i.provider },
                h('div', { class: 'row-main' }, h('strong', { text: i.name }), h('div', { class: 'muted small' }, i.email ? `${i.email} · ` : '', 'linked ', timeEl(i.linkedAt))),
                confirmButton('Unlink', {
                  question: others(i.provider) ? `Unlink ${i.name}? You will no longer sign in with it.` : `${i.name} is your only way to sign in; unlinking will be refused.`,
                  confirmText: `Unlink ${i.name}`,
                  'aria-label': `Unlink ${i.name}`,
                  action: async () => {
                    showError(alert, null);
                    await api('DELETE', `${AUTH}/identities/${encodeURIComponent(i.provider)}`);
                    ctx.notify(`${i.name} is unlinked.`);
                    await draw();
                  },
                  onError: (err) => showError(alert, err),
                }),
              ),
            ),
          ),
    );
    const linked = new Set(me.items.map((i) => i.provider));
    replace(
      linkRow,
      providers
        .filter((p) => !linked.has(p.id))
        .map((p) =>
          actionButton(`Link ${p.name}`, async () => {
            showError(alert, null);
            const { authorizationUrl } = await api('POST', `${AUTH}/oauth/${encodeURIComponent(p.id)}/link/start`, { body: { redirectUri: `${location.origin}/oauth-callback` } });
            sessionStorage.setItem(PENDING, p.name);
            location.assign(authorizationUrl);
          }, { onError: (err) => showError(alert, err) }),
        ),
    );
  };
  card.append(h('p', { class: 'muted', text: 'Social accounts you can sign in with. One may be unlinked while another way to sign in remains: a password, a passkey or another linked account.' }), alert, list, linkRow);
  await draw();
  return card;
}

/**
 * Back from a link flow at `/oauth-callback` (`?linked=<provider>` or `?error=` while a link
 * was pending): says how it went and goes to the Account screen. False when it was not a
 * link flow (a sign-in's code or error).
 */
export function linkReturned(ctx) {
  const pending = sessionStorage.getItem(PENDING);
  if (!ctx.linked && !(pending && ctx.error)) return false;
  sessionStorage.removeItem(PENDING);
  const name = pending ?? ctx.linked;
  if (ctx.linked) ctx.notify(`${name} is linked: you can sign in with it.`);
  else ctx.notify(`${name} was not linked: ${CALLBACK_MESSAGES[ctx.error] ?? `the provider answered ${ctx.error}.`}`, 'error');
  ctx.navigate('#/account', { replace: true });
  return true;
}
