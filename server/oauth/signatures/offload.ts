// Where a signature or a verification runs: on the signature thread, or on the main thread
// (inline). On one core the thread would only take CPU from the main thread, so the mode is
// `inline` there (signatures.ts). With the thread, the main thread stays the fallback:
//   - until the thread is up (it starts on the first signature, so an idle portal does not
//     carry it), and when `maxOnThread` jobs already wait (a bound on what waits in
//     memory), a job runs inline;
//   - a signature still unanswered after `rescueAfterMs` (the thread is stuck or gone) is
//     done inline; its late answer is dropped, and the next `inlineForMs` run inline before
//     the thread is tried again;
//   - a job the thread fails (it exited, or could not start) is done inline at once, so a
//     bad key gives the same error as inline and a lost thread loses no token;
//   - a verification (a client assertion's check, whose key a stranger chose) never runs
//     on the main thread unless the mode is `inline`: it goes to the thread even before the
//     thread is up and during the inline spell above, and is answered with its `late` value
//     (refused) when `maxOnThread` jobs already wait, when the thread fails it, and after
//     `giveUpAfterMs` unanswered. So neither a tenant's keys nor a stranger's flood of
//     assertions takes the main thread's time from everyone else's tokens.

export type OffloadMode = 'thread' | 'inline';

export interface OffloadOptions {
  mode?: OffloadMode;
  maxOnThread?: number;
  rescueAfterMs?: number;
  inlineForMs?: number;
  giveUpAfterMs?: number;
  ready?: () => boolean; // false: the thread is not up yet
}

export interface Offload {
  // `start` hands the work to the thread and calls back once; `inline` does the same work
  // synchronously. The value, or a promise of it when the thread took the work.
  // `late`: given, the job is not redone inline when the thread is slow; after
  // `giveUpAfterMs` it is answered with `late()` instead.
  run<T>(start: (done: (err: Error | null, value: T) => void) => void, inline: () => T, late?: () => T): T | Promise<T>;
  // Jobs done on the thread, inline from the start, inline after the thread failed or was
  // slow (rescued), and verifications given up on.
  readonly counts: { thread: number; inline: number; rescued: number; givenUp: number };
}

interface Job {
  due: number; // when it is rescued (or given up on)
  settled: boolean;
  inline: () => unknown;
  late: (() => unknown) | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function createOffload(options: OffloadOptions = {}): Offload {
  const { mode = 'thread', maxOnThread = 256, rescueAfterMs = 20, inlineForMs = 250, giveUpAfterMs = 2000, ready = () => true } = options;
  const counts = { thread: 0, inline: 0, rescued: 0, givenUp: 0 };
  const waiting = new Set<Job>(); // in the order they were handed over
  let onThread = 0;
  let inlineUntil = 0;
  let timer: NodeJS.Timeout | null = null;

  function settle(job: Job, err: unknown, value: unknown) {
    job.settled = true;
    waiting.delete(job);
    if (err) job.reject(err);
    else job.resolve(value);
  }

  function rescue() {
    timer = null;
    const t = Date.now();
    let next = Infinity;
    for (const job of waiting) {
      if (job.due > t) {
        next = Math.min(next, job.due);
        continue;
      }
      if (!job.late) inlineUntil = t + inlineForMs;
      settleInline(job);
    }
    if (next !== Infinity) arm(next, t);
  }

  // The timer fires at the earliest due job: a signature handed over after a verification
  // (due in 2 s) still comes due in 20 ms.
  let timerDue = Infinity;
  function arm(due: number, now: number) {
    if (timer && timerDue <= due) return;
    if (timer) clearTimeout(timer);
    timerDue = due;
    timer = setTimeout(() => {
      timerDue = Infinity;
      rescue();
    }, due - now);
  }

  // Done on the main thread after all (the thread did not answer in time, or failed), or,
  // for a verification, answered with its `late` value instead.
  function settleInline(job: Job) {
    if (job.late) {
      counts.givenUp++;
      return settle(job, null, job.late());
    }
    counts.rescued++;
    try {
      settle(job, null, job.inline());
    } catch (err) {
      settle(job, err, undefined);
    }
  }

  return {
    counts,
    run<T>(start: (done: (err: Error | null, value: T) => void) => void, inline: () => T, late?: () => T): T | Promise<T> {
      if (late && mode !== 'inline') {
        if (onThread >= maxOnThread) {
          counts.givenUp++;
          return late();
        }
        ready(); // starts the thread if it is not running; the job waits for it
      } else if (mode === 'inline' || onThread >= maxOnThread || (inlineUntil !== 0 && Date.now() < inlineUntil) || !ready()) {
        counts.inline++;
        return inline();
      }
      counts.thread++;
      onThread++;
      return new Promise<T>((resolve, reject) => {
        const now = Date.now();
        const job: Job = { due: now + (late ? giveUpAfterMs : rescueAfterMs), settled: false, inline, late, resolve: resolve as (v: unknown) => void, reject };
        waiting.add(job);
        arm(job.due, now);
        try {
          start((err, value) => {
            onThread--;
            if (job.settled) return;
            if (err) settleInline(job);
            else settle(job, null, value);
          });
        } catch {
          onThread--;
          settleInline(job);
        }
      });
    },
  };
}
