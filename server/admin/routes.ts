// The admin console for the association's IT team, under /admin. Administrators only
// (signed in with MFA like everyone); anyone else gets a 403 and an audit event.
// Every form is a plain POST that redirects back with a one-time message, or
// re-renders its page with the message next to the field (422).
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { currentUser, requireSignedIn } from '../auth/guards.ts';
import { actorOf } from '../auth/routes.ts';
import { recordAudit } from '../audit/audit.ts';
import { auditCsv, parseAuditFilter, queryAudit, PAGE_SIZE } from '../audit/query.ts';
import { HttpError } from '../http/errors.ts';
import { formField } from '../http/form.ts';
import { layoutModel, sendHtml, setFlash } from '../http/views.ts';
import { dateInZone, formatDate, formatDateTime, relativeTime } from '../dates.ts';
import { parseId } from '../validation.ts';
import { deleteClientSecret, grantedApis, lastUsedLabel, secretStatus } from '../credentials/secrets.ts';
import { sendInvitationMail, type InvitationKind } from '../notifications/invitations.ts';
import { createOrganisation, findOrganisation, listOrganisations, renameOrganisation, type DomainResult } from './organisations.ts';
import { findUser, inviteAdmin, inviteUser, listUsers, reissueInvitation, resetMfa, setUserDisabled } from './users.ts';
import {
  applicationsOf,
  assignManager,
  createApplication,
  findApplication,
  grantApi,
  managersOfApplication,
  removeManager,
  revokeApi,
  setApplicationDisabled,
  setSandboxOnly,
  suggestApplicationName,
} from './applications.ts';
import { createApi, deleteApi, listApis } from './api-catalogue.ts';
import { listAllSecrets } from './secrets-overview.ts';
import { applications, clientSecrets, organisations } from '../../db/schema.ts';
import { and, eq, isNull } from 'drizzle-orm';

type Errors = Record<string, string>;

