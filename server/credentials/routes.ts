// The Manage API credentials page: the applications a credential manager manages,
// their secrets, and the create / delete dialogs (htmx fragments, or whole pages
// without JavaScript). Every route loads the application through the user's role.
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { actorOf, currentUser, requireSignedIn, type SessionUser } from '../auth/guards.ts';
import { recordAudit } from '../audit/audit.ts';
import { HttpError } from '../http/errors.ts';
import { formField } from '../http/form.ts';
import { isHtmx, redirectTo } from '../http/htmx.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { ensureCsrfToken } from '../http/security.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { createClientSecret, deleteClientSecret, liveSecret } from './secrets.ts';
import { ShownOnce } from './shown-once.ts';
import { KEY_DELETED, keyRoutes } from './key-routes.ts';
import { rollRoutes } from './roll-routes.ts';
import { federatedRoutes } from './federated-routes.ts';
import { holdsManagerRole, managedApplication, managedApplications, type Application } from './applications.ts';
import { showDialog, showPart } from './dialog.ts';
import { applicationEvents, applicationPath, applicationRefusals, applicationView, applicationViews, keyHelpModel, pageModel, secretCreatedModel, secretDeleteModel, secretFormModel } from './view-models.ts';

const APP = applicationPath(':clientId');

