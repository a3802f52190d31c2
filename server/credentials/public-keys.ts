// Public keys and certificates for private_key_jwt: reading an upload (a PEM public key,
// an X.509 certificate in PEM, or a JWK), refusing what must never be stored (a private
// key), weak keys and expired certificates, and registering, listing and deleting them.
import crypto from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { clientJwksUrls, clientKeys } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { endOfDateInZone, formatDate } from '../lib/dates.ts';
import { parseName, type Parsed } from '../lib/validation.ts';
import { failure, invalid, success, type DomainResult, type FieldErrors } from '../lib/result.ts';
import type { Application } from './applications.ts';
import { sendCredentialNotice, type NoticeDeps } from './notices.ts';
import { expiryRules, parseSecretInput } from './secrets.ts';

export const MAX_UPLOAD_BYTES = 64 * 1024;
// Keys an application may have, uploaded and published at its JWKS URL together: an
// assertion without a kid is tried against each of them.
export const MAX_KEYS_PER_APPLICATION = 10;
export type ClientKey = typeof clientKeys.$inferSelect;

export interface PublicKeyInfo {
  kind: 'public-key' | 'certificate' | 'jwk';
  jwk: crypto.JsonWebKey;
  thumbprint: string;
  keyType: string;
  notAfter: string | null; // a certificate's last day (YYYY-MM-DD, UTC)
}

const PRIVATE = 'This is a private key: upload only the public part (the public key or the certificate). The private key never leaves your system.';

// RFC 7638: the SHA-256 of the key's required members, in lexicographic order.
export function jwkThumbprint(jwk: crypto.JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

// Which keys the token endpoint accepts: RSA of 2048 to 4096 bits with e = 65537, EC
// P-256/384/521, Ed25519.
export function describeKey(key: crypto.KeyObject): Parsed<{ jwk: crypto.JsonWebKey; keyType: string }> {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) return { ok: false, message: `This RSA key has ${bits} bits; at least 2048 are needed.` };
    // Larger moduli and exponents make every check slower for every tenant (a 3,060-bit
    // exponent costs 7.6 ms a verification); every library generates e = 65537.
    if (bits > 4096) return { ok: false, message: `This RSA key has ${bits} bits; at most 4096 are accepted.` };
    if (key.asymmetricKeyDetails?.publicExponent !== 65537n) return { ok: false, message: 'This RSA key’s public exponent is not 65537 (AQAB), the one every library generates; generate the key again.' };
    if (type === 'rsa-pss') return { ok: false, message: 'Upload an ordinary RSA key (it can still sign PS256); RSA-PSS-only keys are not supported.' };
    return { ok: true, value: { jwk: key.export({ format: 'jwk' }), keyType: `RSA ${bits}` } };
  }
  if (type === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    if (!['P-256', 'P-384', 'P-521'].includes(String(jwk.crv))) return { ok: false, message: `The curve ${key.asymmetricKeyDetails?.namedCurve ?? 'of this key'} is not supported; use P-256, P-384 or P-521.` };
    return { ok: true, value: { jwk, keyType: `EC ${jwk.crv}` } };
  }
  if (type === 'ed25519') return { ok: true, value: { jwk: key.export({ format: 'jwk' }), keyType: 'Ed25519' } };
  return { ok: false, message: `Keys of type ${type ?? 'unknown'} are not supported; use RSA (2048 bits or more), EC P-256/384/521 or Ed25519.` };
}

export function parsePublicKeyUpload(input: unknown, now: number): Parsed<PublicKeyInfo> {
  if (typeof input !== 'string' || input.trim() === '') return { ok: false, message: 'Paste or choose a public key, a certificate or a JWK.' };
  if (Buffer.byteLength(input) > MAX_UPLOAD_BYTES) return { ok: false, message: `The file is too large (at most ${MAX_UPLOAD_BYTES / 1024} KB); a public key or certificate is a few KB.` };
  const text = input.trim();
  if (/PRIVATE KEY-----/.test(text)) return { ok: false, message: PRIVATE };
  try {
    if (text.startsWith('{')) {
      const jwk = JSON.parse(text) as crypto.JsonWebKey & { keys?: unknown };
      if (jwk.keys !== undefined) return { ok: false, message: 'This is a JWK Set; upload one key (one JWK), or register the set’s URL instead.' };
      if (jwk.d !== undefined || jwk.p !== undefined || jwk.k !== undefined) return { ok: false, message: PRIVATE };
      const described = describeKey(crypto.createPublicKey({ key: jwk, format: 'jwk' }));
      if (!described.ok) return described;
      return { ok: true, value: { kind: 'jwk', jwk: described.value.jwk, thumbprint: jwkThumbprint(described.value.jwk), keyType: described.value.keyType, notAfter: null } };
    }
    if (text.includes('-----BEGIN CERTIFICATE-----')) {
      const cert = new crypto.X509Certificate(text);
      const notAfter = new Date(cert.validTo);
      if (notAfter.getTime() <= now) return { ok: false, message: `This certificate expired on ${formatDate(notAfter.toISOString().slice(0, 10))}.` };
      const described = describeKey(cert.publicKey);
      if (!described.ok) return described;
      const thumbprint = crypto.createHash('sha256').update(cert.raw).digest('base64url'); // x5t#S256
      return { ok: true, value: { kind: 'certificate', jwk: described.value.jwk, thumbprint, keyType: described.value.keyType, notAfter: notAfter.toISOString().slice(0, 10) } };
    }
    if (text.includes('-----BEGIN PUBLIC KEY-----') || text.includes('-----BEGIN RSA PUBLIC KEY-----')) {
      const described = describeKey(crypto.createPublicKey(text));
      if (!described.ok) return described;
      return { ok: true, value: { kind: 'public-key', jwk: described.value.jwk, thumbprint: jwkThumbprint(described.value.jwk), keyType: described.value.keyType, notAfter: null } };
    }
  } catch {
    return { ok: false, message: 'This could not be read as a public key, a certificate or a JWK. Upload a PEM file (BEGIN PUBLIC KEY or BEGIN CERTIFICATE) or a JWK.' };
  }
  return { ok: false, message: 'This is not a public key, a certificate or a JWK. Upload a PEM file (BEGIN PUBLIC KEY or BEGIN CERTIFICATE) or a JWK.' };
}

