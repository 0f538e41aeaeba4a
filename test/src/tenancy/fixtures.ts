/**
 * Test data for the tenancy suites: a tenant "side" with one account per role and one of every
 * kind of resource the API has (event, attendance, avatar, social entry, session, passkey,
 * OAuth provider, reset and verification tokens, a pending MFA login), all made through the
 * public API except the passkey (a WebAuthn authenticator is not available to a test; its row
 * is written with the auth service's own database handle, under the tenant's RLS scope).
 * Test-only module.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { multipart, pngImage } from '@gatehouse/users/testing';
import { eventually, PASSWORD, uniqueEmail, type Account, type TestSystem, type TenantInfo } from '../system';
import { browser } from '../oidc/fixtures';

/** An account with the TOTP secret it enrolled. */
export type MfaAccount = Account & { secret: string };

/** One tenant with an account per role and a resource of every kind. */
export interface Side {
  tenant: TenantInfo;
  slug: string;
  user: Account;
  organizer: Account;
  admin: Account;
  mfaUser: MfaAccount;
  /** an event created by the organizer, with the user checked in */
  eventId: string;
  /** the user's current session (from registration) */
  sessionId: string;
  passkeyId: string;
  /** the subject of a GitHub identity linked to the user (issue 12: linked identities) */
  identitySubject: string;
  /** the public object id of the user's avatar */
  avatarObject: string;
  /** the user's social-log entry */
  socialEntryId: string;
  /** the clientId of the tenant's GitHub provider, when configured */
  oauthClientId?: string;
  /** a redirect URI on the tenant's allow-list */
  redirectUri: string;
  /** an unused password-reset token of the user (from the dev mailbox) */
  resetToken: string;
  /** the user's unused e-mail verification token */
  verifyToken: string;
  /** a pending second-factor login of mfaUser */
  mfaToken: string;
  /** a custom role the admin defined (held by nobody) */
  roleName: string;
  /** the user's pending email change: the new address and the unused token mailed to it */
  newEmail: string;
  emailChangeToken: string;
  /** a QR token of the user (short-lived) */
  qrToken(): Promise<string>;
  /** a webhook endpoint of the tenant (never sent to: its URL is under .invalid) and one of its deliveries */
  webhookId: string;
  webhookDeliveryId: string;
  /** an OpenID Connect application of the tenant, its client id, an API resource and its audience */
  applicationId: string;
  clientId: string;
  resourceId: string;
  audience: string;
  /** a pending hosted-login interaction of that application (an authorization request not yet signed in) */
  interactionUid: string;
}

/** The current TOTP code for a base32 secret (RFC 6238, SHA-1, 6 digits, 30 s). */
export function totp(secret: string): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate();
}

