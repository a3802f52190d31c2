// Security notices: when a secret or a key is created, deleted or revoked, the
// application's other credential managers hear of it (who, what, when, from where).
// Called once the change is committed; the mail goes out in the background
// (mailer.sendAfter): a failure is logged, never felt by the request.
import type { Deps } from '../deps.ts';
import { actorName, type AuditActor } from '../audit/audit.ts';
import { formatDate, formatDateTime } from '../lib/dates.ts';
import { hintOf, renderEmail } from '../mail/emails.ts';
import { managersOf, type Application } from './applications.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';

// What a notice says about the credential.
export interface NoticeCredential {
  name: string;
  hint: string;
  expiresOn: string;
}

export type NoticeDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'mailer'>;
type Change = 'created' | 'deleted' | 'revoked' | 'added';
type Kind = 'secret' | 'key' | 'federated';

const LABELS: Record<Kind, { label: string; noun: string; credentialLabel: string }> = {
  secret: { label: 'Client secret', noun: 'a client secret', credentialLabel: 'Client secret' },
  key: { label: 'Certificate or public key', noun: 'a certificate or public key', credentialLabel: 'Key' },
  federated: { label: 'Federated credential', noun: 'a federated credential', credentialLabel: 'Federated credential' },
};

export function sendCredentialNotice(deps: NoticeDeps, kind: Kind, change: Change, app: Application, credential: NoticeCredential, actor: AuditActor, reason?: string): void {
  const { db, clock, config, mailer } = deps;
  // Not to someone who has not finished setup: they cannot look, and did not expect it.
  const recipients = managersOf(db, app.id, { organisationId: app.organisationId, setUpOnly: true }).filter((m) => m.id !== actor.userId);
  if (recipients.length === 0) return;
  const { label, noun, credentialLabel } = LABELS[kind];
  const subject = `${label} ${change} for ${app.name}`;
  const who = actorName(actor);
  const model = {
    subject,
    lead:
      change === 'revoked'
        ? `An administrator, ${who}, revoked ${noun} of ${app.name}. Systems that used it can no longer get tokens. Reason: ${reason ?? ''}`
        : `${who.charAt(0).toUpperCase()}${who.slice(1)} ${change} ${noun} of ${app.name}.`,
    credentialLabel,
    applicationName: app.name,
    clientId: app.clientId,
    secretName: credential.name,
    hint: hintOf(credential.hint),
    expires: change === 'created' || change === 'added' ? formatDate(credential.expiresOn) : '',
    // A federated credential does not expire: it has a review date (issue 29).
    expiresLabel: kind === 'federated' ? 'Review by' : 'Expires',
    actor: who,
    when: formatDateTime(clock.now(), config.timezone),
    ip: actor.ip ?? 'unknown',
    link: `${config.baseUrl}${CREDENTIALS_PAGE}`,
    supportEmail: config.supportEmail,
  };
  mailer.sendAfter(() => ({ to: recipients.map((r) => ({ name: r.name, address: r.email })), subject, ...renderEmail('notice', model) }), 'security notice', { applicationId: app.id });
}
