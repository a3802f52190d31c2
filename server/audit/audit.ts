// Append-only audit trail: every security-relevant action, who did it, from where.
import { auditEvents } from '../../db/schema.ts';
import type { Db } from '../../db/client.ts';
import type { Clock } from '../lib/clock.ts';

export interface AuditActor {
  userId?: number | null;
  label: string; // an email, `client:<id>`, `cli`, `system`, `anonymous`
  name?: string; // a person's display name, for notices
  ip?: string | null;
}

export interface AuditEventInput {
  action: string;
  organisationId?: number | null;
  applicationId?: number | null;
  target?: string | null;
  details?: Record<string, unknown>;
}

export function recordAudit(db: Db, clock: Clock, actor: AuditActor, event: AuditEventInput): void {
  db.insert(auditEvents)
    .values({
      at: clock.now(),
      actorUserId: actor.userId ?? null,
      actor: actor.label,
      organisationId: event.organisationId ?? null,
      applicationId: event.applicationId ?? null,
      action: event.action,
      target: event.target ?? null,
      details: JSON.stringify(event.details ?? {}),
      ip: actor.ip ?? null,
    })
    .run();
}

export const cliActor: AuditActor = { label: 'cli' };
export const systemActor: AuditActor = { label: 'system' };

// "Name (email)" for a person, "the IT team (command line)" for the CLI: how notices name
// who made a change.
export function actorName(actor: AuditActor): string {
  if (actor.label === 'cli') return 'the IT team (command line)';
  if (actor.label === 'system') return 'the portal';
  return actor.name ? `${actor.name} (${actor.label})` : actor.label;
}
