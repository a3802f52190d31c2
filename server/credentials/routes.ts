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
import { formatDate } from '../dates.ts';
import type { FieldErrors } from '../result.ts';
import { activeSecretCount, capMessage, createClientSecret, deleteClientSecret, expiryRules, liveSecret, type ClientSecret } from './secrets.ts';
import { ShownOnce } from './shown-once.ts';
import { KEY_DELETED, keyRoutes } from './key-routes.ts';
import { holdsManagerRole, managedApplication, managedApplications, type Application } from './applications.ts';
import { applicationEvents, applicationSummaries, applicationView, applicationViews, COMPACT_AFTER, firstResource, lastUsedLabel, PAGE, usageOf } from './view.ts';

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
    recordAudit(db, clock, actorOf(req), { action: 'access.denied', organisationId: user.organisationId, target: PAGE });
    res.set('Cache-Control', 'no-store');
    sendHtml(res, views.render('/pages/credentials/forbidden', { ...layoutModel(req, config, 'Manage API credentials', 'credentials') }), 403);
  };

  router.use(keyRoutes(deps, signedIn, loadApplication));

  // GET /manage-clients — the old address.
  router.get('/manage-clients', (_req, res) => res.redirect(301, PAGE));

  // GET /manage-api-credentials — the page.
  router.get(PAGE, signedIn, requireRole, (req, res) => {
    const user = currentUser(req) as SessionUser;
    const managed = managedApplications(db, user);
    const compact = managed.length > COMPACT_AFTER;
    const apps = compact ? [] : applicationViews(deps, managed);
    const summaries = compact ? applicationSummaries(deps, managed) : [];
    // no-store: the page may be showing a secret in its dialog; never keep it in any cache.
    res.set('Cache-Control', 'no-store');
    sendHtml(
      res,
      views.render('/pages/credentials/index', {
        ...layoutModel(req, config, 'Manage API credentials', 'credentials'),
        apps,
        summaries,
        notice: req.query.deleted === '1' ? 'The secret was deleted. Systems that used it can no longer get tokens.' : req.query.deleted === 'key' ? KEY_DELETED : '',
      }),
    );
  });

  // The create dialog needs the application's name and address, the expiry rules and
  // whether the cap is reached: one count, not the whole application view.
  const formModel = (req: Request, app: Application, values: { name: string; expires: string }, errors: FieldErrors = {}) => {
    const rules = expiryRules(config, clock);
    const atCap = activeSecretCount(db, app.id, clock.now()) >= config.maxSecretsPerApplication;
    return {
      csrfToken: ensureCsrfToken(req),
      app: { name: app.name, clientId: app.clientId, base: `${PAGE}/applications/${app.clientId}` },
      rules,
      values: { name: values.name, expires: values.expires || rules.suggested },
      errors,
      capMessage: atCap ? capMessage(config) : '',
    };
  };

  const renderCreate = (req: Request, res: Response, model: ReturnType<typeof formModel>, status = 200) => {
    res.set('Cache-Control', 'no-store');
    if (isHtmx(req)) {
      const target = req.get('HX-Target');
      // First open: the whole dialog; a re-render after a failed submit: its content only.
      return sendHtml(res, views.render(target === 'dialog-content' ? '/partials/credentials/create-form' : '/partials/dialog', { ...model, body: '/partials/credentials/create-form' }), status);
    }
    sendHtml(res, views.render('/pages/credentials/create', { ...layoutModel(req, config, 'Create new secret', 'credentials'), ...model }), status);
  };

  const createdModel = (req: Request, app: Application, row: ClientSecret, secret: string | null) => ({
    csrfToken: ensureCsrfToken(req),
    app: applicationView(deps, app),
    secret,
    hint: row.hint,
    secretName: row.name,
    expires: formatDate(row.expiresOn),
  });

  // GET …/applications/:clientId — one application in full: opened from the list of a
  // manager of many applications (htmx), or as a page of its own.
  router.get(`${PAGE}/applications/:clientId`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const [view] = applicationViews(deps, [app]);
    res.set('Cache-Control', 'no-store');
    if (isHtmx(req)) return sendHtml(res, views.render('/partials/credentials/application', { app: view, csrfToken: ensureCsrfToken(req), embedded: true }));
    sendHtml(res, views.render('/pages/credentials/application', { ...layoutModel(req, config, app.name, 'credentials'), app: view }));
  });

  // GET …/applications/:clientId/events — the last 20 events, loaded when a manager opens
  // "Recent activity" (htmx), or as a page of their own (without JavaScript).
  router.get(`${PAGE}/applications/:clientId/events`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const events = applicationEvents(deps, app);
    if (isHtmx(req)) return sendHtml(res, views.render('/partials/credentials/events-list', { events }));
    sendHtml(res, views.render('/pages/credentials/key', { ...layoutModel(req, config, `Recent activity of ${app.name}`, 'credentials'), body: '/partials/credentials/events-page', app: { name: app.name }, events }));
  });

  // GET …/applications/:clientId/key-help — how to make a key pair and sign an assertion,
  // with the application's values filled in: loaded when opened, or a page of its own.
  router.get(`${PAGE}/applications/:clientId/key-help`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const model = { app: { name: app.name, clientId: app.clientId, usage: usageOf(config, app.clientId, [firstResource(db, app)]) } };
    if (isHtmx(req)) return sendHtml(res, views.render('/partials/credentials/key-help', model));
    sendHtml(res, views.render('/pages/credentials/key', { ...layoutModel(req, config, `Keys and assertions for ${app.name}`, 'credentials'), body: '/partials/credentials/key-help-page', ...model }));
  });

  // GET …/applications/:clientId/secrets/new — the Create new secret dialog (or page).
  router.get(`${PAGE}/applications/:clientId/secrets/new`, signedIn, loadApplication, (req, res) => {
    renderCreate(req, res, formModel(req, res.locals.application, { name: '', expires: '' }));
  });

  // POST …/applications/:clientId/secrets — create; the secret is in this response only.
  router.post(`${PAGE}/applications/:clientId/secrets`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const input = { name: formField(req.body, 'name'), expires: formField(req.body, 'expires') };
    const result = createClientSecret(deps, actorOf(req), app, input);
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    if (!result.ok) {
      const model = formModel(req, app, { name: input.name ?? '', expires: input.expires ?? '' }, result.errors);
      if (result.status === 409) model.capMessage = result.message;
      return renderCreate(req, res, model, result.status);
    }
    const { row, secret } = result.value;
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-created': { clientId: app.clientId } }));
      return sendHtml(res, views.render('/partials/credentials/secret-created', { ...createdModel(req, app, row, secret), oob: true }), 201);
    }
    // Without JavaScript: Post/Redirect/Get, so a refresh never posts again.
    shownOnce.hold(row.id, req.sessionID, secret, clock.now());
    redirectTo(req, res, `${PAGE}/applications/${app.clientId}/secrets/${row.id}/created`);
  });

  // GET …/secrets/:secretId/created — shows the new secret once (no-store); afterwards,
  // and on a refresh, only its hint.
  router.get(`${PAGE}/applications/:clientId/secrets/:secretId/created`, signedIn, loadApplication, loadSecret, (req, res) => {
    const app = res.locals.application as Application;
    const secret = shownOnce.take(res.locals.secret.id, req.sessionID, clock.now());
    res.set('Cache-Control', 'no-store');
    res.set('Pragma', 'no-cache');
    const title = secret ? 'Your new client secret' : 'Client secret';
    sendHtml(res, views.render('/pages/credentials/created', { ...layoutModel(req, config, title, 'credentials'), ...createdModel(req, app, res.locals.secret, secret), oob: false }));
  });

  // GET …/secrets/:secretId/delete — the confirmation dialog (or page).
  router.get(`${PAGE}/applications/:clientId/secrets/:secretId/delete`, signedIn, loadApplication, loadSecret, (req, res) => {
    const app = res.locals.application as Application;
    const secret = res.locals.secret as ClientSecret;
    const now = clock.now();
    const active = secret.expiresAt > now;
    const model = {
      csrfToken: ensureCsrfToken(req),
      app: { name: app.name, clientId: app.clientId, base: `${PAGE}/applications/${app.clientId}` },
      secret,
      lastUsed: lastUsedLabel(secret.lastUsedAt, now),
      lastActive: active && activeSecretCount(db, app.id, now) === 1,
    };
    if (isHtmx(req)) return sendHtml(res, views.render('/partials/dialog', { ...model, body: '/partials/credentials/delete-form' }));
    sendHtml(res, views.render('/pages/credentials/delete', { ...layoutModel(req, config, 'Delete secret', 'credentials'), ...model }));
  });

  // POST …/secrets/:secretId/delete — delete at once; the row disappears.
  router.post(`${PAGE}/applications/:clientId/secrets/:secretId/delete`, signedIn, loadApplication, loadSecret, (req, res) => {
    const app = res.locals.application as Application;
    deleteClientSecret(deps, actorOf(req), app, res.locals.secret.id);
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-deleted': { clientId: app.clientId } }));
      return sendHtml(res, views.render('/partials/credentials/deleted', { app: applicationView(deps, app), csrfToken: ensureCsrfToken(req) }));
    }
    redirectTo(req, res, `${PAGE}?deleted=1#app-${app.clientId}`);
  });

  return router;
}
