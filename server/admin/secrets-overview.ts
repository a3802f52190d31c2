// Every application's secrets (metadata only, never the secret) for the IT team.
import { and, asc, count, eq, isNull, sql } from 'drizzle-orm';
import type { Parsed } from '../lib/validation.ts';
import type { Db } from '../../db/client.ts';
import { applications, clientKeys, clientSecrets, organisations } from '../../db/schema.ts';

export const OVERVIEW_PAGE_SIZE = 100;

// Where a page of the overview starts: after this (expiry, id), in that order. Keyset
// pagination: page 50 costs what page 1 does (the client_secrets_expiry index).
export interface Cursor {
  expiresAt: number;
  id: string;
}
export const cursorParam = (c: Cursor) => `${c.expiresAt}_${c.id}`;
export function parseCursor(input: unknown): Cursor | null {
  const m = typeof input === 'string' ? /^(\d{1,15})_([0-9a-f-]{36})$/.exec(input) : null;
  return m ? { expiresAt: Number(m[1]), id: m[2]! } : null;
}

function liveSecretsWhere(now: number, withinDays: number | null) {
  const where = [isNull(clientSecrets.deletedAt)];
  if (withinDays !== null) where.push(sql`${clientSecrets.expiresAt} <= ${now + withinDays * 86_400_000}`);
  return where;
}

// One page of every application's live secrets, soonest expiry first; `next` when more follow.
export function listAllSecrets(db: Db, now: number, withinDays: number | null, after: Cursor | null = null, limit = OVERVIEW_PAGE_SIZE) {
  const where = liveSecretsWhere(now, withinDays);
  // expires_at ≥ A first, so SQLite searches the index from A (an OR alone would walk it from the start).
  if (after) where.push(sql`${clientSecrets.expiresAt} >= ${after.expiresAt} and (${clientSecrets.expiresAt} > ${after.expiresAt} or ${clientSecrets.id} > ${after.id})`);
  const rows = db
    .select({ secret: clientSecrets, application: applications.name, applicationId: applications.id, clientId: applications.clientId, organisation: organisations.name })
    .from(clientSecrets)
    .innerJoin(applications, eq(applications.id, clientSecrets.applicationId))
    .innerJoin(organisations, eq(organisations.id, applications.organisationId))
    .where(and(...where))
    .orderBy(asc(clientSecrets.expiresAt), asc(clientSecrets.id))
    .limit(limit + 1)
    .all();
  const more = rows.length > limit;
  if (more) rows.pop();
  const last = rows[rows.length - 1];
  return { rows, next: more && last ? cursorParam({ expiresAt: last.secret.expiresAt, id: last.secret.id }) : null };
}

export function countAllSecrets(db: Db, now: number, withinDays: number | null): number {
  return db.select({ n: count() }).from(clientSecrets).where(and(...liveSecretsWhere(now, withinDays))).get()?.n ?? 0;
}

// The secrets an application has now (deleted ones are tombstones, not shown).
export function liveSecretsOf(db: Db, applicationId: number) {
  return db.select().from(clientSecrets).where(and(eq(clientSecrets.applicationId, applicationId), isNull(clientSecrets.deletedAt))).all();
}

// A secret that is not deleted, with its application, by id (any organisation: admin only).
export function findLiveSecret(db: Db, secretId: string) {
  const row = db
    .select({ secret: clientSecrets, app: applications })
    .from(clientSecrets)
    .innerJoin(applications, eq(applications.id, clientSecrets.applicationId))
    .where(and(eq(clientSecrets.id, secretId), isNull(clientSecrets.deletedAt)))
    .get();
  return row ?? null;
}

// Why an administrator revokes a secret: one line, 3 to 500 characters.
export function parseRevokeReason(input: unknown): Parsed<string> {
  const reason = typeof input === 'string' ? input.trim() : '';
  if (reason.length < 3 || reason.length > 500 || /[\u0000-\u001f\u007f]/.test(reason)) return { ok: false, message: 'Give a reason (3 to 500 characters, one line).' };
  return { ok: true, value: reason };
}

// Every application's registered keys and certificates (public material only).
export function listAllKeys(db: Db, now: number, withinDays: number | null) {
  const where = [isNull(clientKeys.deletedAt)];
  if (withinDays !== null) where.push(sql`${clientKeys.expiresAt} <= ${now + withinDays * 86_400_000}`);
  return db
    .select({ key: clientKeys, application: applications.name, applicationId: applications.id, organisation: organisations.name })
    .from(clientKeys)
    .innerJoin(applications, eq(applications.id, clientKeys.applicationId))
    .innerJoin(organisations, eq(organisations.id, applications.organisationId))
    .where(and(...where))
    .orderBy(asc(clientKeys.expiresAt))
    .all();
}

export function findLiveKey(db: Db, keyId: string) {
  return db.select({ key: clientKeys, app: applications }).from(clientKeys).innerJoin(applications, eq(applications.id, clientKeys.applicationId)).where(and(eq(clientKeys.id, keyId), isNull(clientKeys.deletedAt))).get() ?? null;
}
