/**
 * The auth service's domain metrics (see docs/operations.md). Labels take a fixed set of
 * values only: a login `method` is reduced to its first factor's family (`oauth:github` is
 * `oauth`), never a provider id, user or tenant.
 */
import type client from 'prom-client';
import { counter, observedGauge } from '@gatehouse/platform/metrics';

/** The result of one webhook delivery attempt. */
export type WebhookAttemptResult = 'success' | 'http_error' | 'network_error' | 'timeout' | 'refused' | 'internal_error';
const WEBHOOK_RESULTS: WebhookAttemptResult[] = ['success', 'http_error', 'network_error', 'timeout', 'refused', 'internal_error'];

export type LoginResult = 'success' | 'failure' | 'mfa_required' | 'locked' | 'disabled';
const METHODS = new Set(['password', 'passkey', 'oauth', 'registration']);

/** `oauth:github+totp` → `oauth`; anything unexpected → `other`. */
export function methodLabel(method: string): string {
  const first = method.split(/[:+]/)[0] ?? '';
  return METHODS.has(first) ? first : 'other';
}

/** Creates (or reuses, on a shared registry) the auth metrics. */
export function createAuthMetrics(registry: client.Registry) {
  const logins = counter(registry, 'gatehouse_auth_logins_total', 'Sign-in attempts by result (success, failure, mfa_required, locked, disabled) and first-factor method', ['result', 'method']);
  const mfa = counter(registry, 'gatehouse_auth_mfa_challenges_total', 'Second-factor answers at sign-in by result (success, failure) and method (totp, backup_code)', ['result', 'method']);
  const lockouts = counter(registry, 'gatehouse_auth_lockouts_total', 'Accounts locked after too many consecutive failures, by credential scope', ['scope']);
  const rotations = counter(registry, 'gatehouse_auth_refresh_rotations_total', 'Refresh tokens rotated (a refresh that issued new tokens)');
  const reuse = counter(registry, 'gatehouse_auth_refresh_reuse_detected_total', 'Refresh tokens presented a second time: the session was revoked (theft or a lost race)');
  const argon2 = observedGauge(registry, 'gatehouse_auth_argon2_queue_depth', 'Argon2 hash/verify operations queued or running on the thread pool', []);
  const webhookAttempts = counter(registry, 'gatehouse_webhook_deliveries_total', 'Webhook delivery attempts by result (success, http_error, network_error, timeout, refused: a target on a non-public address, internal_error: nothing was sent, e.g. the secret cannot be opened)', ['result']);
  const webhookGaveUp = counter(registry, 'gatehouse_webhook_deliveries_failed_total', 'Webhook deliveries given up on: every retry failed or the endpoint was disabled');
  const webhooksDisabled = counter(registry, 'gatehouse_webhook_endpoints_disabled_total', 'Webhook endpoints disabled after repeated failures');
  for (const result of WEBHOOK_RESULTS) webhookAttempts.inc({ result }, 0);
  webhookGaveUp.inc(0);
  webhooksDisabled.inc(0);
  for (const method of ['password', 'passkey', 'oauth']) for (const result of ['success', 'failure'] as const) logins.inc({ result, method }, 0);
  for (const method of ['totp', 'backup_code']) for (const result of ['success', 'failure']) mfa.inc({ result, method }, 0);
  lockouts.inc({ scope: 'password' }, 0);
  rotations.inc(0);
  reuse.inc(0);
  return {
    login(result: LoginResult, method: string) {
      logins.inc({ result, method: methodLabel(method) });
    },
    mfa(result: 'success' | 'failure', method: 'totp' | 'backup_code') {
      mfa.inc({ result, method });
    },
    lockout(scope: string) {
      lockouts.inc({ scope });
    },
    refreshRotated() {
      rotations.inc();
    },
    refreshReused() {
      reuse.inc();
    },
    webhookAttempt(result: WebhookAttemptResult) {
      webhookAttempts.inc({ result });
    },
    webhookGaveUp() {
      webhookGaveUp.inc();
    },
    webhookDisabled() {
      webhooksDisabled.inc();
    },
    /** the hasher reports its in-flight count through this */
    argon2Depth(read: () => number) {
      argon2.source({}, read);
    },
  };
}
export type AuthMetrics = ReturnType<typeof createAuthMetrics>;
