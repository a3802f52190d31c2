// Signatures beside the main thread. node:crypto's sign and verify with a callback run on
// libuv's thread pool (four threads, one queue for the whole process), so the main thread
// parses, authenticates and answers other requests meanwhile. Measured on 2 cores with the
// load generator beside it (README, "Benchmark"): 1.01–1.25× the throughput of the same
// portal signing inline, at a higher p99, since there the pool's threads take a core from
// the load or from the main thread. SIGNATURES=auto uses the pool only with two cores or more.
//
// The pool is shared with slower work: scrypt (a password check takes it for ~50 ms), fs
// and dns.lookup, any of which can fill it. A token must never wait behind that, so:
//   - while slow work of ours is in flight (`slow`), or `maxInPool` signatures already
//     wait (a bound on what waits in memory), a signature runs inline on the main thread,
//     as it would without a pool;
//   - a signature still unanswered after `rescueAfterMs` (the pool is held by something we
//     do not count) is done inline; its late pool answer is dropped, and the next
//     `inlineForMs` run inline before the pool is tried again.
export interface Offload {
  // `start` hands the work to the pool and calls back once; `inline` does the same work
  // synchronously. The value, or a promise of it when the pool took the work.
  run<T>(start: (done: (err: Error | null, value: T) => void) => void, inline: () => T): T | Promise<T>;
  // Counts slower pool work (scrypt) until it settles.
  slow<T>(work: Promise<T>): Promise<T>;
  // `inline`: every signature on the main thread (SIGNATURES=inline); `pool`: as above.
  setMode(mode: 'pool' | 'inline'): void;
  readonly counts: { pooled: number; inline: number; rescued: number };
}

interface Job {
  started: number;
  settled: boolean;
  inline: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function createOffload(options: { maxInPool?: number; rescueAfterMs?: number; inlineForMs?: number } = {}): Offload {
  const { maxInPool = 256, rescueAfterMs = 20, inlineForMs = 250 } = options;
  const counts = { pooled: 0, inline: 0, rescued: 0 };
  const waiting = new Set<Job>(); // in the order they were handed over
  let inPool = 0;
  let slowInFlight = 0;
  let inlineUntil = 0;
  let timer: NodeJS.Timeout | null = null;
  let pooling = true;

  function settle(job: Job, err: unknown, value: unknown) {
    job.settled = true;
    waiting.delete(job);
    if (err) job.reject(err);
    else job.resolve(value);
  }

  function rescue() {
    timer = null;
    const t = Date.now();
    for (const job of waiting) {
      const due = job.started + rescueAfterMs - t;
      if (due > 0) {
        timer = setTimeout(rescue, due);
        return;
      }
      counts.rescued++;
      inlineUntil = t + inlineForMs;
      try {
        settle(job, null, job.inline());
      } catch (err) {
        settle(job, err, undefined);
      }
    }
  }

  return {
    counts,
    run<T>(start: (done: (err: Error | null, value: T) => void) => void, inline: () => T): T | Promise<T> {
      if (!pooling || slowInFlight > 0 || inPool >= maxInPool || (inlineUntil !== 0 && Date.now() < inlineUntil)) {
        counts.inline++;
        return inline();
      }
      counts.pooled++;
      inPool++;
      return new Promise<T>((resolve, reject) => {
        const job: Job = { started: Date.now(), settled: false, inline, resolve: resolve as (v: unknown) => void, reject };
        waiting.add(job);
        if (!timer) {
          timer = setTimeout(rescue, rescueAfterMs);
        }
        try {
          start((err, value) => {
            inPool--;
            if (!job.settled) settle(job, err, value);
          });
        } catch (err) {
          inPool--;
          settle(job, err, undefined);
        }
      });
    },
    setMode(mode: 'pool' | 'inline') {
      pooling = mode === 'pool';
    },
    slow<T>(work: Promise<T>): Promise<T> {
      slowInFlight++;
      return work.finally(() => slowInFlight--);
    },
  };
}

// The process's one pool, so one offload for the process (its mode set from SIGNATURES at start).
export const threadPool = createOffload();
