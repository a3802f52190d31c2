// The admin console for the association's IT team, under /admin. Administrators only
// (signed in with MFA like everyone); anyone else gets a 403 and an audit event.
// Every form is a plain POST that redirects back with a one-time message, or
// re-renders its page with the message next to the field (422).
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { actorOf, currentUser, requireSignedIn } from '../auth/guards.ts';
import { recordAudit } from '../audit/audit.ts';
import { HttpError } from '../http/errors.ts';
import { formField } from '../http/form.ts';
import { setFlash } from '../http/views.ts';
import { grantedApis, managersOf } from '../credentials/applications.ts';
import type { organisations } from '../../db/schema.ts';
import { createOrganisation, findOrganisation, listOrganisations, renameOrganisation } from './organisations.ts';
import { findUser, inviteAdmin, inviteUser, reissueInvitation, resetMfa, setUserDisabled } from './users.ts';
import { applicationsOf, createApplication, suggestApplicationName } from './applications.ts';
import { listApis } from './api-catalogue.ts';
import { freeApplicationName } from './names.ts';
import { showConfirmation } from '../http/confirm.ts';
import { disableUserConfirmation, resetMfaConfirmation, userHome } from './confirmations.ts';
import { deliveryNote as delivery } from '../mail/mailer.ts';
import { createConsole, type Errors } from './console.ts';
import { applicationRoutes } from './application-routes.ts';
import { oversightRoutes } from './oversight-routes.ts';
import { outboxRoutes } from './outbox-routes.ts';
import { healthRoutes } from './health-routes.ts';
import { renameFields, success, type DomainResult } from '../lib/result.ts';

