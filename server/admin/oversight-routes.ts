// Admin console: oversight across organisations — every secret (with revoke, the
// compromise response) and the audit log with its CSV export.
import { Router, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { actorOf } from '../auth/guards.ts';
import { recordAudit } from '../audit/audit.ts';
import { actionsInLog, auditCsv, auditFilterOptions, COUNT_CAP, parseAuditFilter, queryAudit } from '../audit/query.ts';
import { actionChoices, actionLabel } from '../audit/actions.ts';
import { HttpError } from '../http/errors.ts';
import { formField } from '../http/form.ts';
import { dateInZone, formatDate, formatDateTime } from '../lib/dates.ts';
import { revokeClientSecret } from '../credentials/secrets.ts';
import { lastUsedLabel, secretStatus } from '../credentials/status.ts';
import { countAllSecrets, cursorParam, findLiveKey, findLiveSecret, listAllKeys, listAllSecrets, parseCursor, parseRevokeReason } from './secrets-overview.ts';
import { deletePublicKey } from '../credentials/public-keys.ts';
import type { Application } from '../credentials/applications.ts';
import type { Console, Errors } from './console.ts';

export function oversightRoutes(deps: Deps, { page, back }: Console): Router {
  const { db, clock, config } = deps;
  const router = Router();

  // ---- Secrets overview ------------------------------------------------------------

  const renderSecrets = (req: Request, res: Response, errors: Errors = {}, status = 200) => {
    const within = typeof req.query.within === 'string' && /^\d{1,4}$/.test(req.query.within) ? Number(req.query.within) : null;
    const now = clock.now();
    const keys = listAllKeys(db, now, within).map((r) => ({
      ...r,
      expires: formatDate(r.key.expiresOn),
      status: secretStatus(r.key, now, config.timezone),
      lastUsed: lastUsedLabel(r.key.lastUsedAt, now),
    }));
    const after = parseCursor(req.query.after);
    const listed = listAllSecrets(db, now, within, after);
    const rows = listed.rows.map((r) => ({
      ...r,
      expires: formatDate(r.secret.expiresOn),
      status: secretStatus(r.secret, now, config.timezone),
      lastUsed: lastUsedLabel(r.secret.lastUsedAt, now),
    }));
    const filter: Record<string, string> = within !== null ? { within: String(within) } : {};
    // The page's own address, so a refused revoke re-renders the same page.
    const query = new URLSearchParams({ ...filter, ...(after ? { after: cursorParam(after) } : {}) }).toString();
    const next = listed.next ? `/admin/secrets?${new URLSearchParams({ ...filter, after: listed.next })}` : '';
    page(req, res, 'secrets', 'Credentials', { rows, keys, within: within ?? '', errors, total: countAllSecrets(db, now, within), first: !after, next, query: query ? `?${query}` : '' }, status);
  };
  router.get('/admin/secrets', (req, res) => renderSecrets(req, res));

  // Compromise response: a reason is required, the credential is gone at once and its
  // credential managers are told. One route per kind of credential.
  const revokeRoute = <T extends { app: Application }>(
    path: string,
    find: (id: string) => T | null,
    missing: string,
    revoke: (req: Request, found: T, id: string, reason: string) => string,
  ) =>
    router.post(path, (req, res) => {
      const id = String(req.params.id);
      const found = find(id);
      if (!found) throw new HttpError(404, missing);
      const reason = parseRevokeReason(formField(req.body, 'reason'));
      if (!reason.ok) return renderSecrets(req, res, { [id]: reason.message }, 422);
      back(req, res, '/admin/secrets', revoke(req, found, id, reason.value));
    });

  // POST /admin/secrets/:id/revoke
  revokeRoute('/admin/secrets/:id/revoke', (id) => findLiveSecret(db, id), 'No such secret, or it was already deleted.', (req, found, id, reason) => {
    revokeClientSecret(deps, actorOf(req), found.app, id, reason);
    return `Secret “${found.secret.name}” of ${found.app.name} revoked; its credential managers were told.`;
  });
  // POST /admin/keys/:id/revoke
  revokeRoute('/admin/keys/:id/revoke', (id) => findLiveKey(db, id), 'No such key, or it was already deleted.', (req, found, id, reason) => {
    deletePublicKey(deps, actorOf(req), found.app, { id }, reason);
    return `Key “${found.key.name}” of ${found.app.name} revoked; its credential managers were told.`;
  });

  // ---- Audit log -------------------------------------------------------------------

  router.get('/admin/audit', (req, res) => {
    const { filter, errors, values } = parseAuditFilter(req.query as Record<string, unknown>);
    const { total, rows, next } = queryAudit(db, filter, config.timezone);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ organisation: filter.organisationId ?? '', application: filter.applicationId ?? '', user: filter.user, action: filter.action, from: filter.from, to: filter.to })) {
      if (v !== '') params.set(k, String(v));
    }
    page(req, res, 'audit', 'Audit log', {
      filter,
      errors,
      values,
      actionChoices: actionChoices(actionsInLog(db)),
      total: total > COUNT_CAP ? `More than ${COUNT_CAP.toLocaleString('en-GB')}` : String(total),
      next,
      query: params.toString(),
      ...auditFilterOptions(db),
      rows: rows.map((r) => ({ ...r.event, label: actionLabel(r.event.action), when: formatDateTime(r.event.at, config.timezone), iso: new Date(r.event.at).toISOString(), organisation: r.organisation ?? '', application: r.application ?? '' })),
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
