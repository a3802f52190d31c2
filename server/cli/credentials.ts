// The command line's credential commands (issue 28): `list-credentials` (every credential
// of an application, whatever its kind (federated ones with their review date), with its usage: last used, from where, by which
// client, requests and refusals in 30 days, status including "safe to delete"),
// `roll-secret` (prints the new secret; the old one expires after the grace period) and
// `delete-secret` (by name: secret names are unique per application).
import type { Deps } from '../deps.ts';
import { cliActor } from '../audit/audit.ts';
import { credentialStates } from '../credentials/safe-to-delete.ts';
import { readApplications } from '../credentials/reads.ts';
import { readUsage } from '../credentials/usage.ts';
import { secretStatus } from '../credentials/status.ts';
import { NEVER, reviewStatus } from '../credentials/federated-views.ts';
import { dateInZone } from '../lib/dates.ts';
import { deleteClientSecret, type ClientSecret } from '../credentials/secrets.ts';
import { rollClientSecret } from '../credentials/roll.ts';
import { clientSecrets } from '../../db/schema.ts';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { applicationOf, fail, one, unwrap, type CommandSpec, type Flags } from './args.ts';

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

export function listCredentialsCommand(deps: Deps, flags: Flags): string {
  const app = applicationOf(deps, flags);
  const now = deps.clock.now();
  const today = dateInZone(now, deps.config.timezone);
  const rows: Array<Record<string, unknown>> = (credentialStates(deps, [app.id], now).get(app.id) ?? []).map((c) => ({
    kind: c.kind,
    name: c.name,
    hint: c.kind === 'secret' ? `${c.label}…` : c.label,
    expires: c.expiresOn,
    lastUsed: iso(c.usage.lastUsedAt),
    lastAddress: c.usage.lastAddress,
    lastClient: c.usage.lastClient,
    requests30d: c.usage.requests,
    refusals30d: c.usage.refusals,
    status: `${c.reviewOn !== undefined ? reviewStatus(c.reviewOn, c.reviewAt ?? NEVER, now, today).label : secretStatus(c, now, deps.config.timezone).label}${c.safeText ? ', safe to delete' : ''}`,
    review: c.reviewOn ?? '',
  }));
  // Keys at the application's JWKS URL count as one credential (id 'jwks').
  const url = readApplications(deps.db, [app.id]).jwksUrls.get(app.id);
  if (url) {
    const u = readUsage(deps.db, [app.id], now, deps.config.timezone).of(app.id, 'jwks', 'jwks');
    rows.push({ kind: 'jwks', name: url, hint: '', expires: '', lastUsed: iso(u.lastUsedAt), lastAddress: u.lastAddress, lastClient: u.lastClient, requests30d: u.requests, refusals30d: u.refusals, status: 'Active', review: '' });
  }
  if (flags.has('json')) return JSON.stringify(rows, null, 2);
  const columns = ['kind', 'name', 'hint', 'expires', 'lastUsed', 'lastAddress', 'lastClient', 'requests30d', 'refusals30d', 'status', 'review'];
  // A header row first, like every list-* command (the JSON field names).
  return [columns.join('\t'), ...rows.map((r) => columns.map((c) => String(r[c] ?? '').replace(/[\t\n]/g, ' ')).join('\t'))].join('\n');
}

// The live secret of the application with this name (names compared without case).
function secretByName(deps: Deps, applicationId: number, name: string): ClientSecret {
  const row = deps.db
    .select()
    .from(clientSecrets)
    .where(and(eq(clientSecrets.applicationId, applicationId), isNull(clientSecrets.deletedAt), sql`lower(${clientSecrets.name}) = lower(${name})`))
    .get();
  return row ?? fail(`--name: the application has no secret named "${name}"`);
}

export const credentialCommands: Record<string, CommandSpec> = {
  'list-credentials': { usage: 'list-credentials --client-id ID [--json]', flags: { 'client-id': 'value', json: 'boolean' }, required: ['client-id'], run: listCredentialsCommand },
  'roll-secret': {
    usage: 'roll-secret --client-id ID --name N [--grace-days D]',
    flags: { 'client-id': 'value', name: 'value', 'grace-days': 'value' },
    required: ['client-id', 'name'],
    run: (deps, f) => {
      const app = applicationOf(deps, f);
      const old = secretByName(deps, app.id, one(f, 'name')!);
      const { secret, old: rolled } = unwrap(rollClientSecret(deps, cliActor, app, old, { graceDays: one(f, 'grace-days') }), { grace_days: 'grace-days' });
      process.stderr.write(`the old secret "${old.name}" expires at the end of ${rolled.expiresOn}\n`);
      return secret;
    },
  },
  'delete-secret': {
    usage: 'delete-secret --client-id ID --name N',
    flags: { 'client-id': 'value', name: 'value' },
    required: ['client-id', 'name'],
    run: (deps, f) => {
      const app = applicationOf(deps, f);
      deleteClientSecret(deps, cliActor, app, secretByName(deps, app.id, one(f, 'name')!).id);
      return '';
    },
  },
};
