import crypto from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { apis, applicationApis, applications, credentialManagers, users } from '../../db/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { parseApiCode, parseId, parseName } from '../lib/validation.ts';
import { findOrganisation } from './organisations.ts';
import { failure, type DomainResult } from '../lib/result.ts';
import { applicationNamed, freeApplicationName } from './names.ts';

export function createApplication(
  db: Db,
  clock: Clock,
  actor: AuditActor,
  input: { organisationId: unknown; name: unknown; apiCodes: unknown[]; sandboxOnly: boolean },
): DomainResult<{ id: number; clientId: string }> {
  const organisationId = parseId(input.organisationId);
  if (organisationId === null || !findOrganisation(db, organisationId)) {
    return failure('organisation', 'Choose an existing organisation.');
  }
  const name = parseName(input.name, 'Application name', 100);
  if (!name.ok) return failure('name', name.message);
  if (input.apiCodes.length === 0) return failure('api', 'Grant at least one API.');
  const codes: string[] = [];
  for (const raw of input.apiCodes) {
    const code = parseApiCode(raw);
    if (!code.ok) return failure('api', code.message);
    if (!codes.includes(code.value)) codes.push(code.value);
  }
  const known = db.select({ code: apis.code }).from(apis).where(inArray(apis.code, codes)).all().map((r) => r.code);
  const missing = codes.filter((c) => !known.includes(c));
  if (missing.length) return failure('api', `Unknown API code: ${missing.join(', ')}.`);

  return immediate(db, () => {
    // Two applications never share a name (names.ts): the message names a free one.
    const other = applicationNamed(db, name.value);
    if (other) {
      return failure('name', `An application named “${other.name}” already exists (client ID ${other.clientId}). Choose another name, for example “${freeApplicationName(db, name.value)}”.`);
    }
    const clientId = crypto.randomUUID();
    const app = db
      .insert(applications)
      .values({
        organisationId,
        name: name.value,
        clientId,
        sandboxOnly: input.sandboxOnly,
        createdAt: clock.now(),
        createdBy: actor.userId ?? null,
      })
      .returning({ id: applications.id })
      .get();
    db.insert(applicationApis).values(codes.map((apiCode) => ({ applicationId: app.id, apiCode }))).run();
    recordAudit(db, clock, actor, {
      action: 'application.create',
      organisationId,
      applicationId: app.id,
      target: name.value,
      details: { clientId, apis: codes, sandboxOnly: input.sandboxOnly },
    });
    return { ok: true, value: { id: app.id, clientId } };
  });
}

export function findApplicationByClientId(db: Db, clientId: string) {
  return db.select().from(applications).where(eq(applications.clientId, clientId)).get();
}

type App = typeof applications.$inferSelect;

export function findApplication(db: Db, id: number): App | undefined {
  return db.select().from(applications).where(eq(applications.id, id)).get();
}

function audit(db: Db, clock: Clock, actor: AuditActor, app: App, action: string, target: string | null, details: Record<string, unknown> = {}) {
  recordAudit(db, clock, actor, { action, organisationId: app.organisationId, applicationId: app.id, target, details });
}

export function grantApi(db: Db, clock: Clock, actor: AuditActor, app: App, codeInput: unknown): DomainResult<null> {
  const code = parseApiCode(codeInput);
  if (!code.ok) return failure('api', code.message);
  if (!db.select().from(apis).where(eq(apis.code, code.value)).get()) return failure('api', `Unknown API code: ${code.value}.`);
  const added = db.insert(applicationApis).values({ applicationId: app.id, apiCode: code.value }).onConflictDoNothing().run().changes;
  if (added) audit(db, clock, actor, app, 'application.grant', code.value);
  return { ok: true, value: null };
}

export function revokeApi(db: Db, clock: Clock, actor: AuditActor, app: App, code: string): DomainResult<null> {
  const removed = db.delete(applicationApis).where(and(eq(applicationApis.applicationId, app.id), eq(applicationApis.apiCode, code))).run().changes;
  if (!removed) return failure('api', 'That API is not granted to this application.', 404);
  audit(db, clock, actor, app, 'application.revoke_api', code);
  return { ok: true, value: null };
}

export function setSandboxOnly(db: Db, clock: Clock, actor: AuditActor, app: App, sandboxOnly: boolean): void {
  db.update(applications).set({ sandboxOnly }).where(eq(applications.id, app.id)).run();
  audit(db, clock, actor, app, 'application.sandbox_only', app.name, { sandboxOnly });
}

export function setApplicationDisabled(db: Db, clock: Clock, actor: AuditActor, app: App, disabled: boolean): void {
  db.update(applications).set({ disabledAt: disabled ? clock.now() : null }).where(eq(applications.id, app.id)).run();
  audit(db, clock, actor, app, disabled ? 'application.disable' : 'application.enable', app.name);
}

// The role is granted per application, to users of the application's own organisation.
// `added` is false when the user held it already (nothing changed, nothing to tell).
type UserRow = typeof users.$inferSelect;
export function assignManager(db: Db, clock: Clock, actor: AuditActor, app: App, userIdInput: unknown): DomainResult<{ user: UserRow; added: boolean }> {
  const userId = parseId(userIdInput);
  const user = userId === null ? undefined : db.select().from(users).where(eq(users.id, userId)).get();
  if (!user || user.organisationId !== app.organisationId) {
    return failure('user', 'Choose a user of the application’s organisation.');
  }
  if (user.disabledAt !== null) return failure('user', `${user.email} is disabled; enable the user first.`, 409);
  const added = db.insert(credentialManagers).values({ userId: user.id, applicationId: app.id, createdAt: clock.now() }).onConflictDoNothing().run().changes > 0;
  if (added) audit(db, clock, actor, app, 'manager.assign', user.email);
  return { ok: true, value: { user, added } };
}

export function removeManager(db: Db, clock: Clock, actor: AuditActor, app: App, userId: number): DomainResult<{ user: UserRow }> {
  const user = db.select().from(users).where(eq(users.id, userId)).get();
  const removed = db.delete(credentialManagers).where(and(eq(credentialManagers.applicationId, app.id), eq(credentialManagers.userId, userId))).run().changes;
  if (!removed || !user) return failure('user', 'That user is not a credential manager of this application.', 404);
  audit(db, clock, actor, app, 'manager.remove', user.email);
  return { ok: true, value: { user } };
}


export function applicationsOf(db: Db, organisationId: number) {
  return db.select().from(applications).where(eq(applications.organisationId, organisationId)).orderBy(applications.name).all();
}

// The guide's naming convention: Partner-<CC>-<Organisation>-<API>.
export function suggestApplicationName(countryCode: string, organisationName: string, apiCode: string): string {
  const org = organisationName.normalize('NFKD').replace(/[^A-Za-z0-9]/g, '');
  return `Partner-${countryCode}-${org}-${apiCode}`;
}
