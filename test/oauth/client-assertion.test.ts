// The client-assertion check as a table, without HTTP: each row one assertion, and
// whether it gets through (private-key-jwt.test.ts drives the same over the endpoint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { openDatabase } from '../../db/client.ts';
import { createAssertionVerifier, readAssertion, type AssertionOutcome } from '../../server/oauth/client-assertion.ts';
import type { KeyRow } from '../../server/oauth/client-registry.ts';
import { verifyText } from '../../server/oauth/signatures/operations.ts';
import { tempDir } from '../helpers/temp.ts';

const CLIENT = '6f1c1c1e-0000-4000-8000-000000000001';
const AUD = 'https://portal.example.org/oauth/token';
const NOW = Date.parse('2027-03-01T10:00:00Z');
const s = Math.floor(NOW / 1000);

test('client assertions: algorithms bound to key types, claims, single use', async (t) => {
  const db = openDatabase(`${tempDir(t)}/portal.sqlite`);
  t.after(() => db.$client.close());
  const verifier = createAssertionVerifier(db.$client, [AUD, 'https://portal.example.org'], { warn() {} }, () => NOW, verifyText);
  const verify = (assertion: string, keys: KeyRow[]) => verifier.verifyAssertion(readAssertion(assertion), keys, NOW);
  const pair = (type: 'ec' | 'rsa' | 'ed25519', curve?: string) =>
    type === 'ec' ? crypto.generateKeyPairSync('ec', { namedCurve: curve! }) : type === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ed25519');
  const p256 = pair('ec', 'P-256');
  const p384 = pair('ec', 'P-384');
  const p521 = pair('ec', 'P-521');
  const rsa = pair('rsa');
  const ed = pair('ed25519');
  const row = (id: string, key: crypto.KeyObject, expires = NOW + 86_400_000): KeyRow => ({ id, thumbprint: `tp-${id}`, expires_at: expires, key });
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: CLIENT, sub: CLIENT, aud: AUD, iat: s, exp: s + 120, jti: crypto.randomUUID(), ...extra });
  const sign = (alg: string, key: crypto.KeyObject, extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    new jose.SignJWT(claims(extra)).setProtectedHeader({ alg, ...header }).sign(key);
  // A compact JWS signed with node:crypto, for headers jose will not sign (an unknown crit).
  const signedByHand = (header: object, key: crypto.KeyObject) => {
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  const unsigned = (header: object, body: object) => `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.`;

  const cases: Array<[string, string, KeyRow[], boolean]> = [
    ['ES256 with its P-256 key', await sign('ES256', p256.privateKey), [row('a', p256.publicKey)], true],
    ['ES384 with a P-384 key', await sign('ES384', p384.privateKey), [row('a', p384.publicKey)], true],
    ['ES512 with a P-521 key', await sign('ES512', p521.privateKey), [row('a', p521.publicKey)], true],
    ['RS256', await sign('RS256', rsa.privateKey), [row('a', rsa.publicKey)], true],
    ['PS256', await sign('PS256', rsa.privateKey), [row('a', rsa.publicKey)], true],
    ['EdDSA', await sign('EdDSA', ed.privateKey), [row('a', ed.publicKey)], true],
    ['aud as an array naming the issuer', await sign('ES256', p256.privateKey, { aud: ['https://other.example', 'https://portal.example.org'] }), [row('a', p256.publicKey)], true],
    ['the second of two keys', await sign('ES256', p256.privateKey), [row('x', p384.publicKey), row('a', p256.publicKey)], true],
    ['ES256 header, P-384 key registered', await sign('ES256', p256.privateKey), [row('a', p384.publicKey)], false],
    ['RS256 header over an EC key', await sign('ES256', p256.privateKey, {}, { alg: 'ES256' }).then((j) => j.replace(/^[^.]+/, Buffer.from('{"alg":"RS256"}').toString('base64url'))), [row('a', p256.publicKey)], false],
    ['alg none', unsigned({ alg: 'none' }, claims()), [row('a', p256.publicKey)], false],
    ['HS256 keyed with the public key', await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(p256.publicKey.export({ format: 'der', type: 'spki' })), [row('a', p256.publicKey)], false],
    ['a crit header (signed for real: only crit is wrong)', signedByHand({ alg: 'ES256', crit: ['urn:example:ext'], 'urn:example:ext': true }, p256.privateKey), [row('a', p256.publicKey)], false],
    ['the same, without crit, gets through', signedByHand({ alg: 'ES256', 'urn:example:ext': true }, p256.privateKey), [row('a', p256.publicKey)], true],
    ['another key', await sign('ES256', pair('ec', 'P-256').privateKey), [row('a', p256.publicKey)], false],
    ['an expired key', await sign('ES256', p256.privateKey), [row('a', p256.publicKey, NOW - 1)], false],
    ['wrong iss', await sign('ES256', p256.privateKey, { iss: 'someone-else' }), [row('a', p256.publicKey)], false],
    ['wrong sub', await sign('ES256', p256.privateKey, { sub: 'someone-else' }), [row('a', p256.publicKey)], false],
    ['wrong aud', await sign('ES256', p256.privateKey, { aud: 'https://evil.example/token' }), [row('a', p256.publicKey)], false],
    ['no aud', await sign('ES256', p256.privateKey, { aud: undefined }), [row('a', p256.publicKey)], false],
    ['expired beyond the skew', await sign('ES256', p256.privateKey, { iat: s - 600, exp: s - 61 }), [row('a', p256.publicKey)], false],
    ['expired within the 60 s skew', await sign('ES256', p256.privateKey, { iat: s - 300, exp: s - 30 }), [row('a', p256.publicKey)], true],
    ['exp an hour after iat (Authlib)', await sign('ES256', p256.privateKey, { exp: s + 3600 }), [row('a', p256.publicKey)], true],
    ['exp more than an hour ahead', await sign('ES256', p256.privateKey, { iat: undefined, exp: s + 3700 }), [row('a', p256.publicKey)], false],
    ['exp more than an hour after iat', await sign('ES256', p256.privateKey, { iat: s - 30, exp: s + 3590 }), [row('a', p256.publicKey)], false],
    ['exp as a string', await sign('ES256', p256.privateKey, { exp: String(s + 100) }), [row('a', p256.publicKey)], false],
    ['iat in the future', await sign('ES256', p256.privateKey, { iat: s + 120, exp: s + 200 }), [row('a', p256.publicKey)], false],
    ['nbf in the future', await sign('ES256', p256.privateKey, { nbf: s + 120 }), [row('a', p256.publicKey)], false],
    ['no jti', await sign('ES256', p256.privateKey, { jti: undefined }), [row('a', p256.publicKey)], false],
    ['a tampered payload', await sign('ES256', p256.privateKey).then((j) => { const [h, , sig] = j.split('.'); return `${h}.${Buffer.from(JSON.stringify(claims({ sub: CLIENT }))).toString('base64url')}.${sig}`; }), [row('a', p256.publicKey)], false],
    ['junk', 'a.b.c', [row('a', p256.publicKey)], false],
    ['four parts', `${await sign('ES256', p256.privateKey)}.x`, [row('a', p256.publicKey)], false],
  ];
  for (const [name, assertion, keys, expected] of cases) {
    const outcome = await verify(assertion, keys);
    assert.equal(outcome !== null && typeof outcome === 'object' && 'id' in outcome, expected, `${name}: ${JSON.stringify(outcome)}`);
  }
  const once = await sign('ES256', p256.privateKey);
  // Once the signature holds, the rule broken is named (error_description); before, nothing.
  const reasons: Array<[string, Record<string, unknown>, string]> = [
    ['exp an hour and more after iat', { iat: s - 30, exp: s + 3590 }, 'exp is more than 60 minutes after iat'],
    ['exp over an hour ahead', { iat: undefined, exp: s + 3700 }, 'exp is more than 60 minutes ahead'],
    ['expired', { iat: s - 600, exp: s - 300 }, 'the assertion has expired (exp)'],
    ['another aud', { aud: 'https://elsewhere.example' }, 'aud must be the token endpoint or the issuer'],
    ['iss and sub differ', { sub: 'someone-else' }, 'iss and sub must both be the client ID'],
    ['no jti', { jti: undefined }, 'jti is missing'],
    ['iat in the future', { iat: s + 600, exp: s + 700 }, 'iat is in the future'],
  ];
  for (const [name, extra, reason] of reasons) assert.deepEqual(refusedOnly(await verify(await sign('ES256', p256.privateKey, extra), [row('a', p256.publicKey)])), { refused: reason, key: 'a' }, name);
  assert.equal(await verify(await sign('ES256', p256.privateKey, { exp: s + 3700 }), [row('a', pair('ec', 'P-256').publicKey)]), null, 'a bad signature with bad claims says nothing');
  const idOf = (r: AssertionOutcome) => (r && typeof r === 'object' && 'id' in r ? r.id : r);
  assert.equal(idOf(await verify(once, [row('a', p256.publicKey)])), 'a');
  assert.deepEqual(refusedOnly(await verify(once, [row('a', p256.publicKey)])), { refused: 'jti already used', key: 'a' }, 'a replay, named once the signature holds');
  // Written to SQLite in a batch: a verifier started afresh (a restart) still refuses the replay.
  verifier.flush();
  const restarted = createAssertionVerifier(db.$client, [AUD], { warn() {} }, () => NOW, verifyText);
  assert.deepEqual(refusedOnly(await restarted.verifyAssertion(readAssertion(once), [row('a', p256.publicKey)], NOW)), { refused: 'jti already used', key: 'a' }, 'a replay after a restart');
  assert.ok(await restarted.verifyAssertion(readAssertion(await sign('ES256', p256.privateKey)), [row('a', p256.publicKey)], NOW), 'a fresh one still passes');
  const chosen = await sign('ES256', p256.privateKey, {}, { kid: 'tp-b' });
  assert.equal(idOf(await verify(chosen, [row('a', p256.publicKey), row('b', p256.publicKey)])), 'b', 'the key named by kid');
  // A check the signature thread could not make is 'unavailable', never a bad signature.
  const notChecked = createAssertionVerifier(db.$client, [AUD], { warn() {} }, () => NOW, () => null);
  assert.equal(await notChecked.verifyAssertion(readAssertion(await sign('ES256', p256.privateKey)), [row('a', p256.publicKey)], NOW), 'unavailable');
  // The budget is asked for the keys that would be tried: those that fit the algorithm
  // (the kid's, or every active one), before any signature is checked.
  let asked: string[] = [];
  const refuse = (keys: KeyRow[]) => ((asked = keys.map((k) => k.id)), false);
  const kidless = await sign('ES256', p256.privateKey);
  assert.equal(await verifier.verifyAssertion(readAssertion(kidless), [row('r', rsa.publicKey), row('a', p256.publicKey), row('b', p256.publicKey), row('x', p384.publicKey)], NOW, refuse), 'over budget');
  assert.deepEqual(asked, ['a', 'b'], 'only the P-256 keys would be tried for ES256');
  assert.equal(idOf(await verifier.verifyAssertion(readAssertion(kidless), [row('a', p256.publicKey)], NOW, () => true)), 'a', 'within budget, the same assertion verifies');
  assert.deepEqual(
    [readAssertion(chosen)?.clientId, readAssertion(chosen)?.kid, readAssertion(unsigned({ alg: 'none' }, claims()))?.parts, readAssertion('a.b.c')],
    [CLIENT, 'tp-b', null, null],
    'whom an assertion names is read before its signature; a malformed one has no parts',
  );
});

// A refusal names the rule and the key that verified it (its id, for the managers' refusals).
function refusedOnly(outcome: unknown) {
  return outcome && typeof outcome === 'object' && 'refused' in outcome ? { refused: (outcome as { refused: string }).refused, key: (outcome as unknown as { key: { id: string } }).key.id } : outcome;
}
