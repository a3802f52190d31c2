// Floods counted, not stored row by row: events of one kind are tallied in memory per key
// (an address, or a client id and an address) and written as one summary row per key and
// window, with the count and the first and last time. Every event is accounted for, in
// bounded space: past `maxKeys` keys in a window (100 unless told), further keys are
// tallied under one overflow key, so a flood from ever new addresses or client ids makes
// at most maxKeys + 1 rows a window. `write` gets each summary when its window is over
// (`flush`, run every `everyMs` by its own unref'd timer, and at `close`); a write that
// throws keeps the summary for the next flush and is told to `onError`: flush never throws.

export const OVERFLOW_KEY = '(others)';
const MAX_KEYS = 100;

export interface Summary {
  key: string;
  count: number;
  first: number;
  last: number;
  sample: string; // something of the first event (a target), for the row
}

// A summary's row details: the count, and the first and last time.
export const summaryDetails = (s: Summary) => ({ count: s.count, first: new Date(s.first).toISOString(), last: new Date(s.last).toISOString() });

export function createTally(options: { windowMs: number; now: () => number; write: (summaries: Summary[]) => void; onError: (err: unknown) => void; maxKeys?: number; everyMs?: number }) {
  const { windowMs, now, write, onError, maxKeys = MAX_KEYS, everyMs } = options;
  let open = new Map<string, Summary>();
  let windowStart = now();
  let unwritten: Summary[] = [];
  const timer = everyMs ? setInterval(() => flush(), everyMs) : null;
  timer?.unref();
  // Writes the window's summaries once the window is over (`all`: now).
  function flush(all = false) {
    if (all || now() - windowStart >= windowMs) flushNow();
    else if (unwritten.length) writeUnwritten();
  }

  return {
    // True when it is the key's first event of the window.
    add(key: string, sample = ''): boolean {
      const t = now();
      if (t - windowStart >= windowMs) flushNow();
      const k = open.has(key) || open.size < maxKeys ? key : OVERFLOW_KEY;
      const s = open.get(k);
      if (s) {
        s.count++;
        s.last = t;
        return false;
      }
      open.set(k, { key: k, count: 1, first: t, last: t, sample });
      return true;
    },
    flush: () => flush(),
    // Everything counted, now; the timer stops (shutdown).
    close() {
      if (timer) clearInterval(timer);
      flush(true);
    },
    get size() {
      return open.size + unwritten.length;
    },
  };

  function flushNow() {
    unwritten.push(...open.values());
    open = new Map();
    windowStart = now();
    writeUnwritten();
  }
  function writeUnwritten() {
    if (!unwritten.length) return;
    const batch = unwritten;
    unwritten = [];
    try {
      write(batch);
    } catch (err) {
      // Kept for the next flush; past two windows' worth they fold into one overflow row.
      unwritten = batch.length > 2 * maxKeys ? fold(batch) : batch;
      onError(err);
    }
  }
}

function fold(batch: Summary[]): Summary[] {
  const all = batch.reduce((a, s) => ({ key: OVERFLOW_KEY, count: a.count + s.count, first: Math.min(a.first, s.first), last: Math.max(a.last, s.last), sample: a.sample }), { key: OVERFLOW_KEY, count: 0, first: Infinity, last: -Infinity, sample: '' });
  return [all];
}
