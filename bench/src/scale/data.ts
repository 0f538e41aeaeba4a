/**
 * What the scale bench loads: the tenants, the fixed probe data (the same in the empty and the
 * loaded run, so both measure the same rows), and row generators shared by probe and bulk.
 */
import { randomUUID } from 'node:crypto';
import { hash } from '@node-rs/argon2';
import type pg from 'pg';
import { ARGON2_PARAMS } from '../../../services/auth/src/modules/passwords/passwords.service';
import { entryHash, GENESIS_HASH, type HashedFields } from '../../../services/audit/src/modules/chain/chain.hash';
import type { CopyValue } from './copy';

/** The default tenant (created by auth's first migration) is the big one. */
export const BIG_TENANT = '00000000-0000-4000-8000-000000000001';
/** The tenant whose chain /audit/verify reads: fixed size in both runs. */
export const VERIFY_SLUG = 'scale-verify';
export const OTHER_TENANTS = 98;
/** Every seeded account (probe and bulk) has this password. */
export const PASSWORD = 'scale bench password 2026';
export const ADMIN_EMAIL = 'scale-admin@example.com';

/** Full-size figures of issue 13 item 4, times `BENCH_SCALE`. */
export function bulkSizes(scale: number) {
  return {
    users: Math.round(1_000_000 * scale),
    sessions: Math.round(2_000_000 * scale),
    audit: Math.round(10_000_000 * scale),
    attendance: Math.round(100_000 * scale),
  };
}
export type BulkSizes = ReturnType<typeof bulkSizes>;

/** The probe set: accounts the measurements use, a 5,000-member event, chains long enough for page 1,000. */
export interface ProbeSizes { users: number; bigChain: number; verifyChain: number; roster: number }
export const PROBE: ProbeSizes = { users: 5000, bigChain: 60_000, verifyChain: 50_000, roster: 5000 };

/** A small deterministic PRNG (mulberry32): the same data for the same seed, and fast. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let cachedHash: string | undefined;
/** One argon2id hash of {@link PASSWORD} at the service's parameters, reused for every account. */
export async function passwordHash(): Promise<string> {
  cachedHash ??= await hash(PASSWORD, ARGON2_PARAMS);
  return cachedHash;
}

const FIRST = ['ada', 'alan', 'grace', 'linus', 'margaret', 'ken', 'barbara', 'dennis', 'frances', 'edsger', 'radia', 'john', 'sophie', 'tim', 'hedy', 'claude', 'katherine', 'niklaus', 'annie', 'donald'];
const LAST = ['lovelace', 'turing', 'hopper', 'torvalds', 'hamilton', 'thompson', 'liskov', 'ritchie', 'allen', 'dijkstra', 'perlman', 'backus', 'wilson', 'berners', 'lamarr', 'shannon', 'johnson', 'wirth', 'easley', 'knuth'];

export const USER_COLUMNS = ['id', 'tenant_id', 'email', 'username', 'display_name', 'password_hash', 'roles', 'email_verified_at', 'created_at', 'updated_at', 'last_login_at'] as const;
export const PROFILE_COLUMNS = ['tenant_id', 'id', 'email', 'username', 'display_name', 'identity_at', 'created_at', 'updated_at'] as const;

export interface SeedUser { id: string; tenantId: string; email: string; username: string | null; displayName: string; roles: string[]; createdAt: Date }

/** A realistic bulk account: name-based address on the tenant's domain, half with a username. */
export function bulkUser(tenantId: string, domain: string, i: number, rnd: () => number, createdAt: Date): SeedUser {
  const f = FIRST[Math.floor(rnd() * FIRST.length)]!;
  const l = LAST[Math.floor(rnd() * LAST.length)]!;
  return { id: randomUUID(), tenantId, email: `${f}.${l}.${i}@${domain}`, username: rnd() < 0.5 ? `${f}${l}${i}` : null, displayName: `${f} ${l}`, roles: ['user'], createdAt };
}

export function userRow(u: SeedUser, pwHash: string): CopyValue[] {
  return [u.id, u.tenantId, u.email, u.username, u.displayName, pwHash, u.roles, u.createdAt, u.createdAt, u.createdAt, null];
}
export function profileRow(u: SeedUser): CopyValue[] {
  return [u.tenantId, u.id, u.email, u.username, u.displayName, u.createdAt, u.createdAt, u.createdAt];
}

export const SESSION_COLUMNS = ['id', 'tenant_id', 'user_id', 'created_at', 'last_used_at', 'expires_at', 'idle_expires_at', 'revoked_at', 'revoke_reason', 'ip', 'user_agent', 'amr'] as const;
export const REFRESH_COLUMNS = ['token_hash', 'tenant_id', 'session_id', 'created_at', 'used_at'] as const;
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0', 'gatehouse-cli/0.1'];

/** 64 hex digits from the PRNG (the two session passes must produce the same rows). */
function tokenHash(rnd: () => number): string {
  let h = '';
  for (let i = 0; i < 8; i++) h += Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, '0');
  return h;
}

