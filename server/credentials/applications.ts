// The applications a credential manager may act on (their own organisation's, with the
// role, enabled), the APIs granted to one, and who manages it.
import { and, asc, eq, isNotNull, isNull } from 'drizzle-orm';
import { prepared, type Db } from '../../db/client.ts';
import { apis, applicationApis, applications, credentialManagers, users } from '../../db/schema.ts';

export type Application = typeof applications.$inferSelect;

// An application row as SQLite returns it, and as drizzle would have mapped it. These reads
// run on every page and route of a manager, and drizzle's mapping of the rows (nested
// selects, column by column) cost more than the queries: raw statements, mapped by hand.
// Typed against the schema: a column added there and not here fails the type check.
interface ApplicationRow {
  id: number;
  organisation_id: number;
  name: string;
  client_id: string;
  sandbox_only: number;
  disabled_at: number | null;
  created_at: number;
  created_by: number | null;
}
const APPLICATION_COLUMNS = 'a.id, a.organisation_id, a.name, a.client_id, a.sandbox_only, a.disabled_at, a.created_at, a.created_by';
const toApplication = (r: ApplicationRow): Application => ({ id: r.id, organisationId: r.organisation_id, name: r.name, clientId: r.client_id, sandboxOnly: r.sandbox_only === 1, disabledAt: r.disabled_at, createdAt: r.created_at, createdBy: r.created_by });

// Applications of the user's own organisation for which the user holds the role.
export function managedApplications(db: Db, user: { id: number; organisationId: number | null }): Application[] {
  if (user.organisationId === null) return [];
  return prepared(db, 'managedApplicationsRaw', () =>
    db.$client.prepare<[number, number], ApplicationRow>(
      `select ${APPLICATION_COLUMNS} from credential_managers m join applications a on a.id = m.application_id where m.user_id = ? and a.organisation_id = ? and a.disabled_at is null order by a.name`,
    ),
  )
    .all(user.id, user.organisationId)
    .map(toApplication);
}

export function holdsManagerRole(db: Db, userId: number): boolean {
  return prepared(db, 'holdsManagerRoleRaw', () => db.$client.prepare<[number], number>('select 1 from credential_managers where user_id = ? limit 1').pluck()).get(userId) !== undefined;
}

// One managed application by client ID, or null (not found, not managed, other organisation, disabled).
export function managedApplication(db: Db, user: { id: number; organisationId: number | null }, clientId: string): Application | null {
  if (user.organisationId === null) return null;
  const row = prepared(db, 'managedApplicationRaw', () =>
    db.$client.prepare<[number, string, number], ApplicationRow>(
      `select ${APPLICATION_COLUMNS} from applications a join credential_managers m on m.application_id = a.id and m.user_id = ? where a.client_id = ? and a.organisation_id = ? and a.disabled_at is null`,
    ),
  ).get(user.id, clientId, user.organisationId);
  return row ? toApplication(row) : null;
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
