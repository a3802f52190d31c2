// The client secret lifecycle: creation (shown once), deletion and revocation (a
// tombstone). Only a SHA-256 hash and a three-character hint are ever stored. What
// must always follow a change happens here, after its commit: the audit row and the
// notice to the application's other credential managers.
import crypto from 'node:crypto';
import { and, count, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { clientSecrets } from '../../db/schema.ts';
import type { Application } from './applications.ts';
import { sendCredentialNotice } from './notices.ts';
import type { Deps } from '../deps.ts';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../lib/config.ts';
import { ABSOLUTE_MAX_SECRET_DAYS } from '../lib/config.ts';
import { randomString, sha256Hex } from '../lib/crypto.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { addDays, addMonths, dateInZone, endOfDateInZone, formatDate, isValidDateString } from '../lib/dates.ts';
import { parseName } from '../lib/validation.ts';
import { failure, invalid, refused, success, type DomainResult, type FieldErrors } from '../lib/result.ts';

export type ClientSecret = typeof clientSecrets.$inferSelect;
export type SecretDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'mailer'>;

// 44 characters of [0-9A-Za-z]: 261 bits from the CSPRNG. Letters and digits only, so the
// secret needs no escaping in a form body or a Basic header and a double-click selects it whole.
export const SECRET_LENGTH = 44;
export function generateClientSecret(): string {
  return randomString(SECRET_LENGTH);
}

export const hashClientSecret = (secret: string) => sha256Hex(secret);
export const hintOf = (secret: string) => secret.slice(0, 3);

export function maxLifetimeDays(config: Config): number {
  return Math.min(config.secretMaxLifetimeDays, ABSOLUTE_MAX_SECRET_DAYS);
}

export interface ExpiryRules {
  today: string;
  min: string; // tomorrow
  max: string;
  maxLabel: string; // max, as people read dates
  timezone: string; // the zone in which the expiry day ends
  suggested: string; // 6 months ahead
  quickChoices: Array<{ label: string; date: string }>;
}

export function expiryRules(config: Config, clock: Clock): ExpiryRules {
  const today = dateInZone(clock.now(), config.timezone);
  const max = addDays(today, maxLifetimeDays(config));
  const clamp = (d: string) => (d > max ? max : d);
  return {
    today,
    min: addDays(today, 1),
    max,
    maxLabel: formatDate(max),
    timezone: config.timezone,
    suggested: clamp(addMonths(today, 6)),
    quickChoices: [
      { label: '3 months', date: clamp(addMonths(today, 3)) },
      { label: '6 months', date: clamp(addMonths(today, 6)) },
      { label: '12 months', date: clamp(addMonths(today, 12)) },
    ],
  };
}


export function parseSecretInput(
  config: Config,
  clock: Clock,
  input: { name: unknown; expires: unknown },
): DomainResult<{ name: string; expiresOn: string }> {
  const errors: FieldErrors = {};
  const name = parseName(input.name, 'Client secret name', 100);
  if (!name.ok) errors.name = name.message;
  const rules = expiryRules(config, clock);
  const expires = typeof input.expires === 'string' ? input.expires.trim() : '';
  if (expires === '') errors.expires = 'Enter an expiration date.';
  else if (!isValidDateString(expires)) errors.expires = 'Enter the expiration date as a real date, like 2027-05-31.';
  else if (expires <= rules.today) errors.expires = 'The expiration date must be tomorrow or later.';
  else if (expires > rules.max) errors.expires = `The expiration date can be at most ${maxLifetimeDays(config) === 365 ? 'one year' : `${maxLifetimeDays(config)} days`} ahead (${formatDate(rules.max)}).`;
  if (!name.ok || errors.expires) return invalid(errors);
  return success({ name: name.value, expiresOn: expires });
}

export function activeSecretCount(db: Db, applicationId: number, now: number): number {
  return (
    db
      .select({ n: count() })
      .from(clientSecrets)
      .where(and(eq(clientSecrets.applicationId, applicationId), isNull(clientSecrets.deletedAt), gt(clientSecrets.expiresAt, now)))
      .get()?.n ?? 0
  );
}

// A live secret of the application with this name (names compared without case).
export function secretNamed(db: Db, applicationId: number, name: string): boolean {
  return !!db
    .select({ id: clientSecrets.id })
    .from(clientSecrets)
    .where(and(eq(clientSecrets.applicationId, applicationId), isNull(clientSecrets.deletedAt), sql`lower(${clientSecrets.name}) = lower(${name})`))
    .get();
}

// The secret itself (shown once) and its stored row.
export type CreateSecretResult = DomainResult<{ secret: string; row: ClientSecret }>;

export function capMessage(config: Config): string {
  return `This application already has ${config.maxSecretsPerApplication} active secrets, the most it may have. Delete a secret you no longer use before you create a new one.`;
}

// The one domain function behind the page, the CLI and the admin console.
// `within`: more of the same change, in its transaction (a roll shortens the old secret); a
// failure it returns undoes the creation. `notice: false`: the caller tells the managers.
export function createClientSecret(
  deps: SecretDeps,
  actor: AuditActor,
  app: Application,
  input: { name: unknown; expires: unknown },
  options: { within?: (row: ClientSecret) => DomainResult<unknown> | null; notice?: boolean } = {},
): CreateSecretResult {
  const { db, clock, config } = deps;
  const parsed = parseSecretInput(config, clock, input);
  if (!parsed.ok) return parsed;
  const { name, expiresOn } = parsed.value;
  const secret = generateClientSecret();
  let result: CreateSecretResult;
  try {
    result = immediate(db, (): CreateSecretResult => {
      const now = clock.now();
      if (activeSecretCount(db, app.id, now) >= config.maxSecretsPerApplication) {
        return refused(capMessage(config), 409);
      }
      if (secretNamed(db, app.id, name)) {
        return failure('name', `This application already has a secret named “${name}”. Choose another name, or delete the old secret first.`);
      }
      const row = db
        .insert(clientSecrets)
        .values({
          id: crypto.randomUUID(),
          applicationId: app.id,
          name,
          hint: hintOf(secret),
          secretHash: hashClientSecret(secret),
          createdAt: now,
          createdBy: actor.userId ?? null,
          expiresOn,
          expiresAt: endOfDateInZone(expiresOn, config.timezone),
        })
        .returning()
        .get();
      recordAudit(db, clock, actor, {
        action: 'secret.create',
        organisationId: app.organisationId,
        applicationId: app.id,
        target: row.name,
        details: { secretId: row.id, hint: row.hint, expiresOn: row.expiresOn },
      });
      const refusal = options.within?.(row);
      // Thrown to roll the transaction back, caught below as the result.
      if (refusal && !refusal.ok) throw new WithinRefused(refusal);
      return success({ secret, row });
    });
  } catch (err) {
    if (!(err instanceof WithinRefused)) throw err;
    result = err.result as CreateSecretResult;
  }
  if (result.ok && options.notice !== false) sendCredentialNotice(deps, 'secret', 'created', app, result.value.row, actor);
  return result;
}

class WithinRefused {
  constructor(readonly result: DomainResult<unknown>) {}
}

// Deletes (tombstones) a secret of the application; false when it was not there.
export function deleteClientSecret(deps: SecretDeps, actor: AuditActor, app: Application, secretId: string): ClientSecret | null {
  const deleted = tombstone(deps, actor, app, secretId, null);
  if (deleted) sendCredentialNotice(deps, 'secret', 'deleted', app, deleted, actor);
  return deleted;
}

// An administrator's revocation (a compromise response): a deletion with a reason.
export function revokeClientSecret(deps: SecretDeps, actor: AuditActor, app: Application, secretId: string, reason: string): ClientSecret | null {
  const revoked = tombstone(deps, actor, app, secretId, reason);
  if (revoked) sendCredentialNotice(deps, 'secret', 'revoked', app, revoked, actor, reason);
  return revoked;
}

function tombstone(deps: SecretDeps, actor: AuditActor, app: Application, secretId: string, reason: string | null): ClientSecret | null {
  const { db, clock } = deps;
  return immediate(db, () => {
    const row = db
      .update(clientSecrets)
      .set({ deletedAt: clock.now(), deletedBy: actor.userId ?? null, deleteReason: reason })
      .where(and(eq(clientSecrets.id, secretId), eq(clientSecrets.applicationId, app.id), isNull(clientSecrets.deletedAt)))
      .returning()
      .get();
    if (!row) return null;
    recordAudit(db, clock, actor, {
      action: reason ? 'secret.revoke' : 'secret.delete',
      organisationId: app.organisationId,
      applicationId: app.id,
      target: row.name,
      details: { secretId: row.id, hint: row.hint, ...(reason ? { reason } : {}) },
    });
    return row;
  });
}

export function liveSecret(db: Db, applicationId: number, secretId: string): ClientSecret | null {
  return (
    db
      .select()
      .from(clientSecrets)
      .where(and(eq(clientSecrets.id, secretId), eq(clientSecrets.applicationId, applicationId), isNull(clientSecrets.deletedAt)))
      .get() ?? null
  );
}

