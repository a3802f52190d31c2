// Every application's secrets (metadata only, never the secret) for the IT team.
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { applications, clientSecrets, organisations } from '../../db/schema.ts';

export function listAllSecrets(db: Db, now: number, withinDays: number | null) {
  const where = [isNull(clientSecrets.deletedAt)];
  if (withinDays !== null) where.push(sql`${clientSecrets.expiresAt} <= ${now + withinDays * 86_400_000}`);
  return db
    .select({ secret: clientSecrets, application: applications.name, applicationId: applications.id, clientId: applications.clientId, organisation: organisations.name })
    .from(clientSecrets)
    .innerJoin(applications, eq(applications.id, clientSecrets.applicationId))
    .innerJoin(organisations, eq(organisations.id, applications.organisationId))
    .where(and(...where))
    .orderBy(asc(clientSecrets.expiresAt))
    .all();
}
