// What crosses between the main thread (thread.ts) and the signature thread (worker.ts).
//
// A batch, one per turn of the main thread's event loop:
//   held: [number, key or options object, ...]: new to the thread, kept under that number;
//   drop: [number, ...]: numbers it may forget (the main thread's object was collected);
//   jobs: [id, key number, options number, hash, data, signature or null, ...], JOB_FIELDS
//         apiece: without a signature one is made, a signature given is checked.
// Answers: [id, value or null, error message or null, ...], ANSWER_FIELDS apiece. The thread
// first sends an empty list, once it listens: it is ready (its module loaded; a Worker's
// `online` event comes before that).
// The thread's memory, once it listens and then every MEMORY_EVERY_MS: { heapUsed,
// heapTotal, external } in bytes (an object, where answers are an array), after a full
// collection of its heap when the process was started with --expose-gc (as `make soak`
// starts it), so that the soak's figures after a full collection cover both threads' heaps.
// Flat arrays of numbers and strings clone faster than an object a job. The signed input
// travels as text and signatures in base64url: a Buffer would take the 8 KB slab it sits in
// along, and the thread also does the encoding.
export interface Batch {
  held: Array<number | object>;
  drop: number[];
  jobs: Array<number | string | null>;
}

export type Answers = Array<number | string | boolean | null>;

export const JOB_FIELDS = 6;
export const ANSWER_FIELDS = 3;

export const MEMORY_EVERY_MS = 10_000;
export interface MemoryReport {
  heapUsed: number;
  heapTotal: number;
  external: number;
}
