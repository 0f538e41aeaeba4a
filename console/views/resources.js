/**
 * API resources (role admin): the tenant's APIs that applications ask access tokens for
 * (RFC 8707 resource indicators; a token for one carries its audience as `aud`). List them,
 * create one with its scopes, edit its name and scopes (the audience is fixed: tokens already
 * name it), delete one after a confirmation. Errors show the API's problem+json detail.
 */
import { api } from '../lib/api.js';
import { dl, field, form, h, replace, showError } from '../lib/dom.js';
import { confirmButton } from './confirm.js';

const ADMIN = '/api/v1/admin/resources';
const SCOPES_HINT = 'One per line: the scope name, then optionally a space and what it allows (shown on the consent screen). Example: orders:read Read your orders';

/** Scope lines ("name description…") as the API's scope objects. */
function parseScopes(text) {
  return String(text ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [name, ...rest] = line.split(/\s+/);
      const description = rest.join(' ');
      return description ? { name, description } : { name };
    });
}

/** The API's scope objects as the text of the scopes box. */
function scopesText(scopes) {
  return scopes.map((s) => (s.description ? `${s.name} ${s.description}` : s.name)).join('\n');
}

/** The resources screen. */
export async function resourcesView(ctx) {
  const list = h('ul', { class: 'rows', 'aria-label': 'API resources' });
  const draw = async () => {
    const { items } = await api('GET', ADMIN);
    if (!ctx.current) return;
    replace(list, ...items.map((r) => row(r)));
    if (items.length === 0) list.append(h('li', { class: 'muted', text: 'No API resources yet.' }));
  };

  const row = (r) => {
    const li = h('li', { class: 'row', dataset: { resource: r.id } });
    const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
    const show = () =>
      replace(
        li,
        h(
          'div',
          { class: 'row-main' },
          h('strong', { text: r.name }),
          dl([
            ['Audience', h('code', { text: r.audience })],
            ['Scopes', r.scopes.length ? r.scopes.map((s) => s.name).join(', ') : '—'],
          ]),
          alert,
          h(
            'div',
            { class: 'actions' },
            h('button', { type: 'button', class: 'small', text: 'Edit', 'aria-label': `Edit ${r.name}`, on: { click: edit } }),
            confirmButton('Delete', {
              'aria-label': `Delete ${r.name}`,
              question: `Delete ${r.name}? Applications can no longer ask tokens for ${r.audience}.`,
              confirmText: `Yes, delete ${r.name}`,
              action: async () => {
                await api('DELETE', `${ADMIN}/${encodeURIComponent(r.id)}`);
                ctx.notify(`${r.name} is deleted.`);
                await draw();
              },
              onError: (err) => showError(alert, err),
            }),
          ),
        ),
      );
    const edit = () => {
      const f = form({
        label: `Edit ${r.name}`,
        submit: 'Save',
        children: [
          field({ label: 'Name', name: 'name', required: true, maxlength: '200', value: r.name }),
          field({ label: 'Scopes', name: 'scopes', type: 'textarea', rows: '3', value: scopesText(r.scopes), hint: SCOPES_HINT }),
        ],
        extraButtons: [h('button', { type: 'button', text: 'Cancel', on: { click: () => show() } })],
        onSubmit: async (values) => {
          r = await api('PATCH', `${ADMIN}/${encodeURIComponent(r.id)}`, { body: { name: values.name.trim(), scopes: parseScopes(values.scopes) } });
          ctx.notify(`${r.name} is saved.`);
          show();
        },
      });
      replace(li, h('div', { class: 'row-main' }, dl([['Audience', h('code', { text: r.audience })]]), f));
      f.querySelector('input')?.focus();
    };
    show();
    return li;
  };

  const create = form({
    label: 'Add an API resource',
    submit: 'Add resource',
    children: [
      field({ label: 'Name', name: 'name', required: true, maxlength: '200', autocomplete: 'off' }),
      field({ label: 'Audience', name: 'audience', required: true, maxlength: '2000', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', placeholder: 'https://api.example.com/orders', hint: 'An absolute URI naming the API; access tokens for it carry it as aud. It cannot be changed later.' }),
      field({ label: 'Scopes', name: 'scopes', type: 'textarea', rows: '3', hint: SCOPES_HINT }),
    ],
    onSubmit: async (values, el) => {
      const created = await api('POST', ADMIN, { body: { name: values.name.trim(), audience: values.audience.trim(), scopes: parseScopes(values.scopes) } });
      el.reset();
      ctx.notify(`${created.name} is added.`);
      await draw();
    },
  });
  await draw();
  return h(
    'div',
    {},
    h('h1', { text: 'API resources' }),
    h('p', { class: 'lead', text: 'APIs your applications ask access tokens for. An application may ask for the resources and scopes its registration lists (resources and scopes in the admin API, docs/oidc.md).' }),
    h('section', { class: 'card', 'aria-label': 'Add' }, h('h2', { text: 'Add an API resource' }), create),
    h('section', { class: 'card', 'aria-label': 'Resources' }, list),
  );
}
