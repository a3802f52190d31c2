// `make bench`: the token endpoint against a bare node:http hello-world and against the
// floor (test/bench/floor.cjs: read the body, sign one ES256 JWT with the same claims,
// answer the same JSON), in one run on this machine, in interleaved rounds (BENCH_ROUNDS,
// two by default); every row is reported as a ratio to bare and to the floor of the same
// round. private_key_jwt is also given against its own floor (the same, after verifying the
// assertion), and the success path against the same portal with SIGNATURES=inline. Servers
// run as child processes; autocannon drives them from this process.
// This machine's speed drifts by a third over tens of seconds. So each row is measured in
// BENCH_SLICES slices, each right after a slice of the floor as long, and its ratio to the
// floor is taken over those pairs: a slow spell falls on both sides of a ratio.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { basic, seedClients, signAssertions, wrongSecret } from './seed.ts';
import { cpuMs, freePort, waitFor } from './proc.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const SLICES = Number(process.env.BENCH_SLICES ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = 50;
const CLIENTS = 1000;

interface Result {
  name: string;
  rps: number;
  cpuUs: number; // the server process's CPU (all its threads) per request, in µs
  floorRps: number; // the floor's, over the slices paired with this row's
  floorCpuUs: number;
  floorP99: number;
  p50: number;
  p99: number;
  statuses: string;
  non2xx: number;
}

interface Target {
  name: string;
  url: string;
  pid: number;
  requests?: autocannon.Request[];
}

// One measured run: requests, seconds, server CPU ms, latency, statuses. Requests a second
// depend on how the two cores are shared between the server, its signature thread and the load
// generator at that moment; the server's own CPU per request much less, so both are kept.
async function run(t: Target, seconds: number) {
  const before = cpuMs(t.pid);
  const r = await autocannon({ url: t.url, connections: CONNECTIONS, duration: seconds, requests: t.requests });
  return { total: r.requests.total, seconds, cpu: cpuMs(t.pid) - before, p50: r.latency.p50, p99: r.latency.p99, statuses: r.statusCodeStats ?? {}, non2xx: r.non2xx };
}

// A row: a short warm-up (so the JIT and SQLite's page cache are hot), then DURATION seconds
// in SLICES slices, each after a slice of the floor as long (when a floor is given; the
// floor and the bare baseline are measured on their own). p50 and p99 are the worst slice's.
async function load(t: Target, floor?: Target): Promise<Result> {
  await autocannon({ url: t.url, connections: 10, duration: 2, requests: t.requests });
  const mine: Array<Awaited<ReturnType<typeof run>>> = [];
  const floors: Array<Awaited<ReturnType<typeof run>>> = [];
  const slices = floor ? SLICES : 1;
  for (let i = 0; i < slices; i++) {
    if (floor) floors.push(await run(floor, DURATION / slices));
    mine.push(await run(t, DURATION / slices));
  }
  const sum = (xs: Array<{ total: number; seconds: number; cpu: number }>) => xs.reduce((a, x) => ({ total: a.total + x.total, seconds: a.seconds + x.seconds, cpu: a.cpu + x.cpu }), { total: 0, seconds: 0, cpu: 0 });
  const m = sum(mine);
  const f = floors.length ? sum(floors) : m;
  const counts = new Map<string, number>();
  for (const x of mine) for (const [code, v] of Object.entries(x.statuses)) counts.set(code, (counts.get(code) ?? 0) + (v as { count: number }).count);
  return {
    name: t.name,
    rps: m.total / m.seconds,
    cpuUs: (m.cpu * 1000) / Math.max(1, m.total),
    floorRps: f.total / f.seconds,
    floorCpuUs: (f.cpu * 1000) / Math.max(1, f.total),
    floorP99: Math.max(...(floors.length ? floors : mine).map((x) => x.p99)),
    p50: Math.max(...mine.map((x) => x.p50)),
    p99: Math.max(...mine.map((x) => x.p99)),
    statuses: [...counts].map(([code, n]) => `${code}×${n}`).join(' '),
    non2xx: mine.reduce((a, x) => a + x.non2xx, 0),
  };
}


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

