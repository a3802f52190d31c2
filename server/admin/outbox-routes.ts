// GET /admin/outbox — in sandbox mode, administrators read the mail the portal wrote
// to DATA_DIR/outbox (there is no SMTP server in the sandbox). Messages are parsed
// with mailparser: every recipient, the subject and the text part, decoded.
import fs from 'node:fs';
import path from 'node:path';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { AddressObject } from 'mailparser';
import type { Deps } from '../deps.ts';
import { HttpError } from '../http/errors.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { outboxDir } from '../mail/mailer.ts';
import { lazy } from '../lib/lazy.ts';

const loadMailparser = lazy(() => import('mailparser'));

const addresses = (a: AddressObject | AddressObject[] | undefined) => (Array.isArray(a) ? a : a ? [a] : []).map((x) => x.text).join(', ');

// mailparser is loaded on first use: a sandbox page, not worth memory in every process.
async function readMessage(file: string) {
  const { simpleParser } = await loadMailparser();
  const mail = await simpleParser(fs.readFileSync(file));
  return {
    to: [addresses(mail.to), addresses(mail.cc)].filter(Boolean).join(', '),
    subject: mail.subject ?? '',
    date: mail.date?.toISOString() ?? '',
    text: mail.text ?? '',
    html: typeof mail.html === 'string' ? mail.html : '',
    attachments: mail.attachments.map((a) => a.filename ?? 'attachment'),
  };
}

export function outboxRoutes(deps: Deps): Router {
  const { config, views } = deps;
  const router = Router();
  // Only in the sandbox, and only when mail really goes to the outbox.
  const sandboxOnly = (_req: Request, _res: Response, next: NextFunction) =>
    config.portalEnv === 'sandbox' && deps.mailer.kind === 'outbox' ? next() : next(new HttpError(404, 'Page not found'));
  const dir = outboxDir(config);

  router.get('/admin/outbox', sandboxOnly, async (req, res) => {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().reverse().slice(0, 200) : [];
    const messages = await Promise.all(files.map(async (file) => ({ file, ...(await readMessage(path.join(dir, file))) })));
    sendHtml(res, views.render('/pages/admin/outbox', { ...layoutModel(req, config, 'Outbox', 'admin'), messages }));
  });

  router.get('/admin/outbox/:file', sandboxOnly, async (req, res) => {
    const file = String(req.params.file);
    if (!/^[\w.-]+\.eml$/.test(file) || !fs.existsSync(path.join(dir, file))) throw new HttpError(404, 'No such message');
    const message = await readMessage(path.join(dir, file));
    res.set('Cache-Control', 'no-store');
    sendHtml(res, views.render('/pages/admin/outbox-message', { ...layoutModel(req, config, 'Message', 'admin'), ...message, body: message.text }));
  });
  return router;
}
