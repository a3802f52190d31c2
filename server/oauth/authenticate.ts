// Client authentication as the endpoints use it: limits, the secret check, the audit
// of failures and the record of last use.
//
// Limits (failures only; a success is never counted):
//   - per (client id, address): TOKEN_FAILURES_PER_MINUTE distinct wrong secrets;
//   - per address: five times that, over every client id.
// A wrong secret presented again in the same minute is not counted again, so a stale
// system repeating a deleted secret never blocks its sibling secret, while a guesser's
// every new guess counts. Failures from one address never deny a correct secret
// presented from another, so knowing a client id is not enough to lock it out.
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Database from 'better-sqlite3';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { AddressOf } from '../http/client-address.ts';
import type { AuditQueue } from '../audit/queue.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { createClientAuthenticator, presentedCredentials, type AuthenticatedClient } from './client-auth.ts';
import { invalidClient, invalidRequest, slowDown } from './errors.ts';
import { ASSERTION_TYPE, createAssertionVerifier, readAssertion } from './client-assertion.ts';
import { fetchJwks } from '../credentials/jwks-url.ts';
import { MAX_KEYS_PER_APPLICATION } from '../credentials/public-keys.ts';
import { createTally, type Summary } from '../audit/tally.ts';
import { createRemoteKeyCache } from './remote-keys.ts';
import { createWriteBehind } from '../../db/write-behind.ts';
import type { Verify } from './signatures/signatures.ts';

// The credential id in tokens minted with a key from the application's JWKS URL.
export const JWKS_CREDENTIAL = 'jwks';

export const PER_ADDRESS_FACTOR = 5;
// last_used_at is written at most once a minute per secret.
const LAST_USE_EVERY_MS = 60_000;
const LAST_USE_FLUSH_MS = 50;

export interface ClientAuthenticationDeps {
  sqlite: Database.Database;
  clock: Clock;
  config: Config;
  logger: Logger;
  addressOf: AddressOf;
  audit: AuditQueue;
  verifySignature: Verify; // client assertions' signatures: the endpoints' signature thread
}

