// SECURITY.md 27/41: a full disk (or an I/O error) → 503 with Retry-After where a write is
// required, one log line naming the cause, no stack trace, nothing half-written, and
// normal service once there is room again.
// The disk is made full for real SQLite: each of the portal's connections (the pages' one
// and the token endpoint's own) gets `PRAGMA max_page_count` at the file's current size,
// and a TEMP trigger on every table makes each write also store a 1 MB blob, so every
// write needs new pages and SQLite itself refuses it with SQLITE_FULL. Reads go on.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type Database from 'better-sqlite3';
import { and, eq } from 'drizzle-orm';
import { bootstrap } from '../../server/bootstrap.ts';
import { createPortalHandler } from '../../server/handler.ts';
import { createHttpServer } from '../../server/serve.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { memoryLogger } from '../../server/lib/log.ts';
import { seedApiCatalogue } from '../../server/admin/api-catalogue.ts';
import { lowerPasswordHashCostForTests } from '../../server/auth/passwords.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { auditEvents, clientSecrets } from '../../db/schema.ts';
import { isBusyError, isStorageError } from '../../db/client.ts';
import { Client } from '../helpers/http.ts';
import { tempDir } from '../helpers/temp.ts';
import type { TestPortal } from '../helpers/portal.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';

lowerPasswordHashCostForTests(1024);

// test/helpers/portal.ts's portal, with the token endpoint's connection in hand as well.
async function startPortal(t: TestContext): Promise<TestPortal & { connections: Database.Database[] }> {
  const dataDir = tempDir(t);
  const clock = fixedClock(Date.now());
  const logger = memoryLogger();
  const server = createHttpServer({ requestTimeoutSeconds: 10 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const deps = bootstrap({ env: { DATA_DIR: dataDir, BASE_URL: baseUrl }, clock, logger });
  seedApiCatalogue(deps.db, clock);
  const portal = createPortalHandler(deps);
  server.on('request', portal.handler);
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    portal.close();
    deps.mailer.close();
    deps.db.$client.close();
  });
  return { baseUrl, deps, clock, logs: logger.lines, dataDir, client: () => new Client(baseUrl), settle: () => portal.flush(), connections: [deps.db.$client, portal.oauthConnection] };
}

function diskFull(connections: Database.Database[]) {
  const [main] = connections;
  main!.exec('create table if not exists disk_filler (b blob)');
  const tables = (main!.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> 'disk_filler'").all() as Array<{ name: string }>).map((r) => r.name);
  for (const sqlite of connections) {
    const pages = sqlite.pragma('page_count', { simple: true }) as number;
    assert.equal(sqlite.pragma(`max_page_count = ${pages}`, { simple: true }), pages);
    for (const table of tables) {
      for (const op of ['insert', 'update', 'delete']) {
        sqlite.exec(`create temp trigger "full_${table}_${op}" after ${op} on "${table}" begin insert into disk_filler values (zeroblob(1000000)); end`);
      }
    }
  }
}

function diskFreed(connections: Database.Database[]) {
  for (const sqlite of connections) {
    for (const { name } of sqlite.prepare("select name from temp.sqlite_master where type = 'trigger' and name like 'full_%'").all() as Array<{ name: string }>) {
      sqlite.exec(`drop trigger temp."${name}"`);
    }
    sqlite.pragma('max_page_count = 1073741823');
  }
}

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
const token = (portal: TestPortal, id: string, secret: string) =>
  fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { Authorization: basic(id, secret), 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });

async function until(what: string, condition: () => boolean, ms = 5000) {
  const deadline = performance.now() + ms;
  while (!condition()) {
    assert.ok(performance.now() < deadline, `waited ${ms} ms for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a full disk: writes answer 503 with Retry-After and a plain message, one log line naming the cause, no stack; reads and tokens go on; nothing half-written; service resumes', async (t) => {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const application = findApplicationByClientId(portal.deps.db, clientId)!;
  const made = createClientSecret(portal.deps, cliActor, application, { name: 'prod', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 30) });
  assert.ok(made.ok);
  const manager = await createUser(portal, org, 'tech@hospital-a.example', [clientId]);
  const c = await signIn(portal, manager);
  const page = `/manage-api-credentials/applications/${clientId}/secrets`;
  await c.get('/manage-api-credentials');
  const fresh = await signIn(portal, manager); // signed in, no page seen yet: its session has no CSRF token
  const secretsBefore = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.applicationId, application.id)).all().length;
  const auditBefore = portal.deps.db.select().from(auditEvents).all().length;
  const expires = addDays(dateInZone(portal.clock.now(), 'UTC'), 60);

  diskFull(portal.connections);
  t.after(() => portal.connections.every((s) => s.open) && diskFreed(portal.connections));

  const answers = [
    ['create a secret (page)', await c.post(page, { name: 'new', expires })],
    ['create a secret (htmx)', await c.post(page, { name: 'new', expires }, { 'HX-Request': 'true' })],
    ['sign in (a new session)', await (async () => {
      const other = portal.client();
      await other.get('/login');
      return other.post('/login', { email: manager.email, password: manager.password });
    })()],
  ] as const;
  for (const [label, r] of answers) {
    assert.equal(r.status, 503, `${label}: ${r.text.slice(0, 300)}`);
    assert.equal(r.headers.get('retry-after'), '30', `${label}: Retry-After`);
    assert.match(r.text, /storage is full or failing\. Nothing was changed/, label);
    assert.doesNotMatch(r.text, /SQLITE|SqliteError|at \w+ \(|node_modules/, `${label}: no error code or stack trace`);
  }
  const json = await c.request('POST', page, { form: { _csrf: c.csrf, name: 'new', expires }, headers: { Accept: 'application/json' } });
  assert.equal(json.status, 503);
  assert.equal(JSON.parse(json.text).error, 'temporarily_unavailable');

  // Reading goes on: the page (its session not extended, logged), /healthz, and tokens
  // (the endpoint only reads on the request path; its audit and last-use writes wait).
  assert.equal((await c.get('/manage-api-credentials')).status, 200);
  // A page whose session changed (its first CSRF token) still answers; storing the session
  // failed, and the log says so (session.ts).
  assert.equal((await fresh.get('/manage-api-credentials')).status, 200);
  assert.ok(portal.logs.some((l) => l.includes('"session not saved"') && l.includes('database or disk is full')), 'the failed session save is logged');
  assert.equal((await fetch(`${portal.baseUrl}/healthz`)).status, 200);
  assert.equal((await token(portal, clientId, made.value.secret)).status, 200);
  assert.equal((await token(portal, clientId, 'a wrong secret')).status, 401);
  portal.settle();
  assert.ok(portal.logs.some((l) => l.includes('retrying') && l.includes('database or disk is full')), 'the queued writes failed, and said why');

  const full = portal.logs.filter((l) => l.includes('database full or failing'));
  assert.equal(full.length, 4, 'one line per refused request');
  for (const line of full) assert.match(line, /"code":"SQLITE_FULL"/);
  for (const line of portal.logs) {
    assert.doesNotMatch(line, /"stack"|unhandled error|oauth endpoint failed/, `no stack trace, no 500: ${line.slice(0, 300)}`);
  }

  // Nothing half-written: no secret, no audit event of the refused requests.
  diskFreed(portal.connections);
  assert.equal(portal.deps.db.$client.pragma('integrity_check', { simple: true }), 'ok');
  assert.equal(portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.applicationId, application.id)).all().length, secretsBefore);
  assert.equal(portal.deps.db.select().from(auditEvents).all().length, auditBefore, 'no audit event either');
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from disk_filler').get() as { n: number }).n, 0, 'no trigger write survived either');

  // Room again: the same request works, and the token endpoint's queued writes land.
  const created = await c.post(page, { name: 'new', expires }, { 'HX-Request': 'true' });
  assert.equal(created.status, 201, created.text.slice(0, 300));
  const auditedFor = (action: string) => portal.deps.db.select().from(auditEvents).where(and(eq(auditEvents.action, action), eq(auditEvents.applicationId, application.id))).all().length;
  assert.equal(auditedFor('secret.create'), 2, 'the CLI\'s secret and this one');
  await until('the failed token request audited once the disk has room', () => {
    portal.settle();
    return (portal.deps.db.$client.prepare("select count(*) as n from audit_events where action like 'token.auth_failed%'").get() as { n: number }).n >= 1;
  });
});

test('which SQLite errors are a storage fault (503, try later), which are busy (503, try again), which are neither (500)', () => {
  const cases: Array<[string, unknown, 'storage' | 'busy' | 'neither']> = [
    ['SQLITE_FULL', { code: 'SQLITE_FULL' }, 'storage'],
    ['SQLITE_IOERR', { code: 'SQLITE_IOERR' }, 'storage'],
    ['SQLITE_IOERR_WRITE', { code: 'SQLITE_IOERR_WRITE' }, 'storage'],
    ['SQLITE_IOERR_FSYNC', { code: 'SQLITE_IOERR_FSYNC' }, 'storage'],
    ['SQLITE_IOERR_SHORT_READ', { code: 'SQLITE_IOERR_SHORT_READ' }, 'storage'],
    ['wrapped by drizzle (cause)', { message: 'Failed query: insert ...', cause: { code: 'SQLITE_FULL' } }, 'storage'],
    ['SQLITE_BUSY', { code: 'SQLITE_BUSY' }, 'busy'],
    ['SQLITE_BUSY_SNAPSHOT', { code: 'SQLITE_BUSY_SNAPSHOT' }, 'busy'],
    ['SQLITE_LOCKED', { code: 'SQLITE_LOCKED' }, 'busy'],
    ['SQLITE_CONSTRAINT_UNIQUE', { code: 'SQLITE_CONSTRAINT_UNIQUE' }, 'neither'],
    ['SQLITE_ERROR (no such table)', { code: 'SQLITE_ERROR' }, 'neither'],
    ['a file-system error that is not SQLite', { code: 'EIO' }, 'neither'],
    ['not an error', null, 'neither'],
  ];
  for (const [name, err, kind] of cases) {
    assert.equal(isStorageError(err), kind === 'storage', `${name}: storage`);
    assert.equal(isBusyError(err), kind === 'busy', `${name}: busy`);
  }
});