export function adminRoutes(deps: Deps): Router {
  const { db, clock } = deps;
  const router = Router();

  // Guard: signed in with MFA, then administrator. A refusal is audited.
  const adminOnly = (req: Request, _res: Response, next: NextFunction) => {
    const user = currentUser(req);
    if (user?.isAdmin) return next();
    recordAudit(db, clock, actorOf(req), { action: 'admin.access_denied', organisationId: user?.organisationId ?? null, target: req.path.slice(0, 200), details: { method: req.method } });
    next(new HttpError(403, 'This page is for administrators only.'));
  };
  router.use('/admin', requireSignedIn(deps), adminOnly);

  const consoleHelpers = createConsole(deps);
  // "sent" only when an SMTP server takes mail.
  const invited = (email: string) => {
    const to = email.trim().toLowerCase();
    return deps.mailer.kind === 'smtp' ? `Invitation sent to ${to}.` : `Invitation for ${to} ${delivery(deps.mailer)}.`;
  };
  const { page, back, fail, loader, mailInvitation, usersView } = consoleHelpers;

  // ---- Organisations -------------------------------------------------------------

  const renderIndex = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) =>
    page(req, res, 'index', 'Administration', { organisations: listOrganisations(db, clock.now()), errors, values }, status);

  // GET /admin — organisations and the way to everything else.
  router.get('/admin', (req, res) => renderIndex(req, res));

  // POST /admin/organisations — create an organisation.
  router.post('/admin/organisations', (req, res) => {
    const values = { name: formField(req.body, 'name') ?? '', country: formField(req.body, 'country') ?? '' };
    const r = createOrganisation(db, clock, actorOf(req), { name: values.name, countryCode: values.country });
    if (fail(r)) return renderIndex(req, res, r.errors, values, r.status);
    back(req, res, `/admin/organisations/${r.value.id}`, `Organisation ${values.name.trim()} created.`);
  });

  const loadOrganisation = loader('orgId', 'organisation', (id) => findOrganisation(db, id), 'No such organisation.');

  const renderOrganisation = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) => {
    const org = res.locals.organisation as typeof organisations.$inferSelect;
    const apps = applicationsOf(db, org.id).map((a) => ({ ...a, managers: managersOf(db, a.id).filter((m) => m.disabledAt === null).length, apis: grantedApis(db, a.id).map((g) => g.code) }));
    const apiList = listApis(db);
    page(req, res, 'organisation', org.name, {
      org,
      users: usersView(org.id),
      apps,
      apis: apiList,
      // The convention's name, or the first free one after it: never a name that exists.
      suggestion: freeApplicationName(db, suggestApplicationName(org.countryCode, org.name, apiList[0]?.code ?? 'API')),
      errors,
      values,
    }, status);
  };

  // GET /admin/organisations/:orgId — users and applications of one organisation.
  router.get('/admin/organisations/:orgId', loadOrganisation, (req, res) => renderOrganisation(req, res));

  // POST /admin/organisations/:orgId/rename
  router.post('/admin/organisations/:orgId/rename', loadOrganisation, (req, res) => {
    const org = res.locals.organisation;
    const r = renameOrganisation(db, clock, actorOf(req), org.id, { name: formField(req.body, 'name') });
    if (fail(r)) return renderOrganisation(req, res, { rename: r.message }, { rename: formField(req.body, 'name') ?? '' }, 422);
    back(req, res, `/admin/organisations/${org.id}`, 'Organisation renamed.');
  });

  // POST /admin/organisations/:orgId/users — invite a user by email.
  router.post('/admin/organisations/:orgId/users', loadOrganisation, (req, res) => {
    const org = res.locals.organisation;
    const values = { email: formField(req.body, 'email') ?? '', name: formField(req.body, 'name') ?? '' };
    // The applications chosen on the form: the role is granted with the invitation.
    const raw = (req.body as Record<string, unknown>).manager_of;
    const managerOf = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String);
    const r = inviteUser(db, clock, actorOf(req), { organisationId: org.id, email: values.email, name: values.name, managerOf });
    if (fail(r)) return renderOrganisation(req, res, renameFields(r.errors, { organisation: 'name', 'manager-of': 'managerOf' }), { ...values, managerOf: managerOf.join(' ') }, r.status);
    mailInvitation(r.value.userId, r.value.token, 'invite', actorOf(req));
    back(req, res, `/admin/organisations/${org.id}`, invited(values.email));
  });

  // POST /admin/organisations/:orgId/applications — create an application.
  router.post('/admin/organisations/:orgId/applications', loadOrganisation, (req, res) => {
    const org = res.locals.organisation;
    const body = req.body as Record<string, unknown>;
    const raw = body.api;
    const apiCodes = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    const values = { appName: formField(req.body, 'name') ?? '' };
    const r = createApplication(db, clock, actorOf(req), { organisationId: org.id, name: values.appName, apiCodes, sandboxOnly: formField(req.body, 'sandbox_only') === 'on' });
    if (fail(r)) return renderOrganisation(req, res, renameFields(r.errors, { name: 'appName', organisation: 'api' }), values, r.status);
    back(req, res, `/admin/applications/${r.value.id}`, `Application created. Client ID: ${r.value.clientId}`);
  });

  // ---- Users -------------------------------------------------------------------

  const loadUser = loader('userId', 'target', (id) => findUser(db, id), 'No such user.');

  const userAction = (path: string, act: (req: Request, user: NonNullable<ReturnType<typeof findUser>>) => DomainResult<string>) =>
    router.post(`/admin/users/:userId/${path}`, loadUser, (req, res) => {
      const user = res.locals.target;
      const r = act(req, user);
      if (!r.ok) {
        setFlash(req, r.message);
        return res.redirect(303, userHome(user));
      }
      back(req, res, userHome(user), r.value);
    });

  // GET …/disable and …/reset-mfa — the confirmations (a dialog, or a page without JavaScript).
  router.get('/admin/users/:userId/disable', loadUser, (req, res) => showConfirmation(deps, req, res, 'admin', disableUserConfirmation(db, res.locals.target)));
  router.get('/admin/users/:userId/reset-mfa', loadUser, (req, res) => showConfirmation(deps, req, res, 'admin', resetMfaConfirmation(db, res.locals.target, deps.mailer.kind)));

  userAction('resend', (req, user) => {
    const r = reissueInvitation(db, clock, actorOf(req), user.id);
    if (fail(r)) return r;
    mailInvitation(user.id, r.value.token, 'resend', actorOf(req));
    return success(`A new setup link for ${user.email} was ${delivery(deps.mailer)}; any earlier link no longer works.`);
  });
  userAction('disable', (req, user) => {
    if (user.disabledAt !== null) return success(`${user.email} was already disabled.`);
    const r = setUserDisabled(db, clock, actorOf(req), user.id, true);
    return fail(r) ? r : success(`${user.email} is disabled and signed out everywhere.`);
  });
  userAction('enable', (req, user) => {
    const r = setUserDisabled(db, clock, actorOf(req), user.id, false);
    return fail(r) ? r : success(`${user.email} is enabled.`);
  });
  userAction('reset-mfa', (req, user) => {
    const r = resetMfa(db, clock, actorOf(req), user.id);
    if (fail(r)) return r;
    mailInvitation(user.id, r.value.token, 'reset', actorOf(req));
    return success(`Two-step verification of ${user.email} was reset; the new setup link was ${delivery(deps.mailer)}.`);
  });

  // GET /admin/administrators — the association's administrators.
  const renderAdmins = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) => {
    page(req, res, 'administrators', 'Administrators', { users: usersView(null), errors, values }, status);
  };
  router.get('/admin/administrators', (req, res) => renderAdmins(req, res));
  router.post('/admin/administrators', (req, res) => {
    const values = { email: formField(req.body, 'email') ?? '', name: formField(req.body, 'name') ?? '' };
    const r = inviteAdmin(db, clock, actorOf(req), values);
    if (fail(r)) return renderAdmins(req, res, r.errors, values, r.status);
    mailInvitation(r.value.userId, r.value.token, 'invite', actorOf(req));
    back(req, res, '/admin/administrators', invited(values.email));
  });

  router.use(applicationRoutes(deps, consoleHelpers));
  router.use(oversightRoutes(deps, consoleHelpers));
  router.use(healthRoutes(deps, consoleHelpers));
  router.use(outboxRoutes(deps));
  return router;
}