/**
 * A session and its refresh token: about a third still active, the rest expired or revoked
 * (the purge has not run yet), as a live system holds them. The token hash is 32 pseudo-random bytes
 * in hex: the service stores sha256(token), which is indistinguishable from that.
 */
export function sessionRows(tenantId: string, userId: string, rnd: () => number, now: number, id: string): { session: CopyValue[]; token: CopyValue[] } {
  const created = new Date(now - Math.floor(rnd() * 90 * 86400_000));
  const expires = new Date(created.getTime() + 30 * 86400_000);
  const revoked = rnd() < 0.15 ? new Date(created.getTime() + Math.floor(rnd() * 86400_000)) : null;
  const ip = `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`;
  return {
    session: [id, tenantId, userId, created, created, expires, new Date(Math.min(expires.getTime(), created.getTime() + 7 * 86400_000)), revoked, revoked ? 'logout' : null, ip, AGENTS[Math.floor(rnd() * AGENTS.length)]!, ['pwd']],
    token: [tokenHash(rnd), tenantId, id, created, null],
  };
}

export const ENTRY_COLUMNS = ['id', 'tenant_id', 'seq', 'event_id', 'type', 'actor_id', 'subject_id', 'ip', 'user_agent', 'request_id', 'data', 'occurred_at', 'recorded_at', 'prev_hash', 'hash'] as const;
const ENTRY_TYPES: Array<[string, number]> = [
  ['auth.events.login_succeeded', 0.45],
  ['auth.events.login_failed', 0.1],
  ['auth.events.logout', 0.1],
  ['profile.events.updated', 0.1],
  ['attendance.events.checked_in', 0.1],
  ['user.events.updated', 0.05],
  ['auth.events.password_changed', 0.05],
  ['user.events.created', 0.05],
];

/** The chain position a tenant's next entry continues from. */
export interface ChainHead { seq: number; hash: string }
export async function readHead(client: pg.ClientBase, tenantId: string): Promise<ChainHead> {
  const r = await client.query<{ seq: string; hash: string }>('select seq, hash from audit.entries where tenant_id = $1 order by seq desc limit 1', [tenantId]);
  return r.rows[0] ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
}

/**
 * `count` entries continuing `head` (mutated), occurred_at spread evenly from `from` to `to`,
 * each hashed with the audit service's own `entryHash`, so `/audit/verify` checks them.
 */
export function* chainEntries(tenantId: string, head: ChainHead, count: number, actors: readonly string[], rnd: () => number, from: number, to: number): Generator<CopyValue[]> {
  const step = count > 0 ? (to - from) / count : 0;
  for (let i = 0; i < count; i++) {
    let x = rnd();
    let type = ENTRY_TYPES[0]![0];
    for (const [t, w] of ENTRY_TYPES) {
      if ((x -= w) < 0) { type = t; break; }
    }
    const actor = actors.length ? actors[Math.floor(rnd() * actors.length)]! : null;
    const f: HashedFields = {
      seq: head.seq + 1,
      tenantId,
      type,
      actorId: actor,
      subjectId: actor,
      ip: `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`,
      userAgent: AGENTS[Math.floor(rnd() * AGENTS.length)]!,
      requestId: Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, '0') + Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, '0'),
      data: type.startsWith('auth.events.login') ? { method: 'password' } : {},
      occurredAt: new Date(Math.floor(from + i * step)).toISOString(),
      eventId: randomUUID(),
    };
    const h = entryHash(head.hash, f);
    yield [randomUUID(), tenantId, f.seq, f.eventId, f.type, f.actorId, f.subjectId, f.ip, f.userAgent, f.requestId, JSON.stringify(f.data), f.occurredAt, f.occurredAt, head.hash, h];
    head.seq = f.seq;
    head.hash = h;
  }
}

export const EVENT_COLUMNS = ['tenant_id', 'id', 'title', 'location', 'starts_at', 'ends_at', 'late_after_minutes', 'created_by', 'created_at', 'updated_at'] as const;
export const ATTENDANCE_COLUMNS = ['tenant_id', 'event_id', 'user_id', 'status', 'checked_in_at', 'checked_out_at', 'checked_in_by', 'checked_out_by'] as const;

export function eventRow(tenantId: string, id: string, title: string, startsAt: Date, by: string): CopyValue[] {
  return [tenantId, id, title, 'Main hall', startsAt, new Date(startsAt.getTime() + 2 * 3600_000), 10, by, startsAt, startsAt];
}
export function attendanceRow(tenantId: string, eventId: string, userId: string, startsAt: Date, by: string, rnd: () => number): CopyValue[] {
  const late = rnd() < 0.2;
  const at = new Date(startsAt.getTime() + (late ? 15 + rnd() * 60 : rnd() * 10) * 60_000);
  return [tenantId, eventId, userId, late ? 'late' : 'present', at, rnd() < 0.5 ? new Date(at.getTime() + 3600_000) : null, by, null];
}
