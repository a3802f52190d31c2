// Security notices: when a secret is created or deleted, the application's other
// credential managers hear of it (who, what, when, from where). Sent in the
// background: a mail failure is logged and counted, never felt by the web request.
import type { Db } from '../../db/client.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { AuditActor } from '../audit/audit.ts';
import type { applications, clientSecrets } from '../../db/schema.ts';
import { formatDate, formatDateTime } from '../dates.ts';
import { renderEmail } from './emails.ts';
import type { Mailer } from './mailer.ts';
import { managersOf } from '../credentials/applications.ts';

// What a notice says about the credential.
export interface NoticeCredential {
  name: string;
  hint: string;
  expiresOn: string;
}

// Told about changes to secrets, so the application's other managers hear of them.
export interface SecretNotifier {
  secretCreated(app: typeof applications.$inferSelect, secret: typeof clientSecrets.$inferSelect, actor: AuditActor): void;
  secretDeleted(app: typeof applications.$inferSelect, secret: typeof clientSecrets.$inferSelect, actor: AuditActor): void;
  secretRevoked(app: typeof applications.$inferSelect, secret: typeof clientSecrets.$inferSelect, actor: AuditActor, reason: string): void;
  // Keys and certificates (private_key_jwt): the same notices, in their own words.
  keyAdded(app: typeof applications.$inferSelect, key: NoticeCredential, actor: AuditActor): void;
  keyDeleted(app: typeof applications.$inferSelect, key: NoticeCredential, actor: AuditActor): void;
  // Resolves once every notice under way has been sent or has failed.
  idle(): Promise<void>;
}

// "Name (email)" for a person, "the IT team (command line)" for the CLI.
export function actorName(actor: AuditActor): string {
  if (actor.label === 'cli') return 'the IT team (command line)';
  if (actor.label === 'system') return 'the portal';
  return actor.name ? `${actor.name} (${actor.label})` : actor.label;
}

export interface MailStats {
  sent: number;
  failed: number;
}

export function createSecretNotifier(deps: { db: Db; clock: Clock; config: Config; logger: Logger; mailer: Mailer }): SecretNotifier & { stats: MailStats } {
  const { db, clock, config, logger, mailer } = deps;
  const stats: MailStats = { sent: 0, failed: 0 };
  const pending = new Set<Promise<void>>();

  const notify = (verb: 'created' | 'deleted' | 'revoked' | 'added', label = 'Client secret') => (app: Parameters<SecretNotifier['secretCreated']>[0], secret: NoticeCredential, actor: AuditActor, reason?: string) => {
    const recipients = managersOf(db, app.id, { organisationId: app.organisationId }).filter((m) => m.id !== actor.userId);
    if (recipients.length === 0) return;
    const subject = `${label} ${verb} for ${app.name}`;
    const who = actorName(actor);
    const noun = label === 'Client secret' ? 'a client secret' : 'a certificate or public key';
    const model = {
      subject,
      lead:
        verb === 'revoked'
          ? `An administrator, ${who}, revoked ${noun} of ${app.name}. Systems that used it can no longer get tokens. Reason: ${reason ?? ''}`
          : `${who.charAt(0).toUpperCase()}${who.slice(1)} ${verb} ${noun} of ${app.name}.`,
      credentialLabel: label === 'Client secret' ? 'Client secret' : 'Key',
      applicationName: app.name,
      clientId: app.clientId,
      secretName: secret.name,
      hint: secret.hint,
      expires: verb === 'created' || verb === 'added' ? formatDate(secret.expiresOn) : '',
      actor: who,
      when: formatDateTime(clock.now(), config.timezone),
      ip: actor.ip ?? 'unknown',
      link: `${config.baseUrl}/manage-api-credentials`,
      supportEmail: config.supportEmail,
    };
    const job = mailer
      .send({ to: recipients.map((r) => ({ name: r.name, address: r.email })), subject, ...renderEmail('notice', model) })
      .then(
        () => {
          stats.sent++;
        },
        (err: unknown) => {
          stats.failed++;
          logger.error('security notice failed', { applicationId: app.id, error: String((err as Error)?.message ?? err) });
        },
      )
      .finally(() => pending.delete(job));
    pending.add(job);
  };

  return {
    secretCreated: notify('created'),
    secretDeleted: notify('deleted'),
    secretRevoked: notify('revoked'),
    keyAdded: notify('added', 'Certificate or public key'),
    keyDeleted: notify('deleted', 'Certificate or public key'),
    stats,
    // Resolves when every notice under way has been sent or has failed (tests, shutdown).
    idle: async () => {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}
