// `make soak` (SOAK_MINUTES, default 10): the portal as a real process under 1,000 requests
// a second, paced (open loop: a request is sent when its time comes, not when the previous
// one answered), for minutes: 55 % tokens with the right secret, 15 % with a wrong one,
// 25 % private_key_jwt (assertions signed as they are sent, a minute of life each), 5 % a
// manager's Manage API credentials page. RSS sampled every 10 s from /proc; every minute,
// `kill -USR2` makes the portal (started with --expose-gc) collect its garbage in full and
// log its RSS, its heap and the sizes of the bounded in-memory structures (one line).
//
// An error is an answer other than the one its request must get (200 with a token for a
// right secret or a valid assertion, 401 invalid_client for a wrong secret, 200 for the
// page), or no answer at all (refused, reset, 10 s without one). A wrong secret's 401 is
// its expected answer, not an error; a 429 or 503 would be one.
// Passes when errors are 0, RSS after the full collection at the end is less than 10 % above
// RSS after the one at the end of the second minute, and every later minute's p99 latency is
// within 2× the first minute's.
//
// Why RSS after a full collection: between collections RSS is mostly garbage waiting for
// one. V8 lets the old generation grow to a few times what is live before it collects, so
// the 10 s samples swing by 30 % (195 to 275 MiB) in cycles of several minutes, and any
// minute's samples say more about where that minute fell in a cycle than about what the
// portal holds. Two 60-minute runs measured that way (without --expose-gc) failed at +10.6 %
// (single samples) and +14.5 % (medians of a minute), while the live heap stayed at 25 to 41
// MiB. What leaks survives a full collection; that is what the criterion compares. The 10 s
// samples are still printed, with their lowest, median and highest per five minutes.
// Last line: `soak: M minutes, N requests, E errors, RSS a→b MiB, p99 x→y ms`; exit 1 on failure.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { bootstrap } from '../../server/bootstrap.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { basic, seedClients, signedIn, wrongSecret, type BenchSigner } from './seed.ts';
import { freePort } from './proc.ts';
import { ASSERTION_TYPE, FORM, rssMiB, rssParts, send, startPortalProcess, type Answer } from './portal-process.ts';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const RATE = Number(process.env.SOAK_RATE ?? 1000);
const MAX_IN_FLIGHT = 512;
const CLIENTS = 200;
const SIGNERS = 50;
const WRONG = 5; // clients whose wrong secret is sent: one fixed wrong secret each stays under every limit

type Kind = 'secret' | 'wrong secret' | 'private_key_jwt' | 'page';
const MIX: Array<[Kind, number]> = [['secret', 0.55], ['wrong secret', 0.15], ['private_key_jwt', 0.25], ['page', 0.05]];

