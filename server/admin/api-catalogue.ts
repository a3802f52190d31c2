import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { apis, applicationApis } from '../../db/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { parseApiCode, parseName, type Parsed } from '../lib/validation.ts';
import { failure, type DomainResult } from '../lib/result.ts';

// The association's APIs as the sandbox seeds them (also what tests start from).
export const DEMO_APIS = [
  { code: 'DM', name: 'Data Manager', sandboxResource: 'https://sandbox.api.example.org/dm', productionResource: 'https://api.example.org/dm' },
  { code: 'SMC', name: 'Match-Connect', sandboxResource: 'https://sandbox.api.example.org/smc', productionResource: 'https://api.example.org/smc' },
  { code: 'SM', name: 'Search & Match', sandboxResource: 'https://sandbox.api.example.org/sm', productionResource: 'https://api.example.org/sm' },
];

export function seedApiCatalogue(db: Db, clock: Clock): void {
  for (const api of DEMO_APIS) db.insert(apis).values({ ...api, createdAt: clock.now() }).onConflictDoNothing().run();
}

export function listApis(db: Db) {
  return db
    .select({
      code: apis.code,
      name: apis.name,
      sandboxResource: apis.sandboxResource,
      productionResource: apis.productionResource,
      inUse: sql<number>`(select count(*) from application_apis g where g.api_code = "apis"."code")`,
    })
    .from(apis)
    .orderBy(apis.code)
    .all();
}

function parseResource(input: unknown, label: string): Parsed<string> {
  if (typeof input !== 'string' || input.trim() === '') return { ok: false, message: `Enter the ${label} resource identifier.` };
  const value = input.trim();
  try {
    const u = new URL(value);
    if (u.hash || !/^https?:$/.test(u.protocol)) throw new Error('bad');
  } catch {
    return { ok: false, message: `The ${label} resource identifier must be an absolute http(s) URI without a fragment.` };
  }
  return { ok: true, value };
}

export function createApi(db: Db, clock: Clock, actor: AuditActor, input: { code: unknown; name: unknown; sandbox: unknown; production: unknown }): DomainResult<{ code: string }> {
  const code = parseApiCode(input.code);
  if (!code.ok) return failure('code', code.message);
  const name = parseName(input.name, 'API name', 100);
  if (!name.ok) return failure('name', name.message);
  const sandbox = parseResource(input.sandbox, 'sandbox');
  if (!sandbox.ok) return failure('sandbox', sandbox.message);
  const production = parseResource(input.production, 'production');
  if (!production.ok) return failure('production', production.message);
  if (sandbox.value === production.value) return failure('production', 'Sandbox and production need different resource identifiers.');
  const taken = db.select().from(apis).all().find((a) => a.code === code.value || [a.sandboxResource, a.productionResource].some((r) => r === sandbox.value || r === production.value));
  if (taken) return failure(taken.code === code.value ? 'code' : 'sandbox', taken.code === code.value ? `The code ${code.value} is taken.` : `A resource identifier is already used by ${taken.code}.`);
  db.insert(apis).values({ code: code.value, name: name.value, sandboxResource: sandbox.value, productionResource: production.value, createdAt: clock.now() }).run();
  recordAudit(db, clock, actor, { action: 'api.create', target: code.value, details: { name: name.value } });
  return { ok: true, value: { code: code.value } };
}

// An API granted to any application cannot be deleted.
export function deleteApi(db: Db, clock: Clock, actor: AuditActor, code: string): DomainResult<null> {
  return immediate(db, () => {
    const api = db.select().from(apis).where(eq(apis.code, code)).get();
    if (!api) return failure('code', 'No such API.', 404);
    if (db.select().from(applicationApis).where(eq(applicationApis.apiCode, code)).get()) {
      return failure('code', `${code} is granted to applications; revoke those grants first.`, 409);
    }
    db.delete(apis).where(eq(apis.code, code)).run();
    recordAudit(db, clock, actor, { action: 'api.delete', target: code });
    return { ok: true, value: null };
  });
}
