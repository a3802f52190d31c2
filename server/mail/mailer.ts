// Outgoing mail. With SMTP_URL: nodemailer over SMTP with short timeouts. Without it
// (the embedded default): each message becomes an .eml file in DATA_DIR/outbox.
// Subjects and display names are forced onto one line, so a name holding CR/LF can
// never add a header.
//
// Mail after a change (security notices, account notices, invitations) goes out with
// `sendAfter`, once the change is committed: in the background, so no page waits for
// SMTP, with its own catch (a failure is logged, never felt by the request), and tracked
// so that shutdown and the CLI can wait for it (`idle`).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';

export interface MailMessage {
  to: Array<{ name: string; address: string }>;
  subject: string;
  text: string;
  html: string;
  attachments?: Array<{ filename: string; content: string; contentType: string }>;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  // In the background; a failure (building the message, or sending it) is logged as
  // `what failed`, with `context`. Given a function, the message is built here, so that
  // a template or a read that throws after the change was committed is logged, not felt.
  sendAfter(message: MailMessage | (() => MailMessage), what: string, context?: Record<string, unknown>): void;
  // Resolves once every background send under way has been sent or has failed.
  idle(): Promise<void>;
  // Closes pooled connections (shutdown; the end of a CLI command).
  close(): void;
  readonly kind: 'smtp' | 'outbox';
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

export function createMailer(config: Config, logger: Pick<Logger, 'error'>, timeouts: SmtpTimeouts = DEFAULT_TIMEOUTS): Mailer {
  const send = createTransport(config, timeouts);
  const pending = new Set<Promise<void>>();
  return {
    kind: send.kind,
    send: send.send,
    close: send.close,
    sendAfter(message, what, context = {}) {
      const failed = (err: unknown) => logger.error(`${what} failed`, { ...context, error: String((err as Error)?.message ?? err) });
      let built: MailMessage;
      try {
        built = typeof message === 'function' ? message() : message;
      } catch (err) {
        return failed(err);
      }
      const job = send
        .send(built)
        .catch(failed)
        .finally(() => pending.delete(job));
      pending.add(job);
    },
    idle: async () => {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
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
    html: sandbox ? `<p><strong>${SANDBOX_LINE}</strong></p>\n${m.html}` : m.html,
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
        await transport.sendMail(envelope(m));
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
    },
  };
}
