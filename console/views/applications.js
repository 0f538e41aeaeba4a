/**
 * Applications (role admin): the tenant's OAuth/OpenID clients. Register one (its client
 * secret is shown once), rotate its secret, disable or delete it. API resources have their
 * own screen (views/resources.js).
 */
import { api } from '../lib/api.js';
import { actionButton, checkbox, dl, field, form, h, replace } from '../lib/dom.js';
import { badge } from './shared.js';

const ADMIN = '/api/v1/admin/applications';

function secretNotice(secret) {
  return h('div', { class: 'alert', role: 'status' }, h('p', { text: 'The client secret — copy it now, it is not shown again:' }), h('code', { class: 'secret', text: secret }));
}

/** The applications screen. */
export async function applicationsView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'Applications' });
  const shown = h('div', {});
  const draw = async () => {
    const { items } = await api('GET', ADMIN);
    if (!ctx.current) return;
    replace(list, ...items.map((a) => row(a)));
    if (items.length === 0) list.append(h('li', { class: 'muted', text: 'No applications yet.' }));
  };
  const row = (a) =>
    h(
      'li',
      { class: 'row', dataset: { application: a.id } },
      h('strong', { text: a.name }),
      ' ',
      badge(a.type),
      a.firstParty ? badge('first party') : null,
      a.disabled ? badge('disabled', 'warn') : null,
      dl([
        ['Client id', a.clientId],
        ['Issuer', a.issuer],
        ['Redirect URIs', a.redirectUris.join(' ') || '—'],
      ]),
      h(
        'div',
        { class: 'actions' },
        a.type === 'web' || a.type === 'm2m'
          ? actionButton('New secret', async () => {
              const { clientSecret } = await api('POST', `${ADMIN}/${a.id}/secret`, { body: {} });
              replace(shown, secretNotice(clientSecret));
            }, { onError: fail })
          : null,
        actionButton(a.disabled ? 'Enable' : 'Disable', async () => {
          await api('PATCH', `${ADMIN}/${a.id}`, { body: { disabled: !a.disabled } });
          await draw();
        }, { onError: fail }),
        actionButton(`Delete ${a.name}`, async () => {
          await api('DELETE', `${ADMIN}/${a.id}`);
          ctx.notify(`${a.name} is deleted; its tokens no longer work.`);
          await draw();
        }, { className: 'danger', onError: fail }),
      ),
    );
  const fail = (err) => ctx.notify(err.detail ?? err.message, 'error');
  const create = form({
    label: 'Register an application',
    submit: 'Register',
    children: [
      field({ label: 'Name', name: 'name', required: true, maxlength: '200' }),
      field({ label: 'Type', name: 'type', type: 'select', options: [['web', 'Web server (confidential)'], ['spa', 'Single-page app (public, PKCE)'], ['native', 'Native or CLI (public, PKCE)'], ['m2m', 'Machine to machine']] }),
      field({ label: 'Redirect URIs', name: 'redirectUris', hint: 'One per line; matched exactly. https, or http on localhost.' , type: 'textarea' }),
      checkbox({ label: 'First party (no consent screen)', name: 'firstParty' }),
    ],
    onSubmit: async (values) => {
      const redirectUris = String(values.redirectUris ?? '').split(/\s+/).filter(Boolean);
      const created = await api('POST', ADMIN, { body: { name: values.name, type: values.type, redirectUris: values.type === 'm2m' ? undefined : redirectUris, firstParty: Boolean(values.firstParty) } });
      replace(shown, created.clientSecret ? secretNotice(created.clientSecret) : h('p', { role: 'status', text: `${created.name} is registered (public client: no secret).` }));
      await draw();
    },
  });
  await draw();
  return h('div', {}, h('h1', { text: 'Applications' }), h('section', { class: 'card', 'aria-label': 'Register' }, create, shown), h('section', { class: 'card', 'aria-label': 'Registered applications' }, list));
}
