// How the credentials page's dialogs and the parts it loads when opened are sent: with
// htmx as fragments; without JavaScript as a page of their own, one section under the link
// back to the page. Every model gets the page's address (credentialsPage) for its links.
import type { Request, Response } from 'express';
import type { Deps } from '../deps.ts';
import { isHtmx } from '../http/htmx.ts';
import { ensureCsrfToken } from '../http/security.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';

type ViewDeps = Pick<Deps, 'config' | 'views'>;

// A page of its own: the back link, then `body` (a partial) in one section.
export function sectionPage(deps: ViewDeps, req: Request, res: Response, title: string, body: string, model: object, status = 200): void {
  const page = { ...layoutModel(req, deps.config, title, 'credentials'), credentialsPage: CREDENTIALS_PAGE, ...model, body };
  sendHtml(res, deps.views.render('/pages/credentials/section', page), status);
}

// A dialog, never cached: with htmx the whole dialog, or its content alone when the dialog
// is open already (the target of its form: a re-render after a failed submit, the result);
// without JavaScript, a page.
export function showDialog(deps: ViewDeps, req: Request, res: Response, title: string, body: string, model: object, status = 200): void {
  res.set('Cache-Control', 'no-store');
  if (!isHtmx(req)) return sectionPage(deps, req, res, title, body, model, status);
  const template = req.get('HX-Target') === 'dialog-content' ? body : '/partials/dialog';
  sendHtml(res, deps.views.render(template, { csrfToken: ensureCsrfToken(req), credentialsPage: CREDENTIALS_PAGE, ...model, body }), status);
}

// A part loaded when a manager opens it (htmx), or a page of its own (`pageBody`).
export function showPart(deps: ViewDeps, req: Request, res: Response, title: string, part: string, pageBody: string, model: object): void {
  if (isHtmx(req)) return sendHtml(res, deps.views.render(part, model));
  sectionPage(deps, req, res, title, pageBody, model);
}
