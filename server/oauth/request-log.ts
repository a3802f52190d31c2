// The machine-facing endpoints' request log: one line per second with requests, counted
// by path and status, instead of a line per request. At thousands of tokens a second a
// line each cost 7 % of the endpoint's CPU and told an operator less than a count does.
// Failures that need a look are logged on their own (`oauth endpoint failed`, with a
// reference), and failed client authentication is in the audit log.
// The line also counts where the signatures of that second ran (signatures/): on the
// signature thread (`pooled`, the name kept from the pool the thread replaced, for whoever
// reads these lines), inline, or inline after that thread did not answer in time or lost
// the job (`rescued`, a sign that the thread is stuck or was restarted). A thread that
// was lost in that second (it failed, exited or could not start) gets a warning of its own:
//   {"level":"warn","msg":"signature thread lost","times":1,"why":"exited with 1","meanwhile":"..."}
//   {"level":"info","msg":"oauth requests","seconds":1,"requests":{"/oauth/token 200":3412,"/oauth/token 401":3},"signatures":{"pooled":3412,"inline":0,"rescued":0}}
import type { Logger } from '../lib/log.ts';
import type { Signatures } from './signatures/signatures.ts';
import { RESTART_AFTER_MS } from './signatures/thread.ts';

export const TALLY_EVERY_MS = 1000;

export function createRequestTally(logger: Logger, signatures: Pick<Signatures, 'counts' | 'thread'>, everyMs = TALLY_EVERY_MS) {
  const { counts: signed, thread } = signatures;
  let counts = new Map<string, number>();
  let timer: NodeJS.Timeout | null = null;
  let signedBefore = { ...signed };
  let lostBefore = thread.lost;

  function write() {
    timer = null;
    if (counts.size === 0) return;
    const requests = Object.fromEntries(counts);
    counts = new Map();
    const now = { ...signed };
    const where = { pooled: now.thread - signedBefore.thread, inline: now.inline - signedBefore.inline, rescued: now.rescued - signedBefore.rescued, ...(now.givenUp > signedBefore.givenUp ? { givenUp: now.givenUp - signedBefore.givenUp } : {}) };
    signedBefore = now;
    logger.info('oauth requests', { seconds: everyMs / 1000, requests, signatures: where });
    const lost = thread.lost - lostBefore;
    lostBefore += lost;
    if (lost > 0) logger.warn('signature thread lost', { times: lost, why: thread.lastLoss, meanwhile: `signatures run inline; the thread is started again with a later signature, at most once every ${RESTART_AFTER_MS / 1000} s` });
  }

  function flush() {
    if (timer) clearTimeout(timer);
    write();
  }

  return {
    count(path: string, status: number) {
      const key = `${path} ${status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (!timer) {
        timer = setTimeout(write, everyMs);
        timer.unref();
      }
    },
    // Writes what is counted now (shutdown, tests).
    flush,
  };
}
