// The audit events shown under each application, as sentences.
import { desc, eq } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { auditEvents } from '../../db/schema.ts';
import { formatDate, isValidDateString } from '../lib/dates.ts';

type AuditRow = typeof auditEvents.$inferSelect;

// A sentence for an audit event, as shown under each application.
export function describeEvent(e: AuditRow): string {
  let d: Record<string, unknown> = {};
  try {
    d = JSON.parse(e.details) as Record<string, unknown>;
  } catch {
    /* details are ours; an unreadable one is shown without them */
  }
  const secret = `“${e.target ?? ''}”${typeof d.hint === 'string' ? ` (${d.hint}…)` : ''}`;
  switch (e.action) {
    case 'secret.create':
      return `Created secret ${secret}, expires ${typeof d.expiresOn === 'string' && isValidDateString(d.expiresOn) ? formatDate(d.expiresOn) : ''}`;
    case 'secret.delete':
      return `Deleted secret ${secret}`;
    case 'secret.roll':
      return `Rolled secret ${secret}: it now expires ${typeof d.expiresOn === 'string' && isValidDateString(d.expiresOn) ? formatDate(d.expiresOn) : ''}`;
    case 'secret.revoke':
      return `Revoked secret ${secret}: ${String(d.reason ?? '')}`;
    case 'key.add':
      return `Added ${e.target ? `“${e.target}”` : 'a key'} (${String(d.keyType ?? 'key')}), expires ${typeof d.expiresOn === 'string' && isValidDateString(d.expiresOn) ? formatDate(d.expiresOn) : ''}`;
    case 'key.delete':
      return `Deleted ${e.target ? `“${e.target}”` : 'a key'}`;
    case 'federated.add':
      return `Added federated credential ${e.target ? `“${e.target}”` : ''} (issuer ${String(d.issuer ?? '')}, subject ${String(d.subject ?? '')}), review by ${typeof d.reviewOn === 'string' && isValidDateString(d.reviewOn) ? formatDate(d.reviewOn) : ''}`;
    case 'federated.delete':
      return `Deleted federated credential ${e.target ? `“${e.target}”` : ''}`;
    case 'federated.review':
      return `Reviewed federated credential ${e.target ? `“${e.target}”` : ''}: next review by ${typeof d.reviewOn === 'string' && isValidDateString(d.reviewOn) ? formatDate(d.reviewOn) : ''}`;
    case 'application.create':
      return 'Application created';
    case 'manager.assign':
      return `Credential manager added: ${e.target ?? ''}`;
    case 'manager.remove':
      return `Credential manager removed: ${e.target ?? ''}`;
    case 'access.denied':
      return 'Access refused';
    default:
      return e.action.replace(/[._]/g, ' ');
  }
}

export function recentEvents(db: Db, applicationId: number, limit = 20) {
  return db.select().from(auditEvents).where(eq(auditEvents.applicationId, applicationId)).orderBy(desc(auditEvents.at), desc(auditEvents.id)).limit(limit).all();
}
