// Client authentication for the token and introspection endpoints, as one chain (the
// shape of node-oidc-provider's): the credentials in the request, read once, duplicates and
// a second method refused (credentials-in-request.ts) → the limits → the client, loaded
// from the cache (client-registry.ts) → authentication by its method: a secret compared
// in constant time, or an assertion checked (client-assertion.ts) against the uploaded
// keys and those at the JWKS URL (remote-keys.ts) within a budget (verification-budget.ts)
// → its last use (last-use.ts). Every failure looks the same from outside, and is audited
// in bounded space (failure-audit.ts).
//
// Limits (failures only; a success is never counted):
//   - per (client id, address): TOKEN_FAILURES_PER_MINUTE distinct wrong credentials;
//   - per address: five times that, over every client id.
// A wrong secret presented again in the same minute is not counted again, so a stale
// system repeating a deleted secret never blocks its sibling secret, while a guesser's
// every new guess counts. Failures from one address never deny a correct secret
// presented from another, so knowing a client id is not enough to lock it out. An
// assertion that failed is remembered (its jti is single-use, so a client never sends it
// twice): sent again, it is refused without another verification.
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Database from 'better-sqlite3';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { AddressOf } from '../http/client-address.ts';
import type { AuditQueue } from '../audit/queue.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { fetchJwks } from '../credentials/jwks-url.ts';
import { MAX_KEYS_PER_APPLICATION } from '../credentials/public-keys.ts';
import { invalidClient, refusedWithReason, temporarilyUnavailable, throttled } from './errors.ts';
import { dateInZone, formatDate } from '../lib/dates.ts';
import { createAssertionVerifier, type ReadAssertion } from './client-assertion.ts';
import { credentialsInRequest } from './credentials-in-request.ts';
import { authenticated, createClientRegistry, type AuthenticatedClient, type KeyRow, type RegisteredClient, type SecretRow } from './client-registry.ts';
import { createRemoteKeyCache } from './remote-keys.ts';
import { createJwksFetchRecorder } from '../credentials/jwks-url-status.ts';
import { fetchIssuerKeys } from '../credentials/federated-issuer.ts';
import { createFederatedExchange } from './federated-exchange.ts';
import { createLastUse } from './last-use.ts';
import { createUsage, type Refusal } from './usage.ts';
import { assertionWords, deletedWords, expiredWords, unverifiedWords, WRONG_SECRET, APPLICATION_DISABLED } from './refusal-words.ts';
import { createFailureAudit } from './failure-audit.ts';
import { createVerificationBudget, verificationCost } from './verification-budget.ts';
import type { Verify } from './signatures/signatures.ts';

