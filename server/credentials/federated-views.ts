// What the page, its dialogs, the command line and the reminders show of federated
// credentials (issue 29): the review date's status (a trust has no expiry; it is looked at
// once a year), each credential as a usage row (usage-views.ts), and the dialogs' models.
import type { Deps } from '../deps.ts';
import type { FieldErrors } from '../lib/result.ts';
import { daysBetween, formatDate, formatDateTime } from '../lib/dates.ts';
import { EXPIRING_DAYS, lastUsedLabel } from './status.ts';
import type { FederatedRow } from './reads.ts';
import type { CredentialRow, UsageView } from './usage-views.ts';
import { MAX_FEDERATED_PER_APPLICATION, PRESETS, type FederatedCredential } from './federated.ts';

// A federated credential never expires: for the "safe to delete" rule it is always live.
export const NEVER = Number.MAX_SAFE_INTEGER;

export type ReviewStatus = { kind: 'active' | 'expiring' | 'expired'; label: string; daysLeft: number };

// "Review by 30 Nov 2027"; within EXPIRING_DAYS "Review due in 12 days"; after it "Review overdue".
export function reviewStatus(reviewOn: string, reviewAt: number, now: number, today: string): ReviewStatus {
  const daysLeft = daysBetween(today, reviewOn);
  if (reviewAt <= now) return { kind: 'expired', label: 'Review overdue', daysLeft };
  if (daysLeft <= EXPIRING_DAYS) return { kind: 'expiring', label: daysLeft === 0 ? 'Review due today' : `Review due in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`, daysLeft };
  return { kind: 'active', label: 'Active', daysLeft };
}

export function federatedUsageRows(rows: FederatedRow[]): CredentialRow[] {
  return rows.map(([, id, name, , , , , , createdAt, lastUsedAt]) => ({ kind: 'federated', id, name, createdAt, expiresAt: NEVER, lastUsedAt }));
}

// The page's rows: name, issuer, subject, audience, review date and status, last use.
export function federatedViews(rows: FederatedRow[], usageOf: (id: string) => UsageView, now: number, today: string, timeZone: string) {
  return rows.map(([, id, name, issuer, subject, audience, reviewOn, reviewAt]) => {
    const usage = usageOf(id);
    return {
      id,
      name,
      issuer,
      subject,
      audience,
      review: formatDate(reviewOn),
      reviewOn,
      status: reviewStatus(reviewOn, reviewAt, now, today),
      lastUsed: lastUsedLabel(usage.lastUsedAt, now),
      lastUsedTitle: usage.lastUsedAt === null ? '' : formatDateTime(usage.lastUsedAt, timeZone),
      usage,
    };
  });
}

export interface FederatedValues {
  preset: string;
  name: string;
  issuer: string;
  subject: string;
  audience: string;
}

// The Add a federated credential dialog: the presets (choosing one fills the issuer and
// shows the subject's format), the values as typed, the errors at their fields.
export function federatedFormModel(deps: Pick<Deps, 'config'>, app: { name: string; clientId: string; base: string }, values: Partial<FederatedValues>, errors: FieldErrors = {}) {
  const preset = PRESETS.find((p) => p.id === values.preset) ?? null;
  return {
    app,
    presets: PRESETS,
    preset,
    values: { preset: preset?.id ?? '', name: '', subject: '', audience: '', ...values, issuer: values.issuer ?? preset?.issuer ?? '' },
    errors,
    audienceDefault: deps.config.baseUrl,
    max: MAX_FEDERATED_PER_APPLICATION,
  };
}

export function federatedDeleteModel(app: { name: string; clientId: string; base: string }, row: FederatedCredential, evidence: { text: string; safe: boolean; inUse: boolean } | null, now: number) {
  return { app, federated: row, review: formatDate(row.reviewOn), lastUsed: lastUsedLabel(row.lastUsedAt, now), evidence };
}
