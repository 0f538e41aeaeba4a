/** Tenant settings: validation, merge (RFC 7396 at the top level) and the readers' defaults. No database. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@gatehouse/platform/errors';
import {
  accessTtlSec,
  allowedOrigins,
  enabledProviders,
  isAllowedRedirectUri,
  mergeSettings,
  mfaRequired,
  passwordMinLength,
  refreshIdleSec,
  selfRegistrationOpen,
  validateSettings,
} from './tenants.settings';
import { normalizeSlug, RESERVED_SLUGS } from './tenants.service';

/** The field errors of a validation failure (fails the test when it is not one). */
function fieldErrors(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, 'validation_failed');
    assert.equal(err.status, 400);
    return err.errors ?? [];
  }
  assert.fail('expected validation_failed');
}

const tenant = (settings: Record<string, unknown>) => ({ settings });

describe('validateSettings', () => {
  test('accepts every documented setting and returns them unchanged', () => {
    const all = {
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
      redirectUris: ['https://app.example.com/callback', 'http://127.0.0.1:8080/cb'],
      passwordMinLength: 12,
      mfaRequired: true,
      selfRegistration: false,
      accessTokenTtlSec: 300,
      refreshTokenTtlSec: 3600,
      enabledProviders: ['google', 'oidc'],
    };
    assert.deepEqual(validateSettings(all), all);
    assert.deepEqual(validateSettings(undefined), {});
    assert.deepEqual(validateSettings({}), {});
  });

  test('refuses unknown keys, naming them and the known ones (a typo must not be dropped silently)', () => {
    const errors = fieldErrors(() => validateSettings({ passwordMinLenght: 12 }, 'body.settings'));
    assert.equal(errors[0]?.path, 'body.settings.passwordMinLenght');
    assert.match(errors[0]!.message, /not a setting.*passwordMinLength/);
  });

  test('bounds: password 8..256, access TTL 60..3600, refresh TTL 300..90 days, integers only', () => {
    for (const [k, v] of [
      ['passwordMinLength', 7],
      ['passwordMinLength', 257],
      ['passwordMinLength', 9.5],
      ['accessTokenTtlSec', 59],
      ['accessTokenTtlSec', 3601],
      ['refreshTokenTtlSec', 299],
      ['refreshTokenTtlSec', 90 * 86400 + 1],
      ['mfaRequired', 'yes'],
      ['selfRegistration', 1],
      ['enabledProviders', ['myspace']],
      ['enabledProviders', ['google', 'google']],
      ['allowedOrigins', 'https://a.example'],
    ] as const) {
      const errors = fieldErrors(() => validateSettings({ [k]: v }));
      assert.ok(errors.some((e) => e.path.startsWith(`settings.${k}`)), `${k}=${JSON.stringify(v)}: ${JSON.stringify(errors)}`);
    }
    for (const [k, v] of [
      ['passwordMinLength', 8],
      ['passwordMinLength', 256],
      ['accessTokenTtlSec', 60],
      ['accessTokenTtlSec', 3600],
      ['refreshTokenTtlSec', 300],
      ['refreshTokenTtlSec', 90 * 86400],
    ] as const) {
      assert.deepEqual(validateSettings({ [k]: v }), { [k]: v });
    }
  });

  test('origins must be exactly what browsers send: scheme://host[:port], no wildcard, path or default port', () => {
    const bad = {
      'https://app.example.com/': 'https://app.example.com',
      'https://App.Example.com': 'https://app.example.com',
      'https://app.example.com:443': 'https://app.example.com',
      'https://app.example.com/path': 'https://app.example.com',
    };
    for (const [origin, suggestion] of Object.entries(bad)) {
      const errors = fieldErrors(() => validateSettings({ allowedOrigins: [origin] }));
      assert.equal(errors[0]?.path, 'settings.allowedOrigins.0');
      assert.ok(errors[0]!.message.includes(suggestion), errors[0]!.message);
    }
    for (const origin of ['*', 'https://*.example.com', 'ftp://files.example.com', 'not a url', 'null']) {
      assert.equal(fieldErrors(() => validateSettings({ allowedOrigins: [origin] })).length, 1, origin);
    }
  });

  test('redirect URIs: absolute, canonical, https unless loopback, no fragment, no user info, no script schemes', () => {
    for (const uri of [
      'https://app.example.com/cb#frag',
      'https://user@app.example.com/cb',
      'https://app.example.com@evil.example/cb',
      'http://app.example.com/cb',
      'javascript:alert(1)',
      'data:text/html,hi',
      'file:///etc/passwd',
      'com.example.app:/oauth2redirect',
      '/relative/cb',
      'https://APP.example.com/cb',
      'https://app.example.com',
    ]) {
      assert.equal(fieldErrors(() => validateSettings({ redirectUris: [uri] })).length, 1, uri);
    }
    assert.deepEqual(validateSettings({ redirectUris: ['http://localhost:3000/cb', 'http://[::1]:8080/cb', 'https://app.example.com/'] }).redirectUris?.length, 3);
  });
});

