// The two operations, the same on the signature thread and on the main thread: node:crypto's
// sign and verify over text, the signature in base64url, and the key apart from its options
// (dsaEncoding, padding, saltLength), so that both cross to the thread once and are shared.
import crypto from 'node:crypto';

export function signText(hash: string | null, data: string, key: crypto.KeyObject, options: object): string {
  return crypto.sign(hash, Buffer.from(data), { key, ...options } as crypto.SignKeyObjectInput).toString('base64url');
}

export function verifyText(hash: string | null, data: string, key: crypto.KeyObject, options: object, signature: string): boolean {
  return crypto.verify(hash, Buffer.from(data), { key, ...options } as crypto.VerifyKeyObjectInput, Buffer.from(signature, 'base64url'));
}