// What one signature and one verification cost here, single-threaded, in this run: the
// floor of private_key_jwt does both.
function cryptoCosts() {
  const data = Buffer.alloc(400, 'x');
  const time = (n: number, f: () => unknown) => {
    for (let i = 0; i < 200; i++) f();
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    return ((performance.now() - t) * 1000) / n;
  };
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ecSig = crypto.sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  const rsaSig = crypto.sign('sha256', data, rsa.privateKey);
  const sign = time(3000, () => crypto.sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
  const verify = time(3000, () => crypto.verify('sha256', data, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, ecSig));
  const rsaVerify = time(3000, () => crypto.verify('sha256', data, rsa.publicKey, rsaSig));
  console.log(`one ES256 signature ${sign.toFixed(0)} µs; one ES256 verification ${verify.toFixed(0)} µs (${(verify / sign).toFixed(1)}× a signature); one RS256 verification ${rsaVerify.toFixed(0)} µs (${(rsaVerify / sign).toFixed(1)}×)`);
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

  // The portal with 1,000 applications, each with one secret; 50 also hold an ES256 key.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-bench-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), BASE_URL: issuer, PORTAL_ENV: 'production', TOKEN_FAILURES_PER_MINUTE: '1000000' };
  const { clients, signers } = await seedClients(env, CLIENTS, 50);
  const floorPort = await freePort();
  const floor = spawn(process.execPath, ['test/bench/floor.cjs', String(floorPort), issuer], { stdio: 'ignore' });
  children.push(floor);
  // The floor of private_key_jwt: the same, after verifying the assertion with its client's key.
  const keysFile = path.join(dataDir, 'bench-keys.json');
  fs.writeFileSync(keysFile, JSON.stringify(Object.fromEntries(signers.map((s) => [s.kid, crypto.createPublicKey(s.key).export({ format: 'pem', type: 'spki' })]))));
  const verifyFloorPort = await freePort();
  const verifyFloor = spawn(process.execPath, ['test/bench/floor.cjs', String(verifyFloorPort), issuer, keysFile], { stdio: 'ignore' });
  children.push(verifyFloor);
  const portal = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { env, stdio: 'ignore' });
  children.push(portal);
  // The same data served by the single executable (one esbuild bundle: no TypeScript loader).
  const binaryPort = await freePort();
  const binary = spawn(path.resolve('dist/credentials-portal'), [], { env: { ...env, PORT: String(binaryPort) }, stdio: 'ignore' });
  children.push(binary);
  // The same portal with every signature on the main thread (SIGNATURES=inline): what the signature thread buys.
  const inlinePort = await freePort();
  const inline = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { env: { ...env, PORT: String(inlinePort), SIGNATURES: 'inline' }, stdio: 'ignore' });
  children.push(inline);
  await waitFor(`http://127.0.0.1:${basePort}/`, baseline);
  await waitFor(`http://127.0.0.1:${floorPort}/`, floor);
  await waitFor(`http://127.0.0.1:${verifyFloorPort}/`, verifyFloor);
  await waitFor(`http://127.0.0.1:${port}/healthz`, portal);
  await waitFor(`http://127.0.0.1:${binaryPort}/healthz`, binary);
  await waitFor(`http://127.0.0.1:${inlinePort}/healthz`, inline);

  const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const token = (authorization: (c: { id: string; secret: string }, i: number) => string) =>
    clients.map((c, i) => ({ method: 'POST' as const, path: '/oauth/token', headers: { ...form, Authorization: authorization(c, i) }, body: 'grant_type=client_credentials' }));
  // Client assertions are single-use and live under five minutes: enough for a round at
  // 6,000 a second, signed ahead of each round. Each row walks the round's list from the
  // start (each server keeps its own used ones); running out would reuse one, which the
  // bench reports (statuses, and the targets).
  let assertions: string[] = [];
  const signRound = () => (assertions = signAssertions(signers, `${issuer}/oauth/token`, Math.ceil((DURATION + 2) * 6000)));
  const withAssertion = (at: string): autocannon.Request[] => {
    let list = assertions;
    let next = 0;
    return [{
      method: 'POST',
      path: at,
      headers: form,
      setupRequest: (req: autocannon.Request) => {
        if (list !== assertions) [list, next] = [assertions, 0];
        return { ...req, body: `grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${list[next++ % list.length]}` };
      },
    } as autocannon.Request];
  };

  const rows: Target[] = [
    { name: 'baseline: node:http hello world', url: `http://127.0.0.1:${basePort}/`, pid: baseline.pid! },
    { name: 'floor: node:http, read the body, sign the same ES256 JWT, same JSON and headers', url: `http://127.0.0.1:${floorPort}/`, pid: floor.pid!, requests: [{ method: 'POST', path: '/', body: 'grant_type=client_credentials', headers: form }] },
    { name: `token endpoint, success (${CLIENTS} clients)`, url: `${issuer}/oauth/token`, pid: portal.pid!, requests: token((c) => basic(c.id, c.secret)) },
    { name: `token endpoint, wrong secret (${CLIENTS} clients)`, url: `${issuer}/oauth/token`, pid: portal.pid!, requests: token((c) => basic(c.id, wrongSecret(c.secret))) },
    { name: 'token endpoint, unknown client', url: `${issuer}/oauth/token`, pid: portal.pid!, requests: token((_, i) => basic(`00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, 'nope')) },
    { name: `token endpoint, private_key_jwt ES256 (${signers.length} clients, single-use assertions)`, url: `${issuer}/oauth/token`, pid: portal.pid!, requests: withAssertion('/oauth/token') },
    { name: `token endpoint, success, single executable (${CLIENTS} clients)`, url: `http://127.0.0.1:${binaryPort}/oauth/token`, pid: binary.pid!, requests: token((c) => basic(c.id, c.secret)) },
    { name: 'floor of private_key_jwt: the floor after decoding the assertion, verifying its ES256 signature, remembering its jti', url: `http://127.0.0.1:${verifyFloorPort}/`, pid: verifyFloor.pid!, requests: withAssertion('/') },
    { name: `token endpoint, success, SIGNATURES=inline (${CLIENTS} clients)`, url: `http://127.0.0.1:${inlinePort}/oauth/token`, pid: inline.pid!, requests: token((c) => basic(c.id, c.secret)) },
  ];
  const rounds: Result[][] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const results: Result[] = [];
    signRound();
    // The bare baseline and the floor on their own, then every other row paired with the floor.
    for (const [i, row] of rows.entries()) results.push(await load(row, i >= 2 ? rows[1] : undefined));
    rounds.push(results);
  }
  cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\nmachine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CONNECTIONS} connections, ${DURATION} s per run after a 2 s warm-up, rows in ${SLICES} slices each after a slice of the floor, ${ROUNDS} interleaved rounds\n`);
  console.log('| run | req/s (mean) | p50 ms | p99 ms (worst round) | × bare | × floor | × floor per round | server CPU µs/req (mean) | × floor by CPU per round | statuses |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Each row against the floor measured beside it (the floor against itself, bare against the
  // floor's own run); × bare is the row's rate over the baseline's, unpaired.
  const ratios = rows.map((_, i) => rounds.map((r) => ({ bare: r[i]!.rps / r[0]!.rps, floor: i === 0 ? r[0]!.rps / r[1]!.rps : r[i]!.rps / r[i]!.floorRps })));
  // The floor's CPU per request over the row's: 0.8 means the row costs 1.25 floors.
  const byCpu = (i: number) => rounds.map((r) => (i === 0 ? r[1]!.cpuUs : r[i]!.floorCpuUs) / r[i]!.cpuUs);
  // Two rows against each other, through their floors: (a / its floor) / (b / its floor).
  const between = (a: number, b: number) => ratios[a]!.map((x, k) => x.floor / ratios[b]![k]!.floor);
  rows.forEach((row, i) => {
    const rs = rounds.map((r) => r[i]!);
    console.log(`| ${row.name} | ${mean(rs.map((r) => r.rps)).toFixed(0)} | ${Math.max(...rs.map((r) => r.p50))} | ${Math.max(...rs.map((r) => r.p99))} | ${mean(ratios[i]!.map((x) => x.bare)).toFixed(2)} | ${mean(ratios[i]!.map((x) => x.floor)).toFixed(2)} | ${ratios[i]!.map((x) => x.floor.toFixed(2)).join(', ')} | ${mean(rs.map((r) => r.cpuUs)).toFixed(0)} | ${byCpu(i).map((x) => x.toFixed(2)).join(', ')} | ${rs[rs.length - 1]!.statuses} |`);
  });
  const floorOf = (i: number) => Math.min(...ratios[i]!.map((x) => x.floor));
  const p99Of = (i: number) => Math.max(...rounds.map((r) => r[i]!.p99));
  const slowest = (i: number) => Math.min(...between(i, 2));
  // Rows that must answer 200 every time: an error there (a reused assertion) makes the row void.
  const mustSucceed = [1, 2, 5, 6, 7, 8];
  const voided = mustSucceed.filter((i) => rounds.some((r) => r[i]!.non2xx > 0));
  if (voided.length) console.log(`\nVOID: ${voided.map((i) => rows[i]!.name).join('; ')} answered other than 200 (see statuses)`);
  // private_key_jwt against the floor that also verifies (row 7), per round.
  console.log(`\nprivate_key_jwt × its own floor (verify and sign): ${between(5, 7).map((x) => x.toFixed(2)).join(', ')}; that floor × the signing floor: ${ratios[7]!.map((x) => x.floor.toFixed(2)).join(', ')}`);
  console.log(`success with signatures on their own thread × SIGNATURES=inline: ${between(2, 8).map((x) => x.toFixed(2)).join(', ')}; p99 ${rounds.map((r) => `${r[2]!.p99} against ${r[8]!.p99} ms`).join(', ')}`);
  cryptoCosts();
  console.log(`\ntargets (worst round): success ≥ 0.8× floor: ${floorOf(2).toFixed(2)}× ${floorOf(2) >= 0.8 ? 'met' : 'MISSED'}; ` +
    `success p99 < 12 ms: ${p99Of(2)} ms ${p99Of(2) < 12 ? 'met' : 'MISSED'} (the floor's own: ${p99Of(1)} ms; in the slices beside success: ${Math.max(...rounds.map((r) => r[2]!.floorP99))} ms); ` +
    `wrong secret and unknown client no slower than success: ${slowest(3).toFixed(2)}×, ${slowest(4).toFixed(2)}× ${slowest(3) >= 0.95 && slowest(4) >= 0.95 ? 'met' : 'MISSED'}; ` +
    `private_key_jwt ≥ 0.5× floor: ${floorOf(5).toFixed(2)}× ${floorOf(5) >= 0.5 ? 'met' : 'MISSED'}; ` +
    `by server CPU per request (worst round), success ${Math.min(...byCpu(2)).toFixed(2)}×, private_key_jwt ${Math.min(...byCpu(5)).toFixed(2)}×; ` +
    `single executable, success ≥ 0.8× floor: ${floorOf(6).toFixed(2)}× ${floorOf(6) >= 0.8 ? 'met' : 'MISSED'}, p99 ${p99Of(6)} ms`);
  if (!process.argv.includes('--no-binary')) await binaryFigures();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
