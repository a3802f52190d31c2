// Small cryptographic helpers shared by every capability: the master key that
// encrypts TOTP seeds and signing keys, hashing of high-entropy tokens, and
// constant-time comparison.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type MasterKey = Buffer;

// PORTAL_MASTER_KEY if set; otherwise a 0600 file in DATA_DIR, created on first start.
export function loadMasterKey(dataDir: string, fromEnv: string | null): MasterKey {
  if (fromEnv) return Buffer.from(fromEnv, /^[0-9a-fA-F]{64}$/.test(fromEnv) ? 'hex' : 'base64');
  const file = path.join(dataDir, 'master.key');
  try {
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = crypto.randomBytes(32);
  fs.writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

// AES-256-GCM; the output is "v1.<iv>.<tag>.<ciphertext>" in base64url.
export function encrypt(key: MasterKey, plaintext: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

export function decrypt(key: MasterKey, sealed: string): string {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown ciphertext format');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

export function sha256Hex(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}

// Compares two strings without leaking where they differ. Unequal lengths are
// compared against themselves so the time does not depend on the guess either.
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    crypto.timingSafeEqual(ab, ab);
    return false;
  }
  return crypto.timingSafeEqual(ab, bb);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// Uniform random string over an alphabet, by rejection sampling (no modulo bias).
export function randomString(length: number, alphabet: string = BASE62): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of crypto.randomBytes(length * 2)) {
      if (byte < limit) out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

// Invitation links and similar one-time tokens: 256 bits, URL-safe.
export function randomToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}
