// The audit of failed client authentications, bounded so that a flood can neither fill
// the disk nor hide an attack: the first three per client a minute (60 in all) are rows
// of their own (`token.auth_failed`); the rest are counted into one summary row per client
// and address a minute (`token.auth_failed_summary`: count, first and last time; past 100
// pairs a minute, one more row counts the others). Every failure is accounted for.
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import type { AuditQueue } from '../audit/queue.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { createTally, summaryDetails, type Summary } from '../audit/tally.ts';

const SUMMARY_EVERY_MS = 10_000;

export function createFailureAudit(audit: AuditQueue, clock: Clock, logger: Pick<Logger, 'warn'>) {
  const perClient = new RateLimiter(3, 60_000, clock);
  const overall = new RateLimiter(60, 60_000, clock);
  const overflow = createTally({
    windowMs: 60_000,
    now: () => clock.now(),
    write: (summaries: Summary[]) => {
      for (const s of summaries) {
        const [ip, target] = splitKey(s.key);
        audit.push({ label: `client:${target}`, ip }, { action: 'token.auth_failed_summary', target, details: summaryDetails(s) }, true);
      }
    },
    onError: (err) => logger.warn('failed token requests not summarised yet; retrying', { error: String((err as Error)?.message ?? err) }),
    everyMs: SUMMARY_EVERY_MS,
  });

  return {
    record(ip: string, clientId: string, path: string | undefined) {
      const target = clientId.slice(0, 100);
      if (audit.hasRoom() && perClient.hit(target).allowed && overall.hit('all').allowed) {
        audit.push({ label: `client:${target}`, ip }, { action: 'token.auth_failed', target, details: { path } });
      } else overflow.add(`${ip} ${target}`);
    },
    // What a finished minute counted (tests); close: everything counted (shutdown).
    flush: overflow.flush,
    close: overflow.close,
  };
}

// "address client-id" → [address, client id] (an address has no space; a client id may).
function splitKey(key: string): [string, string] {
  const space = key.indexOf(' ');
  return space < 0 ? ['', key] : [key.slice(0, space), key.slice(space + 1)];
}