export function credentialRoutes(deps: Deps): Router {
  const { db, clock, config, views } = deps;
  const router = Router();
  const shownOnce = new ShownOnce();
  const signedIn = requireSignedIn(deps);

  // Loads the application named in the URL through the user's role. Anything else —
  // another organisation's, another application's, a disabled one — is a 404, audited.
  const loadApplication = (req: Request, res: Response, next: NextFunction) => {
    const user = currentUser(req)!;
    const clientId = String(req.params.clientId ?? '');
    const app = managedApplication(db, user, clientId);
    if (!app) {
      recordAudit(db, clock, actorOf(req), { action: 'access.denied', organisationId: user.organisationId, target: clientId.slice(0, 100), details: { method: req.method, path: req.path.slice(0, 200) } });
      deps.logger.warn('access to an application refused', { userId: user.id, method: req.method });
      return next(new HttpError(404, 'There is no such application among the ones you manage.'));
    }
    res.locals.application = app;
    next();
  };

  const loadSecret = (req: Request, res: Response, next: NextFunction) => {
    const app = res.locals.application as Application;
    const secretId = String(req.params.secretId ?? '');
    const secret = /^[0-9a-f-]{36}$/.test(secretId) ? liveSecret(db, app.id, secretId) : null;
    if (!secret) {
      recordAudit(db, clock, actorOf(req), { action: 'access.denied', organisationId: app.organisationId, applicationId: app.id, target: secretId.slice(0, 100), details: { method: req.method, path: req.path.slice(0, 200) } });
      return next(new HttpError(404, 'This secret does not exist, or it was already deleted.'));
    }
    res.locals.secret = secret;
    next();
  };

  const requireRole = (req: Request, res: Response, next: NextFunction) => {
    const user = currentUser(req)!;
    if (holdsManagerRole(db, user.id) && user.organisationId !== null) return next();
    recordAudit(db, clock, actorOf(req), { action: 'access.denied', organisationId: user.organisationId, target: CREDENTIALS_PAGE });
    res.set('Cache-Control', 'no-store');
    sendHtml(res, views.render('/pages/credentials/forbidden', { ...layoutModel(req, config, 'Manage API credentials', 'credentials') }), 403);
  };

  // GET /manage-api-credentials — the page (first: the path most asked for).
  router.get(CREDENTIALS_PAGE, signedIn, requireRole, (req, res) => {
    const user = currentUser(req) as SessionUser;
    // no-store: the page may be showing a secret in its dialog; never keep it in any cache.
    res.set('Cache-Control', 'no-store');
    sendHtml(
      res,
      views.render('/pages/credentials/index', {
        ...layoutModel(req, config, 'Manage API credentials', 'credentials'),
        ...pageModel(deps, managedApplications(db, user)),
        notice: req.query.deleted === '1' ? 'The secret was deleted. Systems that used it can no longer get tokens.' : req.query.deleted === 'key' ? KEY_DELETED : '',
      }),
    );
  });

  router.use(keyRoutes(deps, signedIn, loadApplication));
  router.use(federatedRoutes(deps, signedIn, loadApplication));
  router.use(rollRoutes(deps, shownOnce, signedIn, loadApplication, loadSecret));

  // GET /manage-clients — the old address.
  router.get('/manage-clients', (_req, res) => res.redirect(301, CREDENTIALS_PAGE));

  const createDialog = (req: Request, res: Response, model: ReturnType<typeof secretFormModel>, status = 200) =>
    showDialog(deps, req, res, 'Create new secret', '/partials/credentials/create-form', model, status);

  // GET …/applications/:clientId — one application in full: opened from the list of a
  // manager of many applications (htmx), or as a page of its own.
  router.get(APP, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const [view] = applicationViews(deps, [app]);
    res.set('Cache-Control', 'no-store');
    if (isHtmx(req)) return sendHtml(res, views.render('/partials/credentials/application', { app: view, csrfToken: ensureCsrfToken(req), embedded: true }));
    sendHtml(res, views.render('/pages/credentials/application', { ...layoutModel(req, config, app.name, 'credentials'), app: view, credentialsPage: CREDENTIALS_PAGE }));
  });

  // GET …/applications/:clientId/events — the last 20 events, loaded when a manager opens
  // "Recent activity" (htmx), or as a page of their own (without JavaScript).
  router.get(`${APP}/events`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const model = { app: { name: app.name }, events: applicationEvents(deps, app), refusals: applicationRefusals(deps, app) };
    showPart(deps, req, res, `Recent activity of ${app.name}`, '/partials/credentials/events-list', '/partials/credentials/events-page', model);
  });

  // GET …/applications/:clientId/key-help — how to make a key pair and sign an assertion,
  // with the application's values filled in: loaded when opened, or a page of its own.
  router.get(`${APP}/key-help`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    showPart(deps, req, res, `Keys and assertions for ${app.name}`, '/partials/credentials/key-help', '/partials/credentials/key-help-page', keyHelpModel(deps, app));
  });

  // GET …/applications/:clientId/secrets/new — the Create new secret dialog (or page).
  router.get(`${APP}/secrets/new`, signedIn, loadApplication, (req, res) => {
    createDialog(req, res, secretFormModel(deps, res.locals.application, { name: '', expires: '' }));
  });

  // POST …/applications/:clientId/secrets — create; the secret is in this response only.
  router.post(`${APP}/secrets`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const input = { name: formField(req.body, 'name'), expires: formField(req.body, 'expires') };
    const result = createClientSecret(deps, actorOf(req), app, input);
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    if (!result.ok) {
      const model = secretFormModel(deps, app, { name: input.name ?? '', expires: input.expires ?? '' }, result.errors);
      if (result.status === 409) model.capMessage = result.message;
      return createDialog(req, res, model, result.status);
    }
    const { row, secret } = result.value;
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-created': { clientId: app.clientId } }));
      return sendHtml(res, views.render('/partials/credentials/secret-created', secretCreatedModel(deps, app, row, secret, true)), 201);
    }
    // Without JavaScript: Post/Redirect/Get, so a refresh never posts again.
    shownOnce.hold(row.id, req.sessionID, secret, clock.now());
    redirectTo(req, res, `${applicationPath(app.clientId)}/secrets/${row.id}/created`);
  });

  // GET …/secrets/:secretId/created — shows the new secret once (no-store); afterwards,
  // and on a refresh, only its hint.
  router.get(`${APP}/secrets/:secretId/created`, signedIn, loadApplication, loadSecret, (req, res) => {
    const app = res.locals.application as Application;
    const secret = shownOnce.take(res.locals.secret.id, req.sessionID, clock.now());
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    const title = secret ? 'Your new client secret' : 'Client secret';
    sendHtml(res, views.render('/pages/credentials/created', { ...layoutModel(req, config, title, 'credentials'), ...secretCreatedModel(deps, app, res.locals.secret, secret, false) }));
  });

  // GET …/secrets/:secretId/delete — the confirmation dialog (or page).
  router.get(`${APP}/secrets/:secretId/delete`, signedIn, loadApplication, loadSecret, (req, res) => {
    showDialog(deps, req, res, 'Delete secret', '/partials/credentials/delete-form', secretDeleteModel(deps, res.locals.application, res.locals.secret));
  });

  // POST …/secrets/:secretId/delete — delete at once; the row disappears.
  router.post(`${APP}/secrets/:secretId/delete`, signedIn, loadApplication, loadSecret, (req, res) => {
    const app = res.locals.application as Application;
    deleteClientSecret(deps, actorOf(req), app, res.locals.secret.id);
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-deleted': { clientId: app.clientId } }));
      return sendHtml(res, views.render('/partials/credentials/deleted', { app: applicationView(deps, app), csrfToken: ensureCsrfToken(req) }));
    }
    redirectTo(req, res, `${CREDENTIALS_PAGE}?deleted=1#app-${app.clientId}`);
  });

  return router;
}
