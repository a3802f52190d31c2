// Names a member can tell apart (issue 27, point 3): no two organisations with the same
// name in the same country, no two applications with the same name, compared trimmed,
// with runs of spaces as one and without regard to case. Checked by the domain functions
// inside their write transaction (BEGIN IMMEDIATE holds SQLite's write lock, so the console
// and the command line cannot both pass the check); not a unique index, because databases
// made before this rule may hold such duplicates, and a migration must neither fail on them
// nor rename a member's organisation behind the operators' backs.
import { and, eq, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { applications, organisations } from '../../db/schema.ts';

export const sameName = (name: string) => name.normalize('NFKC').trim().replace(/\s+/g, ' ').toLocaleLowerCase('en');

// The rows that may hold the same name, found by SQLite (its lower() folds ASCII only),
// then compared exactly here: the same name in ASCII, and every name with other
// characters or a double space (few).
function candidates(column: typeof organisations.name | typeof applications.name, name: string): SQL {
  const spaced = name.trim().replace(/\s+/g, ' ');
  return or(sql`lower(${column}) = lower(${spaced})`, sql`${column} glob '*[^ -~]*'`, sql`instr(${column}, '  ') > 0`)!;
}

export function organisationNamed(db: Db, name: string, countryCode: string, exceptId?: number): { id: number; name: string } | undefined {
  const wanted = sameName(name);
  return db
    .select({ id: organisations.id, name: organisations.name })
    .from(organisations)
    .where(and(eq(organisations.countryCode, countryCode), candidates(organisations.name, name), exceptId === undefined ? undefined : ne(organisations.id, exceptId)))
    .all()
    .find((o) => sameName(o.name) === wanted);
}

export function applicationNamed(db: Db, name: string, exceptId?: number): { id: number; name: string; clientId: string } | undefined {
  const wanted = sameName(name);
  return db
    .select({ id: applications.id, name: applications.name, clientId: applications.clientId })
    .from(applications)
    .where(and(candidates(applications.name, name), exceptId === undefined ? undefined : ne(applications.id, exceptId)))
    .all()
    .find((a) => sameName(a.name) === wanted);
}

// The first free name: "Erasmus MC (2)", "Erasmus MC (3)", … for an organisation.
export function freeOrganisationName(db: Db, name: string, countryCode: string): string {
  for (let n = 2; ; n++) {
    const candidate = `${name} (${n})`;
    if (!organisationNamed(db, candidate, countryCode)) return candidate;
  }
}

// The first free name: "Partner-NL-ErasmusMC-DM-2", "-3", … for an application; the name
// itself when it is free.
export function freeApplicationName(db: Db, name: string): string {
  if (!applicationNamed(db, name)) return name;
  for (let n = 2; ; n++) {
    const candidate = `${name}-${n}`;
    if (!applicationNamed(db, candidate)) return candidate;
  }
}
