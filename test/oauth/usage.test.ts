// What each credential is doing (issue 28, points 1 and 2): real token requests from real
// source addresses (127.0.0.x) with real User-Agents, counted per credential per day, and
// refusals counted per credential, reason, address and hour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { tokenFrom } from '../helpers/token-from.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser } from '../helpers/accounts.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { createClientSecret, deleteClientSecret } from '../../server/credentials/secrets.ts';
import { findApplicationByClientId, setApplicationDisabled } from '../../server/admin/applications.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { createUsage, MAX_REFUSAL_KEYS_PER_HOUR, OTHER_ADDRESSES, shortClient } from '../../server/oauth/usage.ts';

function secretFor(portal: TestPortal, clientId: string, name: string, days = 30) {
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const r = createClientSecret(portal.deps, cliActor, app, { name, expires: addDays(dateInZone(portal.clock.now(), 'UTC'), days) });
  assert.ok(r.ok);
  return { secret: r.value.secret, id: r.value.row.id, hint: r.value.row.hint, app };
}

interface UsageRow {
  kind: string;
  credential_id: string;
  day: string;
  requests: number;
  refusals: number;
  last_used_at: number | null;
  last_address: string | null;
  last_client: string | null;
}
interface RefusalRow {
  credential_id: string;
  credential_label: string;
  reason: string;
  address: string;
  client: string;
  count: number;
  hour: number;
}
const usageRows = (portal: TestPortal) => portal.deps.db.$client.prepare('select * from credential_usage order by day').all() as UsageRow[];
const refusalRows = (portal: TestPortal) => portal.deps.db.$client.prepare('select * from token_refusals order by id').all() as RefusalRow[];

test('the User-Agent shortened to its product, capped', () => {
  assert.equal(shortClient('python-requests/2.31'), 'python-requests/2.31');
  assert.equal(shortClient('curl/8.5.0'), 'curl/8.5.0');
  assert.equal(shortClient('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'), 'Safari/537.36');
  assert.equal(shortClient('Go-http-client/1.1'), 'Go-http-client/1.1');
  assert.equal(shortClient(undefined), '');
  assert.ok(shortClient('x'.repeat(10_000)).length <= 64);
  assert.ok(shortClient(`a/${'1'.repeat(10_000)}`).length <= 64);
});

test('token requests are counted per credential per day: requests, last address and client, a new row the next day', async (t) => {
  const portal = await startPortal(t, {}, '2026-11-20T10:00:00Z');
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const a = secretFor(portal, clientId, 'Secret A');
  const b = secretFor(portal, clientId, 'Secret B');
  for (let i = 0; i < 3; i++) assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, a.secret, 'python-requests/2.31')).status, 200);
  assert.equal((await tokenFrom(portal, '127.0.0.3', clientId, a.secret, 'curl/8.5.0 extra words')).status, 200);
  assert.equal((await tokenFrom(portal, '127.0.0.4', clientId, b.secret, 'x'.repeat(5000))).status, 200);
  portal.settle();
  let rows = usageRows(portal);
  const rowA = rows.find((r) => r.credential_id === a.id)!;
  assert.deepEqual({ kind: rowA.kind, day: rowA.day, requests: rowA.requests, refusals: rowA.refusals, address: rowA.last_address, client: rowA.last_client }, { kind: 'secret', day: '2026-11-20', requests: 4, refusals: 0, address: '127.0.0.3', client: 'curl/8.5.0' });
  const rowB = rows.find((r) => r.credential_id === b.id)!;
  assert.equal(rowB.requests, 1);
  assert.equal(rowB.last_client!.length, 64, 'a long User-Agent is capped');
  // More the same day adds to the row; the next day is a row of its own.
  assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, a.secret, 'python-requests/2.31')).status, 200);
  portal.settle();
  portal.clock.advance(24 * 3_600_000);
  assert.equal((await tokenFrom(portal, '127.0.0.5', clientId, a.secret, 'python-requests/2.31')).status, 200);
  portal.settle();
  rows = usageRows(portal).filter((r) => r.credential_id === a.id);
  assert.deepEqual(rows.map((r) => [r.day, r.requests, r.last_address]), [
    ['2026-11-20', 5, '127.0.0.2'],
    ['2026-11-21', 1, '127.0.0.5'],
  ]);
});

