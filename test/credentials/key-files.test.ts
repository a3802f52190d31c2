// Issue 26, point 7: certificates and keys as partners have them. DER (.cer/.crt, what
// Windows and Entra export) and PEM certificates and keys are accepted, on the page (the
// file picker passes binary files on as base64) and in the CLI; a .pfx/.p12 is refused
// with how to export the certificate alone; an unreadable upload gets that one error (no
// "Enter an expiration date." beside it); a paste too large gets its error in the dialog.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { decodeHtml } from '../helpers/http.ts';
import { parsePublicKeyUpload, MAX_UPLOAD_BYTES } from '../../server/credentials/public-keys.ts';
import { uploadText } from '../../server/credentials/key-upload.ts';

// A certificate (PEM and DER), its public key (PEM and DER), its private key (DER) and a
// PKCS #12 file holding both, made by openssl.
function files(t: { after: (fn: () => void) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'key-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.pem'), '-days', '200', '-subj', '/CN=partner');
  openssl('x509', '-in', f('client.pem'), '-outform', 'der', '-out', f('client.cer'));
  openssl('pkey', '-in', f('client.key'), '-pubout', '-out', f('client.pub'));
  openssl('pkey', '-in', f('client.key'), '-pubout', '-outform', 'der', '-out', f('client-pub.der'));
  openssl('pkey', '-in', f('client.key'), '-outform', 'der', '-out', f('client-key.der'));
  openssl('pkcs12', '-export', '-in', f('client.pem'), '-inkey', f('client.key'), '-passout', 'pass:secret', '-out', f('client.pfx'));
  return { dir, f };
}

test('DER and PEM certificates and public keys read alike; a DER private key and a .pfx are refused with what to do', (t) => {
  const { f } = files(t);
  const now = Date.now();
  const read = (name: string) => parsePublicKeyUpload(uploadText(fs.readFileSync(f(name))), now);
  const pem = read('client.pem');
  const der = read('client.cer');
  assert.ok(pem.ok && der.ok, JSON.stringify([pem, der]));
  assert.equal(der.value.kind, 'certificate');
  assert.equal(der.value.thumbprint, pem.value.thumbprint, 'the same certificate, whatever its encoding');
  assert.equal(der.value.notAfter, pem.value.notAfter);
  const pub = read('client.pub');
  const pubDer = read('client-pub.der');
  assert.ok(pub.ok && pubDer.ok);
  assert.equal(pubDer.value.thumbprint, pub.value.thumbprint);
  assert.equal(pubDer.value.keyType, 'RSA 2048');

  const pfx = read('client.pfx');
  assert.ok(!pfx.ok);
  assert.match(pfx.message, /PKCS #12 file \(\.pfx or \.p12\).*Export the certificate alone.*openssl pkcs12 -in file\.pfx -clcerts -nokeys/);
  const privateDer = read('client-key.der');
  assert.ok(!privateDer.ok);
  assert.match(privateDer.message, /This is a private key/);
  const garbage = parsePublicKeyUpload(Buffer.from('0123456789abcdef'.repeat(8)).toString('base64'), now);
  assert.ok(!garbage.ok);
  assert.match(garbage.message, /could not be read as a public key, a certificate or a JWK/);
});

test('the page: a DER certificate as the file picker sends it is added; a .pfx, an unreadable file and a paste too large get one error each in the dialog (422)', async (t) => {
  const { f } = files(t);
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const c = await signIn(portal, await createUser(portal, org, 'm@hospital-a.example', [clientId]));
  await c.get('/manage-api-credentials');
  const keys = `/manage-api-credentials/applications/${clientId}/keys`;
  const HX = { 'HX-Request': 'true' };
  const base64 = (name: string) => fs.readFileSync(f(name)).toString('base64').replace(/(.{64})/g, '$1\n');

  const added = await c.post(keys, { name: 'Windows export', key: base64('client.cer') }, HX);
  assert.equal(added.status, 201, added.text);
  assert.match(decodeHtml(added.text), /Windows export/);

  const pfx = await c.post(keys, { name: 'Whole bundle', key: base64('client.pfx') }, HX);
  assert.equal(pfx.status, 422);
  assert.match(decodeHtml(pfx.text), /PKCS #12 file/);
  assert.doesNotMatch(pfx.text, /Enter an expiration date/);

  // Refused private material is never sent back into the form: DER, PKCS #12, an escaped JWK.
  const escapedJwk = JSON.stringify(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })).replace('"d"', '"\\u0064"');
  for (const [label, key] of [['DER private key', base64('client-key.der')], ['PKCS #12', base64('client.pfx')], ['escaped JWK', escapedJwk]] as const) {
    const refused = await c.post(keys, { name: 'Private', key }, HX);
    assert.equal(refused.status, 422, label);
    const secretPart = key.replace(/\s+/g, '').slice(40, 100);
    assert.ok(!refused.text.replace(/\s+/g, '').includes(secretPart), `${label}: not sent back`);
  }

  const unreadable = await c.post(keys, { name: 'Not a key', key: 'hello, this is not a key' }, HX);
  assert.equal(unreadable.status, 422);
  assert.match(decodeHtml(unreadable.text), /This is not a public key, a certificate or a JWK/);
  assert.doesNotMatch(unreadable.text, /Enter an expiration date/, 'one error: the key, not the date as well');

  const large = await c.post(keys, { name: 'Too large', key: '-----BEGIN CERTIFICATE-----\n' + 'A'.repeat(MAX_UPLOAD_BYTES + 10) }, HX);
  assert.equal(large.status, 422, 'its error in the dialog, not a 413 page behind it');
  assert.match(decodeHtml(large.text), /The file is too large \(at most 64 KB\)/);
  assert.match(large.text, /id="dialog-title"/);
});

test('the CLI: add-public-key reads a DER certificate and a DER public key; refuses a .pfx (exit 2); its usage says when --expires is required', async (t) => {
  const { f } = files(t);
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl };
  const cert = await cliInProcess(['add-public-key', '--client-id', clientId, '--name', 'DER cert', '--file', f('client.cer')], env);
  assert.equal(cert.code, 0, cert.stderr);
  assert.match(cert.stdout, /^[A-Za-z0-9_-]{43}$/);
  const expires = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  const pub = await cliInProcess(['add-public-key', '--client-id', clientId, '--name', 'DER key', '--file', f('client-pub.der'), '--expires', expires], env);
  assert.equal(pub.code, 0, pub.stderr);
  const pfx = await cliInProcess(['add-public-key', '--client-id', clientId, '--name', 'PFX', '--file', f('client.pfx')], env);
  assert.equal(pfx.code, 2);
  assert.match(pfx.stderr, /PKCS #12/);
  const bare = await cliInProcess(['add-public-key', '--client-id', clientId, '--name', 'Bare', '--file', f('client.pub')], env);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /--expires: required unless the file is a certificate/);
});
