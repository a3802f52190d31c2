// The token endpoint's cache of keys published at applications' JWKS URLs, per URL:
//   - fetched on first use and trusted for JWKS_MAX_AGE_SECONDS (a shorter Cache-Control
//     max-age of the answer wins, never under MIN_AGE_MS), so a key the partner removed is
//     refused within that time;
//   - fetched again before then only for a kid it does not publish, at most once a
//     minute per URL, so a burst of made-up kids (only the public client ID is needed)
//     costs the partner one request;
//   - one fetch in flight per URL, shared by every request waiting for it;
//   - a failed fetch keeps the keys still within their age; without any, requests are
//     refused and the next try waits FAILED_RETRY_MS.
// Bounded: MAX_URLS entries (each at most ten keys), the oldest dropped first.
import type { FetchedJwks, RemoteKey } from '../credentials/jwks-url.ts';
import type { Parsed } from '../lib/validation.ts';
import { gauge } from '../lib/gauges.ts';

export const UNKNOWN_KID_REFETCH_MS = 60_000;
export const MIN_AGE_MS = 10_000;
export const FAILED_RETRY_MS = 10_000;
const MAX_URLS = 10_000;

interface Entry {
  keys: RemoteKey[];
  fetchedAt: number; // the last attempt, successful or not
  expiresAt: number; // when `keys` stop being trusted
  inFlight: Promise<void> | null;
}

export interface RemoteKeyCacheOptions {
  fetch: (url: string) => Promise<Parsed<FetchedJwks>>;
  maxAgeMs: number;
  now: () => number;
}

export function createRemoteKeyCache({ fetch, maxAgeMs, now }: RemoteKeyCacheOptions) {
  const entries = new Map<string, Entry>();
  gauge('JWKS URLs cached', entries, (m) => m.size);
  const knows = (keys: RemoteKey[], kid: string) => keys.some((k) => k.kid === kid || k.thumbprint === kid);

  function refresh(url: string, entry: Entry): Promise<void> {
    entry.inFlight ??= (async () => {
      try {
        const fetched = await fetch(url);
        const t = now();
        entry.fetchedAt = t;
        if (fetched.ok) {
          const age = fetched.value.maxAgeSeconds === null ? maxAgeMs : Math.max(MIN_AGE_MS, Math.min(maxAgeMs, fetched.value.maxAgeSeconds * 1000));
          entry.keys = fetched.value.keys;
          entry.expiresAt = t + age;
        } else if (entry.expiresAt <= t) {
          entry.keys = [];
          entry.expiresAt = t + FAILED_RETRY_MS;
        }
      } catch {
        entry.fetchedAt = now(); // fetchJwks answers every failure itself; this is a guard
      } finally {
        entry.inFlight = null;
      }
    })();
    return entry.inFlight;
  }

  // The keys to try for an assertion naming `kid` (null: none named).
  async function keysFor(url: string, kid: string | null): Promise<RemoteKey[]> {
    let entry = entries.get(url);
    if (!entry) {
      if (entries.size >= MAX_URLS) entries.delete(entries.keys().next().value!);
      entry = { keys: [], fetchedAt: -Infinity, expiresAt: -Infinity, inFlight: null };
      entries.set(url, entry);
    }
    const t = now();
    const fresh = t < entry.expiresAt;
    const unknownKid = kid !== null && !knows(entry.keys, kid);
    // A request whose kid the fresh keys know never waits for a fetch (one a stranger
    // started with a made-up kid, say).
    if (fresh && !unknownKid) return entry.keys;
    if (entry.inFlight) await entry.inFlight;
    else if (!fresh || t - entry.fetchedAt >= UNKNOWN_KID_REFETCH_MS) await refresh(url, entry);
    return now() < entry.expiresAt ? entry.keys : [];
  }

  return { keysFor };
}
