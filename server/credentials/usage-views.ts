// What the page and the delete dialogs say of a credential's use (issue 28, points 3–5): the
// sparkline with its text, requests and refusals in 30 days, the "Safe to delete" badge, and
// the evidence a delete dialog starts with.
import type { Deps } from '../deps.ts';
import { formatDate, relativeTime } from '../lib/dates.ts';
import { sparkline, usageText } from './sparkline.ts';
import { firstUseSince, latest, tookOver, usageKey, type Candidate, type CredentialUsage, type UsageReader } from './usage.ts';

const DAY_MS = 86_400_000;

export interface CredentialRow {
  kind: string;
  id: string;
  name: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null; // the credential's own column
}

export interface UsageView {
  svg: string;
  text: string;
  requests: number;
  refusals: number;
  last24h: number;
  lastUsedAt: number | null;
  lastAddress: string;
  lastClient: string;
  safeToDelete: boolean;
  newer: Candidate | null; // the credential that took over, when safe to delete
  idleSince: number; // its last use, or its creation when never used
}

// Each credential of one application with its usage, by usageKey(kind, id).
export function usageViews(usage: UsageReader, applicationId: number, rows: CredentialRow[], now: number, idleDays: number): Map<string, UsageView> {
  const used = rows.map((r) => ({ row: r, u: usage.of(applicationId, r.kind, r.id) }));
  const candidates: Candidate[] = used.map(({ row, u }) => ({ kind: row.kind, id: row.id, name: row.name, createdAt: row.createdAt, expiresAt: row.expiresAt, lastUsedAt: latest(row.lastUsedAt, u.lastUsedAt) }));
  const out = new Map<string, UsageView>();
  used.forEach(({ row, u }, i) => {
    const c = candidates[i]!;
    const shown: CredentialUsage = { ...u, lastUsedAt: c.lastUsedAt };
    const newer = tookOver(c, candidates, now, idleDays);
    const text = usageText(shown, now);
    out.set(usageKey(row.kind, row.id), {
      svg: sparkline(shown, now, text),
      text,
      requests: u.requests,
      refusals: u.refusals,
      last24h: u.last24h,
      lastUsedAt: c.lastUsedAt,
      lastAddress: u.lastAddress,
      lastClient: u.lastClient,
      safeToDelete: newer !== null,
      newer,
      idleSince: c.lastUsedAt ?? c.createdAt,
    });
  });
  return out;
}

// "from 10.2.3.4 (python-requests/2.31)"
const fromWhere = (v: Pick<UsageView, 'lastAddress' | 'lastClient'>) => (v.lastAddress ? ` from ${v.lastAddress}${v.lastClient ? ` (${v.lastClient})` : ''}` : '');

// What deleting it would do, in one sentence: "Used 240 times in the last 24 hours, last from
// 10.2.3.4 (python-requests/2.31) 3 minutes ago: deleting it stops that system", or "Not used
// for 9 days; “Secret by VM 2026” took over on 21 Nov 2026: safe to delete".
export function deleteEvidence(deps: Pick<Deps, 'db' | 'config'>, applicationId: number, v: UsageView, now: number): { text: string; safe: boolean; inUse: boolean } {
  const ago = v.lastUsedAt === null ? '' : relativeTime(v.lastUsedAt, now);
  if (v.last24h > 0) {
    return { text: `Used ${v.last24h} time${v.last24h === 1 ? '' : 's'} in the last 24 hours, last${fromWhere(v)} ${ago}: deleting it stops that system`, safe: false, inUse: true };
  }
  const idleDays = Math.floor((now - v.idleSince) / DAY_MS);
  if (v.newer) {
    const day = firstUseSince(deps.db, applicationId, v.newer.kind, v.newer.id, v.idleSince, deps.config.timezone);
    const since = day ? ` took over on ${formatDate(day)}` : ' has been used since';
    return { text: `${v.lastUsedAt === null ? 'Never used' : `Not used for ${idleDays} day${idleDays === 1 ? '' : 's'}`}; “${v.newer.name}”${since}: safe to delete`, safe: true, inUse: false };
  }
  if (v.lastUsedAt === null) return { text: 'Never used', safe: false, inUse: false };
  if (idleDays === 0) return { text: `Last used ${ago}${fromWhere(v)}`, safe: false, inUse: false };
  return { text: `Not used for ${idleDays} day${idleDays === 1 ? '' : 's'}, last${fromWhere(v)} ${ago}`, safe: false, inUse: false };
}
