// Client authentication for the token and introspection endpoints:
// client_secret_basic (RFC 6749 §2.3.1: id and secret form-urlencoded, then base64)
// or client_secret_post. Any active secret of an enabled application authenticates;
// every failure looks the same, from outside and on the clock.
import crypto from 'node:crypto';
import type { Db } from '../../db/client.ts';
import { invalidClient, invalidRequest } from './errors.ts';

export interface PresentedCredentials {
  clientId: string;
  secret: string;
  basic: boolean;
}

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

// Reads the credentials from the Authorization header or the body; both at once is an error.
export function presentedCredentials(authorization: string | undefined, params: URLSearchParams): PresentedCredentials {
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (params.getAll('client_id').length > 1 || params.getAll('client_secret').length > 1) {
    throw invalidRequest('client_id and client_secret may be sent only once.');
  }
  if (authorization !== undefined) {
    const m = /^Basic[ ]+([A-Za-z0-9+/=._~-]+)[ ]*$/i.exec(authorization);
    if (!m) throw invalidClient(true);
    if (bodySecret !== null) throw invalidRequest('Use one client authentication method: HTTP Basic or client_secret in the body, not both.');
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) throw invalidClient(true);
    let clientId: string;
    let secret: string;
    try {
      clientId = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw invalidClient(true);
    }
    if (bodyId !== null && bodyId !== clientId) throw invalidRequest('client_id in the body does not match the Authorization header.');
    return { clientId, secret, basic: true };
  }
  if (bodyId === null || bodySecret === null || bodyId === '' || bodySecret === '') throw invalidClient(true);
  return { clientId: bodyId, secret: bodySecret, basic: false };
}

export interface AuthenticatedClient {
  applicationId: number;
  organisationId: number;
  clientId: string;
  sandboxOnly: boolean;
  secretId: string;
}

interface AppRow {
  id: number;
  organisation_id: number;
  client_id: string;
  sandbox_only: number;
}
interface SecretRow {
  id: string;
  secret_hash: string;
}

// A hash that no secret has, compared against when there is nothing real to compare,
// so an unknown client costs the same as a wrong secret.
const DUMMY_HASH = crypto.createHash('sha256').update(crypto.randomBytes(32)).digest();

export function createClientAuthenticator(db: Db) {
  const sqlite = db.$client;
  const findApp = sqlite.prepare<[string], AppRow>(
    'select id, organisation_id, client_id, sandbox_only from applications where client_id = ? and disabled_at is null',
  );
  const findSecrets = sqlite.prepare<[number, number], SecretRow>(
    'select id, secret_hash from client_secrets where application_id = ? and deleted_at is null and expires_at > ?',
  );

  return function authenticate(clientId: string, secret: string, now: number): AuthenticatedClient | null {
    const presented = crypto.createHash('sha256').update(secret, 'utf8').digest();
    const app = clientId.length <= 200 ? findApp.get(clientId) : undefined;
    const secrets = app ? findSecrets.all(app.id, now) : [];
    let match: SecretRow | null = null;
    // Every candidate is compared (at least one), whichever matches.
    for (const row of secrets.length ? secrets : [null]) {
      const stored = row ? Buffer.from(row.secret_hash, 'hex') : DUMMY_HASH;
      if (crypto.timingSafeEqual(stored, presented) && row && !match) match = row;
    }
    if (!app || !match) return null;
    return { applicationId: app.id, organisationId: app.organisation_id, clientId: app.client_id, sandboxOnly: app.sandbox_only === 1, secretId: match.id };
  };
}
