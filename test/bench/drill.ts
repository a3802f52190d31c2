// `make drill` (DRILL_ROUNDS, default 100; not part of `make test`): the portal as a real
// process, killed with SIGKILL at a random moment of each round while it serves mixed load:
// tokens with secrets and with private_key_jwt assertions; secrets created through the page
// (a manager's htmx form) and the CLI, deleted through the page and the CLI (`delete-secret`),
// rolled through the CLI (`roll-secret`; each when the CLI has it); reminder runs (the portal's
// own schedule every second, and now and then `send-expiry-reminders` from the CLI), mailed to
// an SMTP server on loopback.
// After each kill, with the portal down:
//   - PRAGMA integrity_check is ok and foreign_key_check finds nothing;
//   - every audit row has its object (its organisation, application, and the secret it
//     names), and every secret has its creation (and deletion) in the audit log;
// and after each restart:
//   - every secret the page or the CLI showed, and nobody deleted, gets a token; every
//     secret whose deletion was answered is refused;
//   - no assertion that got a token is accepted again, however close to the kill it was
//     answered (a used jti is committed before its answer; all those answered in the last
//     100 ms before the kill are tried, and a sample of the older ones);
//   - no reminder (credential and subject) was mailed twice.
// A secret's violation prints its row and its audit rows (and how long after it was shown it
// was refused); on any violation the data folder is kept, and its path printed.
// Last line: `drill: R rounds, N requests, V violations`; exit 1 on any violation.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import { bootstrap } from '../../server/bootstrap.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { commands, runCli } from '../../server/cli/cli.ts';
import { memoryLogger } from '../../server/lib/log.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { applicationPath } from '../../server/credentials/view-models.ts';
import { Client } from '../helpers/http.ts';
import { SMTPServer } from 'smtp-server';
import { totpAt } from '../helpers/totp.ts';
import { basic, seedClients, type BenchSigner } from './seed.ts';
import { freePort } from './proc.ts';
import { ASSERTION_TYPE, FORM, send, startPortalProcess, type PortalProcess } from './portal-process.ts';

const ROUNDS = Number(process.env.DRILL_ROUNDS ?? 100);
const CLIENTS = 12;
const SIGNERS = 6;
const REPLAY_WINDOW_MS = 100;
const ROLL = 'roll-secret' in commands;
const CLI_DELETE = 'delete-secret' in commands;

interface Shown {
  clientId: string;
  name: string;
  secret: string;
  state: 'live' | 'deleting' | 'deleted' | 'unknown';
  at: number; // when it was shown (performance.now())
}
interface Accepted {
  assertion: string;
  at: number; // when its 200 arrived (performance.now())
  exp: number; // seconds
}

const violations: string[] = [];
const violation = (round: number, what: string) => {
  violations.push(`round ${round}: ${what}`);
  console.log(`  VIOLATION round ${round}: ${what}`);
};
let requests = 0;

