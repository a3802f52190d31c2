// SECURITY.md 27: another connection holds the write lock (a CLI command, a backup, a
// full disk) while requests arrive. The portal runs as a real process; this test holds
// BEGIN IMMEDIATE on its SQLite file for 8 seconds from a second connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { eq } from 'drizzle-orm';
import { tempDir } from '../helpers/temp.ts';
import { bootstrap } from '../../server/bootstrap.ts';
import { seedApiCatalogue } from '../../server/admin/api-catalogue.ts';
import { createOrganisation } from '../../server/admin/organisations.ts';
import { createApplication, findApplicationByClientId } from '../../server/admin/applications.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { hashPassword } from '../../server/auth/passwords.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { dateInZone, addDays } from '../../server/lib/dates.ts';
import { users } from '../../db/schema.ts';
import { freePort } from '../helpers/ports.ts';

const PASSWORD = 'a long and uncommon passphrase';

async function world(dataDir: string) {
  const deps = bootstrap({ env: { DATA_DIR: dataDir, PORTAL_ENV: 'production' } });
  try {
    seedApiCatalogue(deps.db, deps.clock);
    const org = createOrganisation(deps.db, deps.clock, cliActor, { name: 'Hospital A', countryCode: 'NL' });
    assert.ok(org.ok);
    const app = createApplication(deps.db, deps.clock, cliActor, { organisationId: org.value.id, name: 'Partner-NL-A-DM', apiCodes: ['DM'], sandboxOnly: false });
    assert.ok(app.ok);
    const secret = createClientSecret(deps, cliActor, findApplicationByClientId(deps.db, app.value.clientId)!, { name: 'prod', expires: addDays(dateInZone(Date.now(), 'UTC'), 30) });
    assert.ok(secret.ok);
    const user = inviteUser(deps.db, deps.clock, cliActor, { organisationId: org.value.id, email: 'tech@hospital-a.example', name: 'Tech', managerOf: [app.value.clientId] });
    assert.ok(user.ok);
    deps.db.update(users).set({ passwordHash: await hashPassword(PASSWORD), totpSecret: 'unused' }).where(eq(users.id, user.value.userId)).run();
    return { clientId: app.value.clientId, secret: secret.value.secret };
  } finally {
    await deps.mailer?.idle();
    deps.db.$client.close();
  }
}

async function startServer(t: Parameters<typeof tempDir>[0], dataDir: string) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, PORTAL_ENV: 'production', PORT: String(port), BASE_URL: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  let exit: number | null | undefined;
  child.on('exit', (code) => (exit = code));
  t.after(() => child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  while (!out.includes('is running at') && Date.now() < deadline && exit === undefined) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes('is running at'), out);
  return { base: `http://127.0.0.1:${port}`, alive: () => exit === undefined, output: () => out };
}

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');

interface Timed {
  label: string;
  status: number;
  ms: number;
  retryAfter: string | null;
  body: string;
}

async function timed(label: string, url: string, init: RequestInit): Promise<Timed> {
  const started = performance.now();
  const res = await fetch(url, { ...init, redirect: 'manual' }).catch((err) => {
    throw new Error(`${label}: ${err.cause?.message ?? err.message}`);
  });
  const body = await res.text();
  return { label, status: res.status, ms: performance.now() - started, retryAfter: res.headers.get('retry-after'), body };
}

function tokenRequest(base: string, clientId: string, secret: string, label: string) {
  return timed(label, `${base}/oauth/token`, {
    method: 'POST',
    headers: { Authorization: basic(clientId, secret), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
}

// GET /login then POST it: the sign-in form needs no session row, so the page works
// while the database is locked; the POST needs a write.
async function signInAttempt(base: string, password: string, label: string): Promise<Timed[]> {
  const page = await timed(`${label}: GET /login`, `${base}/login`, {});
  const res = await fetch(`${base}/login`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1] ?? '';
  const post = await timed(`${label}: POST /login`, `${base}/login`, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', Origin: base },
    body: new URLSearchParams({ _csrf: csrf, email: 'tech@hospital-a.example', password }).toString(),
  });
  return [page, post];
}

test('a write lock held for 8 s by another connection: the process survives, every answer within about a second, service resumes at once', async (t) => {
  const dataDir = tempDir(t);
  const { clientId, secret } = await world(dataDir);
  const server = await startServer(t, dataDir);
  const { base } = server;
  assert.equal((await tokenRequest(base, clientId, secret, 'before')).status, 200);

  const locker = new Database(path.join(dataDir, 'portal.sqlite'));
  t.after(() => locker.open && locker.close());
  locker.exec('BEGIN IMMEDIATE');
  const lockedAt = performance.now();
  const answers: Timed[] = [];
  t.after(async () => { await new Promise((r) => setTimeout(r, 200)); if (!server.alive()) (await import("node:fs")).writeFileSync("/tmp/server-out.log", server.output()); });
  while (performance.now() - lockedAt < 7000) {
    answers.push(await tokenRequest(base, clientId, 'wrong-secret', 'wrong secret'));
    answers.push(await tokenRequest(base, clientId, secret, 'correct secret'));
    answers.push(await tokenRequest(base, 'no-such-client', 'x', 'unknown client'));
    // A few wrong passwords only: they count against the address's sign-in limit.
    if (answers.length < 30) answers.push(...(await signInAttempt(base, 'not the password', 'wrong password')));
    answers.push(...(await signInAttempt(base, PASSWORD, 'right password')));
    answers.push(await timed('healthz', `${base}/healthz`, {}));
  }
  assert.ok(performance.now() - lockedAt < 8000, 'all of that happened while the lock was held');
  locker.exec('COMMIT');
  locker.close();

  assert.ok(server.alive(), `the process survived:\n${server.output().slice(-2000)}`);
  const expected: Record<string, number[]> = {
    'wrong secret': [401],
    'correct secret': [200],
    'unknown client': [401],
    'wrong password: GET /login': [200],
    'wrong password: POST /login': [503],
    'right password: GET /login': [200],
    'right password: POST /login': [503],
    healthz: [200],
  };
  for (const a of answers) {
    assert.ok(expected[a.label]!.includes(a.status), `${a.label}: got ${a.status} ${a.body.slice(0, 200)}`);
    assert.ok(a.ms < 1200, `${a.label}: answered in ${a.ms.toFixed(0)} ms`);
    if (a.status === 503) {
      assert.equal(a.retryAfter, '1', `${a.label}: Retry-After`);
      assert.match(a.body, /busy for a moment/);
      assert.doesNotMatch(a.body, /SQLITE|at \w+ \(/, 'no error code or stack trace');
    }
  }
  assert.ok(answers.filter((a) => a.label === 'wrong secret').length >= 3, 'several rounds ran');

  // The lock is gone: normal service from the next request.
  assert.equal((await tokenRequest(base, clientId, secret, 'after')).status, 200);
  const [, signIn] = await signInAttempt(base, PASSWORD, 'after');
  assert.equal(signIn!.status, 303, 'sign-in works again');
  // The queued audit events of the failures reach the database once it is free.
  const db = new Database(path.join(dataDir, 'portal.sqlite'), { readonly: true });
  t.after(() => db.close());
  let failures = 0;
  for (let i = 0; i < 60 && failures === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    failures = (db.prepare("select count(*) as n from audit_events where action = 'token.auth_failed'").get() as { n: number }).n;
  }
  assert.ok(failures >= 1, 'failed token requests were audited after the lock ended');
  assert.ok(server.alive());
});
