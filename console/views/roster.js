/**
 * An event's roster (organizer): the members it expects, so its attendance report lists those
 * who have not checked in as absent. Members are named by their user id (one per line; an
 * admin finds ids on the Users screen); the API refuses ids that are not members here.
 */
import { api } from '../lib/api.js';
import { field, form, h } from '../lib/dom.js';
import { lines } from './confirm.js';

/** The roster form of event `e`; `onSaved` redraws the attendance. */
export async function rosterEditor(ctx, e, onSaved) {
  const path = `/api/v1/events/${encodeURIComponent(e.id)}/roster`;
  const { items } = await api('GET', path);
  const el = form({
    label: `Expected at ${e.title}`,
    submit: 'Save expected members',
    children: [
      field({
        label: 'Expected members (user ids)',
        name: 'userIds',
        type: 'textarea',
        rows: '3',
        value: items.map((m) => m.userId).join('\n'),
        hint: `${items.length} expected${items.length ? `: ${items.map((m) => m.displayName || m.username || m.userId).join(', ')}` : ''}. One id per line; those who do not check in show as absent.`,
      }),
    ],
    onSubmit: async ({ userIds }) => {
      const saved = await api('PUT', path, { body: { userIds: [...new Set(lines(userIds))] } });
      ctx.notify(`${saved.items.length} member${saved.items.length === 1 ? '' : 's'} expected at ${e.title}.`);
      await onSaved();
    },
  });
  return h('details', {}, h('summary', { text: 'Expected members' }), el);
}