/** Fails with the answer when the status is not the expected one. */
export function expectStatus(r: { status: number; text: string }, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 500)}`);
}

/** The token in the newest dev-mailbox message to `email` whose link path is `linkPath`. */
export function mailedToken(h: TestSystem, email: string, linkPath: string): string {
  const msgs = h.shared.mailer.messages().filter((m) => m.to === email && m.text.includes(linkPath));
  const m = /[?&]token=([^\s&]+)/.exec(msgs.at(-1)?.text ?? '');
  if (!m) throw new Error(`no ${linkPath} mail to ${email} yet`);
  return decodeURIComponent(m[1]!);
}

/** Grants `roles` to `account` through the admin API and signs it in again, so its token carries them. */
export async function grantRoles(h: TestSystem, side: { slug: string; admin: Account }, account: Account, roles: string[]): Promise<Account> {
  const r = await h.request('PATCH', `/api/v1/admin/users/${account.id}`, { tenant: side.slug, token: side.admin.accessToken, body: { roles } });
  expectStatus(r, 200, `grant ${roles.join(',')}`);
  return h.login(account.email, account.password, { tenant: side.slug });
}

/**
 * Builds a side: a tenant created by the superadmin with its first admin, a user and an
 * organizer (role granted by the tenant's admin), an MFA user, and the resources above.
 */
export async function buildSide(h: TestSystem, o: { label: string; oauth?: boolean }): Promise<Side> {
  const redirectUri = `https://app-${o.label}-${randomBytes(3).toString('hex')}.example/cb`;
  // a password of the side's own: a probe sending B's password on A must not be A's password too
  const password = `${PASSWORD} of ${o.label}`;
  const created = await h.createTenant({ slug: `${o.label}-${randomBytes(4).toString('hex')}`, settings: { redirectUris: [redirectUri] }, adminPassword: password });
  const slug = created.slug;
  const admin = created.admin!;
  const tenant: TenantInfo = { id: created.id, slug, name: created.name, status: created.status, settings: created.settings, createdAt: created.createdAt };
  const user = await h.register({ tenant: slug, email: uniqueEmail(`${o.label}-user`), password });
  const organizer = await grantRoles(h, { slug, admin }, await h.register({ tenant: slug, email: uniqueEmail(`${o.label}-org`), password }), ['user', 'organizer']);

  // an account with a confirmed TOTP factor, and a login of it waiting for the second factor
  const mfaBase = await h.register({ tenant: slug, email: uniqueEmail(`${o.label}-mfa`), password });
  const setup = await h.request('POST', '/api/v1/auth/mfa/totp/setup', { tenant: slug, token: mfaBase.accessToken });
  expectStatus(setup, 200, 'totp setup');
  const secret = setup.body.secret as string;
  expectStatus(await h.request('POST', '/api/v1/auth/mfa/totp/confirm', { tenant: slug, token: mfaBase.accessToken, body: { code: totp(secret) } }), 200, 'totp confirm');
  const pending = await h.request('POST', '/api/v1/auth/login', { tenant: slug, body: { email: mfaBase.email, password } });
  expectStatus(pending, 200, 'mfa login');
  if (!pending.body.mfaToken) throw new Error(`mfa login did not ask for a second factor: ${pending.text}`);
  const mfaUser: MfaAccount = { ...mfaBase, secret };

  // profiles reach the users service through user.events.*
  for (const a of [user, organizer, admin]) {
    await eventually(async () => expectStatus(await h.request('GET', '/api/v1/users/me', { tenant: slug, token: a.accessToken }), 200, 'profile replicated'));
  }
  const qrToken = async () => {
    const r = await h.request('GET', '/api/v1/users/me/qr/token', { tenant: slug, token: user.accessToken });
    expectStatus(r, 200, 'qr token');
    return r.body.token as string;
  };
  const start = Date.now() + 5 * 60_000;
  const event = await h.request('POST', '/api/v1/events', {
    tenant: slug,
    token: organizer.accessToken,
    body: { title: `Event of ${o.label}`, startsAt: new Date(start).toISOString(), endsAt: new Date(start + 2 * 3600_000).toISOString() },
  });
  expectStatus(event, 201, 'create event');
  const eventId = event.body.id as string;
  expectStatus(
    await h.request('POST', `/api/v1/events/${eventId}/check-ins`, { tenant: slug, token: organizer.accessToken, body: { qrToken: await qrToken() } }),
    201,
    'check-in',
  );

  const form = multipart([{ name: 'file', filename: 'me.png', type: 'image/png', data: pngImage(16, 16) }]);
  const avatar = await h.request('PUT', '/api/v1/users/me/avatar', {
    tenant: slug,
    token: user.accessToken,
    headers: form.headers,
    body: form.payload,
  });
  expectStatus(avatar, 200, 'avatar upload');
  const avatarObject = String(avatar.body.avatarUrl).split('/').pop()!;

  const social = await h.request('POST', '/api/v1/social-logs', { tenant: slug, token: user.accessToken, body: { type: 'post.liked', targetId: user.id } });
  expectStatus(social, 201, 'social log');

  const sessions = await h.request('GET', '/api/v1/auth/sessions', { tenant: slug, token: user.accessToken });
  const sessionId = (sessions.body.items as Array<{ id: string; current: boolean }>).find((s) => s.current)!.id;

  const passkeyId = randomUUID();
  await h.databases.auth.withTenant(tenant.id, (trx) =>
    trx
      .insertInto('passkeys')
      .values({
        id: passkeyId,
        tenant_id: tenant.id,
        user_id: user.id,
        credential_id: randomBytes(16).toString('base64url'),
        public_key: randomBytes(77),
        device_type: 'singleDevice',
      })
      .execute(),
  );

  // a linked sign-in identity of the user, as a social sign-in would have left it
  const identitySubject = `gh-${slug}`;
  await h.databases.auth.withTenant(tenant.id, (trx) =>
    trx.insertInto('oauth_identities').values({ id: randomUUID(), tenant_id: tenant.id, provider: 'github', subject: identitySubject, user_id: user.id, email: user.email }).execute(),
  );

  let oauthClientId: string | undefined;
  if (o.oauth) {
    oauthClientId = `client-${slug}`;
    const put = await h.request('PUT', '/api/v1/admin/oauth-providers/github', {
      tenant: slug,
      token: admin.accessToken,
      body: { clientId: oauthClientId, clientSecret: `secret-${randomBytes(8).toString('hex')}` },
    });
    expectStatus(put, 200, 'configure github');
  }

  const roleName = `role-${slug}`;
  expectStatus(
    await h.request('POST', '/api/v1/admin/roles', { tenant: slug, token: admin.accessToken, body: { name: roleName, permissions: [`${o.label}:read`] } }),
    201,
    'define a role',
  );
  const newEmail = uniqueEmail(`${o.label}-moved`);
  expectStatus(
    await h.request('POST', '/api/v1/auth/email/change', { tenant: slug, token: user.accessToken, body: { newEmail, password } }),
    202,
    'email change',
  );
  const emailChangeToken = await eventually(() => mailedToken(h, newEmail, '/confirm-email'));
  const hook = await h.request('POST', '/api/v1/admin/webhooks', {
    tenant: slug,
    token: admin.accessToken,
    body: { url: `https://hooks-${slug}.invalid/in`, events: ['social.events.none'], description: `hook of ${slug}` },
  });
  expectStatus(hook, 201, 'create webhook');
  const webhookId = hook.body.id as string;
  const webhookDeliveryId = randomUUID();
  // a delivery as the worker leaves one it gave up on (not queued: nothing is sent)
  await h.databases.auth.withTenant(tenant.id, (trx) =>
    trx
      .insertInto('webhook_deliveries')
      .values({ id: webhookDeliveryId, tenant_id: tenant.id, endpoint_id: webhookId, event_id: randomUUID(), event_type: 'social.events.none', payload: '{}', status: 'failed' })
      .execute(),
  );

  const audience = `https://api-${slug}.example`;
  const resource = await h.request('POST', '/api/v1/admin/resources', {
    tenant: slug,
    token: admin.accessToken,
    body: { name: `API of ${o.label}`, audience, scopes: [{ name: 'read' }] },
  });
  expectStatus(resource, 201, 'create API resource');
  const redirect = `https://app-${slug}.example/callback`;
  const application = await h.request('POST', '/api/v1/admin/applications', {
    tenant: slug,
    token: admin.accessToken,
    body: { name: `App of ${o.label}`, type: 'web', redirectUris: [redirect], resources: [audience] },
  });
  expectStatus(application, 201, 'create application');
  const clientId = application.body.clientId as string;
  // an authorization request left at the sign-in step: its interaction uid
  const authorize = new URL(`https://${slug}.${h.baseDomain}/oidc/auth`);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirect,
    response_type: 'code',
    scope: 'openid',
    code_challenge: randomBytes(32).toString('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const interactionAt = await browser(h, slug).follow(authorize.href);
  const interactionUid = /\/oidc\/interaction\/([^/?#]+)/.exec(new URL(interactionAt).pathname)?.[1];
  if (!interactionUid) throw new Error(`no interaction for ${slug}: ${interactionAt}`);

  expectStatus(await h.request('POST', '/api/v1/auth/password/forgot', { tenant: slug, body: { email: user.email } }), 202, 'forgot');
  const resetToken = await eventually(() => mailedToken(h, user.email, '/reset-password'));
  const verifyToken = mailedToken(h, user.email, '/verify-email');

  return {
    tenant,
    slug,
    user,
    organizer,
    admin,
    mfaUser,
    eventId,
    sessionId,
    passkeyId,
    identitySubject,
    avatarObject,
    socialEntryId: social.body.id as string,
    oauthClientId,
    redirectUri,
    resetToken,
    verifyToken,
    mfaToken: pending.body.mfaToken as string,
    roleName,
    newEmail,
    emailChangeToken,
    qrToken,
    webhookId,
    webhookDeliveryId,
    applicationId: application.body.id as string,
    clientId,
    resourceId: resource.body.id as string,
    audience,
    interactionUid,
  };
}

/** Strings that identify a side's data: none may appear in an answer given to another tenant. */
export function markers(s: Side): string[] {
  const out = [
    s.tenant.id,
    s.slug,
    s.eventId,
    s.sessionId,
    s.passkeyId,
    s.identitySubject,
    s.avatarObject,
    s.socialEntryId,
    s.redirectUri,
    s.roleName,
    s.newEmail,
    s.webhookId,
    s.webhookDeliveryId,
    s.applicationId,
    s.clientId,
    s.resourceId,
    s.audience,
    ...[s.user, s.organizer, s.admin, s.mfaUser].flatMap((a) => [a.id, a.email]),
  ];
  if (s.oauthClientId) out.push(s.oauthClientId);
  return out;
}
