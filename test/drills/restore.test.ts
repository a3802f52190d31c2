// The restore drill (issue 30, point 3): `backup --to` while the portal serves a stream of
// token requests (secrets and private_key_jwt assertions), then a second portal started on
// the copy with the same master key, as the README's "Restore" says. The same secrets and
// keys work there, the portal's signing key is the same (a token from before verifies at
// the copy's JWKS), a secret deleted before the backup stays refused, and an assertion's
// jti used before the backup cannot be replayed at the copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import Database from 'better-sqlite3';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { tempDir } from '../helpers/temp.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret, deleteClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface Signer {
  clientId: string;
  key: crypto.KeyObject;
  kid: string;
}

function assertion(s: Signer, audience: string, jti: string = crypto.randomUUID()): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', kid: s.kid })}.${b64({ iss: s.clientId, sub: s.clientId, aud: audience, iat, exp: iat + 300, jti })}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

async function token(portal: TestPortal, how: { secret: [string, string] } | { assertion: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const form: Record<string, string> = { grant_type: 'client_credentials' };
  if ('secret' in how) headers.Authorization = 'Basic ' + Buffer.from(how.secret.map(encodeURIComponent).join(':')).toString('base64');
  else Object.assign(form, { client_assertion_type: ASSERTION_TYPE, client_assertion: how.assertion });
  const res = await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

// The signature thread up before the first assertion: a verification waits for it at most 2 s
// (then 503), which a cold start on a loaded machine can take.
async function warmed(portal: Awaited<ReturnType<typeof startPortal>>, secret: [string, string]): Promise<void> {
  assert.equal((await token(portal, { secret })).status, 200, 'warm');
  for (let i = 0; i < 1000 && !portal.signatures.thread.ready; i++) await new Promise((r) => setTimeout(r, 10));
}

test('restore drill: a backup taken under token load starts a portal on which the same secrets and keys work', async (t) => {
  const portal = await startPortal(t, { PORTAL_ENV: 'production' });
  const org = makeOrganisation(portal, 'Hospital A');
  const expires = addDays(dateInZone(portal.clock.now(), 'UTC'), 90);
  const secrets: Array<[string, string]> = [];
  const signers: Signer[] = [];
  for (let i = 0; i < 3; i++) {
    const clientId = makeApplication(portal, org, `Partner-NL-HospitalA${i}-DM`, ['DM']);
    const app = findApplicationByClientId(portal.deps.db, clientId)!;
    const made = createClientSecret(portal.deps, cliActor, app, { name: `restore ${i}`, expires });
    assert.ok(made.ok);
    secrets.push([clientId, made.value.secret]);
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const added = addPublicKey(portal.deps, cliActor, app, { name: `key ${i}`, key: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(), expires });
    assert.ok(added.ok);
    signers.push({ clientId, key: pair.privateKey, kid: added.value.row.thumbprint });
  }
  // A secret deleted before the backup, and an assertion used before it.
  const gone = findApplicationByClientId(portal.deps.db, secrets[0]![0])!;
  const doomed = createClientSecret(portal.deps, cliActor, gone, { name: 'deleted', expires });
  assert.ok(doomed.ok);
  assert.ok(deleteClientSecret(portal.deps, cliActor, gone, doomed.value.row.id));
  await warmed(portal, secrets[0]!);
  const usedJti = crypto.randomUUID();
  const used = assertion(signers[1]!, `${portal.baseUrl}/oauth/token`, usedJti);
  const before = await token(portal, { assertion: used });
  assert.equal(before.status, 200, JSON.stringify(before.body));
  portal.settle();

  // Token load: four loops, secrets and fresh assertions in turn, until the backup is done.
  let stop = false;
  let duringBackup = 0;
  let backingUp = false;
  const answers = new Map<number, number>();
  const load = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const r = i % 2 ? await token(portal, { secret: secrets[(w + i) % secrets.length]! }) : await token(portal, { assertion: assertion(signers[(w + i) % signers.length]!, portal.baseUrl) });
      answers.set(r.status, (answers.get(r.status) ?? 0) + 1);
      if (backingUp) duringBackup++;
    }
  });
  while ((answers.get(200) ?? 0) < 20) await new Promise((r) => setImmediate(r));
  const copyFile = path.join(tempDir(t), 'backup.sqlite');
  backingUp = true;
  const backup = await cliInProcess(['backup', '--to', copyFile], { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl });
  backingUp = false;
  // A few more answers after the backup, so the load demonstrably spanned it.
  const after = (answers.get(200) ?? 0) + 10;
  while ((answers.get(200) ?? 0) < after) await new Promise((r) => setImmediate(r));
  stop = true;
  await Promise.all(load);
  assert.equal(backup.code, 0, backup.stderr);
  assert.equal(backup.stdout, copyFile);
  assert.deepEqual([...answers.keys()], [200], `every token request under load succeeded: ${JSON.stringify([...answers])}`);
  const check = new Database(copyFile, { readonly: true });
  assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
  assert.deepEqual(check.pragma('foreign_key_check'), []);
  check.close();

  // Restore as the README says: the copy as DATA_DIR/portal.sqlite, master.key beside it.
  const restoredDir = tempDir(t);
  fs.copyFileSync(copyFile, path.join(restoredDir, 'portal.sqlite'));
  fs.copyFileSync(path.join(portal.dataDir, 'master.key'), path.join(restoredDir, 'master.key'));
  fs.chmodSync(path.join(restoredDir, 'master.key'), 0o600);
  // The same public URL, as a restored service keeps it (assertions name it in their aud).
  const restored = await startPortal(t, { PORTAL_ENV: 'production', DATA_DIR: restoredDir, BASE_URL: portal.baseUrl });
  await warmed(restored, secrets[0]!);

  for (const s of secrets) {
    const r = await token(restored, { secret: s });
    assert.equal(r.status, 200, `the secret of ${s[0]} works on the copy: ${JSON.stringify(r.body)}`);
    // The same signing key: the copy's JWKS verifies the copy's tokens and the original's.
    const jwks = jose.createLocalJWKSet((await (await fetch(`${restored.baseUrl}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
    await jose.jwtVerify(r.body.access_token as string, jwks);
    const original = await token(portal, { secret: s });
    await jose.jwtVerify(original.body.access_token as string, jwks);
  }
  for (const s of signers) {
    const r = await token(restored, { assertion: assertion(s, `${portal.baseUrl}/oauth/token`) });
    assert.equal(r.status, 200, `the key of ${s.clientId} works on the copy: ${JSON.stringify(r.body)}`);
  }
  const deleted = await token(restored, { secret: [secrets[0]![0], doomed.value.secret] });
  assert.equal(deleted.status, 401, 'a secret deleted before the backup stays refused');
  const replay = await token(restored, { assertion: used });
  assert.equal(replay.status, 401, 'an assertion used before the backup is not accepted on the copy');
  assert.match(String(replay.body.error_description), /jti already used/);
  const key = `${signers[1]!.clientId} ${crypto.hash('sha256', usedJti, 'base64url')}`;
  assert.ok(restored.deps.db.$client.prepare('select 1 from used_assertions where key = ?').get(key), 'its jti is in the copy');
  t.diagnostic(`${[...answers.values()].reduce((a, b) => a + b, 0)} token requests under load, ${duringBackup} answered while the backup ran`);
});
