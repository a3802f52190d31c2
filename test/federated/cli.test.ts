// Issue 29 on the command line: add-federated-credential (against a real issuer on
// loopback, in the sandbox), delete-credential by name for any kind (and by thumbprint as
// before), list-credentials with the federated credential's review date and usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { exchange, loopbackIssuer, SUBJECT } from '../helpers/issuer.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

test('add-federated-credential, list-credentials and delete-credential --name of any kind', async (t) => {
  const gh = await loopbackIssuer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: 'UTC' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: 'UTC' };
  const cli = (args: string[]) => cliInProcess(args, env);
  const today = dateInZone(Date.now(), 'UTC');

  const added = await cli(['add-federated-credential', '--client-id', clientId, '--name', 'registry-sync', '--issuer', gh.url, '--subject', SUBJECT]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^[0-9a-f-]{36}$/);
  const row = portal.deps.db.$client.prepare('select * from federated_credentials where id = ?').get(added.stdout) as { audience: string; review_on: string };
  assert.equal(row.audience, portal.baseUrl, 'the audience defaults to BASE_URL');
  assert.equal(row.review_on, addDays(today, 365));

  // Bad input: exit 2 and the option named, nothing stored.
  const refused = async (args: string[], rule: RegExp) => {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, rule);
    assert.equal(r.stdout, '');
  };
  await refused(['add-federated-credential', '--client-id', clientId, '--name', 'x', '--issuer', 'not a url', '--subject', ''], /--issuer: Enter the issuer.*--subject: Enter the subject/);
  await refused(['add-federated-credential', '--client-id', clientId, '--name', 'gone', '--issuer', 'http://127.0.0.1:9', '--subject', SUBJECT], /--issuer: The issuer/);
  await refused(['add-federated-credential', '--client-id', clientId, '--name', 'Registry-Sync', '--issuer', gh.url, '--subject', 'other'], /--name: This application already has a federated credential named/);
  await refused(['add-federated-credential', '--client-id', 'nope', '--name', 'x', '--issuer', gh.url, '--subject', SUBJECT], /--client-id: no application/);
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from federated_credentials').get() as { n: number }).n, 1);

  // Used once: list-credentials shows it with its usage and review date.
  assert.equal((await exchange(portal.baseUrl, clientId, await gh.mint({ aud: portal.baseUrl }), { 'User-Agent': 'github-actions/1' })).status, 200);
  portal.settle();
  const listed = JSON.parse((await cli(['list-credentials', '--client-id', clientId, '--json'])).stdout) as Array<Record<string, unknown>>;
  const fed = listed.find((r) => r.kind === 'federated')!;
  assert.deepEqual([fed.name, fed.hint, fed.expires, fed.requests30d, fed.status, fed.review, fed.lastClient], ['registry-sync', SUBJECT, '', 1, 'Active', addDays(today, 365), 'github-actions/1']);
  assert.ok(fed.lastUsed, 'last use shown');
  const tsv = (await cli(['list-credentials', '--client-id', clientId])).stdout;
  assert.match(tsv.split('\n')[0]!, /\treview$/);
  assert.match(tsv, new RegExp(`^federated\\tregistry-sync\\t${SUBJECT}\\t`, 'm'));

  // delete-credential --name: any kind; ambiguous and unknown names refused.
  createClientSecret(portal.deps, cliActor, app, { name: 'Registry-sync', expires: addDays(today, 30) });
  createClientSecret(portal.deps, cliActor, app, { name: 'CI secret', expires: addDays(today, 30) });
  const pem = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key = addPublicKey(portal.deps, cliActor, app, { name: 'VM key', key: pem, expires: addDays(today, 30) });
  assert.ok(key.ok);
  await refused(['delete-credential', '--client-id', clientId, '--name', 'registry-sync'], /--name: .* has 2 credentials named "registry-sync" \(secret, federated\)/);
  await refused(['delete-credential', '--client-id', clientId, '--name', 'nothing'], /--name: .* has no secret, key or federated credential named "nothing"/);
  await refused(['delete-credential', '--client-id', clientId], /give either --name or --thumbprint/);
  await refused(['delete-credential', '--client-id', clientId, '--name', 'x', '--thumbprint', 'y'], /give either --name or --thumbprint/);
  const bySecret = await cli(['delete-credential', '--client-id', clientId, '--name', 'ci secret']);
  assert.equal(bySecret.code, 0, bySecret.stderr);
  assert.match(bySecret.stderr, /deleted the secret "ci secret"/);
  assert.equal((await cli(['delete-credential', '--client-id', clientId, '--name', 'Registry-sync'])).code, 2, 'still two');
  assert.equal((await cli(['delete-credential', '--client-id', clientId, '--thumbprint', key.value.row.thumbprint])).code, 0, 'a key by thumbprint, as before');
  portal.deps.db.$client.prepare("update client_secrets set deleted_at = 1 where name = 'Registry-sync'").run();
  const byFed = await cli(['delete-credential', '--client-id', clientId, '--name', 'REGISTRY-SYNC']);
  assert.equal(byFed.code, 0, byFed.stderr);
  assert.match(byFed.stderr, /deleted the federated credential/);
  const actions = (portal.deps.db.$client.prepare("select action from audit_events where action like 'federated.%' order by id").all() as Array<{ action: string }>).map((a) => a.action);
  assert.deepEqual(actions, ['federated.add', 'federated.delete']);
  assert.equal((await exchange(portal.baseUrl, clientId, await gh.mint({ aud: portal.baseUrl }))).status, 401, 'the workload gets no more tokens');
});

test('add-federated-credential as a real process', async (t) => {
  const gh = await loopbackIssuer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' });
  const clientId = makeApplication(portal, makeOrganisation(portal, 'Hospital A'), 'Partner-NL-HospitalA-DM', ['DM']);
  // Not spawnSync: the issuer answers from this process, whose event loop must keep running.
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'server/cli/cli.ts', ...args], { env: { ...process.env, DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, PORTAL_ENV: 'sandbox' }, encoding: 'utf8', timeout: 90_000 }).then(
      (r) => ({ status: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ status: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
  const r = await run(['add-federated-credential', '--client-id', clientId, '--name', 'k8s sync', '--issuer', gh.url, '--subject', 'system:serviceaccount:registry:sync', '--audience', 'https://portal.example']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^[0-9a-f-]{36}$/);
  assert.equal(gh.asked.jwks, 1);
  const row = portal.deps.db.$client.prepare('select audience from federated_credentials where id = ?').get(r.stdout.trim()) as { audience: string };
  assert.equal(row.audience, 'https://portal.example');
});
