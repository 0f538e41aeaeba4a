/**
 * My profile (users service): profile fields, avatar upload and removal, the attendance QR
 * code (a short-lived signed token, fetched again before it expires) and my attendance.
 */
import { ApiError, api } from '../lib/api.js';
import { actionButton, field, form, h, replace, section, showError, timeEl } from '../lib/dom.js';
import { badge } from './shared.js';

const USERS = '/api/v1/users';
const MAX_AVATAR_BYTES = 2 * 1024 * 1024;
/** fetch a new QR code this long before the shown one expires */
const QR_EARLY_MS = 5000;

/**
 * The caller's profile. Right after sign-up the users service may not have the account yet
 * (its replica is fed by events): it answers 404 `profile_not_found` with Retry-After.
 */
async function loadProfile(ctx) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api('GET', `${USERS}/me`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'profile_not_found' || attempt >= 10 || !ctx.current) throw err;
      await new Promise((resolve) => setTimeout(resolve, (err.retryAfter ?? 1) * 1000));
    }
  }
}

/** The profile screen. */
export async function profileView(ctx) {
  const profile = await loadProfile(ctx);
  return h('div', {}, h('h1', { text: 'My profile' }), avatarCard(ctx, profile), detailsCard(ctx, profile), qrCard(ctx), attendanceCard(ctx));
}

function initials(p) {
  const name = p.displayName || p.username || '?';
  return [...name.trim()].slice(0, 1).join('').toUpperCase();
}

function avatarCard(ctx, profile) {
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const picture = h('div', { class: 'avatar-box' });
  let current = profile.avatarUrl;
  const draw = () => {
    replace(
      picture,
      current ? h('img', { class: 'avatar', src: current, alt: 'Your profile picture', width: '96', height: '96' }) : h('div', { class: 'avatar placeholder', 'aria-hidden': 'true', text: initials(profile) }),
    );
    remove.hidden = !current;
  };
  const input = h('input', { type: 'file', id: 'avatar-file', name: 'file', accept: 'image/png,image/jpeg,image/webp', class: 'visually-hidden' });
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    showError(alert, null);
    if (file.size > MAX_AVATAR_BYTES) return showError(alert, new Error('The picture is larger than 2 MiB.'));
    const body = new FormData();
    body.append('file', file, file.name);
    try {
      const res = await api('PUT', `${USERS}/me/avatar`, { form: body });
      current = res.avatarUrl;
      draw();
      ctx.notify('Your picture is updated.');
    } catch (err) {
      showError(alert, err);
    }
  });
  const remove = actionButton('Remove picture', async () => {
    await api('DELETE', `${USERS}/me/avatar`);
    current = null;
    draw();
    ctx.notify('Your picture is removed.');
  }, { onError: (err) => showError(alert, err) });
  draw();
  return section(
    'Picture',
    alert,
    h('div', { class: 'avatar-row' }, picture, h('div', { class: 'actions' }, input, h('label', { for: 'avatar-file', class: 'button', text: 'Upload picture' }), remove)),
    h('p', { class: 'hint', text: 'PNG, JPEG or WebP, up to 2 MiB.' }),
  );
}

function detailsCard(ctx, profile) {
  const fields = ['displayName', 'bio', 'location', 'website'];
  let saved = { ...profile };
  return section(
    'Details',
    form({
      label: 'Profile details',
      submit: 'Save profile',
      children: [
        field({ label: 'Display name', name: 'displayName', value: profile.displayName ?? '', maxlength: '100', autocomplete: 'name' }),
        field({ label: 'Bio', name: 'bio', type: 'textarea', value: profile.bio ?? '', maxlength: '1000', rows: '4' }),
        field({ label: 'Location', name: 'location', value: profile.location ?? '', maxlength: '100' }),
        field({ label: 'Website', name: 'website', type: 'url', value: profile.website ?? '', placeholder: 'https://', maxlength: '2048' }),
      ],
      onSubmit: async (values) => {
        // Only what changed; an emptied field clears it (null).
        const patch = {};
        for (const name of fields) {
          const next = values[name].trim() === '' ? null : name === 'bio' ? values[name] : values[name].trim();
          if (next !== (saved[name] ?? null)) patch[name] = next;
        }
        if (Object.keys(patch).length === 0) return ctx.notify('Nothing to save.');
        saved = await api('PATCH', `${USERS}/me`, { body: patch });
        ctx.notify('Your profile is saved.');
      },
    }),
  );
}

/** The attendance QR: an image fetched with the access token, replaced shortly before it expires. */
function qrCard(ctx) {
  const holder = h('div', { class: 'qr' }, h('p', { class: 'muted', text: 'Loading your code…' }));
  const status = h('p', { class: 'muted small', 'aria-live': 'off' });
  let url = null;
  let timer = null;
  let stopped = false;

  const load = async () => {
    clearTimeout(timer);
    if (stopped) return;
    try {
      const res = await api('GET', `${USERS}/me/qr?format=svg`, { accept: 'image/svg+xml', raw: true });
      const expiresAt = Date.parse(res.headers.get('x-qr-expires-at') ?? '') || Date.now() + 60_000;
      const blob = await res.blob();
      if (stopped) return;
      const next = URL.createObjectURL(blob);
      replace(holder, h('img', { src: next, alt: 'Your attendance QR code', width: '240', height: '240', 'data-expires-at': new Date(expiresAt).toISOString() }));
      if (url) URL.revokeObjectURL(url);
      url = next;
      replace(status, 'Renews by itself; valid until ', timeEl(new Date(expiresAt).toISOString()), '.');
      timer = setTimeout(load, Math.max(1000, expiresAt - Date.now() - QR_EARLY_MS));
    } catch (err) {
      if (stopped) return;
      replace(holder, h('p', { class: 'alert', role: 'alert', text: err.detail ?? err.message }));
      timer = setTimeout(load, 15_000);
    }
  };
  // A hidden tab's timers are slowed down: catch up as soon as the page is shown again.
  const onVisible = () => {
    if (document.visibilityState === 'visible') load();
  };
  document.addEventListener('visibilitychange', onVisible);
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
    if (url) URL.revokeObjectURL(url);
  });
  load();
  return section('Attendance QR code', h('p', { text: 'Show this code to an organizer to check in to an event.' }), holder, status);
}

function attendanceCard(ctx) {
  const list = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  api('GET', `${USERS}/me/attendance?limit=20`)
    .then(({ items }) => {
      if (!ctx.current) return;
      replace(
        list,
        items.length === 0
          ? h('p', { class: 'muted', text: 'No check-ins yet.' })
          : h(
              'ul',
              { class: 'rows', 'aria-label': 'My attendance' },
              items.map((a) =>
                h('li', { class: 'row' }, h('div', { class: 'row-main' }, h('strong', { text: a.eventTitle ?? 'Event' }), badge(a.status, a.status === 'late' ? 'warn' : 'ok'), h('div', { class: 'muted small' }, 'in ', timeEl(a.checkedInAt), ' · out ', timeEl(a.checkedOutAt)))),
              ),
            ),
      );
    })
    .catch((err) => replace(list, h('p', { class: 'alert', role: 'alert', text: err.detail ?? err.message })));
  return section('My attendance', list);
}
