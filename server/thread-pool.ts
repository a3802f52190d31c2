// Signatures beside the main thread: the access token's ES256 signature and a client
// assertion's check run on one thread of their own (a worker_threads Worker), so the main
// thread parses, authenticates and answers other requests meanwhile.
//
// One dedicated thread rather than libuv's pool (node:crypto's callback form, four threads):
// on 2 cores shared with the load generator, four pool threads each take a fair share of
// the CPU from the main thread, which is the bottleneck. One thread doing the signatures
// back to back, fed a batch per turn of the event loop, leaves the main thread a quarter to
// a third less CPU per token than the pool did (README, "Signatures beside the main thread"), and
// libuv's pool stays free for scrypt, fs and dns.lookup, so a password hash never delays a
// token. On one core the thread would only take CPU from the main thread, so
// SIGNATURES=auto uses it with two cores or more.
//
// The main thread stays the fallback:
//   - until the thread is up (it starts on the first signature, in some 30 ms, so an idle
//     portal does not carry it), and when `maxInPool` signatures already wait (a bound on
//     what waits in memory), a signature runs inline on the main thread;
//   - a signature still unanswered after `rescueAfterMs` (the thread is stuck or gone) is
//     done inline; its late answer is dropped, and the next `inlineForMs` run inline before
//     the thread is tried again;
//   - a verification (a client assertion's check, whose key a stranger chose) is never
//     rescued that way: it waits for the thread, ignores the inline spell above, and is
//     answered with its `late` value (refused) after `giveUpAfterMs`, so one tenant's keys
//     never take the main thread's time from everyone else's tokens;
//   - a job the thread fails (it exited, or could not start) is done inline at once, so a
//     bad key gives the same error as inline and a lost thread loses no token.
import crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Offload {
  // `start` hands the work to the thread and calls back once; `inline` does the same work
  // synchronously. The value, or a promise of it when the thread took the work.
  // `late`: given, the job is not redone inline when the thread is slow; after
  // `giveUpAfterMs` it is answered with `late()` instead.
  run<T>(start: (done: (err: Error | null, value: T) => void) => void, inline: () => T, late?: () => T): T | Promise<T>;
  // `inline`: every signature on the main thread (SIGNATURES=inline); `pool`: as above.
  setMode(mode: 'pool' | 'inline'): void;
  readonly counts: { pooled: number; inline: number; rescued: number; givenUp: number };
}

interface Job {
  due: number; // when it is rescued (or given up on)
  settled: boolean;
  inline: () => unknown;
  late: (() => unknown) | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function createOffload(options: { maxInPool?: number; rescueAfterMs?: number; inlineForMs?: number; giveUpAfterMs?: number; ready?: () => boolean } = {}): Offload {
  const { maxInPool = 256, rescueAfterMs = 20, inlineForMs = 250, giveUpAfterMs = 2000, ready = () => true } = options;
  const counts = { pooled: 0, inline: 0, rescued: 0, givenUp: 0 };
  const waiting = new Set<Job>(); // in the order they were handed over
  let inPool = 0;
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
    let next = Infinity;
    for (const job of waiting) {
      if (job.due > t) {
        next = Math.min(next, job.due);
        continue;
      }
      if (job.late) {
        counts.givenUp++;
        settle(job, null, job.late());
        continue;
      }
      inlineUntil = t + inlineForMs;
      settleInline(job);
    }
    if (next !== Infinity) timer = setTimeout(rescue, next - t);
  }

  // Done on the main thread after all: the thread did not answer in time, or failed.
  function settleInline(job: Job) {
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
      if (!pooling || inPool >= maxInPool || (!late && inlineUntil !== 0 && Date.now() < inlineUntil) || !ready()) {
        counts.inline++;
        return inline();
      }
      counts.pooled++;
      inPool++;
      return new Promise<T>((resolve, reject) => {
        const now = Date.now();
        const job: Job = { due: now + (late ? giveUpAfterMs : rescueAfterMs), settled: false, inline, late, resolve: resolve as (v: unknown) => void, reject };
        waiting.add(job);
        if (!timer) {
          timer = setTimeout(rescue, job.due - now);
        }
        try {
          start((err, value) => {
            inPool--;
            if (job.settled) return;
            if (err) settleInline(job);
            else settle(job, null, value);
          });
        } catch {
          inPool--;
          settleInline(job);
        }
      });
    },
    setMode(mode: 'pool' | 'inline') {
      pooling = mode === 'pool';
    },
  };
}

