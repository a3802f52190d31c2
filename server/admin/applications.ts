import crypto from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { apis, applicationApis, applications } from '../../db/schema.ts';
import type { Clock } from '../clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { parseApiCode, parseId, parseName } from '../validation.ts';
import { findOrganisation, type DomainResult } from './organisations.ts';

export function createApplication(
  db: Db,
  clock: Clock,
  actor: AuditActor,
  input: { organisationId: unknown; name: unknown; apiCodes: unknown[]; sandboxOnly: boolean },
): DomainResult<{ id: number; clientId: string }> {
  const organisationId = parseId(input.organisationId);
  if (organisationId === null || !findOrganisation(db, organisationId)) {
    return { ok: false, field: 'organisation', message: 'Choose an existing organisation.' };
  }
  const name = parseName(input.name, 'Application name', 100);
  if (!name.ok) return { ok: false, field: 'name', message: name.message };
  if (input.apiCodes.length === 0) return { ok: false, field: 'api', message: 'Grant at least one API.' };
  const codes: string[] = [];
  for (const raw of input.apiCodes) {
    const code = parseApiCode(raw);
    if (!code.ok) return { ok: false, field: 'api', message: code.message };
    if (!codes.includes(code.value)) codes.push(code.value);
  }
  const known = db.select({ code: apis.code }).from(apis).where(inArray(apis.code, codes)).all().map((r) => r.code);
  const missing = codes.filter((c) => !known.includes(c));
  if (missing.length) return { ok: false, field: 'api', message: `Unknown API code: ${missing.join(', ')}.` };

  return immediate(db, () => {
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