test('refusals for the managers: plain reasons, the credential where it can be told, one row with a count per credential, reason, address and hour', async (t) => {
  const portal = await startPortal(t, {}, '2026-11-10T10:00:00Z');
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  await createUser(portal, org, 'anna@hospital-a.example', [clientId]);
  const managerId = (portal.deps.db.$client.prepare('select id from users where email = ?').get('anna@hospital-a.example') as { id: number }).id;
  portal.deps.db.$client.prepare("update users set display_name = 'Anna de Vries' where id = ?").run(managerId);
  const live = secretFor(portal, clientId, 'Live');
  const old = secretFor(portal, clientId, 'Old', 2);
  const gone = secretFor(portal, clientId, 'Gone');
  deleteClientSecret(portal.deps, { userId: managerId, label: 'anna@hospital-a.example' }, gone.app, gone.id);

  // A wrong secret five times from one address, once from another.
  for (let i = 0; i < 5; i++) assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, 'not-the-secret', 'python-requests/2.31')).status, 401);
  assert.equal((await tokenFrom(portal, '127.0.0.3', clientId, 'not-the-secret', 'curl/8.5.0')).status, 401);
  // The deleted secret: its reason in error_description and, with who deleted it, for the managers.
  const deleted = await tokenFrom(portal, '127.0.0.2', clientId, gone.secret, 'python-requests/2.31');
  assert.equal(deleted.body.error_description, 'Client authentication failed: this client secret was deleted on 10 Nov 2026.');
  // Three days on, the old secret has expired.
  portal.clock.advance(3 * 24 * 3_600_000);
  const expired = await tokenFrom(portal, '127.0.0.2', clientId, old.secret, 'python-requests/2.31');
  assert.equal(expired.body.error_description, 'Client authentication failed: this client secret expired on 12 Nov 2026.');
  assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, old.secret, 'python-requests/2.31')).status, 401);
  portal.settle();
  const rows = refusalRows(portal);
  assert.deepEqual(
    rows.map((r) => [r.reason, r.credential_label, r.address, r.client, r.count]),
    [
      ['wrong secret', '', '127.0.0.2', 'python-requests/2.31', 5],
      ['wrong secret', '', '127.0.0.3', 'curl/8.5.0', 1],
      ['secret deleted on 10 Nov 2026 by its manager (Anna de Vries)', gone.hint, '127.0.0.2', 'python-requests/2.31', 1],
      ['secret expired on 12 Nov 2026', old.hint, '127.0.0.2', 'python-requests/2.31', 2],
    ],
  );
  // The refusals are counted on the credential's day too.
  const oldUsage = usageRows(portal).find((r) => r.credential_id === old.id)!;
  assert.deepEqual([oldUsage.refusals, oldUsage.requests, oldUsage.last_used_at], [2, 0, null]);
  // An hour later, the same refusal is a new row.
  portal.clock.advance(3_600_000);
  await tokenFrom(portal, '127.0.0.2', clientId, 'not-the-secret', 'python-requests/2.31');
  // A disabled application's managers see why.
  setApplicationDisabled(portal.deps.db, portal.clock, cliActor, live.app, true);
  assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, live.secret, 'python-requests/2.31')).status, 401);
  portal.settle();
  const later = refusalRows(portal).slice(rows.length);
  assert.deepEqual(later.map((r) => [r.reason, r.count]), [
    ['wrong secret', 1],
    ['application disabled', 1],
  ]);
  // A client id no application has is the IT team's audit only.
  await tokenFrom(portal, '127.0.0.2', 'no-such-client', 'x', 'curl/8.5.0');
  portal.settle();
  assert.equal(refusalRows(portal).length, rows.length + 2);
});

