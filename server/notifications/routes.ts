// GET /admin/outbox — in sandbox mode, administrators read the mail the portal wrote
// to DATA_DIR/outbox (there is no SMTP server in the sandbox).
import fs from 'node:fs';
import path from 'node:path';
import { Router } from 'express';
import type { Deps } from '../deps.ts';
import { requireAdmin, requireSignedIn } from '../auth/guards.ts';
import { HttpError } from '../http/errors.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { outboxDir } from './mailer.ts';

function decodeBody(raw: string): string {
  // Enough MIME for a preview: the text/plain part, quoted-printable decoded.
  const m = /Content-Type: text\/plain[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n([\s\S]*?)\r?\n--/i.exec(raw);
  const part = m ? m[1]! : raw;
  return part
    .replace(/=\r?\n/g, '')
    .replace(/(?:=[0-9A-F]{2})+/g, (seq) => Buffer.from(seq.replace(/=/g, ''), 'hex').toString('utf8'));
}

const headerOf = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(raw)?.[1] ?? '';

export function outboxRoutes(deps: Deps): Router {
  const { config, views } = deps;
  const router = Router();
  const sandboxOnly = (_req: unknown, _res: unknown, next: (err?: unknown) => void) =>
    config.portalEnv === 'sandbox' && deps.mailer.kind === 'outbox' ? next() : next(new HttpError(404, 'Page not found'));
  const dir = outboxDir(config);

  router.get('/admin/outbox', requireSignedIn(deps), requireAdmin, sandboxOnly, (req, res) => {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().reverse().slice(0, 200) : [];
    const messages = files.map((file) => {
      const head = fs.readFileSync(path.join(dir, file), 'utf8').slice(0, 4000);
      return { file, to: headerOf(head, 'To'), subject: headerOf(head, 'Subject'), date: headerOf(head, 'Date') };
    });
    sendHtml(res, views.render('/pages/admin/outbox', { ...layoutModel(req, config, 'Outbox', 'admin'), messages }));
  });

  router.get('/admin/outbox/:file', requireSignedIn(deps), requireAdmin, sandboxOnly, (req, res, next) => {
    const file = String(req.params.file);
    if (!/^[\w.-]+\.eml$/.test(file) || !fs.existsSync(path.join(dir, file))) return next(new HttpError(404, 'No such message'));
    const raw = fs.readFileSync(path.join(dir, file), 'utf8');
    res.set('Cache-Control', 'no-store');
    sendHtml(res, views.render('/pages/admin/outbox-message', { ...layoutModel(req, config, 'Message', 'admin'), to: headerOf(raw, 'To'), subject: headerOf(raw, 'Subject'), date: headerOf(raw, 'Date'), body: decodeBody(raw) }));
  });
  return router;
}
