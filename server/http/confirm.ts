// A confirmation before an action that stops something at once (disable an application or
// a user, reset MFA, remove a JWKS URL or a passkey), shown the way the secret's delete
// confirmation is: with htmx a <dialog> (portal.js opens it as a modal: focus inside, Escape
// closes it), without JavaScript a page of its own. It says what stops and for whom;
// Cancel has the focus; the action is a plain POST form, so it works the same both ways.
import type { Request, Response } from 'express';
import type { Deps } from '../deps.ts';
import { isHtmx } from './htmx.ts';
import { ensureCsrfToken } from './security.ts';
import { layoutModel, sendHtml } from './views.ts';

export interface Confirmation {
  title: string; // the question: "Disable the application Partner-NL-…?"
  lead?: string; // what and whose
  stops: string[]; // what stops, for whom (each a warning line)
  action: string; // where the form posts
  button: string; // the action's words, like the button that opened it
  cancel: string; // where Cancel goes (without JavaScript)
  back: { href: string; label: string }; // the page's back link (without JavaScript)
  // A partial with fields the action needs (the passkey's proof). Such a form posts with
  // htmx inside the dialog, so a refusal shows next to its field there (the content
  // alone, status 4xx) and success answers HX-Redirect (http/htmx.ts redirectTo).
  fields?: string;
}

export function showConfirmation(deps: Pick<Deps, 'config' | 'views'>, req: Request, res: Response, nav: string, confirm: Confirmation, model: object = {}, status = 200): void {
  res.set('Cache-Control', 'no-store');
  const body = '/partials/confirm';
  if (isHtmx(req)) {
    const template = req.get('HX-Target') === 'dialog-content' ? body : '/partials/dialog';
    return sendHtml(res, deps.views.render(template, { csrfToken: ensureCsrfToken(req), errors: {}, ...model, confirm, body }), status);
  }
  sendHtml(res, deps.views.render('/pages/confirm', { ...layoutModel(req, deps.config, confirm.title, nav), errors: {}, ...model, confirm, body }), status);
}