test('a flood from ever new addresses is bounded: at most MAX_REFUSAL_KEYS_PER_HOUR rows an hour, the rest under "(others)"', async (t) => {
  const portal = await startPortal(t, {}, '2026-11-10T10:00:00Z');
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  // The counter as the token endpoint uses it, on the portal's real SQLite file.
  const usage = createUsage(portal.deps.db.$client, portal.clock, 'UTC', portal.deps.logger);
  const extra = 500;
  for (let i = 0; i < MAX_REFUSAL_KEYS_PER_HOUR + extra; i++) usage.refused({ applicationId: app.id, reason: 'wrong secret' }, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'curl/8.5.0');
  usage.flush();
  const rows = refusalRows(portal);
  assert.equal(rows.length, MAX_REFUSAL_KEYS_PER_HOUR + 1);
  assert.equal(rows.find((r) => r.address === OTHER_ADDRESSES)!.count, extra);
  assert.equal(rows.reduce((n, r) => n + r.count, 0), MAX_REFUSAL_KEYS_PER_HOUR + extra, 'every refusal is accounted for');
  // Past the cap, key ids the caller makes up do not make reasons of their own.
  for (let i = 0; i < 300; i++) usage.refused({ applicationId: app.id, reason: `unknown key id k${i}` }, `10.9.${i >> 8}.${i & 255}`, 'curl/8.5.0');
  usage.flush();
  const more = refusalRows(portal).slice(rows.length);
  assert.deepEqual(more.map((r) => [r.reason, r.address, r.count]), [['unknown key id (various)', OTHER_ADDRESSES, 300]]);
});

test('private_key_jwt: a key is counted as kind key; refusals name the key and the rule, or the unknown key id', async (t) => {
  const jose = await import('jose');
  const http = await import('node:http');
  const { addPublicKey } = await import('../../server/credentials/public-keys.ts');
  const { cliInProcess } = await import('../helpers/cli.ts');
  const portal = await startPortal(t, {}, Date.now());
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'ES key', key: await jose.exportSPKI(pair.publicKey), expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 30) });
  assert.ok(added.ok);
  const kid = added.value.row.thumbprint;
  const stranger = await jose.generateKeyPair('ES256');
  const assertion = (claims: { kid?: string; iat?: number; exp?: number; key?: CryptoKey } = {}) => {
    const iat = claims.iat ?? Math.floor(portal.clock.now() / 1000);
    return new jose.SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: claims.kid ?? kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${portal.baseUrl}/oauth/token`)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp ?? iat + 300)
      .sign(claims.key ?? pair.privateKey);
  };
  const post = (jwt: string) =>
    new Promise<number>((resolve, reject) => {
      const body = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt }).toString();
      const req = http.request(`${portal.baseUrl}/oauth/token`, { method: 'POST', localAddress: '127.0.0.6', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Authlib/1.3.0 (+https://authlib.org/)' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
  assert.equal(await post(await assertion()), 200);
  assert.equal(await post(await assertion()), 200);
  // Signed with a key the application does not have, naming a key id it does not know.
  assert.equal(await post(await assertion({ kid: 'k7', key: stranger.privateKey })), 401);
  const iat = Math.floor(portal.clock.now() / 1000);
  assert.equal(await post(await assertion({ iat: iat - 600, exp: iat + 3100 })), 401);
  portal.settle();
  const usage = usageRows(portal).find((r) => r.credential_id === added.value.row.id)!;
  assert.deepEqual([usage.kind, usage.requests, usage.refusals, usage.last_address, usage.last_client], ['key', 2, 1, '127.0.0.6', 'Authlib/1.3.0']);
  assert.deepEqual(
    refusalRows(portal).map((r) => [r.reason, r.credential_label]),
    [
      ['unknown key id k7', ''],
      ["assertion's exp more than 60 minutes after iat", kid],
    ],
  );
  // The command line lists the key with its usage.
  const listed = await cliInProcess(['list-credentials', '--client-id', clientId, '--json'], { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl });
  const key = (JSON.parse(listed.stdout) as Array<Record<string, unknown>>).find((r) => r.kind === 'key')!;
  assert.deepEqual([key.name, key.hint, key.requests30d, key.refusals30d, key.lastClient], ['ES key', kid, 2, 1, 'Authlib/1.3.0']);
});
