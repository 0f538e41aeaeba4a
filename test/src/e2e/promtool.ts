/**
 * `promtool` (Prometheus' own checker, Debian package `prometheus`) for the suites: metrics
 * text and alert rules are checked by the tool Prometheus itself uses, not by a re-implementation.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL_BIN = '/usr/bin/promtool';

/** A skip reason when promtool is not installed; undefined when it is. */
export function promtoolMissing(): string | undefined {
  return existsSync(PROMTOOL_BIN) ? undefined : `needs ${PROMTOOL_BIN} (apt-get install prometheus)`;
}

/** Runs promtool with `args`, `stdin` piped in; resolves with the exit code and the output. */
export function promtool(args: string[], stdin?: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(stdin ?? '');
  });
}

/** `promtool check metrics` on a /metrics body: exit 0 and no complaint. */
export async function checkMetrics(text: string): Promise<{ ok: boolean; output: string }> {
  const r = await promtool(['check', 'metrics'], text);
  return { ok: r.code === 0 && r.output.trim() === '', output: r.output };
}

/** The value of one sample in Prometheus text (sum over series matching `labels`); undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const [, k, v] of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[k!] = v!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum = (sum ?? 0) + Number(m[4]);
  }
  return sum;
}