export function adminRoutes(deps: Deps): Router {
  const { db, clock, config, views, logger } = deps;
  const router = Router();

  // Guard: signed in with MFA, then administrator. A refusal is audited.
  const adminOnly = (req: Request, _res: Response, next: NextFunction) => {
    const user = currentUser(req);
    if (user?.isAdmin) return next();
    recordAudit(db, clock, actorOf(req), { action: 'admin.access_denied', organisationId: user?.organisationId ?? null, target: req.path.slice(0, 200), details: { method: req.method } });
    next(new HttpError(403, 'This page is for administrators only.'));
  };
  router.use('/admin', requireSignedIn(deps), adminOnly);

  const page = (req: Request, res: Response, template: string, title: string, model: object, status = 200) =>
    sendHtml(res, views.render(`/pages/admin/${template}`, { ...layoutModel(req, config, title, 'admin'), errors: {}, values: {}, ...model }), status);

  const back = (req: Request, res: Response, to: string, message: string) => {
    setFlash(req, message);
    res.redirect(303, to);
  };

  // Mails a setup link in the background; the page does not wait for SMTP.
  const mailInvitation = (user: { email: string; displayName: string }, token: string, kind: InvitationKind) => {
    sendInvitationMail(deps, user, token, kind).catch((err: unknown) =>
      logger.error('invitation mail failed', { error: String((err as Error)?.message ?? err) }),
    );
  };

  const fail = <T>(r: DomainResult<T>): r is Extract<DomainResult<T>, { ok: false }> => !r.ok;

  // ---- Organisations -------------------------------------------------------------

  const renderIndex = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) =>
    page(req, res, 'index', 'Administration', { organisations: listOrganisations(db, clock.now()), errors, values }, status);

  // GET /admin — organisations and the way to everything else.
  router.get('/admin', (req, res) => renderIndex(req, res));

  // POST /admin/organisations — create an organisation.
  router.post('/admin/organisations', (req, res) => {
    const values = { name: formField(req.body, 'name') ?? '', country: formField(req.body, 'country') ?? '' };
    const r = createOrganisation(db, clock, actorOf(req), { name: values.name, countryCode: values.country });
    if (fail(r)) return renderIndex(req, res, { [r.field]: r.message }, values, 422);
    back(req, res, `/admin/organisations/${r.value.id}`, `Organisation ${values.name.trim()} created.`);
  });

  // Loads the row named by a numeric URL parameter into res.locals, or answers 404.
  const loader =
    <T>(param: string, local: string, find: (id: number) => T | undefined, missing: string) =>
    (req: Request, res: Response, next: NextFunction) => {
      const id = parseId(req.params[param]);
      const row = id === null ? undefined : find(id);
      if (!row) return next(new HttpError(404, missing));
      res.locals[local] = row;
      next();
    };

  // Users of an organisation (or the administrators) with how long ago they last signed in.
  const usersView = (organisationId: number | null) => {
    const now = clock.now();
    return listUsers(db, organisationId).map((u) => ({ ...u, lastSignIn: u.lastSignInAt ? relativeTime(u.lastSignInAt, now) : 'never' }));
  };

  const loadOrganisation = loader('orgId', 'organisation', (id) => findOrganisation(db, id), 'No such organisation.');

  const renderOrganisation = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) => {
    const org = res.locals.organisation as typeof organisations.$inferSelect;
    const apps = applicationsOf(db, org.id).map((a) => ({ ...a, managers: managersOfApplication(db, a.id).filter((m) => m.disabledAt === null).length, apis: grantedApis(db, a.id).map((g) => g.code) }));
    const apiList = listApis(db);
    page(req, res, 'organisation', org.name, {
      org,
      users: usersView(org.id),
      apps,
      apis: apiList,
      suggestion: suggestApplicationName(org.countryCode, org.name, apiList[0]?.code ?? 'API'),
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
    const r = inviteUser(db, clock, actorOf(req), { organisationId: org.id, email: values.email, name: values.name, managerOf: [] });
    if (fail(r)) return renderOrganisation(req, res, { [r.field === 'email' ? 'email' : 'name']: r.message }, values, r.status ?? 422);
    mailInvitation(findUser(db, r.value.userId)!, r.value.token, 'invite');
    back(req, res, `/admin/organisations/${org.id}`, `Invitation sent to ${values.email.trim().toLowerCase()}.`);
  });

  // POST /admin/organisations/:orgId/applications — create an application.
  router.post('/admin/organisations/:orgId/applications', loadOrganisation, (req, res) => {
    const org = res.locals.organisation;
    const body = req.body as Record<string, unknown>;
    const raw = body.api;
    const apiCodes = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    const values = { appName: formField(req.body, 'name') ?? '' };
    const r = createApplication(db, clock, actorOf(req), { organisationId: org.id, name: values.appName, apiCodes, sandboxOnly: formField(req.body, 'sandbox_only') === 'on' });
    if (fail(r)) return renderOrganisation(req, res, { [r.field === 'name' ? 'appName' : 'api']: r.message }, values, 422);
    back(req, res, `/admin/applications/${r.value.id}`, `Application created. Client ID: ${r.value.clientId}`);
  });

  // ---- Users -------------------------------------------------------------------

  const loadUser = loader('userId', 'target', (id) => findUser(db, id), 'No such user.');
  const userHome = (u: { organisationId: number | null }) => (u.organisationId === null ? '/admin/administrators' : `/admin/organisations/${u.organisationId}`);

  const userAction = (path: string, act: (req: Request, user: NonNullable<ReturnType<typeof findUser>>) => { ok: boolean; message: string }) =>
    router.post(`/admin/users/:userId/${path}`, loadUser, (req, res) => {
      const user = res.locals.target;
      const r = act(req, user);
      if (!r.ok) {
        setFlash(req, r.message);
        return res.redirect(303, userHome(user));
      }
      back(req, res, userHome(user), r.message);
    });

  userAction('resend', (req, user) => {
    const r = reissueInvitation(db, clock, actorOf(req), user.id);
    if (fail(r)) return { ok: false, message: r.message };
    mailInvitation(user, r.value.token, 'resend');
    return { ok: true, message: `A new setup link was sent to ${user.email}; the old one no longer works.` };
  });
  userAction('disable', (req, user) => {
    const r = setUserDisabled(db, clock, actorOf(req), user.id, true);
    return fail(r) ? { ok: false, message: r.message } : { ok: true, message: `${user.email} is disabled and signed out everywhere.` };
  });
  userAction('enable', (req, user) => {
    const r = setUserDisabled(db, clock, actorOf(req), user.id, false);
    return fail(r) ? { ok: false, message: r.message } : { ok: true, message: `${user.email} is enabled.` };
  });
  userAction('reset-mfa', (req, user) => {
    const r = resetMfa(db, clock, actorOf(req), user.id);
    if (fail(r)) return { ok: false, message: r.message };
    mailInvitation(user, r.value.token, 'reset');
    return { ok: true, message: `Two-step verification of ${user.email} was reset; a new setup link was mailed.` };
  });

  // GET /admin/administrators — the association's administrators.
  const renderAdmins = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) => {
    page(req, res, 'administrators', 'Administrators', { users: usersView(null), errors, values }, status);
  };
  router.get('/admin/administrators', (req, res) => renderAdmins(req, res));
  router.post('/admin/administrators', (req, res) => {
    const values = { email: formField(req.body, 'email') ?? '', name: formField(req.body, 'name') ?? '' };
    const r = inviteAdmin(db, clock, actorOf(req), values);
    if (fail(r)) return renderAdmins(req, res, { [r.field]: r.message }, values, r.status ?? 422);
    mailInvitation(findUser(db, r.value.userId)!, r.value.token, 'invite');
    back(req, res, '/admin/administrators', `Invitation sent to ${values.email.trim().toLowerCase()}.`);
  });

  // ---- Applications -------------------------------------------------------------

  const loadApplication = loader('appId', 'app', (id) => findApplication(db, id), 'No such application.');

  const renderApplication = (req: Request, res: Response, errors: Errors = {}, status = 200) => {
    const app = res.locals.app as typeof applications.$inferSelect;
    const org = findOrganisation(db, app.organisationId)!;
    const managers = managersOfApplication(db, app.id);
    const granted = grantedApis(db, app.id);
    const now = clock.now();
    const secrets = db.select().from(clientSecrets).where(and(eq(clientSecrets.applicationId, app.id), isNull(clientSecrets.deletedAt))).all();
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
      if (typeof r !== 'string' && fail(r)) return renderApplication(req, res, { [r.field]: r.message }, r.status ?? 422);
      back(req, res, `/admin/applications/${app.id}`, typeof r === 'string' ? r : 'Saved.');
    });

  appAction('grants', (req, app) => grantApi(db, clock, actorOf(req), app, formField(req.body, 'api')));
  appAction('grants/:code/revoke', (req, app) => revokeApi(db, clock, actorOf(req), app, String(req.params.code)));
  appAction('sandbox-only', (req, app) => {
    const on = formField(req.body, 'sandbox_only') === 'on';
    setSandboxOnly(db, clock, actorOf(req), app, on);
    return on ? 'The application is now sandbox only.' : 'The application may now use production.';
  });
  appAction('disable', (req, app) => {
    setApplicationDisabled(db, clock, actorOf(req), app, true);
    return 'Application disabled: its secrets no longer get tokens.';
  });
  appAction('enable', (req, app) => {
    setApplicationDisabled(db, clock, actorOf(req), app, false);
    return 'Application enabled.';
  });
  appAction('managers', (req, app) => assignManager(db, clock, actorOf(req), app, formField(req.body, 'user_id')));
  appAction('managers/:userId/remove', (req, app) => removeManager(db, clock, actorOf(req), app, parseId(req.params.userId) ?? 0));

  // ---- API catalogue -------------------------------------------------------------

  const renderApis = (req: Request, res: Response, errors: Errors = {}, values: Record<string, string> = {}, status = 200) =>
    page(req, res, 'apis', 'API catalogue', { apis: listApis(db), errors, values }, status);
  router.get('/admin/apis', (req, res) => renderApis(req, res));
  router.post('/admin/apis', (req, res) => {
    const values = { code: formField(req.body, 'code') ?? '', name: formField(req.body, 'name') ?? '', sandbox: formField(req.body, 'sandbox') ?? '', production: formField(req.body, 'production') ?? '' };
    const r = createApi(db, clock, actorOf(req), values);
    if (fail(r)) return renderApis(req, res, { [r.field]: r.message }, values, 422);
    back(req, res, '/admin/apis', `API ${r.value.code} added.`);
  });
  router.post('/admin/apis/:code/delete', (req, res) => {
    const r = deleteApi(db, clock, actorOf(req), String(req.params.code));
    if (fail(r)) return renderApis(req, res, { catalogue: r.message }, {}, r.status ?? 422);
    back(req, res, '/admin/apis', `API ${req.params.code} deleted.`);
  });

  // ---- Secrets overview ------------------------------------------------------------

  const renderSecrets = (req: Request, res: Response, errors: Errors = {}, status = 200) => {
    const within = typeof req.query.within === 'string' && /^\d{1,4}$/.test(req.query.within) ? Number(req.query.within) : null;
    const now = clock.now();
    const rows = listAllSecrets(db, now, within).map((r) => ({
      ...r,
      expires: formatDate(r.secret.expiresOn),
      status: secretStatus(r.secret, now, config.timezone),
      lastUsed: lastUsedLabel(r.secret.lastUsedAt, now),
    }));
    page(req, res, 'secrets', 'Client secrets', { rows, within: within ?? '', errors }, status);
  };
  router.get('/admin/secrets', (req, res) => renderSecrets(req, res));

  // POST /admin/secrets/:secretId/revoke — compromise response; the managers are told.
  router.post('/admin/secrets/:secretId/revoke', (req, res) => {
    const secretId = String(req.params.secretId);
    const row = db.select().from(clientSecrets).where(and(eq(clientSecrets.id, secretId), isNull(clientSecrets.deletedAt))).get();
    if (!row) throw new HttpError(404, 'No such secret, or it was already deleted.');
    const reason = (formField(req.body, 'reason') ?? '').trim();
    if (reason.length < 3 || reason.length > 500 || /[\u0000-\u001f\u007f]/.test(reason)) {
      return renderSecrets(req, res, { [secretId]: 'Give a reason (3 to 500 characters, one line).' }, 422);
    }
    const app = findApplication(db, row.applicationId)!;
    const deleted = deleteClientSecret(deps, actorOf(req), app, secretId, reason);
    if (deleted) deps.notify?.secretRevoked(app, deleted, actorOf(req), reason);
    back(req, res, '/admin/secrets', `Secret “${row.name}” of ${app.name} revoked; its credential managers were told.`);
  });

  // ---- Audit log -------------------------------------------------------------------

  router.get('/admin/audit', (req, res) => {
    const { filter, errors } = parseAuditFilter(req.query as Record<string, unknown>);
    const { total, rows } = queryAudit(db, filter, config.timezone);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ organisation: filter.organisationId ?? '', application: filter.applicationId ?? '', user: filter.user, action: filter.action, from: filter.from, to: filter.to })) {
      if (v !== '') params.set(k, String(v));
    }
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    page(req, res, 'audit', 'Audit log', {
      filter,
      errors,
      total,
      pages,
      query: params.toString(),
      organisations: db.select({ id: organisations.id, name: organisations.name }).from(organisations).orderBy(organisations.name).all(),
      applications: db.select({ id: applications.id, name: applications.name }).from(applications).orderBy(applications.name).all(),
      rows: rows.map((r) => ({ ...r.event, when: formatDateTime(r.event.at, config.timezone), iso: new Date(r.event.at).toISOString(), organisation: r.organisation ?? '', application: r.application ?? '' })),
    });
  });

  // GET /admin/audit.csv — the same filters, as CSV (formula injection neutralised).
  router.get('/admin/audit.csv', (req, res) => {
    const { filter } = parseAuditFilter(req.query as Record<string, unknown>);
    recordAudit(db, clock, actorOf(req), { action: 'audit.export', details: { ...filter } });
    res.set('Content-Type', 'text/csv; charset=utf-8');
    res.set('Content-Disposition', `attachment; filename="audit-${dateInZone(clock.now(), config.timezone)}.csv"`);
    res.set('Cache-Control', 'no-store');
    res.send(auditCsv(db, filter, config.timezone));
  });

  return router;
}
