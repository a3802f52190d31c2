// Admin console: one application (grants, sandbox-only, disable, credential managers,
// its secrets) and the API catalogue. Administrators only (guarded in routes.ts).
import { Router, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { actorOf } from '../auth/guards.ts';
import { formField } from '../http/form.ts';
import { formatDate } from '../lib/dates.ts';
import { parseId } from '../lib/validation.ts';
import type { DomainResult } from '../lib/result.ts';
import { grantedApis, managersOf } from '../credentials/applications.ts';
import { lastUsedLabel, secretStatus } from '../credentials/status.ts';
import type { applications } from '../../db/schema.ts';
import { findOrganisation } from './organisations.ts';
import { listUsers } from './users.ts';
import {
  assignManager,
  findApplication,
  grantApi,
  removeManager,
  revokeApi,
  setApplicationDisabled,
  setSandboxOnly,
} from './applications.ts';
import { createApi, deleteApi, listApis } from './api-catalogue.ts';
import { liveSecretsOf } from './secrets-overview.ts';
import type { Console, Errors } from './console.ts';
import { showConfirmation } from '../http/confirm.ts';
import { disableApplicationConfirmation } from './confirmations.ts';
import { sendApplicationStateNotice, sendRoleNotice } from './role-mail.ts';
import { deliveryNote as delivery } from '../mail/mailer.ts';

export function applicationRoutes(deps: Deps, { page, back, fail, loader }: Console): Router {
  const { db, clock, config } = deps;
  const router = Router();

  // ---- Applications -------------------------------------------------------------

  const loadApplication = loader('appId', 'app', (id) => findApplication(db, id), 'No such application.');

  const renderApplication = (req: Request, res: Response, errors: Errors = {}, status = 200) => {
    const app = res.locals.app as typeof applications.$inferSelect;
    const org = findOrganisation(db, app.organisationId)!;
    const managers = managersOf(db, app.id);
    const granted = grantedApis(db, app.id);
    const now = clock.now();
    const secrets = liveSecretsOf(db, app.id);
    page(req, res, 'application', app.name, {
      app,
      org,
      granted,
      grantable: listApis(db).filter((a) => !granted.some((g) => g.code === a.code)),
      managers,
      activeManagers: managers.filter((m) => m.disabledAt === null).length,
      candidates: listUsers(db, app.organisationId).filter((u) => !u.disabled && !managers.some((m) => m.id === u.id)),
      secrets: secrets.map((s) => ({
        ...s,
        expires: formatDate(s.expiresOn),
        status: secretStatus(s, now, config.timezone),
        lastUsed: lastUsedLabel(s.lastUsedAt, now),
      })),
      errors,
    }, status);
  };

  // GET /admin/applications/:appId
  router.get('/admin/applications/:appId', loadApplication, (req, res) => renderApplication(req, res));

  const appAction = (path: string, act: (req: Request, app: typeof applications.$inferSelect) => DomainResult<unknown> | string) =>
    router.post(`/admin/applications/:appId/${path}`, loadApplication, (req, res) => {
      const app = res.locals.app;
      const r = act(req, app);
      if (typeof r !== 'string' && fail(r)) return renderApplication(req, res, r.errors, r.status);
      back(req, res, `/admin/applications/${app.id}`, typeof r === 'string' ? r : 'Saved.');
    });

  appAction('grants', (req, app) => grantApi(db, clock, actorOf(req), app, formField(req.body, 'api')));
  appAction('grants/:code/revoke', (req, app) => revokeApi(db, clock, actorOf(req), app, String(req.params.code)));
  appAction('sandbox-only', (req, app) => {
    const on = formField(req.body, 'sandbox_only') === 'on';
    setSandboxOnly(db, clock, actorOf(req), app, on);
    return on ? 'The application is now sandbox only.' : 'The application may now use production.';
  });
  const told = (n: number) => (n ? `The mail to its ${n === 1 ? 'credential manager' : `${n} credential managers`} was ${delivery(deps.mailer)}.` : 'It has no credential manager who can sign in to tell.');

  // GET …/disable — the confirmation (a dialog, or a page without JavaScript).
  router.get('/admin/applications/:appId/disable', loadApplication, (req, res) => {
    const app = res.locals.app as typeof applications.$inferSelect;
    showConfirmation(deps, req, res, 'admin', disableApplicationConfirmation(db, app));
  });
  appAction('disable', (req, app) => {
    if (app.disabledAt !== null) return 'The application was already disabled.';
    setApplicationDisabled(db, clock, actorOf(req), app, true);
    return `Application disabled: its secrets and keys no longer get tokens. ${told(sendApplicationStateNotice(deps, app, true, actorOf(req)))}`;
  });
  appAction('enable', (req, app) => {
    if (app.disabledAt === null) return 'The application was already enabled.';
    setApplicationDisabled(db, clock, actorOf(req), app, false);
    return `Application enabled. ${told(sendApplicationStateNotice(deps, app, false, actorOf(req)))}`;
  });
  appAction('managers', (req, app) => {
    const r = assignManager(db, clock, actorOf(req), app, formField(req.body, 'user_id'));
    if (r.ok && r.value.added) sendRoleNotice(deps, r.value.user.id, app, 'granted', actorOf(req));
    if (!r.ok) return r;
    return r.value.added ? `${r.value.user.email} is now a credential manager of ${app.name}; the mail telling them was ${delivery(deps.mailer)}.` : `${r.value.user.email} was already a credential manager of ${app.name}.`;
  });
  appAction('managers/:userId/remove', (req, app) => {
    const r = removeManager(db, clock, actorOf(req), app, parseId(req.params.userId) ?? 0);
    if (r.ok) sendRoleNotice(deps, r.value.user.id, app, 'revoked', actorOf(req));
    return r.ok ? `${r.value.user.email} is no longer a credential manager of ${app.name}; the mail telling them was ${delivery(deps.mailer)}.` : r;
  });

  // ---- API catalogue -------------------------------------------------------------

  const renderApis = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) =>
    page(req, res, 'apis', 'API catalogue', { apis: listApis(db), errors, values }, status);
  router.get('/admin/apis', (req, res) => renderApis(req, res));
  router.post('/admin/apis', (req, res) => {
    const values = { code: formField(req.body, 'code') ?? '', name: formField(req.body, 'name') ?? '', sandbox: formField(req.body, 'sandbox') ?? '', production: formField(req.body, 'production') ?? '' };
    const r = createApi(db, clock, actorOf(req), values);
    if (fail(r)) return renderApis(req, res, r.errors, values, r.status);
    back(req, res, '/admin/apis', `API ${r.value.code} added.`);
  });
  router.post('/admin/apis/:code/delete', (req, res) => {
    const r = deleteApi(db, clock, actorOf(req), String(req.params.code));
    if (fail(r)) return renderApis(req, res, { catalogue: r.message }, {}, r.status);
    back(req, res, '/admin/apis', `API ${req.params.code} deleted.`);
  });

  return router;
}
