import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { organisations } from '../../db/schema.ts';
import type { Clock } from '../clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { parseCountryCode, parseName } from '../validation.ts';

export type DomainResult<T> = { ok: true; value: T } | { ok: false; field: string; message: string; status?: number };

export function createOrganisation(db: Db, clock: Clock, actor: AuditActor, input: { name: unknown; countryCode: unknown }): DomainResult<{ id: number }> {
  const name = parseName(input.name, 'Organisation name', 200);
  if (!name.ok) return { ok: false, field: 'name', message: name.message };
  const cc = parseCountryCode(input.countryCode);
  if (!cc.ok) return { ok: false, field: 'country', message: cc.message };
  const row = db.insert(organisations).values({ name: name.value, countryCode: cc.value, createdAt: clock.now() }).returning({ id: organisations.id }).get();
  recordAudit(db, clock, actor, { action: 'organisation.create', organisationId: row.id, target: name.value, details: { countryCode: cc.value } });
  return { ok: true, value: { id: row.id } };
}

export function findOrganisation(db: Db, id: number) {
  return db.select().from(organisations).where(eq(organisations.id, id)).get();
}
