import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transporter } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import type { Logger } from 'pino';

/** One outgoing message. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/** A message as kept by the dev mailbox. */
export type StoredMail = MailMessage & { id: string; at: string };

/** Sends mail: SMTP in production, the dev mailbox in the embedded mode. */
export interface Mailer {
  readonly kind: 'smtp' | 'devbox';
  send(m: MailMessage): Promise<void>;
  /** Dev mailbox only: stored messages, newest last (always empty for SMTP). */
  messages(): StoredMail[];
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Options for {@link createMailer}. */
export interface MailerOptions {
  /** `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…`; unset selects the dev mailbox. */
  smtpUrl?: string;
  from: string;
  logger: Logger;
  /** Dev mailbox: where `mailbox.jsonl` is kept, so messages survive a restart. */
  dataDir?: string;
}

const KEEP = 200;

/**
 * Create the mailer: pooled SMTP via nodemailer when `smtpUrl` is given, otherwise the dev
 * mailbox, which stores messages (readable in the console) instead of sending them.
 */
export function createMailer(opts: MailerOptions): Mailer {
  return opts.smtpUrl ? createSmtpMailer(opts.smtpUrl, opts) : createDevMailbox(opts);
}

/**
 * Refuse what could turn one message into several or smuggle headers: the recipient comes
 * from user input, and "a@x.com, b@y.com" must not mail a reset link to a second person.
 */
function checkMessage(m: MailMessage): void {
  if (/[\r\n]/.test(m.to) || /[\r\n]/.test(m.subject)) throw new Error('mail headers must not contain line breaks');
  const parsed = addressparser(m.to, { flatten: true });
  if (parsed.length !== 1 || !parsed[0]?.address || !/^[^@\s]+@[^@\s]+$/.test(parsed[0].address)) {
    throw new Error('mail needs exactly one recipient address');
  }
}

function createSmtpMailer(smtpUrl: string, opts: MailerOptions): Mailer {
  const { logger } = opts;
  // nodemailer (~29 MB of RSS loaded) is imported on the first message or readiness check, not
  // at start; the embedded mode's dev mailbox never loads it (addressparser is a file of its own)
  let made: Promise<Transporter> | undefined;
  const transport = () =>
    (made ??= import('nodemailer').then(({ createTransport }) =>
      createTransport(
        {
          pool: true,
          url: smtpUrl,
          maxConnections: 5,
          // Bounded waits: a mail server that hangs must not hold a request forever.
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 30_000,
          // nodemailer's own logging would include envelopes; failures are logged below instead.
          logger: false,
        },
        { from: opts.from },
      ),
    ));

  return {
    kind: 'smtp',
    async send(m) {
      checkMessage(m);
      try {
        const info = await (await transport()).sendMail({ to: m.to, subject: m.subject, text: m.text, html: m.html });
        logger.debug({ messageId: info.messageId }, 'mail sent');
      } catch (err) {
        // Never the body: it holds single-use tokens.
        logger.error({ err, subject: m.subject }, 'mail could not be sent');
        throw err;
      }
    },
    messages: () => [],
    async ping() {
      await (await transport()).verify();
    },
    async close() {
      if (made) (await made).close();
    },
  };
}

function createDevMailbox(opts: MailerOptions): Mailer {
  const { logger, dataDir } = opts;
  const file = dataDir ? join(dataDir, 'mailbox.jsonl') : undefined;
  const kept: StoredMail[] = file ? loadTail(file, logger) : [];
  // Appends run one after another so the file keeps the order of sending.
  let writes: Promise<void> = dataDir ? mkdir(dataDir, { recursive: true }).then(() => undefined) : Promise.resolve();

  return {
    kind: 'devbox',
    async send(m) {
      checkMessage(m);
      const stored: StoredMail = {
        id: randomUUID(),
        at: new Date().toISOString(),
        to: m.to,
        subject: m.subject,
        text: m.text,
        ...(m.html !== undefined ? { html: m.html } : {}),
      };
      kept.push(stored);
      if (kept.length > KEEP) kept.splice(0, kept.length - KEEP);
      // Subject and recipient only: the body holds single-use tokens.
      logger.info(`mail to ${m.to}: ${m.subject}`);
      if (file) {
        const line = `${JSON.stringify(stored)}\n`;
        // The file holds live tokens: readable by the owner only.
        const write = writes.then(() => appendFile(file, line, { mode: 0o600 }));
        writes = write.catch(() => undefined);
        await write;
      }
    },
    messages: () => kept.slice(),
    async ping() {},
    async close() {
      await writes;
    },
  };
}

/** The last KEEP messages of an existing mailbox file; a missing or damaged file is no error. */
function loadTail(file: string, logger: Logger): StoredMail[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err }, 'dev mailbox file unreadable');
    return [];
  }
  const out: StoredMail[] = [];
  for (const line of text.split('\n').slice(-KEEP - 1)) {
    if (!line) continue;
    try {
      const m = JSON.parse(line) as StoredMail;
      if (typeof m.id === 'string' && typeof m.to === 'string' && typeof m.subject === 'string') out.push(m);
    } catch {
      // a torn last line after a crash: skip it
    }
  }
  return out.slice(-KEEP);
}
