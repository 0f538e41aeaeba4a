/**
 * The auth service's events (CloudEvents through the outbox): `user.events.*` and
 * `auth.events.*`. Their data never holds a password, token, hash or code.
 */
import { makeEvent, type CloudEvent } from '@gatehouse/platform/events';
import { EventTypes, type AuthEventData, type UserEventData } from '@gatehouse/contracts';
import type { RequestContext } from './context';

/** CloudEvents `source` of every event this service publishes. */
export const EVENT_SOURCE = '/gatehouse/auth';

/** Names of `auth.events.<name>` this service emits. */
export type AuthEventName =
  | 'login_succeeded'
  | 'login_failed'
  | 'logout'
  | 'session_revoked'
  | 'password_changed'
  | 'password_reset'
  | 'email_verified'
  | 'refresh_token_reused'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'oauth_linked'
  | 'oauth_unlinked'
  | 'role_created'
  | 'role_updated'
  | 'role_deleted'
  | 'user_invited'
  | 'password_reset_sent'
  | 'email_change_requested'
  | 'email_changed'
  | 'account_deleted';

/** Builds an `auth.events.<name>` event; `userId` becomes the CloudEvents subject when known. */
export function authEvent(
  name: AuthEventName,
  tenantId: string,
  ctx: RequestContext,
  data: { userId?: string; sessionId?: string; reason?: string; method?: string; role?: string; actorId?: string },
): CloudEvent<AuthEventData> {
  const payload: AuthEventData = { ip: ctx.ip || undefined, userAgent: ctx.userAgent ?? undefined, requestId: ctx.requestId };
  if (data.userId) payload.userId = data.userId;
  if (data.sessionId) payload.sessionId = data.sessionId;
  if (data.reason) payload.reason = data.reason;
  // how the user signed in (password, totp, backup_code, passkey, oauth:<provider>): never a secret
  if (data.method) payload.method = data.method;
  // custom-role changes name the role; admin actions name who acted
  if (data.role) payload.role = data.role;
  if (data.actorId) payload.actorId = data.actorId;
  return makeEvent({ source: EVENT_SOURCE, type: EventTypes.auth(name), tenantId, subject: data.userId, data: payload });
}

/** Builds a `user.events.created|updated|deleted` event. */
export function userEvent(
  action: UserEventData['action'],
  tenantId: string,
  user: { id: string; email: string; username: string | null; displayName: string | null; roles: string[] },
): CloudEvent<UserEventData> {
  const type = action === 'created' ? EventTypes.userCreated : action === 'updated' ? EventTypes.userUpdated : EventTypes.userDeleted;
  return makeEvent({
    source: EVENT_SOURCE,
    type,
    tenantId,
    subject: user.id,
    data: { id: user.id, email: user.email, username: user.username, displayName: user.displayName, roles: user.roles, action },
  });
}

/** Names of `oauth.events.<name>` (the OpenID provider) and `application.events.<name>`. */
export type OAuthEventName = 'consent_granted' | 'consent_revoked' | 'token_issued' | 'grant_revoked';
export type ApplicationEventName = 'created' | 'updated' | 'deleted';

/**
 * Builds an `oauth.events.*` or `application.events.*` event: ids, names and scopes only,
 * never a client secret, code or token.
 */
export function oidcEvent(
  type: `oauth.events.${OAuthEventName}` | `application.events.${ApplicationEventName}`,
  tenantId: string,
  subject: string | undefined,
  data: Record<string, string | string[] | boolean | number | undefined>,
): CloudEvent<Record<string, unknown>> {
  return makeEvent({ source: EVENT_SOURCE, type, tenantId, subject, data });
}
