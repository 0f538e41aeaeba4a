import { pino, type Logger } from 'pino';
import { traceFields } from './tracing';

/** Paths never written to logs: credentials and tokens. */
const REDACT = [
  'password', '*.password', 'currentPassword', '*.currentPassword', 'newPassword', '*.newPassword',
  'token', '*.token', 'refreshToken', '*.refreshToken', 'accessToken', '*.accessToken',
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
  'code', '*.code', 'backupCode', '*.backupCode', 'secret', '*.secret', 'mfaToken', '*.mfaToken',
];

/**
 * Creates the process logger (pino, JSON lines) with secret redaction. `stderr` sends the lines
 * there instead of stdout (the CLI, whose stdout is its answer).
 */
export function createLogger(opts: { level: string; name?: string; stderr?: boolean }): Logger {
  // mixin: each line logged inside a traced operation carries its trace_id and span_id
  const options = { level: opts.level, name: opts.name ?? 'gatehouse', redact: { paths: REDACT, censor: '[redacted]' }, mixin: traceFields };
  return opts.stderr ? pino(options, pino.destination(2)) : pino(options);
}
export type { Logger };
