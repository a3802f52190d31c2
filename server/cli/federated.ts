// The command line's federated-credential commands (issue 29): `add-federated-credential`
// (checks the fields, fetches the issuer's discovery document and keys once, prints the
// credential's id) and `delete-credential`, which removes a credential of any kind (secret,
// key, federated) by name, or a key by its thumbprint as before.
import { and, isNull, sql, eq } from 'drizzle-orm';
import type { Deps } from '../deps.ts';
import { cliActor } from '../audit/audit.ts';
import { clientKeys, clientSecrets, federatedCredentials } from '../../db/schema.ts';
import { addFederatedCredential, deleteFederatedCredential } from '../credentials/federated.ts';
import { deleteClientSecret } from '../credentials/secrets.ts';
import { deletePublicKey } from '../credentials/public-keys.ts';
import { recordedBaseUrl } from '../settings.ts';
import { deleteCredentialCommand } from './keys.ts';
import { applicationOf, fail, one, unwrap, type CommandSpec, type Flags, type Say } from './args.ts';

async function addFederatedCommand(deps: Deps, flags: Flags): Promise<string> {
  const app = applicationOf(deps, flags);
  const audience = one(flags, 'audience');
  // The audience defaults to the portal's own address: it must be the real one.
  if (audience === undefined && !deps.config.baseUrlSet && !recordedBaseUrl(deps.db)) {
    fail('--audience: no BASE_URL to default to; set BASE_URL (or start the portal once so that it records its own), or give --audience');
  }
  const r = await addFederatedCredential(deps, cliActor, app, { name: one(flags, 'name'), issuer: one(flags, 'issuer'), subject: one(flags, 'subject'), audience });
  return unwrap(r).row.id;
}

// Every live credential of the application with this name, whatever its kind (names
// compared without case, as the page and the domain functions compare them).
function byName(deps: Deps, applicationId: number, name: string) {
  const { db } = deps;
  const named = (column: typeof clientSecrets.name | typeof clientKeys.name | typeof federatedCredentials.name) => sql`lower(${column}) = lower(${name})`;
  return [
    ...db.select({ id: clientSecrets.id }).from(clientSecrets).where(and(eq(clientSecrets.applicationId, applicationId), isNull(clientSecrets.deletedAt), named(clientSecrets.name))).all().map((r) => ({ kind: 'secret' as const, id: r.id })),
    ...db.select({ id: clientKeys.id }).from(clientKeys).where(and(eq(clientKeys.applicationId, applicationId), isNull(clientKeys.deletedAt), named(clientKeys.name))).all().map((r) => ({ kind: 'key' as const, id: r.id })),
    ...db.select({ id: federatedCredentials.id }).from(federatedCredentials).where(and(eq(federatedCredentials.applicationId, applicationId), isNull(federatedCredentials.deletedAt), named(federatedCredentials.name))).all().map((r) => ({ kind: 'federated' as const, id: r.id })),
  ];
}

function deleteAnyCommand(deps: Deps, flags: Flags, say: Say): string {
  const name = one(flags, 'name');
  const thumbprint = one(flags, 'thumbprint');
  if ((name === undefined) === (thumbprint === undefined)) fail('give either --name or --thumbprint');
  if (thumbprint !== undefined) return deleteCredentialCommand(deps, flags);
  const app = applicationOf(deps, flags);
  const found = byName(deps, app.id, name!);
  if (found.length === 0) fail(`--name: ${app.name} has no secret, key or federated credential named "${name}"`);
  if (found.length > 1) fail(`--name: ${app.name} has ${found.length} credentials named "${name}" (${found.map((f) => f.kind).join(', ')}); delete a key by --thumbprint, or rename on the page`);
  const [only] = found;
  if (only!.kind === 'secret') deleteClientSecret(deps, cliActor, app, only!.id);
  else if (only!.kind === 'key') deletePublicKey(deps, cliActor, app, { id: only!.id });
  else deleteFederatedCredential(deps, cliActor, app, { id: only!.id });
  say(`deleted the ${only!.kind === 'federated' ? 'federated credential' : only!.kind} "${name}" of ${app.name}`);
  return '';
}

export const federatedCommands: Record<string, CommandSpec> = {
  'add-federated-credential': {
    usage: 'add-federated-credential --client-id ID --name N --issuer URL --subject S [--audience A]  (--audience: BASE_URL unless given)',
    flags: { 'client-id': 'value', name: 'value', issuer: 'value', subject: 'value', audience: 'value' },
    required: ['client-id', 'name', 'issuer', 'subject'],
    run: addFederatedCommand,
  },
  'delete-credential': {
    usage: 'delete-credential --client-id ID (--name N | --thumbprint T)  (--name: a secret, key or federated credential)',
    flags: { 'client-id': 'value', name: 'value', thumbprint: 'value' },
    required: ['client-id'],
    run: deleteAnyCommand,
  },
};
