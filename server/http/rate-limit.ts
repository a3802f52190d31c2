// In-memory fixed-window counters, one per key (an IP, a client id). The portal is
// one process, so memory is the right place; a restart forgetting counts is fine.
import type { Clock } from '../clock.ts';

export interface LimitResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  private current(key: string) {
    const now = this.clock.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size > 50_000) this.prune(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  // Is the key still under its limit? Does not count.
  check(key: string): LimitResult {
    const w = this.current(key);
    return { allowed: w.count < this.max, retryAfterSeconds: this.retryAfter(w) };
  }

  // Counts one event for the key and says whether it was still allowed.
  hit(key: string): LimitResult {
    const w = this.current(key);
    w.count++;
    return { allowed: w.count <= this.max, retryAfterSeconds: this.retryAfter(w) };
  }

  private retryAfter(w: { start: number }): number {
    return Math.max(1, Math.ceil((w.start + this.windowMs - this.clock.now()) / 1000));
  }

  private prune(now: number) {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}
