// GET /admin/outbox — the console's mail page, for administrators in every environment:
// the deliveries that failed (recipient, subject, error, attempts, what happens next)
// and, when there is no SMTP_URL, the mail the portal wrote to DATA_DIR/outbox instead
// of sending it. Messages are parsed with mailparser: every recipient, the subject and
// the text part, decoded.
import fs from 'node:fs';
import path from 'node:path';
import { Router, type Request, type Response } from 'express';
import type { AddressObject } from 'mailparser';
import type { Deps } from '../deps.ts';
import { HttpError } from '../http/errors.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { outboxDir } from '../mail/mailer.ts';
import { mailBanner } from '../mail/status.ts';
import { MAX_ATTEMPTS, type FailedMail } from '../mail/failures.ts';
import { formatDateTime } from '../lib/dates.ts';
import { lazy } from '../lib/lazy.ts';

const loadMailparser = lazy(() => import('mailparser'));

const addresses = (a: AddressObject | AddressObject[] | undefined) => (Array.isArray(a) ? a : a ? [a] : []).map((x) => x.text).join(', ');

// mailparser is loaded on first use: an occasional page, not worth memory in every process.
async function readMessage(file: string, timeZone: string) {
  const { simpleParser } = await loadMailparser();
  const mail = await simpleParser(fs.readFileSync(file));
  return {
    to: [addresses(mail.to), addresses(mail.cc)].filter(Boolean).join(', '),
    subject: mail.subject ?? '',
    date: mail.date ? formatDateTime(mail.date.getTime(), timeZone) : '',
    text: mail.text ?? '',
    html: typeof mail.html === 'string' ? mail.html : '',
    attachments: mail.attachments.map((a) => a.filename ?? 'attachment'),
  };
}

// What happens next to a failed delivery, in words.
function nextStep(f: FailedMail, timeZone: string): string {
  if (f.reminder) return 'Retried by the next reminder run';
  if (f.givenUpAt !== null) return `Given up after ${f.attempts} attempts`;
  return f.nextAttemptAt === null ? '' : `Next attempt ${formatDateTime(f.nextAttemptAt, timeZone)} (at most ${MAX_ATTEMPTS} in all)`;
}

export function outboxRoutes(deps: Deps): Router {
  const { config, views } = deps;
  const router = Router();
  const dir = outboxDir(config);
  const render = (req: Request, res: Response, template: string, title: string, model: object) =>
    sendHtml(res, views.render(template, { ...layoutModel(req, config, title, 'admin'), mailBanner: mailBanner(deps), ...model }));

  router.get('/admin/outbox', async (req, res) => {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().reverse().slice(0, 200) : [];
    const messages = await Promise.all(files.map(async (file) => ({ file, ...(await readMessage(path.join(dir, file), config.timezone)) })));
    const failures = (deps.mailer.failures?.list() ?? []).map((f) => ({ ...f, lastAttempt: formatDateTime(f.lastAttemptAt, config.timezone), next: nextStep(f, config.timezone) }));
    render(req, res, '/pages/admin/outbox', 'Mail', { messages, failures, toOutbox: deps.mailer.kind === 'outbox', outboxDir: dir });
  });

  router.get('/admin/outbox/:file', async (req, res) => {
    const file = String(req.params.file);
    if (!/^[\w.-]+\.eml$/.test(file) || !fs.existsSync(path.join(dir, file))) throw new HttpError(404, 'No such message');
    const message = await readMessage(path.join(dir, file), config.timezone);
    res.set('Cache-Control', 'no-store');
    render(req, res, '/pages/admin/outbox-message', 'Message', { ...message, body: message.text });
  });
  return router;
}
