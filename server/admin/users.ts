// Users are created by invitation only: by the CLI or, later, the admin console.
import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { applications, credentialManagers, users } from '../../db/schema.ts';
import type { Clock } from '../clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { createInvitation } from '../auth/invitations.ts';
import { parseEmail, parseId } from '../validation.ts';
import { findOrganisation, type DomainResult } from './organisations.ts';

function parseDisplayName(input: unknown): DomainResult<string> {
  if (input === undefined || input === null || input === '') return { ok: true, value: '' };
  if (typeof input !== 'string' || input.trim().length > 100 || /[\u0000-\u001f\u007f-\u009f]/.test(input)) {
    return { ok: false, field: 'name', message: 'A name is at most 100 characters, without control characters.' };
  }
  return { ok: true, value: input.trim() };
}

export function inviteAdmin(db: Db, clock: Clock, actor: AuditActor, input: { email: unknown; name?: unknown }): DomainResult<{ userId: number; token: string }> {
  const email = parseEmail(input.email);
  if (!email.ok) return { ok: false, field: 'email', message: email.message };
  const name = parseDisplayName(input.name);
  if (!name.ok) return name;
  return immediate(db, () => {
    if (db.select({ id: users.id }).from(users).where(eq(users.email, email.value)).get()) {
      return { ok: false, field: 'email', message: `A user with the email ${email.value} already exists.`, status: 409 };
    }
    const user = db
      .insert(users)
      .values({ email: email.value, displayName: name.value, isAdmin: true, createdAt: clock.now() })
      .returning({ id: users.id })
      .get();
    const token = createInvitation(db, clock, user.id);
    recordAudit(db, clock, actor, { action: 'user.invite', target: email.value, details: { admin: true } });
    return { ok: true, value: { userId: user.id, token } };
  });
}

export function inviteUser(
  db: Db,
  clock: Clock,
  actor: AuditActor,
  input: { organisationId: unknown; email: unknown; name?: unknown; managerOf?: unknown[] },
): DomainResult<{ userId: number; token: string }> {
  const organisationId = parseId(input.organisationId);
  if (organisationId === null || !findOrganisation(db, organisationId)) {
    return { ok: false, field: 'organisation', message: 'Choose an existing organisation.' };
  }
  const email = parseEmail(input.email);
  if (!email.ok) return { ok: false, field: 'email', message: email.message };
  const name = parseDisplayName(input.name);
  if (!name.ok) return name;
  const clientIds = (input.managerOf ?? []).map((c) => (typeof c === 'string' ? c.trim() : ''));
  const apps = clientIds.length
    ? db.select().from(applications).where(inArray(applications.clientId, clientIds)).all()
    : [];
  for (const clientId of clientIds) {
    const app = apps.find((a) => a.clientId === clientId);
    if (!app) return { ok: false, field: 'manager-of', message: `No application has the client ID "${clientId}".` };
    if (app.organisationId !== organisationId) {
      return { ok: false, field: 'manager-of', message: `The application ${app.name} belongs to another organisation.` };
    }
  }
  return immediate(db, () => {
    if (db.select({ id: users.id }).from(users).where(eq(users.email, email.value)).get()) {
      return { ok: false, field: 'email', message: `A user with the email ${email.value} already exists.`, status: 409 };
    }
    const now = clock.now();
    const user = db
      .insert(users)
      .values({ email: email.value, displayName: name.value, organisationId, createdAt: now })
      .returning({ id: users.id })
      .get();
    for (const app of apps) {
      db.insert(credentialManagers).values({ userId: user.id, applicationId: app.id, createdAt: now }).onConflictDoNothing().run();
      recordAudit(db, clock, actor, { action: 'manager.assign', organisationId, applicationId: app.id, target: email.value });
    }
    const token = createInvitation(db, clock, user.id);
    recordAudit(db, clock, actor, { action: 'user.invite', organisationId, target: email.value });
    return { ok: true, value: { userId: user.id, token } };
  });
}
