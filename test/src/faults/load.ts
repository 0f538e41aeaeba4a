/**
 * The fault suite's load: a fixed number of workers (bounded concurrency), each a member who
 * loops login -> me -> refresh -> profile update -> check-in (scanned by the organizer) ->
 * social log entry, through nginx. Every request is recorded; every acknowledged write is kept
 * so the suite can look for it afterwards. Test-only module.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';

export type Op = 'login' | 'me' | 'refresh' | 'profile' | 'qr' | 'checkin' | 'social';

export interface Sample {
  op: Op;
  phase: string;
  start: number;
  end: number;
  status: number;
  ok: boolean;
  code?: string;
}

export interface Acked {
  profile: Map<string, Array<{ value: string; acked: boolean; at: number; phase: string }>>;
  checkins: Array<{ userId: string; eventId: string; at: number; phase: string }>;
  social: Array<{ id: string; userId: string; at: number; phase: string }>;
}

export interface Member {
  email: string;
  password: string;
  userId: string;
}

export interface LoadOptions {
  base: string;
  host: string;
  members: Member[];
  organizerToken: () => string;
  events: string[];
  thinkMs?: number;
}

/** Social-log entries a member sends per minute at most: below audit's per-user limit of 60. */
const SOCIAL_PER_MINUTE = 50;

const OK: Record<Op, number[]> = { login: [200], me: [200], refresh: [200], profile: [200], qr: [200], checkin: [200, 201], social: [201] };

export function startLoad(o: LoadOptions) {
  const agent = new Agent({ connections: o.members.length * 2, keepAliveTimeout: 4000 });
  const samples: Sample[] = [];
  const acked: Acked = { profile: new Map(), checkins: [], social: [] };
  let phase = 'warm-up';
  let running = true;
  let inFlight = 0;

  async function call(op: Op, method: string, path: string, body?: unknown, token?: string) {
    const start = Date.now();
    inFlight++;
    let status = 0;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
    let json: any;
    try {
      const res = await request(`${o.base}${path}`, {
        method: method as 'GET',
        headers: { host: o.host, ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        dispatcher: agent,
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      status = res.statusCode;
      const text = await res.body.text();
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
    } catch {
      // connection error or timeout: status stays 0
    } finally {
      inFlight--;
    }
    const ok = OK[op].includes(status);
    samples.push({ op, phase, start, end: Date.now(), status, ok, code: ok ? undefined : (json?.code as string | undefined) });
    return { ok, status, json };
  }

  async function worker(m: Member, w: number) {
    let i = 0;
    /** when this member's social-log entries of the last minute were sent */
    const socialSent: number[] = [];
    while (running) {
      i++;
      const login = await call('login', 'POST', '/api/v1/auth/login', { email: m.email, password: m.password });
      if (!login.ok) {
        await sleep(200);
        continue;
      }
      let token = login.json.accessToken as string;
      await call('me', 'GET', '/api/v1/auth/me', undefined, token);
      const refreshed = await call('refresh', 'POST', '/api/v1/auth/refresh', { refreshToken: login.json.refreshToken });
      if (refreshed.ok) token = refreshed.json.accessToken;

      const value = `w${w}-i${i}`;
      const history = acked.profile.get(m.userId) ?? [];
      acked.profile.set(m.userId, history);
      const attempt = { value, acked: false, at: Date.now(), phase };
      history.push(attempt);
      const profile = await call('profile', 'PATCH', '/api/v1/users/me', { displayName: value }, token);
      if (profile.ok && profile.json?.displayName === value) attempt.acked = true;

      const qr = await call('qr', 'GET', '/api/v1/users/me/qr/token', undefined, token);
      if (qr.ok) {
        const eventId = o.events[(i + w) % o.events.length]!;
        const scan = await call('checkin', 'POST', `/api/v1/events/${eventId}/check-ins`, { qrToken: qr.json.token }, o.organizerToken());
        if (scan.status === 201) acked.checkins.push({ userId: m.userId, eventId, at: Date.now(), phase });
      }

      // The social log allows 60 entries per user a minute (audit's limit): the load stays below
      // it, so a 429 here would be a real failure, not the limit doing its job.
      const now = Date.now();
      while (socialSent.length && now - socialSent[0]! > 60_000) socialSent.shift();
      if (socialSent.length < SOCIAL_PER_MINUTE) {
        socialSent.push(now);
        const social = await call('social', 'POST', '/api/v1/social-logs', { type: 'post.liked', targetId: value }, token);
        if (social.ok && social.json?.id) acked.social.push({ id: social.json.id, userId: m.userId, at: Date.now(), phase });
      }
      if (o.thinkMs) await sleep(o.thinkMs);
    }
  }

  const workers = o.members.map((m, w) => worker(m, w));
  return {
    samples,
    acked,
    inFlight: () => inFlight,
    setPhase(p: string) {
      phase = p;
    },
    async stop() {
      running = false;
      await Promise.all(workers);
      await agent.close();
    },
  };
}
