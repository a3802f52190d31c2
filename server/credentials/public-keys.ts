// Public keys and certificates for private_key_jwt: registering, listing and deleting them
// (reading an upload is key-upload.ts).
import crypto from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { clientJwksUrls, clientKeys } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { endOfDateInZone, formatDate } from '../lib/dates.ts';
import { parseName } from '../lib/validation.ts';
import { failure, invalid, success, type DomainResult, type FieldErrors } from '../lib/result.ts';
import type { Application } from './applications.ts';
import { sendCredentialNotice, type NoticeDeps } from './notices.ts';
import { expiryRules, parseSecretInput } from './secrets.ts';
import { parsePublicKeyUpload } from './key-upload.ts';

export { MAX_UPLOAD_BYTES, describeKey, jwkThumbprint, parsePublicKeyUpload, type PublicKeyInfo } from './key-upload.ts';

// Keys an application may have, uploaded and published at its JWKS URL together: an
// assertion without a kid is tried against each of them.
export const MAX_KEYS_PER_APPLICATION = 10;
export type ClientKey = typeof clientKeys.$inferSelect;

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
  } else if (parsed.ok) {
    // A bare key or JWK (an upload that could not be read gets that error alone).
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
