// Reading an uploaded public key, certificate or JWK, and refusing what must never be
// stored (a private key, a PKCS #12 file), weak keys and expired certificates.
import crypto from 'node:crypto';
import { formatDate } from '../lib/dates.ts';
import type { Parsed } from '../lib/validation.ts';

export const MAX_UPLOAD_BYTES = 64 * 1024;

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

// What a person uploads: a PEM public key or certificate, a JWK, or the same key or
// certificate in DER (binary, what Windows and Entra export as .cer/.crt), which the page's
// file picker and the CLI pass on as base64. A PKCS #12 file (.pfx/.p12) holds the private
// key too: refused, with how to export the certificate alone.
export function parsePublicKeyUpload(input: unknown, now: number): Parsed<PublicKeyInfo> {
  if (typeof input !== 'string' || input.trim() === '') return { ok: false, message: 'Paste or choose a public key, a certificate or a JWK.' };
  if (Buffer.byteLength(input) > MAX_UPLOAD_BYTES) return { ok: false, message: TOO_LARGE };
  const text = input.trim();
  if (/PRIVATE KEY-----/.test(text)) return { ok: false, message: PRIVATE };
  try {
    if (text.startsWith('{')) return fromJwk(JSON.parse(text) as crypto.JsonWebKey & { keys?: unknown });
    if (text.includes('-----BEGIN CERTIFICATE-----')) return fromCertificate(new crypto.X509Certificate(text), now);
    if (text.includes('-----BEGIN PUBLIC KEY-----') || text.includes('-----BEGIN RSA PUBLIC KEY-----')) return fromPublicKey(crypto.createPublicKey(text));
    if (BASE64.test(text)) return fromDer(Buffer.from(text.replace(/\s+/g, ''), 'base64'), now);
  } catch {
    return { ok: false, message: UNREADABLE };
  }
  return { ok: false, message: NOT_A_KEY };
}

// Bytes of an uploaded file as the text the parser reads: a text file as it is, anything
// else (DER) as base64. The page's file picker does the same (public/portal.js).
export function uploadText(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return /^\s*(-----BEGIN |\{)/.test(text) ? text : bytes.toString('base64');
}

const FORMATS = 'Upload a certificate (.cer, .crt or .pem, binary or Base-64), a public key (PEM, BEGIN PUBLIC KEY) or a JWK.';
const NOT_A_KEY = `This is not a public key, a certificate or a JWK. ${FORMATS}`;
const UNREADABLE = `This could not be read as a public key, a certificate or a JWK. ${FORMATS}`;
const TOO_LARGE = `The file is too large (at most ${MAX_UPLOAD_BYTES / 1024} KB); a public key or certificate is a few KB.`;
const PKCS12 =
  'This is a PKCS #12 file (.pfx or .p12): it holds the private key too, which never leaves your system. Export the certificate alone: in Windows, the certificate’s Export wizard with “No, do not export the private key” and “DER encoded binary X.509 (.CER)”; with OpenSSL, openssl pkcs12 -in file.pfx -clcerts -nokeys -out client.crt.';
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;
// PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (pkcs7-data | pkcs7-signedData) … }
const PKCS7_DATA = Buffer.from('06092a864886f70d010701', 'hex');
const PKCS7_SIGNED = Buffer.from('06092a864886f70d010702', 'hex');

function isPkcs12(der: Buffer): boolean {
  const head = der.subarray(0, 32);
  const version = head.indexOf(Buffer.from('020103', 'hex'));
  return der[0] === 0x30 && version > 0 && version < 6 && (head.includes(PKCS7_DATA) || head.includes(PKCS7_SIGNED));
}

function fromDer(der: Buffer, now: number): Parsed<PublicKeyInfo> {
  // Not DER at all (every certificate and key starts with an ASN.1 SEQUENCE): plain words.
  if (der.length < 16 || der[0] !== 0x30) return { ok: false, message: NOT_A_KEY };
  if (isPkcs12(der)) return { ok: false, message: PKCS12 };
  // A private key first: Node derives a public key from a private one, which must never
  // pass as an upload.
  const isPrivate = (['pkcs8', 'pkcs1', 'sec1'] as const).some((type) => {
    try {
      return !!crypto.createPrivateKey({ key: der, format: 'der', type });
    } catch {
      return false;
    }
  });
  if (isPrivate) return { ok: false, message: PRIVATE };
  const attempts: Array<() => Parsed<PublicKeyInfo>> = [
    () => fromCertificate(new crypto.X509Certificate(der), now),
    () => fromPublicKey(crypto.createPublicKey({ key: der, format: 'der', type: 'spki' })),
    () => fromPublicKey(crypto.createPublicKey({ key: der, format: 'der', type: 'pkcs1' })),
  ];
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch {
      // not this form; the next
    }
  }
  return { ok: false, message: UNREADABLE };
}

function fromJwk(jwk: crypto.JsonWebKey & { keys?: unknown }): Parsed<PublicKeyInfo> {
  if (jwk.keys !== undefined) return { ok: false, message: 'This is a JWK Set; upload one key (one JWK), or register the set’s URL instead.' };
  if (jwk.d !== undefined || jwk.p !== undefined || jwk.k !== undefined) return { ok: false, message: PRIVATE };
  const described = describeKey(crypto.createPublicKey({ key: jwk, format: 'jwk' }));
  if (!described.ok) return described;
  return { ok: true, value: { kind: 'jwk', jwk: described.value.jwk, thumbprint: jwkThumbprint(described.value.jwk), keyType: described.value.keyType, notAfter: null } };
}

function fromCertificate(cert: crypto.X509Certificate, now: number): Parsed<PublicKeyInfo> {
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now) return { ok: false, message: `This certificate expired on ${formatDate(notAfter.toISOString().slice(0, 10))}.` };
  const described = describeKey(cert.publicKey);
  if (!described.ok) return described;
  const thumbprint = crypto.createHash('sha256').update(cert.raw).digest('base64url'); // x5t#S256
  return { ok: true, value: { kind: 'certificate', jwk: described.value.jwk, thumbprint, keyType: described.value.keyType, notAfter: notAfter.toISOString().slice(0, 10) } };
}

function fromPublicKey(key: crypto.KeyObject): Parsed<PublicKeyInfo> {
  const described = describeKey(key);
  if (!described.ok) return described;
  return { ok: true, value: { kind: 'public-key', jwk: described.value.jwk, thumbprint: jwkThumbprint(described.value.jwk), keyType: described.value.keyType, notAfter: null } };
}