// The signature thread: jobs go to one Worker as messages and come back by id. Keys (and the
// callers' options objects) cross once: each gets a number the first time it is sent, the
// thread keeps it under that number, and forgets it when the main thread's object is collected. The thread is made
// on first use (or by `warm`), keeps the process alive only while it has jobs in hand, and
// is made again after it exits, at most once every `restartAfterMs`. `ready` is true once
// it runs.
type Answer = (err: Error | null, value: unknown) => void;
// A batch: { held: [number, KeyObject or options, ...] new to the thread, drop: [number, ...]
// it may forget, jobs: [id, keyId, optionsId, hash, data, signature or null, ...] }; answers:
// [id, value or null, error or null, ...], for a batch's signatures at once, for its
// verifications as they are done. Data and signatures travel as
// strings (the signed input as text, signatures in base64url): a Buffer would take the 8 KB
// slab it sits in along, and the thread also does the encoding.
// Signatures are answered as their batch arrives; verifications (whose keys strangers chose)
// wait in a queue of their own, worked off about a millisecond per turn of the thread's
// loop, so a signature that arrives meanwhile is answered next turn, not after them.
const THREAD_CODE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const held = new Map();
const verifications = [];
let draining = false;
function run(job, key, options, answers) {
  answers.push(job[0]);
  try {
    const k = { key, ...options };
    const data = Buffer.from(job[4]);
    const value = job[5] === null ? crypto.sign(job[3], data, k).toString('base64url') : crypto.verify(job[3], data, k, Buffer.from(job[5], 'base64url'));
    answers.push(value, null);
  } catch (err) {
    answers.push(null, String((err && err.message) || err));
  }
}
function drain() {
  const answers = [];
  const until = performance.now() + 1;
  do {
    const v = verifications.shift();
    run(v, v[6], v[7], answers);
  } while (verifications.length && performance.now() < until);
  parentPort.postMessage(answers);
  if (verifications.length) setImmediate(drain);
  else draining = false;
}
parentPort.on('message', (m) => {
  for (let i = 0; i < m.drop.length; i++) held.delete(m.drop[i]);
  for (let i = 0; i < m.held.length; i += 2) held.set(m.held[i], m.held[i + 1]);
  const jobs = m.jobs;
  const answers = [];
  for (let i = 0; i < jobs.length; i += 6) {
    const job = jobs.slice(i, i + 6);
    if (job[5] === null) run(job, held.get(job[1]), held.get(job[2]), answers);
    else verifications.push([...job, held.get(job[1]), held.get(job[2])]);
  }
  if (answers.length) parentPort.postMessage(answers);
  if (verifications.length && !draining) {
    draining = true;
    setImmediate(drain);
  }
});`;

// How long after a start the thread may be started again (it was lost meanwhile).
export const RESTART_AFTER_MS = 5000;

export function createSignatureThread(options: { restartAfterMs?: number } = {}) {
  const { restartAfterMs = RESTART_AFTER_MS } = options;
  const waiting = new Map<number, Answer>();
  const numbers = new WeakMap<object, number>(); // keys and options objects
  let nextId = 1;
  let nextNumber = 1;
  let worker: Worker | null = null;
  let online = false;
  let sent = new Set<number>(); // the keys and options the current thread holds
  let outbox: { drop: number[]; held: unknown[]; jobs: unknown[] } | null = null;
  let startedAt = -Infinity;
  let lost = 0;
  let lastLoss = '';
  // A key or options object the main thread no longer holds is dropped by the thread too.
  const forget = new FinalizationRegistry<number>((id) => {
    if (sent.delete(id)) batch().drop.push(id);
  });

  // The batch of this turn of the event loop, sent once the turn's callbacks have run.
  function batch() {
    if (!outbox) {
      outbox = { drop: [], held: [], jobs: [] };
      setImmediate(send);
    }
    return outbox;
  }
  function send() {
    const out = outbox;
    outbox = null;
    if (!out || !worker) return;
    try {
      worker.postMessage(out);
    } catch (err) {
      // Not sent (a value that cannot be cloned): its jobs are answered with the error (done
      // inline), and its keys and options are sent again with the next batch.
      for (let i = 0; i < out.held.length; i += 2) sent.delete(out.held[i] as number);
      for (let i = 0; i < out.jobs.length; i += 6) {
        const answer = waiting.get(out.jobs[i] as number);
        waiting.delete(out.jobs[i] as number);
        answer?.(err as Error, undefined);
      }
      if (waiting.size === 0) worker.unref();
    }
  }

  function start(): Worker | null {
    const now = Date.now();
    if (now - startedAt < restartAfterMs) return null;
    startedAt = now;
    const w = new Worker(THREAD_CODE, { eval: true });
    w.on('online', () => {
      if (worker === w) online = true;
    });
    w.on('message', (answers: unknown[]) => {
      for (let i = 0; i < answers.length; i += 3) {
        const answer = waiting.get(answers[i] as number);
        if (!answer) continue;
        waiting.delete(answers[i] as number);
        if (waiting.size === 0) w.unref();
        const value = answers[i + 1];
        if (answers[i + 2] !== null) answer(new Error(answers[i + 2] as string), undefined);
        else answer(null, value);
      }
    });
    // What it was asked and had not answered is answered with an error (done inline by
    // the offload); the keys it held are sent again to the next thread.
    const gone = (why: string) => {
      if (worker !== w) return;
      worker = null;
      online = false;
      sent = new Set();
      outbox = null;
      lost++;
      lastLoss = why;
      const answers = [...waiting.values()];
      waiting.clear();
      for (const answer of answers) answer(new Error(`signature thread ${why}`), undefined);
    };
    w.on('error', (err) => gone(`failed: ${err.message}`));
    w.on('exit', (code) => gone(`exited with ${code}`));
    w.unref(); // idle, it never keeps the process alive (after the listeners: adding one refs it again)
    return (worker = w);
  }

  // Its number, sent along with this batch when the thread does not hold it yet.
  function numbered(value: object, out: { held: unknown[] }): number {
    let n = numbers.get(value);
    if (n === undefined) {
      n = nextNumber++;
      numbers.set(value, n);
      forget.register(value, n);
    }
    if (!sent.has(n)) {
      sent.add(n);
      out.held.push(n, value);
    }
    return n;
  }

  function submit(hash: string | null, data: string, key: crypto.KeyObject, options: object, signature: string | null, done: Answer) {
    if (!worker && !start()) return done(new Error('signature thread not running'), undefined);
    const out = batch();
    const keyId = numbered(key, out);
    const optionsId = numbered(options, out);
    const id = nextId++;
    if (waiting.size === 0) worker!.ref(); // a job in hand keeps the process alive
    waiting.set(id, done);
    out.jobs.push(id, keyId, optionsId, hash, data, signature);
  }

  return {
    // True once the thread runs.
    get ready() {
      return online;
    },
    // Starts the thread if it is not running (it takes some 30 ms, longer than the offload
    // waits for an answer). If it cannot start, signatures stay inline (the request log shows
    // them so) and the next call tries again, at most once every `restartAfterMs`.
    warm(): void {
      try {
        if (!worker) start();
      } catch (err) {
        // Inline meanwhile; counted as a loss, so the request log warns of it.
        lost++;
        lastLoss = `could not start: ${(err as Error).message}`;
      }
    },
    // The signature of `data` (text), in base64url.
    sign(hash: string | null, data: string, key: crypto.KeyObject, options: object, done: (err: Error | null, value: string) => void) {
      submit(hash, data, key, options, null, done as Answer);
    },
    // Whether `signature` (base64url) is `key`'s for `data` (text).
    verify(hash: string | null, data: string, key: crypto.KeyObject, options: object, signature: string, done: (err: Error | null, value: boolean) => void) {
      submit(hash, data, key, options, signature, done as Answer);
    },
    // How many times the thread was lost (it failed, exited or could not start), and why the last time.
    get lost() {
      return lost;
    },
    get lastLoss() {
      return lastLoss;
    },
    // Ends the thread (tests); a later job starts another after `restartAfterMs`.
    async stop(): Promise<void> {
      await worker?.terminate();
    },
  };
}

// The process's one signature thread and its offload (the mode set from SIGNATURES at start).
export const signatureThread = createSignatureThread();
// Inline until the thread is up; the first signature starts it.
export const threadPool = createOffload({ ready: () => signatureThread.ready || (signatureThread.warm(), false) });

// The base64url signature of `data` (crypto.sign's arguments, the key apart from its
// options), on the thread or inline.
export function signBeside(hash: string | null, data: string, key: crypto.KeyObject, options: object): string | Promise<string> {
  return threadPool.run<string>(
    (done) => signatureThread.sign(hash, data, key, options, done),
    () => crypto.sign(hash, Buffer.from(data), { key, ...options }).toString('base64url'),
  );
}

// Whether the base64url `signature` is `key`'s for `data`, on the thread or inline.
export function verifyBeside(hash: string | null, data: string, key: crypto.KeyObject, options: object, signature: string): boolean | Promise<boolean> {
  return threadPool.run<boolean>(
    (done) => signatureThread.verify(hash, data, key, options, signature, done),
    () => crypto.verify(hash, Buffer.from(data), { key, ...options }, Buffer.from(signature, 'base64url')),
    () => false,
  );
}
