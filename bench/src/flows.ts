/**
 * Two flows of the full `npm run bench` through the gateway: unique QR check-ins by 16
 * scanners (an organizer's event, 240 members) and the audit trail's event-to-visible latency
 * (a registration until `/audit/me` shows its `user.events.created`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fmt, percentile, registerMembersWithQr, type Http } from './lib';

/** Check-ins/s: `adminLogin` (the bench's admin) makes an organizer, who checks the members in. */
export async function benchCheckIns(api: Http, password: string, adminLogin: { email: string; password: string }) {
  const admin = await api.json('POST', '/api/v1/auth/login', adminLogin);
  if (admin.status !== 200) throw new Error(`admin login failed: ${admin.status}`);
  const org = await api.json('POST', '/api/v1/auth/register', { email: `bench-org-${Date.now()}@example.com`, password });
  const grant = await api.json('PATCH', `/api/v1/admin/users/${org.body.user.id}`, { roles: ['user', 'organizer'] }, { authorization: `Bearer ${admin.body.accessToken}` });
  if (grant.status !== 200) throw new Error(`grant organizer failed: ${grant.status} ${JSON.stringify(grant.body)}`);
  const orgTokens = await api.json('POST', '/api/v1/auth/refresh', { refreshToken: org.body.refreshToken });
  const orgAuth = { authorization: `Bearer ${orgTokens.body.accessToken}` };
  const now = Date.now();
  const ev = await api.json('POST', '/api/v1/events', { title: 'Bench meeting', startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3600_000).toISOString(), lateAfterMinutes: 10 }, orgAuth);
  if (ev.status !== 201) throw new Error(`event create failed: ${ev.status} ${JSON.stringify(ev.body)}`);
  const n = 240;
  const { qr } = await registerMembersWithQr(api, n, `bench-m-${now}`, password);
  // 16 scanners drain the queue of members; the rate is unique check-ins over the time taken
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < qr.length; i = next++) {
        const r = await api.json('POST', `/api/v1/events/${ev.body.id}/check-ins`, { qrToken: qr[i] }, orgAuth);
        if (r.status !== 201) {
          if (failed === 0) console.log(`check-in failed: ${r.status} ${JSON.stringify(r.body)}`);
          failed += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const att = await api.json('GET', `/api/v1/events/${ev.body.id}/attendance`, undefined, orgAuth);
  const recorded = att.body.items.length as number;
  const res = { members: n, recorded, failed, perSec: recorded / elapsed, elapsedSec: elapsed, note: 'unique check-ins (one per member) through the gateway, 16 concurrent scanners' };
  console.log(`check-ins ${fmt(res.perSec)}/s (${recorded} in ${fmt(elapsed, 2)} s, ${failed} failed)`);
  return res;
}

/** Event-to-visible latency of the audit trail over BENCH_AUDIT_SAMPLES registrations (500). */
export async function benchAuditLatency(api: Http, password: string) {
  const samples: number[] = [];
  const n = Number(process.env.BENCH_AUDIT_SAMPLES ?? 500);
  for (let i = 0; i < n; i++) {
    const r = await api.json('POST', '/api/v1/auth/register', { email: `bench-a-${i}-${Date.now()}@example.com`, password });
    const t0 = performance.now();
    const auth = { authorization: `Bearer ${r.body.accessToken}` };
    for (;;) {
      const me = await api.json('GET', '/api/v1/audit/me?limit=5', undefined, auth);
      if (me.status === 200 && me.body.items.some((e: { type: string }) => e.type === 'user.events.created')) break;
      if (performance.now() - t0 > 10_000) throw new Error('audit entry did not appear within 10 s');
      await sleep(2);
    }
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const res = { samples: n, p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples[samples.length - 1] };
  console.log(`audit event-to-visible: p50 ${fmt(res.p50, 1)} ms, p99 ${fmt(res.p99, 1)} ms over ${n}`);
  return res;
}
