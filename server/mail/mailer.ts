// Outgoing mail. With SMTP_URL: nodemailer over SMTP with short timeouts. Without it
// (the embedded default): each message becomes an .eml file in DATA_DIR/outbox.
// Subjects and display names are forced onto one line, so a name holding CR/LF can
// never add a header.
//
// Mail after a change (security notices, account notices, invitations) goes out with
// `sendAfter`, once the change is committed: in the background, so no page waits for
// SMTP, with its own catch (a failure is logged, never felt by the request), and tracked
// so that shutdown and the CLI can wait for it (`idle`). A background mail that fails is
// kept in the database and retried with backoff (failures.ts), listed in the console.
//
// Without SMTP_URL nothing leaves the machine: what the portal says about mail must say
// so (`deliveryNote`), at start, in the console and on the command line.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { errorText, type FailedMailStore } from './failures.ts';

export interface MailMessage {
  to: Array<{ name: string; address: string }>;
  subject: string;
  text: string;
  html: string;
  attachments?: Array<{ filename: string; content: string; contentType: string }>;
}

// What the SMTP server refused of a message it otherwise accepted (some recipients); a
// message refused for every recipient is an error.
export interface SendResult {
  rejected: string[];
}

export interface Mailer {
  // Resolves once the SMTP server accepted the message (or it was written to the outbox).
  send(message: MailMessage): Promise<SendResult>;
  // In the background; a failure (building the message, or sending it) is logged as
  // `what failed`, with `context`. Given a function, the message is built here, so that
  // a template or a read that throws after the change was committed is logged, not felt.
  sendAfter(message: MailMessage | (() => MailMessage), what: string, context?: Record<string, unknown>): void;
  // Resolves once every background send under way has been sent or has failed.
  idle(): Promise<void>;
  // Closes pooled connections (shutdown; the end of a CLI command).
  close(): void;
  readonly kind: 'smtp' | 'outbox';
  // Where failed deliveries are kept for retries and the console (null: not kept).
  readonly failures: FailedMailStore | null;
}

// The words for what happened to a mail, for the console and the command line: "sent"
// only when an SMTP server takes it.
export function deliveryNote(mailer: Pick<Mailer, 'kind'>): string {
  return mailer.kind === 'smtp' ? 'sent' : 'written to the outbox, not sent (no SMTP_URL is set)';
}

// The start line (main.ts) and the console's banner say this when nothing is sent.
export function outboxWarning(config: Config): string {
  return `Mail is not sent: SMTP_URL is not set, so invitations, notices and expiry reminders are written to ${outboxDir(config)} and nobody receives them.`;
}

export const SANDBOX_LINE = 'This message comes from the SANDBOX portal: test data, not production.';

export const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();

export interface SmtpTimeouts {
  connectionTimeout: number;
  greetingTimeout: number;
  socketTimeout: number;
}
export const DEFAULT_TIMEOUTS: SmtpTimeouts = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

export function outboxDir(config: Config): string {
  return path.join(config.dataDir, 'outbox');
}

export function createMailer(config: Config, logger: Pick<Logger, 'error' | 'warn'>, timeouts: SmtpTimeouts = DEFAULT_TIMEOUTS, failures: FailedMailStore | null = null): Mailer {
  const send = createTransport(config, timeouts);
  const pending = new Set<Promise<void>>();
  // Kept for a retry; a store that cannot write is logged, never thrown.
  const keep = (message: MailMessage, what: string, error: string, context: Record<string, unknown>) => {
    try {
      failures?.recordFailure(message, what, error);
    } catch (err) {
      logger.error(`${what} not kept for a retry`, { ...context, error: errorText(err) });
    }
  };
  return {
    kind: send.kind,
    failures,
    send: send.send,
    close: send.close,
    sendAfter(message, what, context = {}) {
      let built: MailMessage;
      try {
        built = typeof message === 'function' ? message() : message;
      } catch (err) {
        return logger.error(`${what} failed`, { ...context, error: errorText(err) });
      }
      const job = send
        .send(built)
        .then(
          ({ rejected }) => {
            if (!rejected.length) return;
            // Accepted for some recipients: the others are retried on their own.
            const error = `refused by the SMTP server for ${rejected.join(', ')}`;
            logger.warn(`${what} refused for some recipients`, { ...context, rejected: rejected.length });
            keep({ ...built, to: built.to.filter((r) => rejected.includes(r.address)) }, what, error, context);
          },
          (err: unknown) => {
            logger.error(`${what} failed; kept for a retry`, { ...context, error: errorText(err) });
            keep(built, what, errorText(err), context);
          },
        )
        .finally(() => pending.delete(job));
      pending.add(job);
    },
    idle: async () => {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}

// The sandbox line inside the document: after <body ...> when there is one (a line before
// <!doctype html> is outside the document, and some clients drop it).
export function withSandboxBanner(html: string): string {
  const banner = `<p style="background: #fff4cc; border: 1px solid #b58a00; padding: .5rem;"><strong>${SANDBOX_LINE}</strong></p>\n`;
  const body = /<body\b[^>]*>/i.exec(html);
  if (!body) return banner + html;
  const at = body.index + body[0].length;
  return `${html.slice(0, at)}\n${banner}${html.slice(at)}`;
}

function createTransport(config: Config, timeouts: SmtpTimeouts): Pick<Mailer, 'send' | 'close' | 'kind'> {
  const from = config.mailFrom;
  // Sandbox mail says so, in the subject and at the top, so nobody mistakes it for production.
  const sandbox = config.portalEnv === 'sandbox';
  const envelope = (m: MailMessage) => ({
    from,
    to: m.to.map((r) => ({ name: oneLine(r.name), address: oneLine(r.address) })),
    subject: (sandbox ? '[Sandbox] ' : '') + oneLine(m.subject),
    text: sandbox ? `${SANDBOX_LINE}\n\n${m.text}` : m.text,
    html: sandbox ? withSandboxBanner(m.html) : m.html,
    attachments: m.attachments,
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  if (config.smtpUrl) {
    // Pooled: one reminder run's mails share up to two connections instead of a
    // handshake each.
    const transport = nodemailer.createTransport({ url: config.smtpUrl, ...timeouts, pool: true, maxConnections: 2, maxMessages: 100 } as Parameters<typeof nodemailer.createTransport>[0]);
    return {
      kind: 'smtp',
      async send(m) {
        // Resolves once the server answered 250 to the message; refused for every
        // recipient, it rejects.
        const info = (await transport.sendMail(envelope(m))) as { rejected?: Array<string | { address: string }> };
        return { rejected: (info.rejected ?? []).map((r) => (typeof r === 'string' ? r : r.address)) };
      },
      close: () => transport.close(),
    };
  }
  const dir = outboxDir(config);
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    kind: 'outbox',
    close: () => {},
    async send(m) {
      const info = await transport.sendMail(envelope(m));
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${crypto.randomBytes(4).toString('hex')}.eml`;
      fs.writeFileSync(path.join(dir, name), info.message as Buffer, { mode: 0o600 });
      return { rejected: [] };
    },
  };
}
