// "Safe to delete" for the mails, the expiry reminders and the command line (issue 28,
// point 5): each live secret, key and federated credential (issue 29) of some applications with its usage, and, for those
// not used for IDLE_DAYS while a newer credential of the application has been used since,
// the sentence that says so ("Not used for 9 days; “Secret by VM 2026” took over on
// 21 Nov 2026: safe to delete"). The page builds the same from its own reads (view-models.ts).
import type { Deps } from '../deps.ts';
import { readApplications } from './reads.ts';
import { readUsage, usageKey } from './usage.ts';
import { deleteEvidence, usageViews, type UsageView } from './usage-views.ts';
import { federatedUsageRows, NEVER } from './federated-views.ts';

export interface CredentialState {
  kind: 'secret' | 'key' | 'federated';
  id: string;
  name: string;
  label: string; // a secret's hint, a key's thumbprint, a federated credential's subject
  expiresOn: string; // '' for a federated credential (no expiry: a review date)
  reviewOn?: string; // a federated credential's review date, and its end
  reviewAt?: number;
  expiresAt: number;
  usage: UsageView;
  safeText: string; // the evidence when it is safe to delete, else ''
}

export function credentialStates(deps: Pick<Deps, 'db' | 'config'>, applicationIds: number[], now: number): Map<number, CredentialState[]> {
  const { db, config } = deps;
  const rows = readApplications(db, applicationIds);
  const usage = readUsage(db, applicationIds, now, config.timezone);
  const out = new Map<number, CredentialState[]>();
  for (const applicationId of applicationIds) {
    const secrets = rows.secrets.get(applicationId) ?? [];
    const keys = rows.keys.get(applicationId) ?? [];
    const federated = rows.federated.get(applicationId) ?? [];
    const views = usageViews(usage, applicationId, [
      ...secrets.map(([, id, name, , createdAt, , expiresAt, lastUsedAt]) => ({ kind: 'secret', id, name, createdAt, expiresAt, lastUsedAt })),
      ...keys.map(([, id, name, , , , , expiresAt, lastUsedAt, createdAt]) => ({ kind: 'key', id, name, createdAt, expiresAt, lastUsedAt })),
      ...federatedUsageRows(federated),
    ], now, config.idleDays);
    const state = (kind: CredentialState['kind'], id: string, name: string, label: string, expiresOn: string, expiresAt: number): CredentialState => {
      const u = views.get(usageKey(kind, id))!;
      return { kind, id, name, label, expiresOn, expiresAt, usage: u, safeText: u.safeToDelete ? deleteEvidence(deps, applicationId, u, now).text : '' };
    };
    out.set(applicationId, [
      ...secrets.map(([, id, name, hint, , expiresOn, expiresAt]) => state('secret', id, name, hint, expiresOn, expiresAt)),
      ...keys.map(([, id, name, , thumbprint, , expiresOn, expiresAt]) => state('key', id, name, thumbprint, expiresOn, expiresAt)),
      ...federated.map(([, id, name, , subject, , reviewOn, reviewAt]) => ({ ...state('federated', id, name, subject, '', NEVER), reviewOn, reviewAt })),
    ]);
  }
  return out;
}

// The evidence for one credential when it is safe to delete, else ''.
export function safeToDeleteText(deps: Pick<Deps, 'db' | 'config'>, applicationId: number, kind: CredentialState['kind'], id: string, now: number): string {
  return credentialStates(deps, [applicationId], now).get(applicationId)?.find((c) => c.kind === kind && c.id === id)?.safeText ?? '';
}