// Active uploaded keys of the application, and the keys its JWKS URL published when registered.
export function keysInUse(deps: Pick<Deps, 'db' | 'clock'>, applicationId: number): { uploaded: number; published: number } {
  const uploaded = deps.db.select({ n: sql<number>`count(*)` }).from(clientKeys).where(and(eq(clientKeys.applicationId, applicationId), isNull(clientKeys.deletedAt), gt(clientKeys.expiresAt, deps.clock.now()))).get()?.n ?? 0;
  const published = deps.db.select({ n: clientJwksUrls.keyCount }).from(clientJwksUrls).where(eq(clientJwksUrls.applicationId, applicationId)).get()?.n ?? 0;
  return { uploaded, published };
}

// The stored key, and a notice when a certificate outlives what the portal accepts.
export type AddKeyResult = DomainResult<{ row: ClientKey; notice: string }>;

// Registers a key for the application. A certificate expires with its notAfter, capped
// at the one-year maximum of secrets; a bare key or JWK gets an expiry date chosen
// like a secret's.
export function addPublicKey(deps: NoticeDeps, actor: AuditActor, app: Application, input: { name: unknown; key: unknown; expires?: unknown }): AddKeyResult {
  const { db, clock, config } = deps;
  const errors: FieldErrors = {};
  const name = parseName(input.name, 'Name', 100);
  if (!name.ok) errors.name = name.message;
  const parsed = parsePublicKeyUpload(input.key, clock.now());
  if (!parsed.ok) errors.key = parsed.message;
  let expiresOn = '';
  let notice = '';
  if (parsed.ok && parsed.value.notAfter) {
    const rules = expiryRules(config, clock);
    expiresOn = parsed.value.notAfter;
    if (expiresOn > rules.max) {
      notice = `The certificate is valid until ${formatDate(expiresOn)}; the portal accepts it until ${formatDate(rules.max)}, one year at most. Upload a new certificate before then.`;
      expiresOn = rules.max;
    }
  } else {
    const dated = parseSecretInput(config, clock, { name: 'key', expires: input.expires });
    if (!dated.ok) errors.expires = dated.errors.expires ?? '';
    else expiresOn = dated.value.expiresOn;
  }
  if (Object.keys(errors).length || !parsed.ok || !name.ok) return invalid(errors);
  const result = immediate(db, (): AddKeyResult => {
    const taken = db.select({ id: clientKeys.id }).from(clientKeys).where(and(eq(clientKeys.applicationId, app.id), eq(clientKeys.thumbprint, parsed.value.thumbprint), isNull(clientKeys.deletedAt))).get();
    if (taken) return failure('key', 'This key is already registered for this application.');
    const inUse = keysInUse(deps, app.id);
    if (inUse.uploaded + inUse.published >= MAX_KEYS_PER_APPLICATION) {
      return failure('key', `This application already has ${MAX_KEYS_PER_APPLICATION} keys${inUse.published ? ` (${inUse.published} of them at its JWKS URL)` : ''}, the most allowed. Delete one first.`);
    }
    const row = db
      .insert(clientKeys)
      .values({
        id: crypto.randomUUID(),
        applicationId: app.id,
        name: name.value,
        kind: parsed.value.kind,
        thumbprint: parsed.value.thumbprint,
        keyType: parsed.value.keyType,
        publicJwk: JSON.stringify(parsed.value.jwk),
        createdAt: clock.now(),
        createdBy: actor.userId ?? null,
        expiresOn,
        expiresAt: endOfDateInZone(expiresOn, config.timezone),
      })
      .returning()
      .get();
    recordAudit(db, clock, actor, { action: 'key.add', organisationId: app.organisationId, applicationId: app.id, target: row.name, details: { keyId: row.id, thumbprint: row.thumbprint, keyType: row.keyType, expiresOn } });
    return success({ row, notice });
  });
  if (result.ok) {
    const { row } = result.value;
    sendCredentialNotice(deps, 'key', 'added', app, { name: row.name, hint: row.thumbprint.slice(0, 8), expiresOn: row.expiresOn }, actor);
  }
  return result;
}

export function deletePublicKey(deps: NoticeDeps, actor: AuditActor, app: Application, match: { id?: string; thumbprint?: string }, reason: string | null = null): ClientKey | null {
  const { db, clock } = deps;
  const deleted = immediate(db, () => {
    const where = [eq(clientKeys.applicationId, app.id), isNull(clientKeys.deletedAt), match.id ? eq(clientKeys.id, match.id) : eq(clientKeys.thumbprint, match.thumbprint ?? '')];
    const row = db.update(clientKeys).set({ deletedAt: clock.now() }).where(and(...where)).returning().get();
    if (!row) return null;
    recordAudit(db, clock, actor, { action: reason ? 'key.revoke' : 'key.delete', organisationId: app.organisationId, applicationId: app.id, target: row.name, details: { keyId: row.id, thumbprint: row.thumbprint, ...(reason ? { reason } : {}) } });
    return row;
  });
  if (deleted) sendCredentialNotice(deps, 'key', 'deleted', app, { name: deleted.name, hint: deleted.thumbprint.slice(0, 8), expiresOn: deleted.expiresOn }, actor);
  return deleted;
}
