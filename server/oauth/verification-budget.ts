// What checking client assertions may cost, per client and address: a token bucket of
// BUDGET_PER_SECOND units (one unit: a P-256 verification), holding at most BURST. The
// costliest keys the portal accepts cost far more than a signature (measured here: RSA-2048
// 0.15, RSA-4096 0.5, Ed25519 0.7, P-384 7, P-521 15 units), and an assertion without a kid
// is tried against every key of its client, so without a budget one tenant (or a stranger
// who knows a client id) could spend the CPU every tenant's tokens need. An ES256 client
// with a kid may get 200 tokens a second from one address; ten P-521 keys tried in turn,
// one and a half. Past the budget: 429 with Retry-After, nothing verified.
import type crypto from 'node:crypto';
import { gauge } from '../lib/gauges.ts';

export const BUDGET_PER_SECOND = 200;
export const BURST = 400;
const MAX_BUCKETS = 50_000;

export function verificationCost(key: crypto.KeyObject): number {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return (details?.modulusLength ?? 4096) <= 2048 ? 0.15 : (details?.modulusLength ?? 4096) <= 3072 ? 0.3 : 0.5;
    case 'ec':
      return details?.namedCurve === 'secp521r1' ? 15 : details?.namedCurve === 'secp384r1' ? 7 : 1;
    default:
      return 1;
  }
}

export function createVerificationBudget(now: () => number) {
  const buckets = new Map<string, { level: number; at: number }>();
  gauge('verification budget buckets', buckets, (m) => m.size);
  return {
    // Takes `cost` from the bucket of `key`, or says how many seconds until it could.
    spend(key: string, cost: number): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
      const t = now();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= MAX_BUCKETS) buckets.clear();
        b = { level: BURST, at: t };
        buckets.set(key, b);
      }
      b.level = Math.min(BURST, b.level + ((t - b.at) / 1000) * BUDGET_PER_SECOND);
      b.at = t;
      if (b.level < cost) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((cost - b.level) / BUDGET_PER_SECOND)) };
      b.level -= cost;
      return { allowed: true };
    },
  };
}
