// Roll a secret with a grace period (issue 28, point 6; Stripe's "roll key"): a new secret
// is created (shown once, as Create does) and, in the same transaction, the old one is set
// to expire after 1–30 days (7 unless told), never later than it would have; the new one
// lives as long as the old one was made to (at most the usual maximum). The other credential
// managers are told, after the commit.
import { and, eq, isNull } from 'drizzle-orm';
import { clientSecrets } from '../../db/schema.ts';
import type { Application } from './applications.ts';
import { managersOf } from './applications.ts';
import { createClientSecret, expiryRules, secretNamed, type ClientSecret, type SecretDeps } from './secrets.ts';
import { actorName, recordAudit, type AuditActor } from '../audit/audit.ts';
import { addDays, dateInZone, daysBetween, endOfDateInZone, formatDate, formatDateTime } from '../lib/dates.ts';
import { failure, refused, success, type DomainResult } from '../lib/result.ts';
import { renderEmail } from '../mail/emails.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';

export const GRACE_DAYS = { min: 1, max: 30, suggested: 7 };

export function parseGraceDays(raw: unknown): DomainResult<number> {
  const text = typeof raw === 'string' ? raw.trim() : raw === undefined ? '' : String(raw);
  if (text === '') return success(GRACE_DAYS.suggested);
  if (!/^\d{1,2}$/.test(text) || Number(text) < GRACE_DAYS.min || Number(text) > GRACE_DAYS.max) return failure('grace_days', `Enter a whole number of days from ${GRACE_DAYS.min} to ${GRACE_DAYS.max}.`);
  return success(Number(text));
}

// "Old (rolled 30 Nov 2026)": a name the application has no live secret with.
function newName(deps: SecretDeps, app: Application, old: ClientSecret, today: string): string {
  const base = `${old.name.replace(/ \(rolled [^)]*\)$/, '')} (rolled ${formatDate(today)})`.slice(0, 90);
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base} ${n}`;
    if (!secretNamed(deps.db, app.id, name) || n > 50) return name;
  }
}

export type RollResult = DomainResult<{ secret: string; row: ClientSecret; old: { name: string; expiresOn: string } }>;

export function rollClientSecret(deps: SecretDeps, actor: AuditActor, app: Application, old: ClientSecret, input: { graceDays: unknown }): RollResult {
  const { db, clock, config } = deps;
  const grace = parseGraceDays(input.graceDays);
  if (!grace.ok) return grace;
  const now = clock.now();
  if (old.expiresAt <= now) return refused('This secret has already expired: create a new secret instead.', 409);
  const rules = expiryRules(config, clock);
  const today = rules.today;
  const oldExpiresOn = addDays(today, grace.value) < old.expiresOn ? addDays(today, grace.value) : old.expiresOn;
  const lifetime = Math.max(1, daysBetween(dateInZone(old.createdAt, config.timezone), old.expiresOn));
  const expires = addDays(today, lifetime) > rules.max ? rules.max : addDays(today, lifetime);
  const result = createClientSecret(deps, actor, app, { name: newName(deps, app, old, today), expires }, {
    notice: false,
    within: (row) => {
      const changed = db
        .update(clientSecrets)
        .set({ expiresOn: oldExpiresOn, expiresAt: endOfDateInZone(oldExpiresOn, config.timezone) })
        .where(and(eq(clientSecrets.id, old.id), eq(clientSecrets.applicationId, app.id), isNull(clientSecrets.deletedAt)))
        .returning()
        .get();
      if (!changed) return refused('This secret was deleted meanwhile: create a new secret instead.', 409);
      recordAudit(db, clock, actor, { action: 'secret.roll', organisationId: app.organisationId, applicationId: app.id, target: old.name, details: { secretId: old.id, hint: old.hint, newSecretId: row.id, graceDays: grace.value, expiresOn: oldExpiresOn } });
      return null;
    },
  });
  if (!result.ok) return result;
  const value = { ...result.value, old: { name: old.name, expiresOn: oldExpiresOn } };
  tellManagers(deps, actor, app, old, value.row, oldExpiresOn);
  return success(value);
}

// The other managers hear of it, after the commit, in the background (mailer.sendAfter).
function tellManagers(deps: SecretDeps, actor: AuditActor, app: Application, old: ClientSecret, row: ClientSecret, oldExpiresOn: string) {
  // Like every security notice: not to someone who has not finished setup (notices.ts).
  const recipients = managersOf(deps.db, app.id, { organisationId: app.organisationId, setUpOnly: true }).filter((m) => m.id !== actor.userId);
  if (recipients.length === 0) return;
  const who = actorName(actor);
  const subject = `Client secret rolled for ${app.name}`;
  const model = {
    subject,
    lead: `${who.charAt(0).toUpperCase()}${who.slice(1)} rolled the client secret “${old.name}” (${old.hint}…) of ${app.name}: the new secret “${row.name}” replaces it. The old one keeps working until ${formatDate(oldExpiresOn)}, then expires: put the new one in every system before then.`,
    credentialLabel: 'New secret',
    applicationName: app.name,
    clientId: app.clientId,
    secretName: row.name,
    hint: row.hint,
    expires: formatDate(row.expiresOn),
    actor: who,
    when: formatDateTime(deps.clock.now(), deps.config.timezone),
    ip: actor.ip ?? 'unknown',
    link: `${deps.config.baseUrl}${CREDENTIALS_PAGE}`,
    supportEmail: deps.config.supportEmail,
  };
  deps.mailer.sendAfter(() => ({ to: recipients.map((r) => ({ name: r.name, address: r.email })), subject, ...renderEmail('notice', model) }), 'security notice', { applicationId: app.id });
}
