// GET /admin/health — Integration health (issue 28, point 8): for the IT team, the enabled
// applications whose token requests were refused in the last 24 hours, the credentials
// expiring within 7 days with no newer credential of their application in use, and the
// applications whose credentials have all been idle for 30 days; each row links to the
// application's console page (and, for refusals, its audit log). Queries: health.ts.
import { Router } from 'express';
import type { Deps } from '../deps.ts';
import { dateInZone, formatDate, formatDateTime, relativeTime } from '../lib/dates.ts';
import { lastUsedLabel, statusOn } from '../credentials/status.ts';
import type { Console } from './console.ts';
import { EXPIRING_WITHIN_DAYS, expiringWithoutSuccessor, HEALTH_ROWS, IDLE_FOR_DAYS, idleApplications, REFUSALS_HOURS, refusedApplications } from './health.ts';

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-GB')} ${n === 1 ? one : many}`;

export function healthRoutes(deps: Deps, { page }: Console): Router {
  const { db, clock, config } = deps;
  const router = Router();
  const zone = config.timezone;
  const when = (at: number, now: number) => `${formatDateTime(at, zone)}, ${relativeTime(at, now)}`;

  router.get('/admin/health', (req, res) => {
    const now = clock.now();
    const today = dateInZone(now, zone);
    const refused = refusedApplications(db, now);
    const expiring = expiringWithoutSuccessor(db, now);
    const idle = idleApplications(db, now, zone);
    page(req, res, 'health', 'Integration health', {
      limit: HEALTH_ROWS,
      hours: REFUSALS_HOURS,
      expiringDays: EXPIRING_WITHIN_DAYS,
      idleDays: IDLE_FOR_DAYS,
      refused: {
        more: refused.more,
        rows: refused.rows.map((r) => ({
          ...r,
          refusals: plural(r.count, 'refusal'),
          reasons: r.reasons.map((x) => `${x.reason} (${x.count.toLocaleString('en-GB')})`),
          moreReasons: r.moreReasons ? `and ${plural(r.moreReasons, 'other reason')}` : '',
          last: when(r.lastAt, now),
          from: r.lastAddress + (r.lastClient ? ` (${r.lastClient})` : ''),
        })),
      },
      expiring: {
        more: expiring.more,
        rows: expiring.rows.map((c) => ({
          ...c,
          what: c.kind === 'secret' ? 'Client secret' : 'Key',
          expires: formatDate(c.expiresOn),
          status: statusOn(c, now, today).label,
          lastUsed: lastUsedLabel(c.lastUsedAt, now),
          newer: c.newerUnused ? `${plural(c.newerUnused, 'newer credential')}, not used yet` : 'No newer credential',
        })),
      },
      idle: {
        more: idle.more,
        rows: idle.rows.map((a) => ({
          ...a,
          credentials: plural(a.credentials, 'credential'),
          lastUsed: a.lastUsedAt === null ? 'Never used' : `Last used ${when(a.lastUsedAt, now)}`,
          idleFor: `Idle for ${plural(Math.floor((now - a.since) / 86_400_000), 'day')}`,
        })),
      },
    });
  });

  return router;
}
