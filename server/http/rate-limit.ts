// In-memory fixed-window counters, one per key (an address, a client id and address).
// The portal is one process, so memory is the right place; a restart forgetting counts
// is fine. At most MAX_WINDOWS keys: past it, windows that are over go first, then the
// oldest (a flood of ever new keys within one window forgets the earliest of them, and
// the per-address limit beside each per-pair one still holds).
import type { Clock } from '../lib/clock.ts';
import { gauge } from '../lib/gauges.ts';

export const MAX_WINDOWS = 50_000;

export interface LimitResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

interface Window {
  start: number;
  count: number;
  // Fingerprints already counted in this window (see hit()).
  seen?: Set<string>;
}

const ALLOWED: LimitResult = Object.freeze({ allowed: true, retryAfterSeconds: 0 });

export class RateLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly clock: Clock,
  ) {
    gauge('rate limiter windows', this, (l) => l.windows.size);
  }

  private current(key: string): Window {
    const now = this.clock.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= MAX_WINDOWS) this.prune(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  // Is the key still under its limit? Does not count, and makes nothing for a key it
  // has not seen (the token endpoint asks on every request).
  check(key: string): LimitResult {
    const w = this.windows.get(key);
    if (!w || w.count < this.max || this.clock.now() - w.start >= this.windowMs) return ALLOWED;
    return { allowed: false, retryAfterSeconds: this.retryAfter(w) };
  }

  // Counts one event for the key and says whether it was still allowed. With a
  // fingerprint, an event already counted in this window is not counted again: a
  // system repeating the same stale secret is one failure, a guesser's every new
  // guess is another.
  hit(key: string, fingerprint?: string): LimitResult {
    const w = this.current(key);
    if (fingerprint !== undefined) {
      w.seen ??= new Set();
      if (w.seen.has(fingerprint)) return { allowed: w.count <= this.max, retryAfterSeconds: this.retryAfter(w) };
      if (w.seen.size <= this.max) w.seen.add(fingerprint);
    }
    w.count++;
    return { allowed: w.count <= this.max, retryAfterSeconds: this.retryAfter(w) };
  }

  // Whether hit() already counted this fingerprint for the key in the current window.
  counted(key: string, fingerprint: string): boolean {
    const w = this.windows.get(key);
    return w !== undefined && this.clock.now() - w.start < this.windowMs && w.seen !== undefined && w.seen.has(fingerprint);
  }

  // Takes back one event counted by hit() (a reservation that turned out not to be a failure).
  release(key: string): void {
    const w = this.windows.get(key);
    if (w && w.count > 0) w.count--;
  }

  private retryAfter(w: { start: number }): number {
    return Math.max(1, Math.ceil((w.start + this.windowMs - this.clock.now()) / 1000));
  }

  private prune(now: number) {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    // Still full: the oldest keys go (a Map iterates in insertion order), a tenth at a time.
    if (this.windows.size < MAX_WINDOWS) return;
    let drop = this.windows.size - MAX_WINDOWS + MAX_WINDOWS / 10;
    for (const k of this.windows.keys()) {
      if (drop-- <= 0) break;
      this.windows.delete(k);
    }
  }
}
