// ES256 signing keys: made on first start, private halves encrypted at rest under
// the master key. Rotation retires the current key; a retired key's public half stays
// published until every token it signed has expired.
import crypto from 'node:crypto';
import { desc, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { signingKeys } from '../../db/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { decrypt, encrypt, type MasterKey } from '../lib/crypto.ts';

export interface SigningKey {
  kid: string;
  privateKey: crypto.KeyObject;
}

export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y: string;
  kid: string;
  use: 'sig';
  alg: 'ES256';
}

function insertNewKey(db: Db, masterKey: MasterKey, now: number): string {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = crypto.randomBytes(12).toString('base64url');
  const jwk = publicKey.export({ format: 'jwk' });
  const publicJwk: PublicJwk = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, kid, use: 'sig', alg: 'ES256' };
  db.insert(signingKeys)
    .values({
      kid,
      publicJwk: JSON.stringify(publicJwk),
      privateKey: encrypt(masterKey, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()),
      createdAt: now,
    })
    .run();
  return kid;
}

// The key to sign with; made when there is none.
export function currentSigningKey(db: Db, masterKey: MasterKey, clock: Clock): SigningKey {
  const row = immediate(db, () => {
    const existing = db.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(desc(signingKeys.createdAt)).get();
    if (existing) return existing;
    insertNewKey(db, masterKey, clock.now());
    return db.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(desc(signingKeys.createdAt)).get()!;
  });
  return { kid: row.kid, privateKey: crypto.createPrivateKey(decrypt(masterKey, row.privateKey)) };
}

export function rotateSigningKey(db: Db, masterKey: MasterKey, clock: Clock): string {
  return immediate(db, () => {
    const now = clock.now();
    db.update(signingKeys).set({ retiredAt: now }).where(isNull(signingKeys.retiredAt)).run();
    return insertNewKey(db, masterKey, now);
  });
}

// Current key plus retired keys whose tokens may still be alive.
export function publishedKeys(db: Db, clock: Clock, tokenLifetimeSeconds: number): PublicJwk[] {
  const horizon = clock.now() - (tokenLifetimeSeconds + 60) * 1000;
  return db
    .select()
    .from(signingKeys)
    .orderBy(desc(signingKeys.createdAt))
    .all()
    .filter((k) => k.retiredAt === null || k.retiredAt > horizon)
    .map((k) => JSON.parse(k.publicJwk) as PublicJwk);
}
