// The daily job's nudge (issue 28, point 5): once a credential first becomes safe to delete
// (credentials/safe-to-delete.ts), its application's managers are told, once: a claim on
// (kind, id) is taken in an IMMEDIATE transaction (two runs cannot both send), marked sent
// once the SMTP server accepted the mail, released when sending failed (the next run tries
// again); a claim whose run died is taken over after STALE_CLAIM_MS. The same run prunes
// usage older than 90 days (credentials/usage.ts).
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { listFailure, type ReminderDeps } from './run.ts';
import { hintOf, renderEmail } from '../mail/emails.ts';
import { managersOf } from '../credentials/applications.ts';
import { credentialStates } from '../credentials/safe-to-delete.ts';
import { pruneUsage } from '../credentials/usage.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';

const STALE_CLAIM_MS = 15 * 60 * 1000;

export interface NudgeSummary {
  sent: number;
  failed: number;
}

function nudgeClaims(db: Db) {
  const sqlite = db.$client;
  const find = sqlite.prepare<[string, string], { claimed_at: number; sent_at: number | null }>('select claimed_at, sent_at from safe_to_delete_sent where kind = ? and credential_id = ?');
  const insert = sqlite.prepare<[string, string, number]>('insert into safe_to_delete_sent (kind, credential_id, claimed_at) values (?, ?, ?)');
  const retake = sqlite.prepare<[number, string, string]>('update safe_to_delete_sent set claimed_at = ? where kind = ? and credential_id = ?');
  const sent = sqlite.prepare<[number, string, string]>('update safe_to_delete_sent set sent_at = ? where kind = ? and credential_id = ?');
  const release = sqlite.prepare<[string, string]>('delete from safe_to_delete_sent where kind = ? and credential_id = ? and sent_at is null');
  return {
    claim: (kind: string, id: string, now: number) =>
      immediate(db, () => {
        const row = find.get(kind, id);
        if (!row) return insert.run(kind, id, now) && true;
        if (row.sent_at === null && row.claimed_at < now - STALE_CLAIM_MS) return retake.run(now, kind, id) && true;
        return false;
      }),
    markSent: (kind: string, id: string, at: number) => void sent.run(at, kind, id),
    release: (kind: string, id: string) => void release.run(kind, id),
  };
}

export async function sendSafeToDelete(deps: ReminderDeps): Promise<NudgeSummary> {
  const { db, mailer, clock, config, logger } = deps;
  const now = clock.now();
  const summary: NudgeSummary = { sent: 0, failed: 0 };
  const claims = nudgeClaims(db);
  const apps = db.$client.prepare<[], { id: number; name: string; client_id: string; organisation_id: number }>('select id, name, client_id, organisation_id from applications where disabled_at is null').all();
  const states = credentialStates(deps, apps.map((a) => a.id), now);
  for (const app of apps) {
    for (const c of states.get(app.id) ?? []) {
      if (!c.safeText || !claims.claim(c.kind, c.id, now)) continue;
      const recipients = managersOf(db, app.id, { organisationId: app.organisation_id });
      if (recipients.length === 0) {
        claims.markSent(c.kind, c.id, now);
        continue;
      }
      const label = c.kind === 'secret' ? 'Client secret' : c.kind === 'federated' ? 'Federated credential' : 'Key';
      const subject = `${label} “${c.name}” of ${app.name} is safe to delete`;
      const model = {
        subject,
        lead: `${c.safeText}.`,
        applicationName: app.name,
        clientId: app.client_id,
        credentialLabel: label,
        secretName: c.name,
        // The one hint format of every mail (i9B•••••; a key's thumbprint start, as the reminders show it).
        // A federated credential: its subject (issue 29).
        hint: c.kind === 'federated' ? `subject ${c.label}` : hintOf(c.kind === 'secret' ? c.label : c.label.slice(0, 8)),
        idleDays: config.idleDays,
        link: `${config.baseUrl}${CREDENTIALS_PAGE}`,
        supportEmail: config.supportEmail,
      };
      const to = recipients.map((r) => ({ name: r.name, address: r.email }));
      // Listed on the console's Mail page while it fails, like an expiry reminder.
      const listed = `safe-to-delete:${c.kind}:${c.id}`;
      try {
        await mailer.send({ to, subject, ...renderEmail('safe-to-delete', model) });
      } catch (err) {
        summary.failed++;
        logger.error('safe-to-delete mail failed; the next run tries again', { credentialId: c.id, error: String((err as Error)?.message ?? err) });
        listFailure(deps, `${listed}:0`, to, subject, String((err as Error)?.message ?? err).slice(0, 500), 'safe-to-delete mail');
        claims.release(c.kind, c.id);
        continue;
      }
      listFailure(deps, listed, null);
      claims.markSent(c.kind, c.id, clock.now());
      summary.sent++;
    }
  }
  const pruned = pruneUsage(db, now, config.timezone);
  logger.info('safe to delete', { ...summary, pruned });
  return summary;
}
