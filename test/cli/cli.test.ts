// The command line and the server's start-up, as operators run them: real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { eq } from 'drizzle-orm';
import { tempDir } from '../helpers/temp.ts';
import { openDatabase } from '../../db/client.ts';
import { cliInProcess as inProcess } from '../helpers/cli.ts';
import { applications, clientSecrets, credentialManagers, users } from '../../db/schema.ts';
import fs from 'node:fs';
import { and } from 'drizzle-orm';
import { startPortal } from '../helpers/portal.ts';
import { buildWorld } from '../helpers/fixtures.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

function portal(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'server/cli/cli.ts', ...args], {
    env: { ...process.env, PORTAL_ENV: 'production', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

test('CLI: invite-admin, create-organisation, create-application, invite-user', async (t) => {
  const env = { DATA_DIR: tempDir(t), BASE_URL: 'https://portal.example.org' };
  const admin = portal(['invite-admin', '--email', 'Ops@Example.org', '--name', 'Ops'], env);
  assert.equal(admin.code, 0, admin.stderr);
  assert.match(admin.stdout, /^https:\/\/portal\.example\.org\/setup\/[A-Za-z0-9_-]{43}$/);

  const org = await inProcess(['create-organisation', '--name', 'Erasmus MC', '--country', 'nl'], env);
  assert.equal(org.code, 0, org.stderr);
  assert.match(org.stdout, /^\d+$/);
  // The API catalogue is empty outside the sandbox: seed it the way the admin console will.
  const db = openDatabase(`${env.DATA_DIR}/portal.sqlite`);
  t.after(() => db.$client.close());
  db.$client.exec(`insert into apis (code, name, sandbox_resource, production_resource, created_at) values ('DM', 'Data Manager', 'https://sb/dm', 'https://prod/dm', 0), ('SMC', 'Match-Connect', 'https://sb/smc', 'https://prod/smc', 0)`);

  const app = await inProcess(['create-application', '--organisation', org.stdout, '--name', 'Partner-NL-Erasmus-DM', '--api', 'DM', '--api', 'smc', '--sandbox-only'], env);
  assert.equal(app.code, 0, app.stderr);
  assert.match(app.stdout, /^[0-9a-f-]{36}$/);
  const row = db.select().from(applications).where(eq(applications.clientId, app.stdout)).get()!;
  assert.equal(row.sandboxOnly, true);

  const user = await inProcess(['invite-user', '--organisation', org.stdout, '--email', 'tech@erasmus.example', '--manager-of', app.stdout], env);
  assert.equal(user.code, 0, user.stderr);
  assert.match(user.stdout, /\/setup\//);
  const u = db.select().from(users).where(eq(users.email, 'tech@erasmus.example')).get()!;
  assert.equal(db.select().from(credentialManagers).where(eq(credentialManagers.userId, u.id)).all().length, 1);

  const bad: Array<[string, string[], RegExp]> = [
    ['no command', [], /usage/],
    ['unknown command', ['make-coffee'], /unknown command/],
    ['missing email', ['invite-admin'], /--email is required/],
    ['bad email', ['invite-admin', '--email', 'not-an-email'], /valid email/],
    ['a member is not an administrator', ['invite-admin', '--email', 'tech@erasmus.example'], /tech@erasmus\.example is a user of an organisation, not an administrator/],
    ['duplicate email', ['invite-user', '--organisation', org.stdout, '--email', 'ops@example.org'], /already exists/],
    ['unknown option', ['invite-admin', '--email', 'x@example.org', '--admin'], /unknown option --admin/],
    ['flag without value', ['create-organisation', '--name', '--country', 'NL'], /--name needs a value/],
    ['bad country', ['create-organisation', '--name', 'X', '--country', 'Netherlands'], /two-letter country code/],
    ['unknown organisation', ['create-application', '--organisation', '999', '--name', 'A', '--api', 'DM'], /existing organisation/],
    ['unknown api', ['create-application', '--organisation', org.stdout, '--name', 'A', '--api', 'NOPE'], /Unknown API code: NOPE/],
    ['control characters in a name', ['create-application', '--organisation', org.stdout, '--name', 'A\nB', '--api', 'DM'], /control characters/],
    ['unknown client id', ['invite-user', '--organisation', org.stdout, '--email', 'y@example.org', '--manager-of', 'nope'], /No application has the client ID/],
  ];
  // Bad input in-process (the same runCli the binary and `npm run portal` call): exit code 2,
  // a message, no stack trace. One real process above is enough to prove the wiring.
  for (const [name, args, message] of bad) {
    const r = await inProcess(args, env);
    assert.equal(r.code, 2, `${name}: exit code 2 (${r.stderr})`);
    assert.match(r.stderr, message, name);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
  const org2 = await inProcess(['create-organisation', '--name', 'Other', '--country', 'BE'], env);
  const cross = await inProcess(['invite-user', '--organisation', org2.stdout, '--email', 'z@example.org', '--manager-of', app.stdout], env);
  assert.equal(cross.code, 2, 'a manager must belong to the application\'s organisation');
  assert.match(cross.stderr, /belongs to another organisation/);
});

test('bad configuration, as an operator meets it: one clear line on stderr and exit code 2', (t) => {
  // The rules themselves are table-tested in-process (test/config.test.ts); this is the real process.
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts'], { env: { ...process.env, DATA_DIR: tempDir(t), PORT: 'eighty' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'configuration error: PORT must be a whole number between 0 and 65535, got "eighty"\n');
});

test('sandbox start: seeds the API catalogue, prints a setup URL and serves /healthz', async (t) => {
  const dataDir = tempDir(t);
  const port = 40000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, PORTAL_ENV: 'sandbox', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const deadline = Date.now() + 20_000;
  while (!out.includes('is running at') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /http:\/\/localhost:\d+\/setup\/[A-Za-z0-9_-]{43}/);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok');
  const login = await (await fetch(`http://127.0.0.1:${port}/login`)).text();
  assert.match(login, /SANDBOX/);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'SIGTERM: clean exit');
  const db = openDatabase(`${dataDir}/portal.sqlite`);
  t.after(() => db.$client.close());
  const codes = db.$client.prepare('select code from apis order by code').all() as Array<{ code: string }>;
  assert.deepEqual(codes.map((c) => c.code), ['DM', 'SM', 'SMC']);
  assert.equal(db.$client.pragma('journal_mode', { simple: true }), 'wal');
});

test('CLI: a production deployment set up and audited by script — create-api, then the listings as text and JSON', async (t) => {
  const env = { DATA_DIR: tempDir(t), BASE_URL: 'https://portal.example.org' };
  const api = await inProcess(['create-api', '--code', 'dm', '--name', 'Data Manager', '--production-resource', 'https://api.example.org/dm', '--sandbox-resource', 'https://sandbox.api.example.org/dm'], env);
  assert.equal(api.code, 0, api.stderr);
  assert.equal(api.stdout, 'DM');
  const org = await inProcess(['create-organisation', '--name', 'Erasmus MC', '--country', 'NL'], env);
  const app = await inProcess(['create-application', '--organisation', org.stdout, '--name', 'Partner-NL-ErasmusMC-DM', '--api', 'DM'], env);
  assert.equal(app.code, 0, `the README's example works in production once the API exists: ${app.stderr}`);
  const user = await inProcess(['invite-user', '--organisation', org.stdout, '--email', 'tech@erasmusmc.example', '--manager-of', app.stdout], env);
  assert.equal(user.code, 0, user.stderr);

  const apis = JSON.parse((await inProcess(['list-apis', '--json'], env)).stdout);
  assert.deepEqual(apis, [{ code: 'DM', name: 'Data Manager', productionResource: 'https://api.example.org/dm', sandboxResource: 'https://sandbox.api.example.org/dm', applications: 1 }]);
  const orgs = JSON.parse((await inProcess(['list-organisations', '--json'], env)).stdout);
  assert.deepEqual(orgs.map((o: { name: string; applications: number; users: number }) => [o.name, o.applications, o.users]), [['Erasmus MC', 1, 1]]);
  const apps = JSON.parse((await inProcess(['list-applications', '--organisation', org.stdout, '--json'], env)).stdout);
  assert.deepEqual(apps, [{ clientId: app.stdout, name: 'Partner-NL-ErasmusMC-DM', organisationId: Number(org.stdout), organisation: 'Erasmus MC', apis: ['DM'], sandboxOnly: false, disabled: false }]);
  const users = JSON.parse((await inProcess(['list-users', '--json'], env)).stdout);
  assert.deepEqual(users.map((u: { email: string; setUp: boolean }) => [u.email, u.setUp]), [['tech@erasmusmc.example', false]]);
  const text = await inProcess(['list-applications'], env);
  assert.equal(text.stdout, `clientId\tname\torganisationId\tapis\tsandboxOnly\tdisabled\n${app.stdout}\tPartner-NL-ErasmusMC-DM\t${org.stdout}\tDM\tfalse\tfalse`);

  const bad: Array<[string, string[], RegExp]> = [
    ['duplicate code', ['create-api', '--code', 'DM', '--name', 'X', '--production-resource', 'https://a/x', '--sandbox-resource', 'https://b/x'], /The code DM is taken/],
    ['same resources', ['create-api', '--code', 'X', '--name', 'X', '--production-resource', 'https://a/x', '--sandbox-resource', 'https://a/x'], /--production-resource: Sandbox and production need different/],
    ['missing resource', ['create-api', '--code', 'X', '--name', 'X', '--production-resource', 'https://a/x'], /--sandbox-resource is required/],
    ['unknown organisation', ['list-users', '--organisation', '999'], /no organisation has the id "999"/],
    ['json takes no value', ['list-apis', '--json=yes'], /--json takes no value/],
  ];
  for (const [name, args, message] of bad) {
    const r = await inProcess(args, env);
    assert.equal(r.code, 2, `${name}: exit code 2 (${r.stderr})`);
    assert.match(r.stderr, message, name);
  }
});

test('CLI create-secret prints the secret once and validates its input', async (t) => {
  const portal = await startPortal(t);
  const world = await buildWorld(portal);
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl };
  const ok = await inProcess(['create-secret', '--client-id', world.appA1, '--name', 'Made by CLI', '--expires', addDays(dateInZone(portal.clock.now(), 'UTC'), 30)], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^[0-9A-Za-z]{44}$/);
  const row = portal.deps.db.select().from(clientSecrets).where(and(eq(clientSecrets.name, 'Made by CLI'))).get()!;
  assert.equal(row.hint, ok.stdout.trim().slice(0, 3));
  const outbox = fs.readdirSync(`${portal.dataDir}/outbox`);
  assert.equal(outbox.length, 1, 'the credential manager is told (outbox: no SMTP_URL)');
  const mail = fs.readFileSync(`${portal.dataDir}/outbox/${outbox[0]}`, 'utf8');
  assert.match(mail, /^To: a1 <a1@hospital-a\.example>/m);
  assert.match(mail, /Subject: Client secret created for Partner-NL-HospitalA-DM/);
  assert.ok(!mail.includes(ok.stdout.trim()), 'never the secret itself');
  for (const [args, message] of [
    [['--client-id', 'nope', '--name', 'x', '--expires', addDays(dateInZone(portal.clock.now(), 'UTC'), 30)], /no application has the client ID/],
    [['--client-id', world.appA1, '--name', 'x', '--expires', '2020-01-01'], /tomorrow or later/],
    [['--client-id', world.appA1, '--name', '', '--expires', addDays(dateInZone(portal.clock.now(), 'UTC'), 30)], /Enter a client secret name/],
    [['--client-id', world.appA1, '--name', 'x'], /--expires is required/],
  ] as Array<[string[], RegExp]>) {
    const refused = await inProcess(['create-secret', ...args], env);
    assert.equal(refused.code, 2, args.join(' '));
    assert.match(refused.stderr, message);
  }
});