export function createClientAuthentication({ sqlite, clock, config, logger, addressOf, audit, verifySignature }: ClientAuthenticationDeps) {
  const { authenticate, keysOf } = createClientAuthenticator(sqlite);
  const assertions = createAssertionVerifier(sqlite, [`${config.baseUrl}/oauth/token`, config.baseUrl], logger, () => clock.now(), verifySignature);
  const verifyAssertion = assertions.verifyAssertion;
  const sandbox = config.portalEnv === 'sandbox';
  const remoteKeys = createRemoteKeyCache({ fetch: (url) => fetchJwks(url, sandbox), maxAgeMs: config.jwksMaxAgeSeconds * 1000, now: () => clock.now() });
  const perClientAndAddress = new RateLimiter(config.tokenFailuresPerMinute, 60_000, clock);
  const perAddress = new RateLimiter(config.tokenFailuresPerMinute * PER_ADDRESS_FACTOR, 60_000, clock);
  // Audit events for failures: the first three per client a minute (60 in all) as rows of
  // their own, the rest counted into one summary row per client and address a minute, so
  // a flood neither fills the disk nor hides an attack.
  const auditPerClient = new RateLimiter(3, 60_000, clock);
  const auditGlobal = new RateLimiter(60, 60_000, clock);
  const overflow = createTally({
    windowMs: 60_000,
    now: () => clock.now(),
    write: (summaries: Summary[]) => {
      for (const s of summaries) {
        const [ip, target] = splitKey(s.key);
        audit.push({ label: `client:${target}`, ip }, { action: 'token.auth_failed_summary', target, details: { count: s.count, first: new Date(s.first).toISOString(), last: new Date(s.last).toISOString() } });
      }
    },
    onError: (err) => logger.warn('failed token requests not summarised yet; retrying', { error: String((err as Error)?.message ?? err) }),
  });
  const overflowTimer = setInterval(() => {
    try {
      overflow.flush();
    } catch (err) {
      logger.warn('failed token requests not summarised yet; retrying', { error: String((err as Error)?.message ?? err) });
    }
  }, 10_000);
  overflowTimer.unref();
  const lastUse = createLastUseRecorder(sqlite, clock, logger);

  // Client authentication: private_key_jwt when a client assertion is sent, otherwise
  // client_secret_basic or client_secret_post. Every failure looks the same.
  function authenticateClient(req: IncomingMessage, params: URLSearchParams): AuthenticatedClient | Promise<AuthenticatedClient> {
    if (params.has('client_assertion') || params.has('client_assertion_type')) return authenticateWithAssertion(req, params);
    return authenticateWithSecret(req, params);
  }

  function checkLimits(pairKey: string, ip: string) {
    const pairLimit = perClientAndAddress.check(pairKey);
    const addressLimit = perAddress.check(ip);
    if (!pairLimit.allowed || !addressLimit.allowed) {
      throw slowDown(Math.max(pairLimit.allowed ? 0 : pairLimit.retryAfterSeconds, addressLimit.allowed ? 0 : addressLimit.retryAfterSeconds));
    }
  }

  function fail(req: IncomingMessage, ip: string, clientId: string, fingerprint: string, basic: boolean): never {
    perClientAndAddress.hit(`${ip} ${clientId}`, fingerprint);
    perAddress.hit(ip, `${clientId} ${fingerprint}`);
    const target = clientId.slice(0, 100);
    if (auditPerClient.hit(target).allowed && auditGlobal.hit('all').allowed) {
      audit.push({ label: `client:${target}`, ip }, { action: 'token.auth_failed', target, details: { path: req.url?.split('?')[0] } });
    } else overflow.add(`${ip} ${target}`);
    throw invalidClient(basic);
  }

  async function authenticateWithAssertion(req: IncomingMessage, params: URLSearchParams): Promise<AuthenticatedClient> {
    if (req.headers.authorization !== undefined || params.has('client_secret')) throw invalidRequest('Use one client authentication method: a client assertion, or a client secret, not both.');
    for (const name of ['client_assertion', 'client_assertion_type', 'client_id']) if (params.getAll(name).length > 1) throw invalidRequest(`${name} may be sent only once.`);
    if (params.get('client_assertion_type') !== ASSERTION_TYPE) throw invalidRequest(`client_assertion_type must be ${ASSERTION_TYPE}.`);
    const assertion = params.get('client_assertion') ?? '';
    if (!assertion) throw invalidRequest('client_assertion is missing.');
    const ip = addressOf(req);
    const read = readAssertion(assertion);
    const clientId = read?.clientId ?? params.get('client_id') ?? '';
    checkLimits(`${ip} ${clientId}`, ip);
    const bodyId = params.get('client_id');
    const { client, keys, jwksUrl } = read && (bodyId === null || bodyId === read.clientId) ? keysOf(read.clientId) : { client: null, keys: [], jwksUrl: null };
    let candidates = keys;
    // With keys published at the application's JWKS URL (credential id `jwks`), the
    // uploaded and the published are tried together, at most ten in all.
    if (client && jwksUrl) {
      const now = clock.now();
      const uploaded = keys.filter((k) => k.expires_at > now);
      const remote = (await remoteKeys.keysFor(jwksUrl, read!.kid)).slice(0, Math.max(0, MAX_KEYS_PER_APPLICATION - uploaded.length));
      candidates = [...uploaded, ...remote.map((k) => ({ id: JWKS_CREDENTIAL, thumbprint: k.kid, expires_at: Number.MAX_SAFE_INTEGER, key: k.key }))];
    }
    const key = client && candidates.length ? await verifyAssertion(read, candidates, clock.now()) : null;
    // A failure is counted by the assertion's hash: the same one sent again counts once.
    if (!client || !key) return fail(req, ip, clientId, crypto.hash('sha256', assertion, 'base64').slice(0, 16), false);
    if (key.id !== JWKS_CREDENTIAL) lastUse.note(key.id);
    return { ...client, secretId: key.id };
  }

  function authenticateWithSecret(req: IncomingMessage, params: URLSearchParams): AuthenticatedClient {
    const ip = addressOf(req);
    const creds = presentedCredentials(req.headers.authorization, params);
    checkLimits(`${ip} ${creds.clientId}`, ip);
    const result = authenticate(creds.clientId, creds.secret, clock.now());
    if (!result.client) return fail(req, ip, creds.clientId, result.fingerprint, creds.basic);
    lastUse.note(result.client.secretId);
    return result.client;
  }

  const flush = () => {
    overflow.flush();
    lastUse.flush();
    assertions.flush();
  };
  const close = () => {
    clearInterval(overflowTimer);
    overflow.flush(true);
    lastUse.flush();
    assertions.flush();
  };
  return { authenticateClient, flush, close };
}

// "address client-id" → [address, client id] (an address has no space; a client id may).
function splitKey(key: string): [string, string] {
  const space = key.indexOf(' ');
  return space < 0 ? ['', key] : [key.slice(0, space), key.slice(space + 1)];
}

// Last use: noted in memory, written in one batch a second later on the endpoints'
// connection. A locked or failing database keeps the note for the next try.
function createLastUseRecorder(sqlite: Database.Database, clock: Clock, logger: Logger) {
  const touch = sqlite.prepare<[number, string]>('update client_secrets set last_used_at = max(coalesce(last_used_at, 0), ?) where id = ?');
  const touchKey = sqlite.prepare<[number, string]>('update client_keys set last_used_at = max(coalesce(last_used_at, 0), ?) where id = ?');
  // Secret and key ids are both UUIDs and never collide: each update touches its own table.
  const writeAll = sqlite.transaction((rows: Array<[string, number]>) => {
    for (const [id, at] of rows) {
      touch.run(at, id);
      touchKey.run(at, id);
    }
  });
  const lastNoted = new Map<string, number>();
  const pending = createWriteBehind<string, number>(sqlite, writeAll, {
    delayMs: LAST_USE_FLUSH_MS,
    onError: (err, rows) => logger.warn('last use not recorded yet; retrying', { secrets: rows, error: String((err as Error)?.message ?? err) }),
  });
  return {
    note(secretId: string) {
      const now = clock.now();
      if (now - (lastNoted.get(secretId) ?? 0) < LAST_USE_EVERY_MS) return;
      if (lastNoted.size > 100_000) lastNoted.clear();
      lastNoted.set(secretId, now);
      pending.put(secretId, now);
    },
    flush: pending.flush,
    close: pending.flush,
  };
}
