// The Certificates & public keys section of the Manage API credentials page: add
// (dialog, or a page without JavaScript) and delete with confirmation, like secrets.
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { and, eq, isNull } from 'drizzle-orm';
import type { Deps } from '../deps.ts';
import { clientJwksUrls, clientKeys } from '../../db/schema.ts';
import { actorOf } from '../auth/guards.ts';
import { recordAudit } from '../audit/audit.ts';
import { HttpError } from '../http/errors.ts';
import { formField } from '../http/form.ts';
import { isHtmx, redirectTo } from '../http/htmx.ts';
import { sendHtml, setFlash } from '../http/views.ts';
import { ensureCsrfToken } from '../http/security.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { registerJwksUrl, removeJwksUrl } from './jwks-url.ts';
import type { Application } from './applications.ts';
import { addPublicKey, deletePublicKey } from './public-keys.ts';
import { sectionPage, showDialog } from './dialog.ts';
import { showConfirmation } from '../http/confirm.ts';
import { applicationPath, applicationView, keyAddedModel, keyDeleteModel, keyFormModel } from './view-models.ts';

export const KEY_DELETED = 'The key was deleted. Systems that sign with it can no longer get tokens.';
const APP = applicationPath(':clientId');

export function keyRoutes(deps: Deps, signedIn: RequestHandler, loadApplication: RequestHandler): Router {
  const { db, clock, views } = deps;
  const router = Router();

  const loadKey = (req: Request, res: Response, next: NextFunction) => {
    const app = res.locals.application as Application;
    const keyId = String(req.params.keyId ?? '');
    const key = /^[0-9a-f-]{36}$/.test(keyId) ? db.select().from(clientKeys).where(and(eq(clientKeys.id, keyId), eq(clientKeys.applicationId, app.id), isNull(clientKeys.deletedAt))).get() : undefined;
    if (!key) {
      recordAudit(db, clock, actorOf(req), { action: 'access.denied', organisationId: app.organisationId, applicationId: app.id, target: keyId.slice(0, 100), details: { method: req.method, path: req.path.slice(0, 200) } });
      return next(new HttpError(404, 'This key does not exist, or it was already deleted.'));
    }
    res.locals.key = key;
    next();
  };

  const keyDialog = (req: Request, res: Response, model: ReturnType<typeof keyFormModel>, status = 200) =>
    showDialog(deps, req, res, 'Add a certificate or public key', '/partials/credentials/key-form', model, status);

  // GET …/keys/new — the Add a certificate or public key dialog (or page).
  router.get(`${APP}/keys/new`, signedIn, loadApplication, (req, res) => {
    keyDialog(req, res, keyFormModel(deps, res.locals.application, {}));
  });

  // POST …/keys — add; a private key is refused and never stored or logged.
  router.post(`${APP}/keys`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const input = { name: formField(req.body, 'name'), key: formField(req.body, 'key'), expires: formField(req.body, 'expires') };
    const r = addPublicKey(deps, actorOf(req), app, input);
    if (!r.ok) {
      // The pasted text goes back into the form only when it is plainly a PEM public key or
      // certificate: never what was refused as a private key or a PKCS #12 file, never a
      // JWK or base64 (a private key can hide in either, escaped or encoded).
      const text = input.key ?? '';
      const refusedPrivate = /private key|PKCS #12/i.test(r.errors.key ?? '');
      const keep = !refusedPrivate && /^\s*-----BEGIN (CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY)-----/.test(text) && !/PRIVATE/.test(text) ? text.slice(0, 70_000) : '';
      return keyDialog(req, res, keyFormModel(deps, app, { name: input.name ?? '', key: keep, expires: input.expires ?? '' }, r.errors), r.status);
    }
    const { row, notice } = r.value;
    if (isHtmx(req)) res.set('HX-Trigger', JSON.stringify({ 'key-added': { clientId: app.clientId } }));
    showDialog(deps, req, res, 'Key added', '/partials/credentials/key-added', keyAddedModel(deps, app, row, notice, isHtmx(req)), 201);
  });

  // GET …/keys/:keyId/delete — the confirmation dialog (or page).
  router.get(`${APP}/keys/:keyId/delete`, signedIn, loadApplication, loadKey, (req, res) => {
    showDialog(deps, req, res, 'Delete key', '/partials/credentials/key-delete-form', keyDeleteModel(deps, res.locals.application, res.locals.key));
  });

  // POST …/keys/:keyId/delete — delete at once; the next token request with it is refused.
  router.post(`${APP}/keys/:keyId/delete`, signedIn, loadApplication, loadKey, (req, res) => {
    const app = res.locals.application as Application;
    deletePublicKey(deps, actorOf(req), app, { id: res.locals.key.id });
    if (isHtmx(req)) {
      res.set('HX-Trigger', JSON.stringify({ 'secret-deleted': { clientId: app.clientId, message: KEY_DELETED } }));
      return sendHtml(res, views.render('/partials/credentials/key-deleted', { app: applicationView(deps, app), csrfToken: ensureCsrfToken(req) }));
    }
    redirectTo(req, res, `${CREDENTIALS_PAGE}?deleted=key#app-${app.clientId}`);
  });

  // POST …/jwks-url — register (or replace) the JWKS URL, after fetching it once.
  router.post(`${APP}/jwks-url`, signedIn, loadApplication, async (req, res) => {
    const app = res.locals.application as Application;
    const typed = formField(req.body, 'jwks_url') ?? '';
    const r = await registerJwksUrl(deps, actorOf(req), app, typed);
    if (!r.ok) {
      // The form again, with the error at the field and the URL as typed: in place with
      // htmx, as a page of its own without JavaScript.
      const model = { app: applicationView(deps, app), jwksValue: typed.slice(0, 500), jwksError: r.errors.jwks_url ?? r.message };
      if (isHtmx(req)) return sendHtml(res.set('Cache-Control', 'no-store'), views.render('/partials/credentials/jwks-url', { ...model, csrfToken: ensureCsrfToken(req) }), r.status);
      return sectionPage(deps, req, res, `JWKS URL of ${app.name}`, '/partials/credentials/jwks-url', model, r.status);
    }
    setFlash(req, `JWKS URL registered: ${r.value.keys} key${r.value.keys === 1 ? '' : 's'} found.`);
    redirectTo(req, res, `${CREDENTIALS_PAGE}#app-${app.clientId}`);
  });

  // GET …/jwks-url/remove — the confirmation (a dialog, or a page without JavaScript).
  router.get(`${APP}/jwks-url/remove`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    const url = db.select({ url: clientJwksUrls.url }).from(clientJwksUrls).where(eq(clientJwksUrls.applicationId, app.id)).get()?.url;
    if (!url) throw new HttpError(404, 'There is no JWKS URL to remove.');
    const back = `${CREDENTIALS_PAGE}#app-${app.clientId}`;
    showConfirmation(deps, req, res, 'credentials', {
      title: `Remove the JWKS URL of ${app.name}?`,
      lead: `The registered JWKS URL is ${url}.`,
      stops: [
        `Systems of ${app.name} that sign with keys published there stop getting tokens at once: the portal no longer fetches or trusts those keys.`,
        'Client secrets and the keys added on this page keep working. To use the URL again, register it again.',
      ],
      action: `${applicationPath(app.clientId)}/jwks-url/remove`,
      button: 'Remove the JWKS URL',
      cancel: back,
      back: { href: CREDENTIALS_PAGE, label: 'Manage API credentials' },
    });
  });

  // POST …/jwks-url/remove
  router.post(`${APP}/jwks-url/remove`, signedIn, loadApplication, (req, res) => {
    const app = res.locals.application as Application;
    setFlash(req, removeJwksUrl(deps, actorOf(req), app) ? 'The JWKS URL was removed: its keys no longer get tokens.' : 'There was no JWKS URL.');
    redirectTo(req, res, `${CREDENTIALS_PAGE}#app-${app.clientId}`);
  });

  return router;
}
