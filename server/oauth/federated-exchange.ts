// The federated link of client authentication (issue 29): an outside issuer's token for
// the client named by client_id. The application's federated credentials whose issuer is
// the token's iss are taken; that issuer's keys (its discovery document → jwks_uri, fetched
// SSRF-safe and cached like a JWKS URL's: JWKS_MAX_AGE_SECONDS, one fetch in flight, an
// unknown kid refetched at most once a minute) check the signature within the same
// verification budget; then the claims (federated.ts). Before the signature holds, the
// failure is the generic one; after, it names the claim.
import type { IncomingMessage } from 'node:http';
import crypto from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import type { ReadAssertion } from './client-assertion.ts';
import { authenticated, type AuthenticatedClient, type KeyRow, type createClientRegistry } from './client-registry.ts';
import type { createRemoteKeyCache } from './remote-keys.ts';
import { federatedClaims } from './federated.ts';
import { throttled, temporarilyUnavailable } from './errors.ts';
import { APPLICATION_DISABLED } from './refusal-words.ts';
import type { Refusal } from './usage.ts';
import { verificationCost } from './verification-budget.ts';
import { MAX_KEYS_PER_APPLICATION } from '../credentials/public-keys.ts';
import { gauge } from '../lib/gauges.ts';

export interface FederatedExchangeDeps {
  registry: ReturnType<typeof createClientRegistry>;
  issuerKeys: ReturnType<typeof createRemoteKeyCache>; // keyed by issuer
  verifySignature: (read: ReadAssertion, keys: KeyRow[], now: number, afford: (candidates: KeyRow[]) => boolean) => Promise<KeyRow | null | 'over budget' | 'unavailable'>;
  spend: (key: string, cost: number) => { allowed: true } | { allowed: false; retryAfterSeconds: number };
  clock: Clock;
  used: (credentialId: string, applicationId: number, ip: string, req: IncomingMessage) => void;
}

type Fail = (fingerprint: string, reason?: string, refusal?: Refusal) => never;

const FAILED_KEPT = 10_000;
const FAILED_FOR_MS = 10 * 60_000;

export function createFederatedExchange({ registry, issuerKeys, verifySignature, spend, clock, used }: FederatedExchangeDeps) {
  // A token that failed its signature or its claims is refused again at once for ten
  // minutes, with no second check (a stranger repeating one costs nothing); not one whose
  // issuer's keys could not be fetched (that says nothing about the token).
  const failed = new Map<string, { until: number; reason?: string; refusal?: Refusal }>();
  gauge('failed federated tokens', failed, (m) => m.size);
  const remember = (fingerprint: string, reason?: string, refusal?: Refusal) => {
    if (failed.size >= FAILED_KEPT) failed.delete(failed.keys().next().value!);
    failed.set(fingerprint, { until: clock.now() + FAILED_FOR_MS, reason, refusal });
  };

  return async function byFederated(ip: string, req: IncomingMessage, clientId: string, read: ReadAssertion, token: string, fail: Fail): Promise<AuthenticatedClient> {
    const fingerprint = crypto.hash('sha256', `${clientId} ${token}`, 'base64').slice(0, 16);
    const before = failed.get(fingerprint);
    if (before && before.until > clock.now()) return fail(fingerprint, before.reason, before.refusal);
    const entry = registry.lookup(clientId);
    if (!entry.app) return fail(fingerprint, undefined, entry.disabledApplicationId ? { applicationId: entry.disabledApplicationId, reason: APPLICATION_DISABLED } : undefined);
    const issuer = read.clientId;
    const trusted = registry.federatedOf(entry).filter((c) => c.issuer === issuer);
    if (trusted.length === 0 || !read.parts) return fail(fingerprint, undefined, { applicationId: entry.app.id, reason: trusted.length ? 'a malformed token from a trusted issuer' : `a token from an issuer this application does not trust (${issuer.slice(0, 100)})` });
    // Without a kid, at most as many keys are tried as an application may have.
    const published = await issuerKeys.keysFor(issuer, read.kid);
    const keys = (read.kid === null ? published.slice(0, MAX_KEYS_PER_APPLICATION) : published).map((k): KeyRow => ({ id: k.kid, thumbprint: k.kid, expires_at: Number.MAX_SAFE_INTEGER, key: k.key }));
    let overBudget = 0;
    const afford = (tried: KeyRow[]) => {
      const spent = spend(`${ip} ${clientId}`, tried.reduce((sum, k) => sum + verificationCost(k.key), 0));
      if (spent.allowed) return true;
      overBudget = spent.retryAfterSeconds;
      return false;
    };
    const now = clock.now();
    const key = keys.length ? await verifySignature(read, keys, now, afford) : null;
    if (key === 'over budget') throw throttled(overBudget, 'Too many client assertions to check from this address. Try again later.');
    if (key === 'unavailable') throw temporarilyUnavailable();
    if (!key) {
      const refusal = { applicationId: entry.app.id, reason: keys.length ? `a token from ${issuer.slice(0, 100)} whose signature does not verify` : `a token from ${issuer.slice(0, 100)}, whose keys could not be fetched` };
      if (keys.length) remember(fingerprint, undefined, refusal);
      return fail(fingerprint, undefined, refusal);
    }
    const outcome = federatedClaims(read.parts.claims, trusted, clock.now());
    if ('refused' in outcome) {
      const c = outcome.credential;
      const refusal = { applicationId: entry.app.id, ...(c ? { kind: 'federated' as const, id: c.id, label: c.name } : {}), reason: outcome.refused };
      remember(fingerprint, outcome.refused, refusal);
      return fail(fingerprint, outcome.refused, refusal);
    }
    used(outcome.credential.id, entry.app.id, ip, req);
    return authenticated(entry, 'federated', outcome.credential.id);
  };
}
