/**
 * Helpers for the operator commands' tests (test-only module): run `gatehouse …` as a child
 * process, and a fresh installation for it: a temporary DATA_DIR (embedded databases) and,
 * when the run has PostgreSQL, a new database with a master secret.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@gatehouse/platform/testing';

/** The repository root (this file is cli/src/commands/testing.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** What a finished command left. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx cli/src/main.ts …args` with exactly `env` (plus PATH); `stdin` is written then closed. */
export function runCli(args: string[], env: Record<string, string | undefined>, stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/src/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A command that hangs fails the test instead of the whole run.
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** A new, empty installation: the environment a command runs with, and its removal. */
export async function freshInstallation(): Promise<{ env: Record<string, string | undefined>; postgres: boolean; cleanup(): Promise<void> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-cli-'));
  const db = await createTestDatabase();
  return {
    env: {
      DATA_DIR: dataDir,
      DATABASE_URL: db.url,
      // PostgreSQL needs the secret given; embedded keeps one under DATA_DIR
      GATEHOUSE_SECRET: db.url ? randomBytes(32).toString('base64url') : undefined,
    },
    postgres: db.url !== undefined,
    async cleanup() {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** True when the text looks like a stack trace (operator commands print messages, not stacks). */
export function hasStack(text: string): boolean {
  return /\n\s+at .+\(.+:\d+:\d+\)/.test(text);
}
