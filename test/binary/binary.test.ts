// Smoke test of the single executable (`make binary`, which `make test` builds first):
// empty DATA_DIR, /healthz, the CLI, a token from a secret made by create-secret, an
// online backup while serving, SIGTERM during a stream of token requests, integrity_check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/temp.ts';
import { addDays } from '../../server/lib/dates.ts';

const BINARY = path.resolve('dist/credentials-portal');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// One request on its own connection: a complete answer, or an error before any answer.
function tokenRequest(port: number, auth: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/oauth/token', agent: false, headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: auth, Connection: 'close' } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', (e) => resolve({ error: `after headers: ${e.message}` }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end('grant_type=client_credentials');
  });
}

test('the single executable serves, runs the CLI, backs up online, and stops without losing a request', async (t) => {
  assert.ok(fs.existsSync(BINARY), `${BINARY} exists (make binary)`);
  const dataDir = path.join(tempDir(t), 'data');
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: String(port), BASE_URL: `http://127.0.0.1:${port}`, PORTAL_ENV: 'sandbox', SIGNATURES: 'pool' };
  const cli = (...args: string[]) => spawnSync(BINARY, args, { env, encoding: 'utf8' });

  const server = spawn(BINARY, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => server.kill('SIGKILL'));
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  let healthy = false;
  while (!healthy && Date.now() < deadline) {
    healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (!healthy) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(healthy, '/healthz answers');
  assert.match(out, /\/setup\/[A-Za-z0-9_-]{43}/, 'the sandbox prints a setup URL');

  const invite = cli('invite-admin', '--email', 'ops@example.org');
  assert.equal(invite.status, 0, invite.stderr);
  assert.match(invite.stdout.trim(), /^http:\/\/127\.0\.0\.1:\d+\/setup\/[A-Za-z0-9_-]{43}$/);
  assert.equal(cli('invite-admin', '--email', 'not-an-email').status, 2, 'bad input: exit code 2');
  const org = cli('create-organisation', '--name', 'Binary Hospital', '--country', 'NL').stdout.trim();
  const clientId = cli('create-application', '--organisation', org, '--name', 'Partner-NL-Binary-DM', '--api', 'DM').stdout.trim();
  assert.match(clientId, /^[0-9a-f-]{36}$/);
  const made = cli('create-secret', '--client-id', clientId, '--name', 'smoke', '--expires', addDays(new Date().toISOString().slice(0, 10), 30));
  assert.equal(made.status, 0, made.stderr);
  const secret = made.stdout.trim();
  const auth = 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64');
  const first = await tokenRequest(port, auth);
  assert.ok('status' in first && first.status === 200, `a token: ${JSON.stringify(first)}`);
  // The first token starts the signature thread (a worker, from inside the executable) and
  // is signed inline meanwhile; the next ones are signed on the thread. The request log's
  // lines (one a second) say where.
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 3; i++) assert.equal(((await tokenRequest(port, auth)) as { status?: number }).status, 200);
  const tally = () => [...out.matchAll(/"oauth requests".*"signatures":\{"pooled":(\d+),"inline":(\d+),"rescued":(\d+)\}/g)].reduce((sum, m) => sum.map((n, i) => n + Number(m[i + 1])), [0, 0, 0]);
  const signed = () => tally().reduce((a, b) => a + b, 0);
  for (let i = 0; i < 60 && signed() < 4; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(tally(), [3, 1, 0], `pooled, inline, rescued: ${out.slice(-600)}`);

  const backupFile = path.join(path.dirname(dataDir), 'backup.sqlite');
  const backup = cli('backup', '--to', backupFile);
  assert.equal(backup.status, 0, backup.stderr);
  const copy = new Database(backupFile, { readonly: true });
  assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  assert.equal((copy.prepare('select count(*) n from client_secrets').get() as { n: number }).n, 1);
  copy.close();
  assert.equal(cli('backup', '--to', backupFile).status, 2, 'an existing file is not overwritten');

  // A stream of token requests; SIGTERM in the middle of it.
  const results: Array<Awaited<ReturnType<typeof tokenRequest>>> = [];
  let stop = false;
  const workers = Array.from({ length: 6 }, async () => {
    while (!stop) {
      const r = await tokenRequest(port, auth);
      results.push(r);
      if ('error' in r && /ECONNREFUSED/.test(r.error)) break;
    }
  });
  await new Promise((r) => setTimeout(r, 400));
  const before = results.length;
  server.kill('SIGTERM');
  const code = await exited;
  stop = true;
  await Promise.all(workers);
  assert.equal(code, 0, 'SIGTERM: exit code 0');
  assert.ok(before > 10, `requests were flowing (${before})`);
  for (const r of results) {
    if ('status' in r) {
      assert.equal(r.status, 200, 'every answered request succeeded');
      assert.ok(JSON.parse(r.body).access_token, 'and its answer is complete');
    } else {
      assert.match(r.error, /ECONNREFUSED|ECONNRESET|EPIPE/, `only connections never accepted fail: ${r.error}`);
      assert.doesNotMatch(r.error, /after headers/);
    }
  }
  const db = new Database(path.join(dataDir, 'portal.sqlite'));
  t.after(() => db.close());
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  assert.ok(!fs.readdirSync(path.dirname(BINARY)).includes('portal.sqlite'));
});
