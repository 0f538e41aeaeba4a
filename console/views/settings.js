/**
 * Settings of the admin's own tenant (role admin): name, allowed origins and redirect URIs,
 * password minimum, two-step verification required, self-registration, token lifetimes, and
 * the sign-in providers (client id, secret stored sealed, enabled).
 */
import { api } from '../lib/api.js';
import { actionButton, checkbox, dl, field, form, h, replace, section, showError } from '../lib/dom.js';
import { badge } from './shared.js';
import { confirmButton, lines } from './confirm.js';

const TENANT = '/api/v1/admin/tenant';
const PROVIDERS = '/api/v1/admin/oauth-providers';
const KNOWN = [['google', 'Google'], ['facebook', 'Facebook'], ['line', 'LINE'], ['github', 'GitHub'], ['oidc', 'OpenID Connect']];

/** A number input's value as a setting: empty resets to the default (null). */
const num = (v) => (String(v).trim() === '' ? null : Number(v));

/** The settings screen. */
export async function settingsView(ctx) {
  const tenant = await api('GET', TENANT);
  const s = tenant.settings ?? {};
  const general = form({
    label: 'Tenant settings',
    submit: 'Save settings',
    children: [
      field({ label: 'Name', name: 'name', value: tenant.name, required: true, maxlength: '100' }),
      field({ label: 'Allowed origins', name: 'allowedOrigins', type: 'textarea', rows: '2', value: (s.allowedOrigins ?? []).join('\n'), hint: 'Browser origins allowed by CORS, one per line (https://app.example.com).' }),
      field({ label: 'Redirect URIs', name: 'redirectUris', type: 'textarea', rows: '2', value: (s.redirectUris ?? []).join('\n'), hint: 'Where social sign-in may return, one per line, matched exactly.' }),
      field({ label: 'Password minimum length', name: 'passwordMinLength', type: 'number', min: '8', max: '256', value: s.passwordMinLength ?? '', hint: 'Empty: the default (8).' }),
      checkbox({ label: 'Require two-step verification', name: 'mfaRequired', checked: s.mfaRequired === true }),
      checkbox({ label: 'Anyone may create an account', name: 'selfRegistration', checked: s.selfRegistration !== false }),
      field({ label: 'Access token lifetime (seconds)', name: 'accessTokenTtlSec', type: 'number', min: '60', max: '3600', value: s.accessTokenTtlSec ?? '', hint: 'Empty: the deployment default.' }),
      field({ label: 'Session idle lifetime (seconds)', name: 'refreshTokenTtlSec', type: 'number', min: '300', value: s.refreshTokenTtlSec ?? '', hint: 'Empty: the deployment default.' }),
    ],
    onSubmit: async (v) => {
      const settings = {
        allowedOrigins: lines(v.allowedOrigins),
        redirectUris: lines(v.redirectUris),
        passwordMinLength: num(v.passwordMinLength),
        mfaRequired: v.mfaRequired,
        selfRegistration: v.selfRegistration,
        accessTokenTtlSec: num(v.accessTokenTtlSec),
        refreshTokenTtlSec: num(v.refreshTokenTtlSec),
      };
      await api('PATCH', TENANT, { body: { name: v.name.trim(), settings } });
      ctx.notify('Settings saved.');
    },
  });

  const providers = h('ul', { class: 'rows', 'aria-label': 'Sign-in providers' });
  const loadProviders = async () => {
    const { items } = await api('GET', PROVIDERS);
    if (!ctx.current) return;
    replace(providers, items.length ? items.map((p) => providerRow(ctx, p, loadProviders)) : h('li', { class: 'muted', text: 'No sign-in provider is configured.' }));
  };
  const addProvider = form({
    label: 'Configure a sign-in provider',
    submit: 'Save provider',
    children: [
      field({ label: 'Provider', name: 'provider', type: 'select', options: KNOWN }),
      field({ label: 'Client id', name: 'clientId', required: true, autocomplete: 'off' }),
      field({ label: 'Client secret', name: 'clientSecret', type: 'password', autocomplete: 'off', hint: 'Stored sealed; never shown again. Leave empty to keep the current one.' }),
      field({ label: 'Discovery URL (OpenID Connect only)', name: 'discoveryUrl', type: 'url', autocomplete: 'off' }),
      checkbox({ label: 'Enabled', name: 'enabled', checked: true }),
    ],
    onSubmit: async (v, el) => {
      const body = { clientId: v.clientId.trim(), enabled: v.enabled };
      if (v.clientSecret) body.clientSecret = v.clientSecret;
      if (v.discoveryUrl.trim()) body.discoveryUrl = v.discoveryUrl.trim();
      await api('PUT', `${PROVIDERS}/${encodeURIComponent(v.provider)}`, { body });
      el.reset();
      ctx.notify('Provider saved.');
      await loadProviders();
    },
  });
  await loadProviders();

  return h(
    'div',
    {},
    h('h1', { text: 'Settings' }),
    section('Tenant', dl([['Slug', tenant.slug], ['Status', tenant.status]]), general),
    section('Sign-in providers', providers, h('details', {}, h('summary', { text: 'Add or change a provider' }), addProvider)),
  );
}

function providerRow(ctx, p, reload) {
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const onError = (err) => showError(alert, err);
  return h(
    'li',
    { class: 'row', dataset: { provider: p.provider } },
    h(
      'div',
      { class: 'row-main' },
      h('strong', { text: p.name }),
      p.enabled ? badge('enabled', 'ok') : badge('disabled', 'warn'),
      h('div', { class: 'muted small', text: `client id ${p.clientId}${p.hasClientSecret ? ' · secret stored' : ''}` }),
      alert,
      h(
        'div',
        { class: 'actions' },
        actionButton(p.enabled ? 'Turn off' : 'Turn on', async () => {
          await api('PUT', `${PROVIDERS}/${encodeURIComponent(p.provider)}`, { body: { clientId: p.clientId, enabled: !p.enabled } });
          await reload();
        }, { className: 'small', 'aria-label': `${p.enabled ? 'Turn off' : 'Turn on'} ${p.name}`, onError }),
        confirmButton('Remove', {
          'aria-label': `Remove ${p.name}`,
          question: `Remove ${p.name}? Its sign-in button goes away; linked accounts stay linked.`,
          confirmText: `Yes, remove ${p.name}`,
          action: async () => {
            await api('DELETE', `${PROVIDERS}/${encodeURIComponent(p.provider)}`);
            ctx.notify(`${p.name} removed.`);
            await reload();
          },
          onError,
        }),
      ),
    ),
  );
}
