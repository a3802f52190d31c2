// The command line's catalogue and read-only listings, so that a deployment can be set
// up and audited by script: `create-api`, and `list-organisations`, `list-applications`,
// `list-apis`, `list-users`, each a header row and one line per row (tab-separated) or `--json`.
import type { Deps } from '../deps.ts';
import { cliActor } from '../audit/audit.ts';
import { createApi, listApis } from '../admin/api-catalogue.ts';
import { findOrganisation, listOrganisations } from '../admin/organisations.ts';
import { applicationsOf } from '../admin/applications.ts';
import { listUsers } from '../admin/users.ts';
import { grantedApis } from '../credentials/applications.ts';
import { parseId } from '../lib/validation.ts';
import { fail, one, unwrap, type Flags } from './args.ts';


// Rows as JSON, or a header row (the columns' names, as in the JSON) and one
// tab-separated line each.
function print(flags: Flags, rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (flags.has('json')) return JSON.stringify(rows, null, 2);
  return [columns.join('\t'), ...rows.map((r) => columns.map((c) => String(Array.isArray(r[c]) ? (r[c] as unknown[]).join(',') : (r[c] ?? ''))).join('\t'))].join('\n');
}

function organisationFilter(deps: Deps, flags: Flags): number | null {
  const raw = one(flags, 'organisation');
  if (raw === undefined) return null;
  const id = parseId(raw);
  if (id === null || !findOrganisation(deps.db, id)) fail(`--organisation: no organisation has the id "${raw}"`);
  return id;
}

export function createApiCommand(deps: Deps, flags: Flags): string {
  const input = { code: one(flags, 'code'), name: one(flags, 'name'), sandbox: one(flags, 'sandbox-resource'), production: one(flags, 'production-resource') };
  const r = createApi(deps.db, deps.clock, cliActor, input);
  // The console's field names, as the command's options.
  const option: Record<string, string> = { sandbox: 'sandbox-resource', production: 'production-resource' };
  return unwrap(r, option).code;
}

export function listOrganisationsCommand(deps: Deps, flags: Flags): string {
  const rows = listOrganisations(deps.db, deps.clock.now());
  return print(flags, rows, ['id', 'countryCode', 'name', 'users', 'applications', 'activeSecrets']);
}

export function listApplicationsCommand(deps: Deps, flags: Flags): string {
  const only = organisationFilter(deps, flags);
  const orgs = listOrganisations(deps.db, deps.clock.now()).filter((o) => only === null || o.id === only);
  const rows = orgs.flatMap((o) =>
    applicationsOf(deps.db, o.id).map((a) => ({
      clientId: a.clientId,
      name: a.name,
      organisationId: o.id,
      organisation: o.name,
      apis: grantedApis(deps.db, a.id).map((g) => g.code),
      sandboxOnly: a.sandboxOnly,
      disabled: a.disabledAt !== null,
    })),
  );
  return print(flags, rows, ['clientId', 'name', 'organisationId', 'apis', 'sandboxOnly', 'disabled']);
}

export function listApisCommand(deps: Deps, flags: Flags): string {
  const rows = listApis(deps.db).map((a) => ({ code: a.code, name: a.name, productionResource: a.productionResource, sandboxResource: a.sandboxResource, applications: a.inUse }));
  return print(flags, rows, ['code', 'name', 'productionResource', 'sandboxResource', 'applications']);
}

export function listUsersCommand(deps: Deps, flags: Flags): string {
  const only = organisationFilter(deps, flags);
  const scopes = only === null ? [null, ...listOrganisations(deps.db, deps.clock.now()).map((o) => o.id)] : [only];
  const rows = scopes.flatMap((orgId) =>
    listUsers(deps.db, orgId).map((u) => ({ id: u.id, email: u.email, name: u.displayName, organisationId: orgId, admin: u.isAdmin, setUp: u.setUp, disabled: u.disabled })),
  );
  return print(flags, rows, ['id', 'email', 'name', 'organisationId', 'admin', 'setUp', 'disabled']);
}
