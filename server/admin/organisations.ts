import { eq, sql } from 'drizzle-orm';
import { failure, type DomainResult } from '../lib/result.ts';
import type { Db } from '../../db/client.ts';
import { organisations } from '../../db/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { parseCountryCode, parseName } from '../lib/validation.ts';
import { immediate } from '../../db/client.ts';
import { freeOrganisationName, organisationNamed } from './names.ts';

// Two organisations of one country never share a name (names.ts): the message names a free one.
function nameTaken(db: Db, name: string, countryCode: string, exceptId?: number) {
  const other = organisationNamed(db, name, countryCode, exceptId);
  if (!other) return null;
  return failure('name', `An organisation named “${other.name}” in ${countryCode} already exists (id ${other.id}). Choose another name, for example “${freeOrganisationName(db, name, countryCode)}”.`);
}


export function createOrganisation(db: Db, clock: Clock, actor: AuditActor, input: { name: unknown; countryCode: unknown }): DomainResult<{ id: number }> {
  const name = parseName(input.name, 'Organisation name', 200);
  if (!name.ok) return failure('name', name.message);
  const cc = parseCountryCode(input.countryCode);
  if (!cc.ok) return failure('country', cc.message);
  return immediate(db, () => {
    const taken = nameTaken(db, name.value, cc.value);
    if (taken) return taken;
    const row = db.insert(organisations).values({ name: name.value, countryCode: cc.value, createdAt: clock.now() }).returning({ id: organisations.id }).get();
    recordAudit(db, clock, actor, { action: 'organisation.create', organisationId: row.id, target: name.value, details: { countryCode: cc.value } });
    return { ok: true, value: { id: row.id } };
  });
}

export function findOrganisation(db: Db, id: number) {
  return db.select().from(organisations).where(eq(organisations.id, id)).get();
}

export function renameOrganisation(db: Db, clock: Clock, actor: AuditActor, id: number, input: { name: unknown }): DomainResult<{ id: number }> {
  const org = findOrganisation(db, id);
  if (!org) return failure('organisation', 'No such organisation.', 404);
  const name = parseName(input.name, 'Organisation name', 200);
  if (!name.ok) return failure('name', name.message);
  return immediate(db, () => {
    const taken = nameTaken(db, name.value, org.countryCode, id);
    if (taken) return taken;
    db.update(organisations).set({ name: name.value }).where(eq(organisations.id, id)).run();
    recordAudit(db, clock, actor, { action: 'organisation.rename', organisationId: id, target: name.value, details: { from: org.name } });
    return { ok: true, value: { id } };
  });
}

// Organisations with their numbers of users, applications and active secrets.
export function listOrganisations(db: Db, now: number) {
  return db
    .select({
      id: organisations.id,
      name: organisations.name,
      countryCode: organisations.countryCode,
      users: sql<number>`(select count(*) from users u where u.organisation_id = "organisations"."id")`,
      applications: sql<number>`(select count(*) from applications a where a.organisation_id = "organisations"."id")`,
      activeSecrets: sql<number>`(select count(*) from client_secrets s join applications a on a.id = s.application_id where a.organisation_id = "organisations"."id" and s.deleted_at is null and s.expires_at > ${now})`,
    })
    .from(organisations)
    .orderBy(organisations.name)
    .all();
}
