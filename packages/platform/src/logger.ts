import { pino, type ChildLoggerOptions, type LogFn, type Logger } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
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

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type Bindings = Record<string, unknown>;

/**
 * A request's logger whose pino child is made only when a line at an enabled level is logged.
 * Fastify makes a child logger per request (the request id as its binding): ~4 µs with this
 * logger's redaction and mixin, on every request of every service, while a request that goes
 * well logs nothing at the enabled levels (its own line is debug). Hand-written because pino has
 * no lazy child. `level` reads like the child's; setting it, or `child()`, makes the child.
 */
export class LazyChildLogger implements FastifyBaseLogger {
  #child: Logger | undefined;
  readonly #parent: Logger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;

  constructor(parent: Logger, bindings: Bindings, options: ChildLoggerOptions = {}) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #real(): Logger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options));
  }

  /** Whether `level` would be written, without making the child. */
  #enabled(level: Level): boolean {
    if (this.#child) return this.#child.isLevelEnabled(level);
    const own = this.#options.level;
    if (own === undefined) return this.#parent.isLevelEnabled(level);
    const values = this.#parent.levels.values;
    return (values[level] ?? 0) >= (values[own] ?? Infinity);
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return this.#enabled(level as Level);
  }

  fatal: LogFn = (...args: Parameters<LogFn>) => this.#log('fatal', args);
  error: LogFn = (...args: Parameters<LogFn>) => this.#log('error', args);
  warn: LogFn = (...args: Parameters<LogFn>) => this.#log('warn', args);
  info: LogFn = (...args: Parameters<LogFn>) => this.#log('info', args);
  debug: LogFn = (...args: Parameters<LogFn>) => this.#log('debug', args);
  trace: LogFn = (...args: Parameters<LogFn>) => this.#log('trace', args);
  silent: LogFn = () => {};

  #log(level: Level, args: Parameters<LogFn>): void {
    if (this.#enabled(level)) this.#real()[level](...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    // pino's Logger is Fastify's base logger; its type differs only in `child`'s generics
    return this.#real().child(bindings, options) as FastifyBaseLogger;
  }
}

/**
 * Fastify's `childLoggerFactory` for an app whose `loggerInstance` is `parent` (what Fastify
 * passes as its first argument): a {@link LazyChildLogger} per request.
 */
export function lazyChildLoggers(parent: Logger): (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) => FastifyBaseLogger {
  return (_logger, bindings, options) => new LazyChildLogger(parent, bindings, options);
}
