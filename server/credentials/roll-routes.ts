// "Roll" on a secret (issue 28, point 6): the dialog (or page) asking for the grace period,
// and the roll itself, whose new secret is shown once exactly as Create shows it (no-store;
// without JavaScript, Post/Redirect/Get to the page that shows it once).
import { Router, type RequestHandler, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { actorOf } from '../auth/guards.ts';
import { formField } from '../http/form.ts';
import { isHtmx, redirectTo } from '../http/htmx.ts';
import { sendHtml } from '../http/views.ts';
import { formatDate } from '../lib/dates.ts';
import type { FieldErrors } from '../lib/result.ts';
import type { Application } from './applications.ts';
import type { ClientSecret } from './secrets.ts';
import type { ShownOnce } from './shown-once.ts';
import { showDialog } from './dialog.ts';
import { GRACE_DAYS, rollClientSecret } from './roll.ts';
import { applicationPath, secretCreatedModel } from './view-models.ts';

const APP = applicationPath(':clientId');

export function rollRoutes(deps: Deps, shownOnce: ShownOnce, ...guards: RequestHandler[]): Router {
  const router = Router();
  const rollDialog = (req: Request, res: Response, secret: ClientSecret, values: { graceDays: string }, errors: FieldErrors = {}, refusal = '', status = 200) => {
    const app = res.locals.application as Application;
    const model = { app: { name: app.name, clientId: app.clientId, base: applicationPath(app.clientId) }, secret, grace: GRACE_DAYS, values, errors, refusal, expires: formatDate(secret.expiresOn) };
    showDialog(deps, req, res, 'Roll secret', '/partials/credentials/roll-form', model, status);
  };

  // GET …/secrets/:secretId/roll — the dialog (or page).
  router.get(`${APP}/secrets/:secretId/roll`, ...guards, (req, res) => rollDialog(req, res, res.locals.secret, { graceDays: String(GRACE_DAYS.suggested) }));

  // POST …/secrets/:secretId/roll — the new secret, in this response only.
  router.post(`${APP}/secrets/:secretId/roll`, ...guards, (req, res) => {
    const app = res.locals.application as Application;
    const old = res.locals.secret as ClientSecret;
    const graceDays = formField(req.body, 'grace_days') ?? '';
    const result = rollClientSecret(deps, actorOf(req), app, old, { graceDays });
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    if (!result.ok) return rollDialog(req, res, old, { graceDays: String(graceDays) }, result.errors, result.status === 409 ? result.message : '', result.status);
    const { row, secret } = result.value;
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-created': { clientId: app.clientId } }));
      const rolled = `The old secret “${old.name}” keeps working until ${formatDate(result.value.old.expiresOn)}, then expires.`;
      return sendHtml(res, deps.views.render('/partials/credentials/secret-created', { ...secretCreatedModel(deps, app, row, secret, true), rolled }), 201);
    }
    shownOnce.hold(row.id, req.sessionID, secret, deps.clock.now());
    redirectTo(req, res, `${applicationPath(app.clientId)}/secrets/${row.id}/created`);
  });
  return router;
}
