// The Federated credentials section of the Manage API credentials page (issue 29): add
// (a dialog with the presets, or a page without JavaScript whose preset links pre-fill it
// by query string), delete with confirmation, "Reviewed", and the how-to, like keys.
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { and, eq, isNull } from 'drizzle-orm';
import type { Deps } from '../deps.ts';
import { federatedCredentials } from '../../db/schema.ts';
import { actorOf } from '../auth/guards.ts';
import { recordAudit } from '../audit/audit.ts';
import { HttpError } from '../http/errors.ts';
import { formField } from '../http/form.ts';
import { isHtmx, redirectTo } from '../http/htmx.ts';
import { sendHtml, setFlash } from '../http/views.ts';
import { ensureCsrfToken } from '../http/security.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { formatDate } from '../lib/dates.ts';
import type { Application } from './applications.ts';
import { addFederatedCredential, deleteFederatedCredential, reviewFederatedCredential, type FederatedCredential } from './federated.ts';
import { federatedDeleteModel, federatedFormModel, type FederatedValues } from './federated-views.ts';
import { deleteEvidence } from './usage-views.ts';
import { showDialog, showPart } from './dialog.ts';
import { applicationPath, applicationView, applicationViews, keyHelpModel } from './view-models.ts';

export const FEDERATED_DELETED = 'The federated credential was deleted. The workload that used it can no longer get tokens.';
const APP = applicationPath(':clientId');
const dialogApp = (app: Application) => ({ name: app.name, clientId: app.clientId, base: applicationPath(app.clientId) });

export function federatedRoutes(deps: Deps, signedIn: RequestHandler, loadApplication: RequestHandler): Router {
  const { db, clock, views } = deps;
  const router = Router();

  const loadFederated = (req: Request, res: Response, next: NextFunction) => {
    const app = res.locals.application as Application;
    const id = String(req.params.federatedId ?? '');
    const row = /^[0-9a-f-]{36}$/.test(id) ? db.select().from(federatedCredentials).where(and(eq(federatedCredentials.id, id), eq(federatedCredentials.applicationId, app.id), isNull(federatedCredentials.deletedAt))).get() : undefined;
    if (!row) {
      recordAudit(db, clock, actorOf(req), { action: 'access.denied', organisationId: app.organisationId, applicationId: app.id, target: id.slice(0, 100), details: { method: req.method, path: req.path.slice(0, 200) } });
      return next(new HttpError(404, 'This federated credential does not exist, or it was already deleted.'));
    }
    res.locals.federated = row;
    next();
  };

  const formDialog = (req: Request, res: Response, app: Application, values: Partial<FederatedValues>, errors = {}, status = 200) =>
    showDialog(deps, req, res, 'Add a federated credential', '/partials/credentials/federated-form', federatedFormModel(deps, dialogApp(app), values, errors), status);

  // GET …/federated/new[?preset=github] — the dialog (or page); a preset fills the issuer.
  router.get(`${APP}/federated/new`, signedIn, loadApplication, (req, res) => {
    formDialog(req, res, res.locals.application, { preset: typeof req.query.preset === 'string' ? req.query.preset : '' });
  });

  // POST …/federated — add, after fetching the issuer's discovery document and keys once.
  router.post(`${APP}/federated`, signedIn, loadApplication, async (req, res) => {
    const app = res.locals.application as Application;
    const values = { preset: formField(req.body, 'preset') ?? '', name: formField(req.body, 'name') ?? '', issuer: formField(req.body, 'issuer') ?? '', subject: formField(req.body, 'subject') ?? '', audience: formField(req.body, 'audience') ?? '' };
    const r = await addFederatedCredential(deps, actorOf(req), app, values);
    if (!r.ok) {
      const errors = Object.keys(r.errors).length ? r.errors : { name: r.message };
      return formDialog(req, res, app, { ...values, name: values.name.slice(0, 100), issuer: values.issuer.slice(0, 500), subject: values.subject.slice(0, 500), audience: values.audience.slice(0, 500) }, errors, r.status);
    }
    const { row, keys } = r.value;
    if (!isHtmx(req)) {
      setFlash(req, `Federated credential “${row.name}” added: review it by ${formatDate(row.reviewOn)}.`);
      return redirectTo(req, res, `${CREDENTIALS_PAGE}#app-${app.clientId}`);
    }
    showDialog(deps, req, res, 'Federated credential added', '/partials/credentials/federated-added', { app: applicationView(deps, app), federated: row, keys, review: formatDate(row.reviewOn), oob: true }, 201);
  });

  // GET …/federated/:id/delete — the confirmation dialog (or page), Cancel focused.
  router.get(`${APP}/federated/:federatedId/delete`, signedIn, loadApplication, loadFederated, (req, res) => {
    const app = res.locals.application as Application;
    const row = res.locals.federated as FederatedCredential;
    const item = applicationViews(deps, [app], { last24h: true })[0]?.federated.find((f) => f.id === row.id);
    const evidence = item ? deleteEvidence(deps, app.id, item.usage, clock.now()) : null;
    showDialog(deps, req, res, 'Delete federated credential', '/partials/credentials/federated-delete-form', federatedDeleteModel(dialogApp(app), row, evidence, clock.now()));
  });

  // POST …/federated/:id/delete — at once: the next exchange with it is refused.
  router.post(`${APP}/federated/:federatedId/delete`, signedIn, loadApplication, loadFederated, (req, res) => {
    const app = res.locals.application as Application;
    deleteFederatedCredential(deps, actorOf(req), app, { id: res.locals.federated.id });
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-deleted': { clientId: app.clientId, message: FEDERATED_DELETED } }));
      return sendHtml(res.set('Cache-Control', 'no-store'), views.render('/partials/credentials/federated-deleted', { app: applicationView(deps, app), csrfToken: ensureCsrfToken(req) }));
    }
    setFlash(req, FEDERATED_DELETED);
    redirectTo(req, res, `${CREDENTIALS_PAGE}#app-${app.clientId}`);
  });

  // POST …/federated/:id/review — "Reviewed": the review date a year from today.
  router.post(`${APP}/federated/:federatedId/review`, signedIn, loadApplication, loadFederated, (req, res) => {
    const app = res.locals.application as Application;
    const row = reviewFederatedCredential(deps, actorOf(req), app, res.locals.federated.id);
    setFlash(req, row ? `Reviewed “${row.name}”: the next review is due by ${formatDate(row.reviewOn)}.` : 'This federated credential was deleted meanwhile.');
    redirectTo(req, res, `${CREDENTIALS_PAGE}#app-${app.clientId}`);
  });

  // GET …/federated-help — the GitHub Actions workflow and the Kubernetes example, with the
  // application's values: loaded when opened, or a page of its own.
  router.get(`${APP}/federated-help`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const model = keyHelpModel(deps, app);
    showPart(deps, req, res, `Federated credentials for ${app.name}`, '/partials/credentials/federated-help', '/partials/credentials/federated-help-page', { app: { ...model.app, audience: deps.config.baseUrl } });
  });

  return router;
}
