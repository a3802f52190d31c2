// A software authenticator for tests without a browser: makes a P-256 key and answers a
// registration challenge the way a platform authenticator with user verification does,
// with attestation "none" (the only kind the portal asks for). A few lines of CBOR are
// written here rather than borrowed from a library the portal does not depend on itself.
import crypto from 'node:crypto';

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  const b = Buffer.alloc(3);
  b[0] = (major << 5) | 25;
  b.writeUInt16BE(n, 1);
  return b;
}

function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, b.length), b]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), v]);
  return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

const sha256 = (s: string | Buffer) => crypto.createHash('sha256').update(s).digest();

// What the portal answered to an options request (for registration, or signing in).
export interface ChallengeOptions {
  challenge?: unknown;
  rp?: { id?: string };
  rpId?: unknown;
}

export function softAuthenticator() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let counter = 0;
  const jwk = publicKey.export({ format: 'jwk' });
  const rawId = crypto.randomBytes(16);
  const id = rawId.toString('base64url');
  const coseKey = cbor(
    new Map<Cbor, Cbor>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
  return {
    id,
    // The public key as the portal stores it (COSE, base64url), for a test that inserts the row itself.
    publicKeyCose: coseKey.toString('base64url'),
    // The browser's answer to navigator.credentials.get() for these options: user present
    // and verified, the counter one higher each time, signed with the private key.
    authenticate(options: ChallengeOptions, origin: string) {
      const rpId = typeof options.rpId === 'string' ? options.rpId : new URL(origin).hostname;
      const count = Buffer.alloc(4);
      count.writeUInt32BE(++counter);
      const authenticatorData = Buffer.concat([sha256(rpId), Buffer.from([0x01 | 0x04]), count]);
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin, crossOrigin: false }));
      const signature = crypto.sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), privateKey);
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: { clientDataJSON: clientDataJSON.toString('base64url'), authenticatorData: authenticatorData.toString('base64url'), signature: signature.toString('base64url') },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      };
    },
    // The browser's answer to navigator.credentials.create() for these options, as JSON.
    register(options: ChallengeOptions, origin: string) {
      const rpId = options.rp?.id ?? (typeof options.rpId === 'string' ? options.rpId : new URL(origin).hostname);
      const flags = 0x01 | 0x04 | 0x40; // user present, user verified, attested credential data
      // rpIdHash, flags, signature counter (0), AAGUID (zeros: no make or model), credential id length and id, the key.
      const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), Buffer.alloc(4), Buffer.alloc(16), Buffer.from([0, rawId.length]), rawId, coseKey]);
      const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, crossOrigin: false }));
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: attestationObject.toString('base64url'), transports: ['internal'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      };
    },
  };
}
