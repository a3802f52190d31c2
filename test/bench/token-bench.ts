// `make bench`: the token endpoint against a bare node:http hello-world, in one run on
// this machine, each reported as a ratio to the baseline. Servers run as child
// processes (one core each at most); autocannon drives them from this process.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import autocannon from 'autocannon';
import { bootstrap } from '../../server/bootstrap.ts';
import { seedApiCatalogue } from '../../server/admin/api-catalogue.ts';
import { createOrganisation } from '../../server/admin/organisations.ts';
import { createApplication } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addDays, dateInZone } from '../../server/dates.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 50;
const CLIENTS = 1000;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer`);
}

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  statuses: string;
}

async function load(name: string, url: string, requests: autocannon.Request[] | undefined): Promise<Result> {
  // A short warm-up first, so the JIT and SQLite's page cache are hot for the measured run.
  await autocannon({ url, connections: 10, duration: 2, requests });
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, requests });
  const statuses = Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => `${code}×${(v as { count: number }).count}`).join(' ');
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, statuses };
}

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

// Start to a ready endpoint, and resident memory once idle, of a command.
async function startup(command: string, args: string[], env: NodeJS.ProcessEnv, readyPath: string): Promise<{ ms: number; rss: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(command, args.map((a) => a.replace('PORT', String(port))), { env: { ...env, PORT: String(port), BASE_URL: `http://127.0.0.1:${port}` }, stdio: 'ignore' });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command} exited`);
      const ok = await fetch(`http://127.0.0.1:${port}${readyPath}`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, 2000));
    return { ms, rss: rssMiB(child.pid!) };
  } finally {
    child.kill('SIGKILL');
  }
}

