// The applications a credential manager may act on (their own organisation's, with the
// role, enabled), the APIs granted to one, and who manages it.
import { and, asc, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { prepared, type Db } from '../../db/client.ts';
import { apis, applicationApis, applications, credentialManagers, users } from '../../db/schema.ts';

export type Application = typeof applications.$inferSelect;

// Applications of the user's own organisation for which the user holds the role.
export function managedApplications(db: Db, user: { id: number; organisationId: number | null }): Application[] {
  if (user.organisationId === null) return [];
  return prepared(db, 'managedApplications', () =>
    db
      .select({ app: applications })
      .from(credentialManagers)
      .innerJoin(applications, eq(applications.id, credentialManagers.applicationId))
      .where(and(eq(credentialManagers.userId, sql.placeholder('userId')), eq(applications.organisationId, sql.placeholder('organisationId')), isNull(applications.disabledAt)))
      .orderBy(asc(applications.name))
      .prepare(),
  )
    .all({ userId: user.id, organisationId: user.organisationId })
    .map((r) => r.app);
}

export function holdsManagerRole(db: Db, userId: number): boolean {
  return prepared(db, 'holdsManagerRoleRaw', () => db.$client.prepare<[number], number>('select 1 from credential_managers where user_id = ? limit 1').pluck()).get(userId) !== undefined;
}

// One managed application by client ID, or null (not found, not managed, other organisation, disabled).
export function managedApplication(db: Db, user: { id: number; organisationId: number | null }, clientId: string): Application | null {
  if (user.organisationId === null) return null;
  const row = prepared(db, 'managedApplication', () =>
    db
      .select({ app: applications })
      .from(applications)
      .innerJoin(credentialManagers, and(eq(credentialManagers.applicationId, applications.id), eq(credentialManagers.userId, sql.placeholder('userId'))))
      .where(and(eq(applications.clientId, sql.placeholder('clientId')), eq(applications.organisationId, sql.placeholder('organisationId')), isNull(applications.disabledAt)))
      .prepare(),
  ).get({ userId: user.id, clientId, organisationId: user.organisationId });
  return row?.app ?? null;
}

export function grantedApis(db: Db, applicationId: number) {
  return db
    .select({ code: apis.code, name: apis.name, sandboxResource: apis.sandboxResource, productionResource: apis.productionResource })
    .from(applicationApis)
    .innerJoin(apis, eq(apis.code, applicationApis.apiCode))
    .where(eq(applicationApis.applicationId, applicationId))
    .orderBy(asc(apis.code))
    .all();
}

// An application's credential managers. With `toldBy`, only those who are told about
// its secrets: enabled, and of the application's own organisation (`toldBy` is its id);
// with `setUpOnly` too, only those who finished setup (security notices are not sent to
// someone who cannot sign in yet).
export function managersOf(db: Db, applicationId: number, toldBy?: { organisationId: number; setUpOnly?: boolean }) {
  const where = [eq(credentialManagers.applicationId, applicationId)];
  if (toldBy) where.push(isNull(users.disabledAt), eq(users.organisationId, toldBy.organisationId));
  if (toldBy?.setUpOnly) where.push(isNotNull(users.passwordHash), isNotNull(users.totpSecret));
  return db
    .select({ id: users.id, email: users.email, name: users.displayName, disabledAt: users.disabledAt })
    .from(credentialManagers)
    .innerJoin(users, eq(users.id, credentialManagers.userId))
    .where(and(...where))
    .orderBy(users.email)
    .all();
}