export const PER_ADDRESS_FACTOR = 5;
// The credential id in tokens minted with a key from the application's JWKS URL.
export const JWKS_CREDENTIAL = 'jwks';
// A hash that no secret has, compared against when there is nothing real to compare,
// so an unknown client costs the same as a wrong secret.
const DUMMY: SecretRow = { id: '', hash: crypto.createHash('sha256').update(crypto.randomBytes(32)).digest(), expires_at: 0, expires_on: '', deleted_at: null };
type SecretMatch = { row: SecretRow; fingerprint?: undefined; reason?: undefined; refusal?: undefined } | { row: null; fingerprint: string; reason?: string; refusal?: Refusal };
const FAILED_ASSERTIONS_KEPT = 10_000;

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
  const registry = createClientRegistry(sqlite);
  const assertions = createAssertionVerifier(sqlite, [`${config.baseUrl}/oauth/token`, config.baseUrl], logger, () => clock.now(), verifySignature);
  const sandbox = config.portalEnv === 'sandbox';
  // Each fetch's outcome is noted for the credentials page (what was found, the last error).
  const jwksStatus = createJwksFetchRecorder(sqlite, logger);
  const fetchNoted = async (url: string) => {
    const fetched = await fetchJwks(url, sandbox);
    jwksStatus.note(url, fetched, clock.now());
    return fetched;
  };
  const remoteKeys = createRemoteKeyCache({ fetch: fetchNoted, maxAgeMs: config.jwksMaxAgeSeconds * 1000, now: () => clock.now() });
  const issuerKeys = createRemoteKeyCache({ fetch: (issuer) => fetchIssuerKeys(issuer, sandbox), maxAgeMs: config.jwksMaxAgeSeconds * 1000, now: () => clock.now() });
  const perClientAndAddress = new RateLimiter(config.tokenFailuresPerMinute, 60_000, clock);
  const perAddress = new RateLimiter(config.tokenFailuresPerMinute * PER_ADDRESS_FACTOR, 60_000, clock);
  const budget = createVerificationBudget(() => clock.now());
  const failedAssertions = new Map<string, { until: number; reason?: string; refusal?: Refusal }>(); // by fingerprint
  const failures = createFailureAudit(audit, clock, logger);
  const lastUse = createLastUse(sqlite, clock, logger);
  const usage = createUsage(sqlite, clock, config.timezone, logger);
  const byFederated = createFederatedExchange({
    registry,
    issuerKeys,
    verifySignature: assertions.verifySignature,
    spend: (key, cost) => budget.spend(key, cost),
    clock,
    used: (id, applicationId, ip, req) => {
      lastUse.note('federated', id);
      usage.used('federated', id, applicationId, ip, req.headers['user-agent']);
    },
  });

  function authenticateClient(req: IncomingMessage, params: URLSearchParams): AuthenticatedClient | Promise<AuthenticatedClient> {
    const presented = credentialsInRequest(req.headers.authorization, params);
    const ip = addressOf(req);
    checkLimits(`${ip} ${presented.clientId}`, ip);
    // `refusal`: what the application's managers see of it (its activity), when the application is known.
    const fail = (fingerprint: string, reason?: string, refusal?: Refusal): never => {
      perClientAndAddress.hit(`${ip} ${presented.clientId}`, fingerprint);
      perAddress.hit(ip, `${presented.clientId} ${fingerprint}`);
      failures.record(ip, presented.clientId, req.url?.split('?')[0]);
      if (refusal) usage.refused(refusal, ip, req.headers['user-agent']);
      throw reason ? refusedWithReason(reason) : invalidClient();
    };
    if (presented.method === 'federated') return byFederated(ip, req, presented.clientId, presented.read, presented.assertion, fail);
    if (presented.method !== 'private_key_jwt') {
      let entry = registry.lookup(presented.clientId);
      let match = secretMatch(entry, presented.secret);
      // Not a secret the cache holds: perhaps one another process (the CLI's create-secret,
      // roll-secret) committed less than a quarter second ago; asked again at once. Not for
      // a wrong secret this client and address already sent this minute: it was refused
      // after that question, and a secret is made (random) before anyone can send it, so
      // none made since can be it (a system repeating a stale secret costs no extra read).
      if (!match.row && !match.reason && !perClientAndAddress.counted(`${ip} ${presented.clientId}`, match.fingerprint) && registry.changedElsewhere()) {
        match = secretMatch((entry = registry.lookup(presented.clientId)), presented.secret);
      }
      if (!match.row) return fail(match.fingerprint, match.reason, match.refusal);
      lastUse.note('secret', match.row.id);
      usage.used('secret', match.row.id, entry.app!.id, ip, req.headers['user-agent']);
      return authenticated(entry, 'secret', match.row.id);
    }
    // An assertion for introspection may name the introspection endpoint (Authlib's default).
    const audience = req.url?.startsWith('/oauth/introspect') ? `${config.baseUrl}/oauth/introspect` : undefined;
    return byAssertion(ip, req, presented.read, presented.assertion, audience, fail);
  }

  function checkLimits(pairKey: string, ip: string) {
    const pairLimit = perClientAndAddress.check(pairKey);
    const addressLimit = perAddress.check(ip);
    if (!pairLimit.allowed || !addressLimit.allowed) {
      throw throttled(Math.max(pairLimit.allowed ? 0 : pairLimit.retryAfterSeconds, addressLimit.allowed ? 0 : addressLimit.retryAfterSeconds));
    }
  }

  // The active secret that matches, comparing every candidate (at least one) whichever
  // matches; otherwise a short fingerprint of what was presented, so that the limits can
  // tell a repeated wrong secret from a new guess, and, when it is an expired or deleted
  // secret of this client (the caller knows it: it holds the secret), why it is refused.
  function secretMatch(entry: RegisteredClient, secret: string): SecretMatch {
    // crypto.hash: the one-shot digest, half the cost of createHash().update().digest() here.
    const presented = crypto.hash('sha256', secret, 'buffer') as unknown as Buffer;
    let match: SecretRow | null = null;
    for (const row of entry.secrets.length ? entry.secrets : [DUMMY]) {
      if (crypto.timingSafeEqual(row.hash, presented) && row !== DUMMY && !match) match = row;
    }
    const fingerprint = presented.toString('base64', 0, 12);
    if (!entry.app) return { row: null, fingerprint, refusal: entry.disabledApplicationId ? { applicationId: entry.disabledApplicationId, reason: APPLICATION_DISABLED } : undefined };
    if (!match) return { row: null, fingerprint, refusal: { applicationId: entry.app.id, reason: WRONG_SECRET } };
    const told = { applicationId: entry.app.id, kind: 'secret' as const, id: match.id, label: match.hint };
    if (match.deleted_at !== null) {
      const on = formatDate(dateInZone(match.deleted_at, config.timezone));
      return { row: null, fingerprint, reason: `this client secret was deleted on ${on}`, refusal: { ...told, reason: deletedWords(on, match.deleted_by) } };
    }
    if (match.expires_at <= clock.now()) return { row: null, fingerprint, reason: `this client secret expired on ${formatDate(match.expires_on)}`, refusal: { ...told, reason: expiredWords(formatDate(match.expires_on)) } };
    return { row: match };
  }

  async function byAssertion(ip: string, req: IncomingMessage, read: ReadAssertion | null, assertion: string, audience: string | undefined, fail: (fingerprint: string, reason?: string, refusal?: Refusal) => never): Promise<AuthenticatedClient> {
    // A failure is counted by the assertion's hash: the same one sent again counts once,
    // and is refused at once.
    const fingerprint = crypto.hash('sha256', assertion, 'base64').slice(0, 16);
    const now = clock.now();
    const failedBefore = failedAssertions.get(fingerprint);
    if (failedBefore && failedBefore.until > now) return fail(fingerprint, failedBefore.reason, failedBefore.refusal);
    const entry = read ? registry.lookup(read.clientId) : null;
    if (!read || !entry?.app) return fail(fingerprint, undefined, entry?.disabledApplicationId ? { applicationId: entry.disabledApplicationId, reason: APPLICATION_DISABLED } : undefined);
    const { keys, jwksUrl } = registry.keysOf(entry);
    let candidates: KeyRow[] = keys;
    // With keys published at the application's JWKS URL (credential id `jwks`), the
    // uploaded and the published are tried together, at most ten in all.
    if (jwksUrl) {
      const uploaded = keys.filter((k) => k.expires_at > now);
      const remote = (await remoteKeys.keysFor(jwksUrl, read.kid)).slice(0, Math.max(0, MAX_KEYS_PER_APPLICATION - uploaded.length));
      candidates = [...uploaded, ...remote.map((k) => ({ id: JWKS_CREDENTIAL, thumbprint: k.kid, expires_at: Number.MAX_SAFE_INTEGER, key: k.key }))];
    }
    let overBudget = 0;
    const afford = (tried: KeyRow[]) => {
      const spent = budget.spend(`${ip} ${read.clientId}`, tried.reduce((sum, k) => sum + verificationCost(k.key), 0));
      if (!spent.allowed) overBudget = spent.retryAfterSeconds;
      return spent.allowed;
    };
    const key = candidates.length ? await assertions.verifyAssertion(read, candidates, clock.now(), afford, audience) : null;
    if (key === 'over budget') throw throttled(overBudget, 'Too many client assertions to check from this address. Try again later.');
    // Not a failure of the client's: answered 503, neither counted nor remembered.
    if (key === 'unavailable') throw temporarilyUnavailable();
    if (!key || 'refused' in key) {
      const refusal: Refusal = key
        ? { applicationId: entry.app.id, kind: key.key.id === JWKS_CREDENTIAL ? 'jwks' : 'key', id: key.key.id, label: key.key.thumbprint, reason: assertionWords(key.refused) }
        : { applicationId: entry.app.id, reason: unverifiedWords(read.kid, candidates, now) };
      if (failedAssertions.size >= FAILED_ASSERTIONS_KEPT) failedAssertions.delete(failedAssertions.keys().next().value!);
      failedAssertions.set(fingerprint, { until: now + 10 * 60_000, reason: key?.refused, refusal });
      return fail(fingerprint, key?.refused, refusal);
    }
    const kind = key.id === JWKS_CREDENTIAL ? 'jwks' : 'key';
    lastUse.note(kind, key.id);
    usage.used(kind, key.id, entry.app.id, ip, req.headers['user-agent']);
    return authenticated(entry, kind, key.id);
  }

  const flush = () => {
    failures.flush();
    jwksStatus.flush();
    lastUse.flush();
    usage.flush();
    assertions.flush();
  };
  const close = () => {
    failures.close();
    jwksStatus.flush();
    lastUse.flush();
    usage.flush();
    assertions.flush();
  };
  return { authenticateClient, flush, close };
}