async function binaryFigures() {
  const exe = path.resolve('dist/credentials-portal');
  const runs = { binary: [] as Array<{ ms: number; rss: number }>, hello: [] as Array<{ ms: number; rss: number }> };
  for (let i = 0; i < 5; i++) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-bin-bench-'));
    runs.binary.push(await startup(exe, [], { PATH: process.env.PATH, DATA_DIR: dataDir, PORTAL_ENV: 'production' }, '/healthz'));
    fs.rmSync(dataDir, { recursive: true, force: true });
    runs.hello.push(await startup(process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(PORT, '127.0.0.1')`], {}, '/'));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const b = { ms: median(runs.binary.map((r) => r.ms)), rss: median(runs.binary.map((r) => r.rss)) };
  const h = { ms: median(runs.hello.map((r) => r.ms)), rss: median(runs.hello.map((r) => r.rss)) };
  console.log(`\nsingle executable: ${(fs.statSync(exe).size / 2 ** 20).toFixed(1)} MiB (node itself: ${(fs.statSync(process.execPath).size / 2 ** 20).toFixed(1)} MiB)`);
  console.log('| run (median of 5) | start to ready ms | idle RSS MiB | × baseline (start) | × baseline (RSS) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(`| baseline: node -e hello world | ${h.ms.toFixed(0)} | ${h.rss.toFixed(1)} | 1.00 | 1.00 |`);
  console.log(`| credentials-portal, empty DATA_DIR | ${b.ms.toFixed(0)} | ${b.rss.toFixed(1)} | ${(b.ms / h.ms).toFixed(2)} | ${(b.rss / h.rss).toFixed(2)} |`);
  console.log(`targets: ready < 1 s: ${b.ms < 1000 ? 'met' : 'MISSED'}; idle RSS < 100 MB: ${b.rss * 1.048576 < 100 ? 'met' : 'MISSED'}`);
}

async function main() {
  if (process.argv.includes('--binary-only')) return binaryFigures();
  const children: ChildProcess[] = [];
  const cleanup = () => children.forEach((c) => c.kill('SIGKILL'));
  process.on('exit', cleanup);

  // Baseline: the smallest useful node:http server.
  const basePort = await freePort();
  const baseline = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.writeHead(200, {'Content-Type': 'text/plain'}); s.end('hello world'); }).listen(${basePort}, '127.0.0.1')`], { stdio: 'ignore' });
  children.push(baseline);

  // The floor for this endpoint's shape: read a POST body, sign one ES256 JWT, answer JSON.
  // No server that signs a fresh ES256 token per request can beat this on this machine.
  const floorPort = await freePort();
  const floor = spawn(process.execPath, ['-e', `
    const http = require('node:http'), crypto = require('node:crypto');
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    http.createServer((req, res) => { let body = ''; req.on('data', (c) => (body += c)); req.on('end', () => {
      const input = Buffer.from('eyJhbGciOiJFUzI1NiJ9.' + Buffer.from(JSON.stringify({ sub: crypto.randomUUID(), iat: Date.now() })).toString('base64url'));
      const out = JSON.stringify({ access_token: input + '.' + crypto.sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url') });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }); res.end(out); }); }).listen(${floorPort}, '127.0.0.1');`], { stdio: 'ignore' });
  children.push(floor);

  // The portal with 1,000 applications, each with one secret.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-bench-'));
  const port = await freePort();
  const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), BASE_URL: `http://127.0.0.1:${port}`, PORTAL_ENV: 'production', TOKEN_FAILURES_PER_MINUTE: '1000000' };
  const deps = bootstrap({ env });
  seedApiCatalogue(deps.db, deps.clock);
  const org = createOrganisation(deps.db, deps.clock, cliActor, { name: 'Bench', countryCode: 'NL' });
  if (!org.ok) throw new Error(org.message);
  const expires = addDays(dateInZone(Date.now(), 'UTC'), 200);
  const clients: Array<{ id: string; secret: string }> = [];
  deps.db.$client.transaction(() => {
    for (let i = 0; i < CLIENTS; i++) {
      const app = createApplication(deps.db, deps.clock, cliActor, { organisationId: org.value.id, name: `Partner-NL-Bench${i}-DM`, apiCodes: ['DM', 'SMC'], sandboxOnly: false });
      if (!app.ok) throw new Error(app.message);
      const row = deps.db.query.applications.findFirst({ where: (a, { eq }) => eq(a.id, app.value.id) }).sync()!;
      const s = createClientSecret(deps, cliActor, row, { name: `bench ${i}`, expires });
      if (!s.ok) throw new Error('secret');
      clients.push({ id: app.value.clientId, secret: s.value.secret });
    }
  })();
  // 50 of them also hold an ES256 public key, for the private_key_jwt row.
  const signers: Array<{ id: string; key: crypto.KeyObject; kid: string }> = [];
  for (const c of clients.slice(0, 50)) {
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const row = deps.db.query.applications.findFirst({ where: (a, { eq }) => eq(a.clientId, c.id) }).sync()!;
    const added = addPublicKey(deps, cliActor, row, { name: 'bench key', key: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(), expires });
    if (!added.ok) throw new Error('key');
    signers.push({ id: c.id, key: pair.privateKey, kid: added.value.row.thumbprint });
  }
  await deps.notify.idle();
  deps.db.$client.close();
  const portal = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { env, stdio: 'ignore' });
  children.push(portal);
  await waitFor(`http://127.0.0.1:${basePort}/`, baseline);
  await waitFor(`http://127.0.0.1:${floorPort}/`, floor);
  await waitFor(`http://127.0.0.1:${port}/healthz`, portal);

  const token = (secretFor: (c: { id: string; secret: string }) => string) =>
    clients.map((c) => ({
      method: 'POST' as const,
      path: '/oauth/token',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(c.id, secretFor(c)) },
      body: 'grant_type=client_credentials',
    }));

  // Client assertions, each single-use, signed ahead so the load generator only sends them.
  const issuer = `http://127.0.0.1:${port}`;
  const assertionCount = Math.ceil(DURATION * 6000 + 12_000);
  const assertions: string[] = [];
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  for (let i = 0; i < assertionCount; i++) {
    const s = signers[i % signers.length]!;
    const iat = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'ES256', kid: s.kid })}.${b64({ iss: s.id, sub: s.id, aud: issuer, iat, exp: iat + 240, jti: crypto.randomUUID() })}`;
    assertions.push(`${input}.${crypto.sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`);
  }
  let nextAssertion = 0;
  const privateKeyJwt: autocannon.Request[] = [{
    method: 'POST',
    path: '/oauth/token',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    setupRequest: (req: autocannon.Request) => ({ ...req, body: `grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${assertions[nextAssertion++ % assertions.length]}` }),
  } as autocannon.Request];

  const results: Result[] = [];
  results.push(await load('baseline: node:http hello world', `http://127.0.0.1:${basePort}/`, undefined));
  results.push(await load('floor: node:http POST + one ES256 signature', `http://127.0.0.1:${floorPort}/`, [{ method: 'POST', path: '/', body: 'grant_type=client_credentials', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }]));
  results.push(await load(`token endpoint, success (${CLIENTS} clients)`, `http://127.0.0.1:${port}/oauth/token`, token((c) => c.secret)));
  results.push(await load(`token endpoint, wrong secret (${CLIENTS} clients)`, `http://127.0.0.1:${port}/oauth/token`, token((c) => c.secret.slice(0, -2) + 'zz')));
  results.push(await load('token endpoint, unknown client', `http://127.0.0.1:${port}/oauth/token`, token(() => 'x').map((r, i) => ({ ...r, headers: { ...r.headers, Authorization: basic(`00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, 'nope') } }))));
  results.push(await load(`token endpoint, private_key_jwt ES256 (${signers.length} clients)`, `http://127.0.0.1:${port}/oauth/token`, privateKeyJwt));
  cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });

  const base = results[0]!;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\nmachine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CONNECTIONS} connections, ${DURATION} s each\n`);
  console.log('| run | requests/s | p50 ms | p99 ms | × baseline (req/s) | statuses |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${(r.rps / base.rps).toFixed(2)} | ${r.statuses} |`);
  }
  const floorResult = results[1]!;
  const success = results[2]!;
  const wrong = results[3]!;
  console.log(`\nsuccess path vs the ES256 floor: ${(success.rps / floorResult.rps).toFixed(2)}×`);
  const pkjwt = results[5]!;
  console.log(`private_key_jwt path (verify + sign) vs the ES256 floor: ${(pkjwt.rps / floorResult.rps).toFixed(2)}× (target ≥ 0.5×: ${pkjwt.rps / floorResult.rps >= 0.5 ? 'met' : 'MISSED'})`);
  console.log(`\ntargets: success ≥ 0.5× baseline: ${(success.rps / base.rps).toFixed(2)}× ${success.rps / base.rps >= 0.5 ? 'met' : 'MISSED'}; ` +
    `success p99 < 20 ms: ${success.p99} ms ${success.p99 < 20 ? 'met' : 'MISSED'}; ` +
    `wrong secret no slower than success: ${(wrong.rps / success.rps).toFixed(2)}× ${wrong.rps >= success.rps * 0.95 ? 'met' : 'MISSED'}`);
  await binaryFigures();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
