/**
 * Measures jose's access-token verify cost for the three algorithms Gatehouse can sign with
 * (RS256 with a 2048-bit key, ES256, EdDSA with Ed25519), to choose the default
 * `TOKEN_ALGORITHM`: every request through the gateway and every service verifies a token,
 * while signing happens once per login and refresh. Issue 13: the choice is by the WHOLE cost
 * per token, sign once + N verifies, N being the requests one access token serves in its
 * lifetime (1, 10, 100); the second table prints it, and the cheapest algorithm for each N.
 *
 *   node --import tsx bench/src/jwt-algorithms.ts [N]      (default N = 5000 per algorithm)
 *
 * Prints a Markdown table (ops/s and µs/op for verify and, for reference, sign).
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair, jwtVerify } from 'jose';

const N = Number(process.argv[2] ?? 5000);
const algorithms = [
  { alg: 'RS256', options: { modulusLength: 2048 } },
  { alg: 'ES256', options: {} },
  { alg: 'EdDSA', options: { crv: 'Ed25519' } },
] as const;

function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // not Linux: fall back to what Node reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

async function makeToken(alg: string, privateKey: CryptoKey) {
  return new SignJWT({ tid: randomUUID(), sid: randomUUID(), roles: ['user'], amr: ['pwd'] })
    .setProtectedHeader({ alg, kid: 'bench', typ: 'at+jwt' })
    .setIssuer('http://localhost:3000')
    .setAudience('gatehouse')
    .setSubject(randomUUID())
    .setIssuedAt()
    .setExpirationTime('15m')
    .setJti(randomUUID())
    .sign(privateKey);
}

interface Row {
  alg: string;
  verifyOps: number;
  verifyUs: number;
  signOps: number;
  signUs: number;
  tokenBytes: number;
}

async function measure(alg: string, options: object): Promise<Row> {
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const token = await makeToken(alg, privateKey);
  const verifyOpts = { algorithms: [alg], issuer: 'http://localhost:3000', audience: 'gatehouse', typ: 'at+jwt' };
  // warm-up: JIT and key caches
  for (let i = 0; i < Math.min(500, N); i++) await jwtVerify(token, publicKey, verifyOpts);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await jwtVerify(token, publicKey, verifyOpts);
  const verifyNs = Number(process.hrtime.bigint() - t0) / N;
  const signN = Math.max(100, Math.floor(N / 10));
  t0 = process.hrtime.bigint();
  for (let i = 0; i < signN; i++) await makeToken(alg, privateKey);
  const signNs = Number(process.hrtime.bigint() - t0) / signN;
  return {
    alg,
    verifyOps: Math.round(1e9 / verifyNs),
    verifyUs: verifyNs / 1000,
    signOps: Math.round(1e9 / signNs),
    signUs: signNs / 1000,
    tokenBytes: token.length,
  };
}

const rows: Row[] = [];
for (const { alg, options } of algorithms) rows.push(await measure(alg, options));

console.log(`machine: ${os.cpus().length} cores, ${cpuModel()}, node ${process.version}, jose verify N=${N} each\n`);
console.log('| algorithm | verify ops/s | verify µs/op | sign ops/s | sign µs/op | token bytes |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.alg} | ${r.verifyOps} | ${r.verifyUs.toFixed(1)} | ${r.signOps} | ${r.signUs.toFixed(1)} | ${r.tokenBytes} |`);
}
const best = [...rows].sort((a, b) => b.verifyOps - a.verifyOps)[0]!;
console.log(`\nfastest verify: ${best.alg}`);

// whole cost per issued token (one refresh): sign once, then N verifications
const NS = [1, 10, 100];
console.log('\nWhole cost per token, µs of CPU: sign once + N verifies\n');
console.log(`| algorithm | ${NS.map((n) => `N = ${n}`).join(' | ')} |`);
console.log(`|---|${NS.map(() => '---:').join('|')}|`);
for (const r of rows) console.log(`| ${r.alg} | ${NS.map((n) => (r.signUs + n * r.verifyUs).toFixed(0)).join(' | ')} |`);
for (const n of NS) {
  const w = [...rows].sort((a, b) => a.signUs + n * a.verifyUs - (b.signUs + n * b.verifyUs))[0]!;
  console.log(`cheapest at N = ${n}: ${w.alg}`);
}
// break-even N between each pair: sign_a + N verify_a = sign_b + N verify_b
for (let i = 0; i < rows.length; i++) {
  for (let j = i + 1; j < rows.length; j++) {
    const a = rows[i]!;
    const b = rows[j]!;
    const dv = a.verifyUs - b.verifyUs;
    if (dv !== 0) console.log(`break-even ${a.alg} vs ${b.alg}: N = ${((b.signUs - a.signUs) / dv).toFixed(1)}`);
  }
}