describe('mergeSettings (PATCH)', () => {
  test('given fields replace, null resets to the default, absent fields stay; arrays are replaced whole', () => {
    const current = { passwordMinLength: 12, allowedOrigins: ['https://a.example'], mfaRequired: true };
    const merged = mergeSettings(current, { passwordMinLength: null, allowedOrigins: ['https://b.example'], selfRegistration: false });
    assert.deepEqual(merged, { allowedOrigins: ['https://b.example'], mfaRequired: true, selfRegistration: false });
  });

  test('drops stored keys that are not settings, and re-checks the whole result', () => {
    assert.deepEqual(mergeSettings({ legacy: 1, passwordMinLength: 10 }, {}), { passwordMinLength: 10 });
    // a stored value out of bounds (written by hand) is refused rather than carried on
    assert.equal(fieldErrors(() => mergeSettings({ passwordMinLength: 3 }, { mfaRequired: true })).length, 1);
    assert.equal(fieldErrors(() => mergeSettings({}, { nope: null })).length, 1);
    assert.equal(fieldErrors(() => mergeSettings({}, [] as unknown)).length, 1);
  });
});

describe('readers (defaults, and stored values that were never validated)', () => {
  test('defaults: 8, config TTLs, registration open, MFA optional, providers not restricted, no origins', () => {
    const t = tenant({});
    assert.equal(passwordMinLength(t), 8);
    assert.equal(accessTtlSec(t, 900), 900);
    assert.equal(refreshIdleSec(t, 1209600), 1209600);
    assert.equal(selfRegistrationOpen(t), true);
    assert.equal(mfaRequired(t), false);
    assert.equal(enabledProviders(t), undefined, 'unset: not restricted');
    assert.deepEqual(allowedOrigins(t), []);
    assert.equal(passwordMinLength(undefined), 8);
  });

  test('set values apply; garbage falls back to the default or is clamped', () => {
    assert.equal(passwordMinLength(tenant({ passwordMinLength: 14 })), 14);
    assert.equal(passwordMinLength(tenant({ passwordMinLength: '14' })), 8);
    assert.equal(passwordMinLength(tenant({ passwordMinLength: 1000 })), 256);
    assert.equal(accessTtlSec(tenant({ accessTokenTtlSec: 120 }), 900), 120);
    assert.equal(accessTtlSec(tenant({ accessTokenTtlSec: 99999 }), 900), 3600);
    assert.equal(refreshIdleSec(tenant({ refreshTokenTtlSec: 600 }), 1209600), 600);
    assert.equal(refreshIdleSec(tenant({ refreshTokenTtlSec: 1 }), 1209600), 300);
    assert.equal(selfRegistrationOpen(tenant({ selfRegistration: false })), false);
    assert.equal(selfRegistrationOpen(tenant({ selfRegistration: 'no' })), true);
    assert.equal(mfaRequired(tenant({ mfaRequired: true })), true);
    assert.deepEqual(enabledProviders(tenant({ enabledProviders: ['github', 'myspace', 7] })), ['github']);
    assert.deepEqual(enabledProviders(tenant({ enabledProviders: [] })), []);
    assert.deepEqual(allowedOrigins(tenant({ allowedOrigins: ['https://ok.example', 'https://bad.example/'] })), ['https://ok.example']);
  });

  test('redirect URIs match exactly: no prefix, case, port, path or trailing-slash leniency', () => {
    const t = tenant({ redirectUris: ['https://app.example.com/cb', 'http://localhost:3000/cb'] });
    assert.equal(isAllowedRedirectUri(t, 'https://app.example.com/cb'), true);
    assert.equal(isAllowedRedirectUri(t, 'http://localhost:3000/cb'), true);
    for (const uri of [
      'https://app.example.com/cb/',
      'https://app.example.com/cb/../cb',
      'https://app.example.com/cb?x=1',
      'https://app.example.com/cbx',
      'https://app.example.com:443/cb',
      'https://app.example.com:8443/cb',
      'https://APP.example.com/cb',
      'https://app.example.com.evil.example/cb',
      'https://app.example.com@evil.example/cb',
      'https://evil.example/https://app.example.com/cb',
      'http://localhost:3001/cb',
      'http://localhost.evil.example:3000/cb',
      'https://app.example.com/cb#x',
      '',
    ]) {
      assert.equal(isAllowedRedirectUri(t, uri), false, uri);
    }
    assert.equal(isAllowedRedirectUri(tenant({}), 'https://app.example.com/cb'), false);
  });
});

describe('slugs', () => {
  test('DNS labels, lower-cased; invalid_slug otherwise', () => {
    assert.equal(normalizeSlug('Acme'), 'acme');
    assert.equal(normalizeSlug(' acme-2 '), 'acme-2');
    assert.equal(normalizeSlug('a'), 'a');
    assert.equal(normalizeSlug('a'.repeat(63)), 'a'.repeat(63));
    for (const bad of ['', '-acme', 'acme-', 'ac_me', 'ac.me', 'a'.repeat(64), 'acmé', 'xn--nxasmq6b', 'ab--cd', 'ac me', 'ac\nme']) {
      assert.throws(() => normalizeSlug(bad), (err: AppError) => err.code === 'invalid_slug' && err.status === 400, JSON.stringify(bad));
    }
  });

  test('reserved names answer reserved_slug, whatever the case', () => {
    for (const slug of ['www', 'API', 'admin', 'app', 'auth', 'mail', 'static', 'assets', 'cdn', 'docs', 'status', 'localhost', 'internal', 'gateway']) {
      assert.ok(RESERVED_SLUGS.has(slug.toLowerCase()), slug);
      assert.throws(() => normalizeSlug(slug), (err: AppError) => err.code === 'reserved_slug' && err.status === 400, slug);
    }
  });
});
