// `make profile [PROFILE=success|pkjwt|wrong|page]`: the token endpoint under the bench's
// load (autocannon, 50 connections, 10 s), or Manage API credentials for a manager of 5
// applications × 5 secrets (4 connections), with `node --cpu-prof`, then the top functions by
// self time as shares of busy (non-idle) time. The .cpuprofile is kept for Chrome DevTools.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import autocannon from 'autocannon';
import { basic, seedApplications, seedClients, seedUsage, signAssertions, signedIn, wrongSecret } from './seed.ts';
import { bootstrap } from '../../server/bootstrap.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';

const kind = process.argv[2] ?? 'success';
const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-profile-'));
const profDir = path.resolve('test-output/profiles');
fs.mkdirSync(profDir, { recursive: true });
const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), BASE_URL: `http://127.0.0.1:${port}`, PORTAL_ENV: 'production', TOKEN_FAILURES_PER_MINUTE: '1000000' };
const { clients, signers } = await seedClients(env, 1000, 50);
let pageToken = '';
if (kind === 'page') {
  const deps = bootstrap({ env });
  const org = seedApplications(deps, 'Member', 5, 5);
  seedUsage(deps, org.clientIds); // 30 days of usage, as in the pages bench
  const invited = inviteUser(deps.db, deps.clock, cliActor, { organisationId: org.organisationId, email: 'm@member.example', managerOf: org.clientIds });
  if (!invited.ok) throw new Error(invited.message);
  pageToken = invited.value.token;
  deps.db.$client.close();
}
const before = new Set(fs.readdirSync(profDir));
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', 'tsx', 'server/main.ts'], { env, stdio: 'ignore' });
for (let i = 0; ; i++) {
  if ((await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false))) break;
  if (i > 600) throw new Error('portal did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const url = `http://127.0.0.1:${port}/oauth/token`;
const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
let requests: autocannon.Request[];
let page: { url: string; cookie: string } | null = null;
if (kind === 'page') page = { url: `http://127.0.0.1:${port}/manage-api-credentials`, cookie: await signedIn(`http://127.0.0.1:${port}`, pageToken) };
if (kind === 'pkjwt') {
  const assertions = signAssertions(signers, url, 100_000);
  let next = 0;
  requests = [{ method: 'POST', path: '/oauth/token', headers: form, setupRequest: (req: autocannon.Request) => ({ ...req, body: `grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${assertions[next++]}` }) } as autocannon.Request];
} else {
  requests = clients.map((c) => ({ method: 'POST' as const, path: '/oauth/token', headers: { ...form, Authorization: basic(c.id, kind === 'wrong' ? wrongSecret(c.secret) : c.secret) }, body: 'grant_type=client_credentials' }));
}
const load = page ? { url: page.url, headers: { Cookie: page.cookie }, connections: 4 } : { url, requests, connections: 50 };
await autocannon({ ...load, duration: 2 });
const r = await autocannon({ ...load, duration: 10 });
console.log(`${kind}: ${r.requests.average.toFixed(0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms`);
child.kill('SIGTERM');
await new Promise((resolve) => child.on('exit', resolve));
fs.rmSync(dataDir, { recursive: true, force: true });
// The main thread's profile is the largest (tsx's loader thread writes one too).
const file = fs.readdirSync(profDir).filter((f) => !before.has(f) && f.endsWith('.cpuprofile')).sort((a, b) => fs.statSync(path.join(profDir, b)).size - fs.statSync(path.join(profDir, a)).size)[0];
if (!file) throw new Error('no profile written');
console.log(`profile: ${path.join(profDir, file)}\n`);
printTop(path.join(profDir, file), Number(process.env.TOP ?? 25));

function printTop(file: string, top: number) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] };
  const time = new Map<number, number>();
  p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const self = new Map<string, number>();
  let busy = 0;
  for (const n of p.nodes) {
    const t = time.get(n.id) ?? 0;
    if (n.callFrame.functionName === '(idle)') continue;
    busy += t;
    const where = n.callFrame.url.replace(/^.*?\/(node_modules|server|db)\//, '$1/').replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${where}${where ? ':' + (n.callFrame.lineNumber + 1) : ''}`;
    self.set(key, (self.get(key) ?? 0) + t);
  }
  console.log('| self % of busy | function  where |\n| ---: | --- |');
  for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${((t / busy) * 100).toFixed(1)} | \`${k}\` |`);
}