// A real SMTP server on loopback that keeps every message; a connection the killed portal
// drops mid-conversation is no error of the drill's.
async function startSmtp() {
  const messages: Array<{ to: string[]; raw: string }> = [];
  const server = new SMTPServer({
    authOptional: true,
    closeTimeout: 200,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { url: `smtp://127.0.0.1:${port}`, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function assertion(s: BenchSigner, audience: string): { text: string; exp: number } {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + 600;
  const input = `${b64({ alg: 'ES256', kid: s.kid })}.${b64({ iss: s.id, sub: s.id, aud: audience, iat, exp, jti: crypto.randomUUID() })}`;
  return { text: `${input}.${crypto.sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`, exp };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-drill-'));
  const smtp = await startSmtp();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const audience = `${baseUrl}/oauth/token`;
  // Reminders every second (node-cron's six fields), to a real SMTP server on loopback. The
  // replays and deleted secrets checked after each restart are failed authentications from one
  // address: the failure limit is lifted so that they do not turn the drill's own tokens into 429s.
  const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), BASE_URL: baseUrl, PORTAL_ENV: 'production', SMTP_URL: smtp.url, MAIL_FROM: 'portal@example.org', REMINDER_CRON: '* * * * * *', MAX_SECRETS_PER_APPLICATION: '20', TOKEN_FAILURES_PER_MINUTE: '1000000' };
  const { clients, signers } = await seedClients(env, CLIENTS, SIGNERS);
  const deps = bootstrap({ env, logger: memoryLogger() });
  const org = deps.db.$client.prepare('select id from organisations').pluck().get() as number;
  const invited = inviteUser(deps.db, deps.clock, cliActor, { organisationId: org, email: 'manager@member.example', name: 'Manager', managerOf: clients.map((c) => c.id) });
  if (!invited.ok) throw new Error(invited.message);
  deps.db.$client.close();
  const shown: Shown[] = clients.map((c, i) => ({ clientId: c.id, name: `bench ${i}`, secret: c.secret, state: 'live', at: 0 }));
  // A secret's name, found by its hash (a rolled secret gets a name of the portal's making).
  const nameOf = (secret: string) => {
    const db = new Database(path.join(dataDir, 'portal.sqlite'), { readonly: true });
    const name = db.prepare('select name from client_secrets where secret_hash = ?').pluck().get(crypto.createHash('sha256').update(secret).digest('hex')) as string | undefined;
    db.close();
    return name ?? '?';
  };
  // A violation's evidence: the secret's row and its audit rows (the data folder is kept).
  const dump = (secret: string) => {
    const db = new Database(path.join(dataDir, 'portal.sqlite'), { readonly: true });
    const row = db.prepare('select id, name, created_at, expires_on, expires_at, deleted_at from client_secrets where secret_hash = ?').get(crypto.createHash('sha256').update(secret).digest('hex')) as { id: string } | undefined;
    const audit = row ? db.prepare("select id, at, action, target, details from audit_events where json_extract(details, '$.secretId') = ? or json_extract(details, '$.newSecretId') = ? order by id").all(row.id, row.id) : [];
    db.close();
    console.log(`    row: ${JSON.stringify(row)}\n    audit: ${JSON.stringify(audit)}`);
  };
  const cli = async (args: string[]) => {
    let out = '';
    const code = await runCli(args, () => bootstrap({ env, logger: memoryLogger() }), { out: (t) => (out += t), err: () => {} });
    return { code, out: out.trim() };
  };

  // The portal's own word on used jtis it could not write yet (a write lock held elsewhere: the
  // batch is tried again a second later), to explain a replay after a kill.
  let jtiRetries = 0;
  const onLine = (line: string) => {
    if (line.includes('used client assertions not written yet')) jtiRetries++;
  };
  let portal: PortalProcess = await startPortalProcess(env, onLine);
  process.on('exit', () => portal.child.kill('SIGKILL'));
  // The manager signs in once, through the setup page; the session survives every kill.
  const page = new Client(baseUrl);
  const setup = await page.get(`/setup/${invited.value.token}`);
  const key = /<code id="totp-key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(setup.text)![1]!.replace(/\s/g, '');
  const done = await page.post(`/setup/${invited.value.token}`, { password: 'correct horse battery staple', password_confirm: 'correct horse battery staple', code: totpAt(key, Date.now()) });
  if (done.status !== 200) throw new Error(`setup failed: ${done.status}`);
  await page.get('/manage-api-credentials');

  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const token = (authorization: string | null, body: string) => {
    requests++;
    return send(agent, baseUrl, 'POST', '/oauth/token', authorization ? { ...FORM, Authorization: authorization } : FORM, body, 5000);
  };
  const accepted: Accepted[] = [];
  const mailCounts = new Map<string, number>();
  let mailsRead = 0;
  let gapReplays = 0;
  let made = 0;
  const today = () => dateInZone(Date.now(), 'UTC');
  console.log(`drill: ${ROUNDS} rounds against ${baseUrl}; ${CLIENTS} clients, ${SIGNERS} with an ES256 key; roll-secret ${ROLL ? 'in the mix' : 'not in this CLI'}, delete-secret ${CLI_DELETE ? 'in the mix' : 'not in this CLI'}`);

  for (let round = 1; round <= ROUNDS; round++) {
    const killAt = 150 + Math.random() * 1350;
    const retriesAtStart = jtiRetries;
    let killedAt = Infinity;
    let stop = false;
    const live = () => shown.filter((s) => s.state === 'live');
    // A token with a shown secret: refused while it is live and nobody is deleting it, the
    // page or the CLI showed a secret that does not work (503: the database was locked).
    const use = async (s: Shown, what: string) => {
      const sent = performance.now();
      const r = await token(basic(s.clientId, s.secret), 'grant_type=client_credentials');
      if (!('status' in r) || r.status === 200 || r.status === 503 || s.state !== 'live') return;
      violation(round, `${what} "${s.name}" was answered ${r.status} ${r.body.slice(0, 120)} (sent ${(sent - s.at).toFixed(0)} ms after it was shown)`);
      dump(s.secret);
    };

    // Token load: secrets the page or the CLI showed, and fresh assertions.
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) {
        if (Math.random() < 0.5) {
          await use(live()[Math.floor(Math.random() * live().length)]!, 'a live secret');
        } else {
          const a = assertion(signers[Math.floor(Math.random() * SIGNERS)]!, audience);
          const r = await token(null, new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: a.text }).toString());
          if ('status' in r && r.status === 200) accepted.push({ assertion: a.text, at: performance.now(), exp: a.exp });
        }
      }
    });
    // Changes: a secret made through the page and one through the CLI, one deleted through
    // the page, one rolled through the CLI (when it can), now and then a reminder run. A secret
    // the CLI printed (a commit by another process than the portal's) is used at once: it must
    // work from the first request, not only once the portal's client cache looks again.
    const changes = (async () => {
      const c = clients[round % CLIENTS]!;
      const expires = addDays(today(), [1, 7, 14, 30, 200][round % 5]!);
      const name = `drill-${round}-page`;
      requests++;
      const created = await page.request('POST', `${applicationPath(c.id)}/secrets`, { form: { _csrf: page.csrf, name, expires }, headers: { 'HX-Request': 'true' } }).catch(() => null);
      const secret = created && created.status === 201 ? /id="new-secret"[^>]*>([0-9A-Za-z]{44})</.exec(created.text)?.[1] : undefined;
      if (secret) shown.push({ clientId: c.id, name, secret, state: 'live', at: performance.now() }), made++;
      if (stop) return;
      const byCli = await cli(['create-secret', '--client-id', clients[(round + 3) % CLIENTS]!.id, '--name', `drill-${round}-cli`, '--expires', addDays(today(), [7, 1, 30][round % 3]!)]);
      if (byCli.code === 0) {
        const s: Shown = { clientId: clients[(round + 3) % CLIENTS]!.id, name: `drill-${round}-cli`, secret: byCli.out, state: 'live', at: performance.now() };
        shown.push(s), made++;
        if (!stop) await use(s, 'a secret create-secret just printed');
      }
      if (stop) return;
      const doomed = live().find((s) => s.name.startsWith('drill-'));
      if (doomed) {
        const db = new Database(path.join(dataDir, 'portal.sqlite'), { readonly: true });
        const id = db.prepare('select s.id from client_secrets s join applications a on a.id = s.application_id where a.client_id = ? and s.name = ? and s.deleted_at is null').pluck().get(doomed.clientId, doomed.name) as string | undefined;
        db.close();
        if (id) {
          doomed.state = 'deleting';
          requests++;
          const r = await page.request('POST', `${applicationPath(doomed.clientId)}/secrets/${id}/delete`, { form: { _csrf: page.csrf }, headers: { 'HX-Request': 'true' } }).catch(() => null);
          doomed.state = r && r.status === 200 ? 'deleted' : 'unknown';
        }
      }
      if (ROLL && !stop) {
        const rolled = live().find((s) => s.name.endsWith('-cli'));
        if (rolled) {
          rolled.state = 'unknown'; // the old secret works on until its grace period ends
          const r = await cli(['roll-secret', '--client-id', rolled.clientId, '--name', rolled.name]);
          const secret = /^[0-9A-Za-z]{44}$/.exec(r.out)?.[0];
          if (r.code === 0 && secret) {
            const s: Shown = { clientId: rolled.clientId, name: nameOf(secret), secret, state: 'live', at: performance.now() };
            shown.push(s), made++;
            if (!stop) await use(s, 'a secret roll-secret just printed');
          }
        }
      }
      if (CLI_DELETE && !stop) {
        const doomedByCli = live().find((s) => s.name.startsWith('drill-') && s.name.includes('(rolled'));
        if (doomedByCli) {
          doomedByCli.state = 'deleting';
          const r = await cli(['delete-secret', '--client-id', doomedByCli.clientId, '--name', doomedByCli.name]);
          doomedByCli.state = r.code === 0 ? 'deleted' : 'unknown';
        }
      }
      if (round % 5 === 0 && !stop) await cli(['send-expiry-reminders']);
    })();
    await new Promise((r) => setTimeout(r, killAt));
    portal.child.kill('SIGKILL');
    killedAt = performance.now();
    await portal.exited;
    stop = true;
    await Promise.all([...load, changes]);
    agent.destroy();

    // With the portal down: the file and the audit log.
    const db = new Database(path.join(dataDir, 'portal.sqlite'));
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') violation(round, `integrity_check: ${integrity}`);
    const fk = db.pragma('foreign_key_check') as unknown[];
    if (fk.length) violation(round, `foreign_key_check: ${JSON.stringify(fk.slice(0, 3))}`);
    const orphans = db
      .prepare(
        `select e.id, e.action from audit_events e
         where (e.organisation_id is not null and not exists (select 1 from organisations o where o.id = e.organisation_id))
            or (e.application_id is not null and not exists (select 1 from applications a where a.id = e.application_id))
            or (json_extract(e.details, '$.secretId') is not null and not exists (select 1 from client_secrets s where s.id = json_extract(e.details, '$.secretId')))
            or (json_extract(e.details, '$.newSecretId') is not null and not exists (select 1 from client_secrets s where s.id = json_extract(e.details, '$.newSecretId')))
            or (e.action = 'secret.delete' and exists (select 1 from client_secrets s where s.id = json_extract(e.details, '$.secretId') and s.deleted_at is null))`,
      )
      .all();
    if (orphans.length) violation(round, `audit rows without their object: ${JSON.stringify(orphans.slice(0, 3))}`);
    const unaudited = db
      .prepare(
        `select s.name from client_secrets s where s.name like 'drill-%' and (
           not exists (select 1 from audit_events e where e.action = 'secret.create' and json_extract(e.details, '$.secretId') = s.id)
           or (s.deleted_at is not null and not exists (select 1 from audit_events e where e.action in ('secret.delete', 'secret.revoke') and json_extract(e.details, '$.secretId') = s.id)))`,
      )
      .all();
    if (unaudited.length) violation(round, `secrets whose change is not in the audit log: ${JSON.stringify(unaudited.slice(0, 3))}`);
    db.close();

    // Restarted: every shown secret works, every deleted one is refused, no jti is replayable.
    portal = await startPortalProcess(env, onLine);
    for (const s of shown) {
      if (s.state !== 'live' && s.state !== 'deleted') continue;
      const r = await token(basic(s.clientId, s.secret), 'grant_type=client_credentials');
      const status = 'status' in r ? r.status : r.error;
      if (s.state === 'live' && status !== 200) violation(round, `the secret "${s.name}" that was shown gets ${status} after the restart`), dump(s.secret);
      if (s.state === 'deleted' && status !== 401) violation(round, `the deleted secret "${s.name}" gets ${status} after the restart`), dump(s.secret);
    }
    const now = Date.now() / 1000;
    const unexpired = accepted.filter((a) => a.exp > now + 5);
    // All those near the kill, and a sample of the older ones (the verification budget is 400 at once).
    const older = unexpired.filter((a) => a.at < killedAt - REPLAY_WINDOW_MS);
    const sample = [...unexpired.filter((a) => a.at >= killedAt - REPLAY_WINDOW_MS), ...older.sort(() => Math.random() - 0.5).slice(0, 40)];
    for (const a of sample) {
      const r = await token(null, new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: a.assertion }).toString());
      if (!('status' in r) || r.status !== 200) continue;
      if (a.at >= killedAt - REPLAY_WINDOW_MS) gapReplays++;
      violation(round, `an assertion accepted ${((killedAt - a.at) / 1000).toFixed(2)} s before the kill was accepted again after the restart (the portal logged ${jtiRetries - retriesAtStart} failed writes of used jtis this round)`);
    }
    accepted.length = 0;

    // Reminders: each credential's reminder (its subject) mailed at most once.
    for (; mailsRead < smtp.messages.length; mailsRead++) {
      const mail = await simpleParser(smtp.messages[mailsRead]!.raw);
      if (!/expires in|has expired|expires today/.test(mail.subject ?? '')) continue;
      const name = /“([^”]+)”/.exec(mail.text ?? '')?.[1] ?? '?';
      const k = `${mail.subject} (${name}) to ${smtp.messages[mailsRead]!.to.join(',')}`;
      mailCounts.set(k, (mailCounts.get(k) ?? 0) + 1);
      if (mailCounts.get(k) === 2) violation(round, `reminder sent twice: ${k}`);
    }
    console.log(`  round ${round}: killed after ${killAt.toFixed(0)} ms; ${requests} requests so far, ${made} secrets shown, ${mailCounts.size} reminders, ${violations.length} violations`);
  }

  portal.child.kill('SIGTERM');
  await portal.exited;
  agent.destroy();
  await smtp.close();
  // A violation's data folder is kept for a look at its rows (sqlite3 portal.sqlite).
  if (violations.length) console.log(`data folder kept: ${dataDir}`);
  else fs.rmSync(dataDir, { recursive: true, force: true });
  const twice = [...mailCounts.values()].filter((n) => n > 1).length;
  console.log(`\n${made} secrets shown by the page and the CLI; ${mailCounts.size} distinct reminders mailed, ${twice} of them more than once; ${gapReplays} of the violations are assertions accepted within ${REPLAY_WINDOW_MS} ms of a kill`);
  console.log(`drill: ${ROUNDS} rounds, ${requests} requests, ${violations.length} violations`);
  process.exit(violations.length ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