function assertion(s: BenchSigner, audience: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', kid: s.kid })}.${b64({ iss: s.id, sub: s.id, aud: audience, iat, exp: iat + 60, jti: crypto.randomUUID() })}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const p99 = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]! : NaN);

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-soak-'));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), BASE_URL: baseUrl, PORTAL_ENV: 'production' };
  const { clients, signers } = await seedClients(env, CLIENTS, SIGNERS);
  const deps = bootstrap({ env });
  const org = deps.db.$client.prepare('select id from organisations').pluck().get() as number;
  const invited = inviteUser(deps.db, deps.clock, cliActor, { organisationId: org, email: 'manager@member.example', name: 'Manager', managerOf: clients.slice(0, 5).map((c) => c.id) });
  if (!invited.ok) throw new Error(invited.message);
  deps.db.$client.close();

  // The portal's node flags: --expose-gc unless SOAK_NODE_ARGS says otherwise (empty: none).
  const nodeArgs = (process.env.SOAK_NODE_ARGS ?? '--expose-gc').split(' ').filter(Boolean);
  const collected = nodeArgs.includes('--expose-gc');
  let sizes: Record<string, number> = {};
  const peaks: Record<string, number> = {};
  const afterGc: Array<[number, number]> = []; // [seconds into the soak, RSS MiB after a full collection]
  let started = 0;
  const portal = await startPortalProcess(env, (line) => {
    if (!line.includes('"in-memory sizes"')) return;
    const { time: _t, level: _l, msg: _m, ...rest } = JSON.parse(line) as Record<string, number>;
    sizes = rest;
    if (started && rest.rssMiB !== undefined) afterGc.push([Math.round((performance.now() - started) / 1000), rest.rssMiB]);
    for (const [k, v] of Object.entries(rest)) peaks[k] = Math.max(peaks[k] ?? 0, v);
  }, nodeArgs);
  process.on('exit', () => portal.child.kill('SIGKILL'));
  const cookie = await signedIn(baseUrl, invited.value.token);
  const pid = portal.child.pid!;
  // A well-behaved client closes a keep-alive socket it has left idle before the server
  // does (the portal after KEEP_ALIVE_TIMEOUT_MS, 5 s): otherwise a request sent on a socket
  // just as the server closes it is reset, whatever the server does. The first 60-minute run,
  // with Node's default of never, had 11 such resets in 3.6 million requests.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 4000 });
  const audience = `${baseUrl}/oauth/token`;

  const counts = new Map<string, number>();
  const minutes: number[][] = [[]];
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let inFlight = 0;
  let behind = 0;
  const note = (kind: Kind, a: Answer) => {
    const label = `${kind} ${'status' in a ? a.status : a.error}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
    const ok = 'status' in a && (kind === 'wrong secret' ? a.status === 401 && a.body.includes('invalid_client') : a.status === 200 && (kind === 'page' || a.body.includes('access_token')));
    if (!ok) errors++;
    answered++;
    minutes[minutes.length - 1]!.push(a.ms);
  };
  const one = (i: number): [Kind, Promise<Answer>] => {
    let r = (i * 0.6180339887) % 1; // spread the kinds evenly over time
    const kind = MIX.find(([, share]) => (r -= share) < 0)?.[0] ?? 'secret';
    const c = clients[i % CLIENTS]!;
    switch (kind) {
      case 'secret':
        return [kind, send(agent, baseUrl, 'POST', '/oauth/token', { ...FORM, Authorization: basic(c.id, c.secret) }, 'grant_type=client_credentials')];
      case 'wrong secret': {
        const w = clients[i % WRONG]!;
        return [kind, send(agent, baseUrl, 'POST', '/oauth/token', { ...FORM, Authorization: basic(w.id, wrongSecret(w.secret)) }, 'grant_type=client_credentials')];
      }
      case 'private_key_jwt':
        return [kind, send(agent, baseUrl, 'POST', '/oauth/token', FORM, new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion(signers[i % SIGNERS]!, audience) }).toString())];
      case 'page':
        return [kind, send(agent, baseUrl, 'GET', '/manage-api-credentials', { Cookie: cookie })];
    }
  };

  const rss: Array<[number, number]> = [[0, rssMiB(pid)]];
  started = performance.now();
  const endAt = started + MINUTES * 60_000;
  let nextSample = 10_000;
  console.log(`soak: ${MINUTES} minutes at ${RATE} requests a second against ${baseUrl} (pid ${pid}), ${CLIENTS} clients, ${SIGNERS} with an ES256 key`);
  while (performance.now() < endAt) {
    const elapsed = performance.now() - started;
    if (elapsed >= nextSample) {
      rss.push([Math.round(elapsed / 1000), rssMiB(pid)]);
      if (nextSample % 60_000 === 0) {
        portal.child.kill('SIGUSR2');
        const m = minutes[minutes.length - 1]!;
        const parts = rssParts(pid);
        const heap = sizes.heapUsedMiB === undefined ? '' : `; after the last minute's full collection: RSS ${sizes.rssMiB} MiB, heap ${sizes.heapUsedMiB} MiB used of ${sizes.heapTotalMiB}, external ${sizes.externalMiB} MiB, signature thread's heap ${sizes.signatureThreadHeapUsedMiB ?? '-'} MiB used of ${sizes.signatureThreadHeapTotalMiB ?? '-'}`;
        console.log(`  minute ${minutes.length}: ${m.length} answers, p99 ${p99(m).toFixed(1)} ms, RSS ${rss.at(-1)![1].toFixed(1)} MiB (anon ${parts.anon.toFixed(1)}, file ${parts.file.toFixed(1)}, shmem ${parts.shmem.toFixed(1)})${heap}, ${errors} errors so far, ${behind} not sent (behind)`);
        minutes.push([]);
      }
      nextSample += 10_000;
    }
    // Open loop: every request whose time has come, unless 512 are already waiting.
    const due = Math.floor((elapsed / 1000) * RATE);
    while (sent + behind < due) {
      if (inFlight >= MAX_IN_FLIGHT) {
        behind += due - sent - behind;
        break;
      }
      const [kind, answer] = one(sent++);
      inFlight++;
      answer.then((a) => {
        inFlight--;
        note(kind, a);
      });
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
  rss.push([Math.round((performance.now() - started) / 1000), rssMiB(pid)]);
  if (minutes.at(-1)!.length === 0) minutes.pop();
  portal.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && !Object.keys(sizes).length; i++) await new Promise((r) => setTimeout(r, 20));
  const before = JSON.stringify(sizes);
  for (let i = 0; i < 50 && JSON.stringify(sizes) === before; i++) await new Promise((r) => setTimeout(r, 20));
  agent.destroy();
  const sessions = new Database(path.join(dataDir, 'portal.sqlite'), { readonly: true });
  const sessionRows = sessions.prepare('select count(*) from sessions where revoked_at is null').pluck().get() as number;
  sessions.close();
  portal.child.kill('SIGTERM');
  await portal.exited;
  fs.rmSync(dataDir, { recursive: true, force: true });

  const seconds = (performance.now() - started) / 1000;
  console.log(`\nanswers by kind and status: ${[...counts].sort().map(([k, n]) => `${k} ×${n}`).join('; ')}`);
  console.log(`sent ${sent} in ${seconds.toFixed(0)} s (${(sent / seconds).toFixed(0)}/s of ${RATE}/s), ${behind} not sent because ${MAX_IN_FLIGHT} were waiting`);
  console.log(`RSS every 10 s (MiB): ${rss.map(([s, m]) => `${s}s ${m.toFixed(1)}`).join(', ')}`);
  console.log(`p99 by minute (ms): ${minutes.map((m) => p99(m).toFixed(1)).join(', ')}`);
  console.log('bounded in-memory structures (kill -USR2 at the end; peak of the minutes in brackets; bound):');
  const bounds: Record<string, string> = {
    'rate limiter windows': '50,000 per limiter (5 limiters)',
    'verification budget buckets': '50,000',
    'used assertions (jti)': '200,000; 20,000 a client',
    'write-behind: used assertions': 'the used assertions',
    'write-behind: last use': 'the last-use notes',
    'last use noted': '100,000',
    'audit queue': '5,000 (10,000 with summaries)',
    'session expiries (read, not yet touched)': '10,000',
    'secrets held to be shown once': '1,000',
    'JWKS URLs cached': '10,000',
    'usage counters': '100,000 (cleared past it once written)',
    'usage refusal counts': '1,000 keys an hour, the rest under (others)',
    'write-behind: usage counters': 'the usage counters',
    'signature thread: keys and options held': 'the keys in use',
  };
  for (const [k, v] of Object.entries(sizes)) if (!k.endsWith('MiB')) console.log(`  ${k}: ${v} (${peaks[k]}; ${bounds[k] ?? 'see README'})`);
  console.log(`  sessions: ${sessionRows} live rows in SQLite (not memory)`);

  // The 10 s samples per five minutes: lowest, median, highest (what an operator's graph shows).
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const spans: string[] = [];
  for (let from = 0; from < rss.at(-1)![0]; from += 300) {
    const xs = rss.filter(([s]) => s > from && s <= from + 300).map(([, v]) => v);
    if (xs.length) spans.push(`${from / 60 + 1}–${from / 60 + 5}: ${Math.min(...xs).toFixed(0)}/${median(xs).toFixed(0)}/${Math.max(...xs).toFixed(0)}`);
  }
  console.log(`RSS every 10 s by five minutes (lowest/median/highest MiB): ${spans.join('; ')}`);
  console.log(`RSS ${collected ? "after each minute's full collection" : 'at each minute (no collection: without --expose-gc)'} (MiB): ${afterGc.map(([s, m]) => `${s}s ${m}`).join(', ')}`);
  // Growth: RSS after the collection at the end of minute 2 (the first after the start-up
  // minute) against after the last one (at the end). Without --expose-gc there is no
  // collection, and the 10 s samples nearest those moments stand in.
  const nearest = (at: number, xs: Array<[number, number]>) => xs.reduce((a, b) => (Math.abs(b[0] - at) < Math.abs(a[0] - at) ? b : a));
  const source = collected && afterGc.length >= 2 ? afterGc : rss;
  const rssAfterFirst = nearest(120, source)[1];
  const rssEnd = source.at(-1)![1];
  const lastMinute = Math.max(2, Math.round(source.at(-1)![0] / 60));
  const growth = (rssEnd - rssAfterFirst) / rssAfterFirst;
  const firstP99 = p99(minutes[0]!);
  const laterP99 = minutes.slice(1).map(p99);
  const worst = Math.max(firstP99, ...laterP99);
  const failures = [
    errors > 0 ? `${errors} errors` : '',
    growth >= 0.1 ? `RSS grew ${(growth * 100).toFixed(1)} % after the first minute` : '',
    laterP99.some((x) => x > 2 * firstP99) ? `p99 reached ${worst.toFixed(1)} ms, over 2× the first minute's ${firstP99.toFixed(1)} ms` : '',
  ].filter(Boolean);
  console.log(failures.length ? `FAILED: ${failures.join('; ')}` : `passed: 0 errors, RSS ${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} % after the first minute, p99 at most ${(worst / firstP99).toFixed(2)}× the first minute's`);
  console.log(`soak: ${(seconds / 60).toFixed(1)} minutes, ${answered} requests, ${errors} errors, RSS ${rssAfterFirst.toFixed(1)}→${rssEnd.toFixed(1)} MiB (${source === afterGc ? 'after full collections' : 'single samples'} at minutes 2 and ${lastMinute}), p99 ${firstP99.toFixed(1)}→${(laterP99.at(-1) ?? firstP99).toFixed(1)} ms`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
