// The signature thread's code. thread.ts starts it: under tsx through worker-under-tsx.cjs,
// in the single executable as the bundle build/binary.ts makes of this file.
// Signatures are answered as their batch arrives; verifications (whose keys strangers
// chose) wait in a queue of their own, worked off about a millisecond per turn of this
// thread's loop, so a signature that arrives meanwhile is answered next turn, not after them.
import { parentPort } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';
import { JOB_FIELDS, MEMORY_EVERY_MS, type Answers, type Batch, type MemoryReport } from './protocol.ts';
import { signText, verifyText } from './operations.ts';

const VERIFY_FOR_MS = 1; // a turn's share of verifications

interface Job {
  id: number;
  key: KeyObject;
  options: object;
  hash: string | null;
  data: string;
  signature: string | null; // null: sign
}

if (!parentPort) throw new Error('worker.ts is the signature thread: thread.ts starts it');
const port = parentPort;
const held = new Map<number, object>(); // keys and options objects, by number
const verifications: Job[] = [];
let draining = false;

function run(job: Job, answers: Answers) {
  answers.push(job.id);
  try {
    answers.push(job.signature === null ? signText(job.hash, job.data, job.key, job.options) : verifyText(job.hash, job.data, job.key, job.options, job.signature), null);
  } catch (err) {
    answers.push(null, String((err as Error | null)?.message || err));
  }
}

function drain() {
  const answers: Answers = [];
  const until = performance.now() + VERIFY_FOR_MS;
  do run(verifications.shift()!, answers);
  while (verifications.length && performance.now() < until);
  port.postMessage(answers);
  if (verifications.length) setImmediate(drain);
  else draining = false;
}

port.on('message', (batch: Batch) => {
  for (const n of batch.drop) held.delete(n);
  for (let i = 0; i < batch.held.length; i += 2) held.set(batch.held[i] as number, batch.held[i + 1] as object);
  const { jobs } = batch;
  const answers: Answers = [];
  for (let i = 0; i < jobs.length; i += JOB_FIELDS) {
    const job: Job = {
      id: jobs[i] as number,
      key: held.get(jobs[i + 1] as number) as KeyObject,
      options: held.get(jobs[i + 2] as number)!,
      hash: jobs[i + 3] as string | null,
      data: jobs[i + 4] as string,
      signature: jobs[i + 5] as string | null,
    };
    if (job.signature === null) run(job, answers);
    else verifications.push(job);
  }
  if (answers.length) port.postMessage(answers);
  if (verifications.length && !draining) {
    draining = true;
    setImmediate(drain);
  }
});
port.postMessage([]); // ready

// Its memory, for `kill -USR2` and the soak (thread.ts keeps the latest). Collected first when
// `gc` is exposed; never otherwise.
const collect = (globalThis as { gc?: () => void }).gc;
// A report that fails (process.memoryUsage reads /proc for RSS, which can fail) is skipped:
// the thread goes on signing, and the next report comes MEMORY_EVERY_MS later.
function reportMemory() {
  try {
    collect?.();
    const m = process.memoryUsage();
    const report: MemoryReport = { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
    port.postMessage(report);
  } catch {
    // skipped; see above
  }
}
reportMemory();
setInterval(reportMemory, MEMORY_EVERY_MS).unref();
