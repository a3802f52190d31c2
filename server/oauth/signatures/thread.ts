// The signature thread, from the main thread's side: jobs go to one Worker (worker.ts) as a
// batch per turn of the event loop and come back by id (the format is protocol.ts's). Keys
// (and the callers' options objects) cross once: each gets a number the first time it is
// sent, the thread keeps it under that number, and forgets it when the main thread's object
// is collected. The thread is made on first use (or by `warm`), keeps the process alive only
// while it has jobs in hand, and is made again after it exits, at most once every
// `restartAfterMs`. `ready` is true once it listens.
//
// One dedicated thread rather than libuv's pool (node:crypto's callback form, four threads):
// on 2 cores shared with the load generator, four pool threads each take a fair share of
// the CPU from the main thread, which is the bottleneck. One thread doing the signatures
// back to back leaves the main thread a quarter to a third less CPU per token than the pool
// did (README, "Signatures beside the main thread"), and libuv's pool stays free for scrypt,
// fs and dns.lookup, so a password hash never delays a token.
import type crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { isPackaged, resourcePath } from '../../lib/paths.ts';
import { ANSWER_FIELDS, JOB_FIELDS, type Answers, type Batch, type MemoryReport } from './protocol.ts';
import { gauge, mib } from '../../lib/gauges.ts';

// How long after a start the thread may be started again (it was lost meanwhile).
export const RESTART_AFTER_MS = 5000;

// worker.ts as the single executable carries it: bundled by build/binary.ts, extracted
// with the other files.
export const BUNDLED_WORKER = 'server/oauth/signatures/worker.cjs';

// Under tsx, worker.ts through tsx's require hook (worker-under-tsx.cjs says why); the
// thread then needs none of the main thread's flags (tsx's --import would load its ESM
// loader there for nothing).
function newWorker(): Worker {
  if (isPackaged()) return new Worker(resourcePath(BUNDLED_WORKER));
  return new Worker(new URL('./worker-under-tsx.cjs', import.meta.url), { execArgv: [] });
}

type Answer = (err: Error | null, value: unknown) => void;

export type SignatureThread = ReturnType<typeof createSignatureThread>;

export function createSignatureThread(options: { restartAfterMs?: number } = {}) {
  const { restartAfterMs = RESTART_AFTER_MS } = options;
  const waiting = new Map<number, Answer>();
  const numbers = new WeakMap<object, number>(); // keys and options objects
  let nextId = 1;
  let nextNumber = 1;
  let worker: Worker | null = null;
  let online = false;
  let closed = false;
  let sent = new Set<number>(); // the keys and options the current thread holds
  let outbox: Batch | null = null;
  let startedAt = -Infinity;
  let lost = 0;
  let lastLoss = '';
  let memory: MemoryReport | null = null; // the thread's latest report
  // A key or options object the main thread no longer holds is dropped by the thread too.
  const forget = new FinalizationRegistry<number>((id) => {
    if (sent.delete(id)) batch().drop.push(id);
  });

  // The batch of this turn of the event loop, sent once the turn's callbacks have run.
  function batch(): Batch {
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
      for (let i = 0; i < out.jobs.length; i += JOB_FIELDS) {
        const answer = waiting.get(out.jobs[i] as number);
        waiting.delete(out.jobs[i] as number);
        answer?.(err as Error, undefined);
      }
      if (waiting.size === 0) worker.unref();
    }
  }

  function start(): Worker | null {
    const now = Date.now();
    if (closed || now - startedAt < restartAfterMs) return null;
    startedAt = now;
    const w = newWorker();
    w.on('message', (answers: Answers | MemoryReport) => {
      if (!Array.isArray(answers)) {
        if (worker === w) memory = answers;
        return;
      }
      if (worker === w) online = true; // the first message, empty, says it listens
      for (let i = 0; i < answers.length; i += ANSWER_FIELDS) {
        const answer = waiting.get(answers[i] as number);
        if (!answer) continue;
        waiting.delete(answers[i] as number);
        if (waiting.size === 0) w.unref();
        if (answers[i + 2] !== null) answer(new Error(answers[i + 2] as string), undefined);
        else answer(null, answers[i + 1]);
      }
    });
    // What it was asked and had not answered is answered with an error (done inline by
    // the offload); the keys it held are sent again to the next thread.
    const gone = (why: string) => {
      if (worker !== w) return;
      worker = null;
      online = false;
      memory = null;
      sent = new Set();
      outbox = null;
      if (!closed) {
        lost++;
        lastLoss = why;
      }
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
  function numbered(value: object, out: Batch): number {
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

  const api = {
    // True once the thread listens.
    get ready() {
      return online;
    },
    // Starts the thread if it is not running (it takes longer than the offload waits for an
    // answer). If it cannot start, signatures stay inline (the request log shows them so)
    // and the next call tries again, at most once every `restartAfterMs`.
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
    // The keys and options objects the thread holds, and its memory as it last reported it.
    get held() {
      return sent.size;
    },
    get memory() {
      return memory;
    },
    // Ends the thread as if it were lost (tests); a later job starts another after `restartAfterMs`.
    async stop(): Promise<void> {
      await worker?.terminate();
    },
    // Ends the thread for good (the endpoints close): what it held is done inline, and no
    // job starts it again.
    async close(): Promise<void> {
      closed = true;
      await worker?.terminate();
    },
  };
  // What the thread holds: the keys and options objects (as many as the main thread holds
  // alive, the keys in use), and its heap (MiB) as it last reported it.
  gauge('signature thread: keys and options held', api, (t) => t.held);
  gauge('signatureThreadHeapUsedMiB', api, (t) => mib(t.memory?.heapUsed ?? 0));
  gauge('signatureThreadHeapTotalMiB', api, (t) => mib(t.memory?.heapTotal ?? 0));
  return api;
}
