// Federated credentials (issue 29): an application trusts an outside issuer's token (GitHub
// Actions, a Kubernetes service account, an Entra managed identity) in place of a secret,
// when its iss, sub and aud are exactly these. Nothing to rotate, so no expiry; a review
// date a year ahead instead, with the usual reminders (a trust is looked at once a year).
// Adding one fetches the issuer's discovery document and keys once, as a JWKS URL is.
import crypto from 'node:crypto';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { federatedCredentials, federatedRemindersSent } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { addDays, dateInZone, endOfDateInZone } from '../lib/dates.ts';
import { parseName } from '../lib/validation.ts';
import { failure, invalid, success, type DomainResult, type FieldErrors } from '../lib/result.ts';
import type { Application } from './applications.ts';
import { sendCredentialNotice, type NoticeDeps } from './notices.ts';
import { fetchIssuerKeys } from './federated-issuer.ts';

export type FederatedCredential = typeof federatedCredentials.$inferSelect;
// Entra allows twenty per application; each is one string comparison per token request.
export const MAX_FEDERATED_PER_APPLICATION = 20;
export const REVIEW_DAYS = 365;

// The presets on the page: the issuer filled in, and what the subject looks like.
export const PRESETS = [
  { id: 'github', label: 'GitHub Actions', issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:OWNER/REPOSITORY:ref:refs/heads/main', help: 'repo:<owner>/<repository>:ref:refs/heads/<branch>, or :environment:<name> for a deployment environment, or :pull_request.' },
  { id: 'kubernetes', label: 'Kubernetes', issuer: '', subject: 'system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT', help: 'The cluster’s service-account issuer (kubectl get --raw /.well-known/openid-configuration shows it); the subject is system:serviceaccount:<namespace>:<service account>.' },
  { id: 'entra', label: 'Microsoft Entra managed identity', issuer: 'https://login.microsoftonline.com/TENANT-ID/v2.0', subject: 'OBJECT-ID', help: 'The issuer carries your tenant ID; the subject is the managed identity’s object (principal) ID.' },
  { id: 'other', label: 'Any other OpenID Connect issuer', issuer: '', subject: '', help: 'The issuer exactly as its tokens carry it in iss, and the sub of the workload’s tokens.' },
] as const;

export interface FederatedInput {
  name: unknown;
  issuer: unknown;
  subject: unknown;
  audience?: unknown;
}

// Checks the fields, then (if they hold) that the issuer answers with its keys.
export async function addFederatedCredential(deps: NoticeDeps, actor: AuditActor, app: Application, input: FederatedInput): Promise<DomainResult<{ row: FederatedCredential; keys: number }>> {
  const { db, clock, config } = deps;
  const errors: FieldErrors = {};
  const name = parseName(input.name, 'Name', 100);
  if (!name.ok) errors.name = name.message;
  const issuer = typeof input.issuer === 'string' ? input.issuer.trim() : '';
  if (!/^https?:\/\/[^\s?#]+$/.test(issuer) || issuer.length > 500) errors.issuer = 'Enter the issuer as an absolute https:// address without ? or #, exactly as its tokens carry it in iss.';
  // The portal's own tokens are not outside tokens.
  else if (issuer.replace(/\/+$/, '') === config.baseUrl.replace(/\/+$/, '')) errors.issuer = 'This is the portal itself; a federated credential trusts another issuer.';
  const subject = typeof input.subject === 'string' ? input.subject.trim() : '';
  if (!subject) errors.subject = 'Enter the subject: the sub of the workload’s tokens, matched exactly.';
  else if (PRESETS.some((p) => p.subject !== '' && p.subject === subject)) errors.subject = 'Replace the example with the real subject (the capitals are placeholders).';
  else if (subject.length > 500) errors.subject = 'The subject is longer than 500 characters.';
  const audienceIn = typeof input.audience === 'string' ? input.audience.trim() : '';
  const audience = audienceIn || config.baseUrl;
  if (audience.length > 500) errors.audience = 'The audience is longer than 500 characters.';
  if (Object.keys(errors).length || !name.ok) return invalid(errors);
  const fetched = await fetchIssuerKeys(issuer, config.portalEnv === 'sandbox');
  if (!fetched.ok) return failure('issuer', fetched.message);
  const now = clock.now();
  const reviewOn = addDays(dateInZone(now, config.timezone), REVIEW_DAYS);
  const result = immediate(db, (): DomainResult<{ row: FederatedCredential; keys: number }> => {
    const live = liveOf(deps, app.id);
    if (live.length >= MAX_FEDERATED_PER_APPLICATION) return failure('name', `This application already has ${MAX_FEDERATED_PER_APPLICATION} federated credentials, the most allowed. Delete one first.`);
    if (live.some((f) => f.name.toLowerCase() === name.value.toLowerCase())) return failure('name', `This application already has a federated credential named “${name.value}”.`);
    const same = live.find((f) => f.issuer === issuer && f.subject === subject && f.audience === audience);
    if (same) return failure('subject', `“${same.name}” already trusts this issuer, subject and audience.`);
    const row = db
      .insert(federatedCredentials)
      .values({ id: crypto.randomUUID(), applicationId: app.id, name: name.value, issuer, subject, audience, createdAt: now, createdBy: actor.userId ?? null, reviewOn, reviewAt: endOfDateInZone(reviewOn, config.timezone) })
      .returning()
      .get();
    recordAudit(db, clock, actor, { action: 'federated.add', organisationId: app.organisationId, applicationId: app.id, target: row.name, details: { credentialId: row.id, issuer, subject, audience, reviewOn } });
    return success({ row, keys: fetched.value.keys.length });
  });
  if (result.ok) sendCredentialNotice(deps, 'federated', 'added', app, { name: result.value.row.name, hint: result.value.row.subject.slice(0, 60), expiresOn: result.value.row.reviewOn }, actor);
  return result;
}

export function liveOf(deps: Pick<Deps, 'db'>, applicationId: number): FederatedCredential[] {
  return deps.db.select().from(federatedCredentials).where(and(eq(federatedCredentials.applicationId, applicationId), isNull(federatedCredentials.deletedAt))).orderBy(asc(federatedCredentials.createdAt)).all();
}

export function federatedCount(deps: Pick<Deps, 'db'>, applicationId: number): number {
  return deps.db.select({ n: sql<number>`count(*)` }).from(federatedCredentials).where(and(eq(federatedCredentials.applicationId, applicationId), isNull(federatedCredentials.deletedAt))).get()?.n ?? 0;
}

export function deleteFederatedCredential(deps: NoticeDeps, actor: AuditActor, app: Application, match: { id?: string; name?: string }): FederatedCredential | null {
  const { db, clock } = deps;
  const deleted = immediate(db, () => {
    const which = match.id ? eq(federatedCredentials.id, match.id) : sql`lower(${federatedCredentials.name}) = lower(${match.name ?? ''})`;
    const row = db
      .update(federatedCredentials)
      .set({ deletedAt: clock.now(), deletedBy: actor.userId ?? null })
      .where(and(eq(federatedCredentials.applicationId, app.id), isNull(federatedCredentials.deletedAt), which))
      .returning()
      .get();
    if (!row) return null;
    recordAudit(db, clock, actor, { action: 'federated.delete', organisationId: app.organisationId, applicationId: app.id, target: row.name, details: { credentialId: row.id, issuer: row.issuer, subject: row.subject } });
    return row;
  });
  if (deleted) sendCredentialNotice(deps, 'federated', 'deleted', app, { name: deleted.name, hint: deleted.subject.slice(0, 60), expiresOn: deleted.reviewOn }, actor);
  return deleted;
}

// "Reviewed": a manager looked and keeps the trust; its review date moves a year ahead from
// today, and the reminders start over for that date.
export function reviewFederatedCredential(deps: NoticeDeps, actor: AuditActor, app: Application, id: string): FederatedCredential | null {
  const { db, clock, config } = deps;
  const reviewOn = addDays(dateInZone(clock.now(), config.timezone), REVIEW_DAYS);
  return immediate(db, () => {
    const row = db
      .update(federatedCredentials)
      .set({ reviewOn, reviewAt: endOfDateInZone(reviewOn, config.timezone) })
      .where(and(eq(federatedCredentials.applicationId, app.id), isNull(federatedCredentials.deletedAt), eq(federatedCredentials.id, id)))
      .returning()
      .get();
    if (!row) return null;
    db.delete(federatedRemindersSent).where(eq(federatedRemindersSent.federatedId, row.id)).run();
    recordAudit(db, clock, actor, { action: 'federated.review', organisationId: app.organisationId, applicationId: app.id, target: row.name, details: { credentialId: row.id, reviewOn } });
    return row;
  });
}
