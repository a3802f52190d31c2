// The bench's data, made with the domain functions: one organisation with `clients`
// applications (one secret each), the first `signers` of them also holding an ES256 key.
import crypto from 'node:crypto';
import { bootstrap } from '../../server/bootstrap.ts';
import { seedApiCatalogue } from '../../server/admin/api-catalogue.ts';
import { createOrganisation } from '../../server/admin/organisations.ts';
import { createApplication } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import type { Deps } from '../../server/deps.ts';
import { Client } from '../helpers/http.ts';
import { totpAt } from '../helpers/totp.ts';
import { withoutNotices } from '../helpers/fixtures.ts';


export interface BenchClient {
  id: string;
  secret: string;
}
export interface BenchSigner {
  id: string;
  key: crypto.KeyObject;
  kid: string;
}

export async function seedClients(env: Record<string, string | undefined>, clients: number, signers: number): Promise<{ clients: BenchClient[]; signers: BenchSigner[] }> {
  const deps = bootstrap({ env });
  seedApiCatalogue(deps.db, deps.clock);
  const org = createOrganisation(deps.db, deps.clock, cliActor, { name: 'Bench', countryCode: 'NL' });
  if (!org.ok) throw new Error(org.message);
  const expires = addDays(dateInZone(Date.now(), 'UTC'), 200);
  const made: BenchClient[] = [];
  deps.db.$client.transaction(() => {
    for (let i = 0; i < clients; i++) {
      const app = createApplication(deps.db, deps.clock, cliActor, { organisationId: org.value.id, name: `Partner-NL-Bench${i}-DM`, apiCodes: ['DM', 'SMC'], sandboxOnly: false });
      if (!app.ok) throw new Error(app.message);
      const row = deps.db.query.applications.findFirst({ where: (a, { eq }) => eq(a.id, app.value.id) }).sync()!;
      const s = createClientSecret(deps, cliActor, row, { name: `bench ${i}`, expires });
      if (!s.ok) throw new Error(s.message);
      made.push({ id: app.value.clientId, secret: s.value.secret });
    }
  })();
  const keyed: BenchSigner[] = [];
  for (const c of made.slice(0, signers)) {
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const row = deps.db.query.applications.findFirst({ where: (a, { eq }) => eq(a.clientId, c.id) }).sync()!;
    const added = addPublicKey(deps, cliActor, row, { name: 'bench key', key: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(), expires });
    if (!added.ok) throw new Error(added.message);
    keyed.push({ id: c.id, key: pair.privateKey, kid: added.value.row.thumbprint });
  }
  await deps.mailer.idle();
  deps.db.$client.close();
  return { clients: made, signers: keyed };
}

export const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

// Single-use client assertions, signed ahead so the load generator only sends them.
export function signAssertions(signers: BenchSigner[], audience: string, count: number): string[] {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = signers[i % signers.length]!;
    const iat = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'ES256', kid: s.kid })}.${b64({ iss: s.id, sub: s.id, aud: audience, iat, exp: iat + 280, jti: crypto.randomUUID() })}`;
    out.push(`${input}.${crypto.sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`);
  }
  return out;
}

// An organisation with `apps` applications of `secrets` secrets each (and 20 more audit
// events each); the client IDs.
export function seedApplications(deps: Deps, name: string, apps: number, secrets: number): { organisationId: number; clientIds: string[] } {
  const org = createOrganisation(deps.db, deps.clock, cliActor, { name, countryCode: 'NL' });
  if (!org.ok) throw new Error(org.message);
  const expires = addDays(dateInZone(Date.now(), 'UTC'), 200);
  const clientIds: string[] = [];
  const event = deps.db.$client.prepare('insert into audit_events (at, actor, organisation_id, application_id, action, target, details) values (?, ?, ?, ?, ?, ?, ?)');
  deps.db.$client.transaction(() => {
    for (let i = 0; i < apps; i++) {
      const app = createApplication(deps.db, deps.clock, cliActor, { organisationId: org.value.id, name: `Partner-NL-${name.replace(/\W/g, '')}${i}-DM`, apiCodes: ['DM', 'SMC'], sandboxOnly: false });
      if (!app.ok) throw new Error(app.message);
      const row = deps.db.query.applications.findFirst({ where: (a, { eq }) => eq(a.id, app.value.id) }).sync()!;
      for (let j = 0; j < secrets; j++) {
        const s = createClientSecret(withoutNotices(deps), cliActor, row, { name: `Secret ${j} by VM`, expires: addDays(expires, j * 20) });
        if (!s.ok) throw new Error(s.message);
      }
      for (let k = 0; k < 20; k++) event.run(Date.now() - k * 60_000, 'vm@example.org', org.value.id, row.id, 'secret.delete', `Old secret ${k}`, JSON.stringify({ hint: 'abc' }));
      clientIds.push(app.value.clientId);
    }
  })();
  return { organisationId: org.value.id, clientIds };
}

// 30 days of usage for every secret of these applications (issue 28): one row per secret per
// day, the last 24 hours by hour, and a refusal row an hour for the last day, as the token
// endpoint writes them.
export function seedUsage(deps: Deps, clientIds: string[], days = 30): void {
  const sqlite = deps.db.$client;
  const secrets = sqlite.prepare<[string], { id: string; application_id: number }>('select s.id, s.application_id from client_secrets s join applications a on a.id = s.application_id where a.client_id = ? and s.deleted_at is null');
  const day = sqlite.prepare('insert into credential_usage (application_id, kind, credential_id, day, requests, refusals, last_used_at, last_address, last_client) values (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const hour = sqlite.prepare('insert into credential_usage_hours (application_id, kind, credential_id, hour, requests) values (?, ?, ?, ?, ?)');
  const refusal = sqlite.prepare("insert into token_refusals (application_id, hour, kind, credential_id, credential_label, reason, address, client, count, first_at, last_at) values (?, ?, '', '', '', 'wrong secret', ?, 'curl/8.5.0', ?, ?, ?)");
  const now = Date.now();
  const thisHour = now - (now % 3_600_000);
  sqlite.transaction(() => {
    for (const clientId of clientIds) {
      for (const [i, s] of secrets.all(clientId).entries()) {
        for (let d = 0; d < days; d++) {
          const at = now - d * 86_400_000;
          day.run(s.application_id, 'secret', s.id, dateInZone(at, 'UTC'), 200 + ((d * 37 + i * 11) % 300), d % 5 === 0 ? 3 : 0, at, `10.2.3.${i + 1}`, 'python-requests/2.31');
        }
        for (let h = 0; h < 24; h++) hour.run(s.application_id, 'secret', s.id, thisHour - h * 3_600_000, 10 + h);
      }
      const applicationId = secrets.all(clientId)[0]?.application_id;
      if (applicationId !== undefined) for (let h = 0; h < 24; h++) refusal.run(applicationId, thisHour - h * 3_600_000, `192.0.2.${h}`, 5, thisHour - h * 3_600_000, thisHour - h * 3_600_000 + 60_000);
    }
  })();
}

// Signs in through the setup page, as a person does (setup signs the user in).
export async function signedIn(baseUrl: string, token: string): Promise<string> {
  const c = new Client(baseUrl);
  const page = await c.get(`/setup/${token}`);
  const key = /<code id="totp-key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(page.text)![1]!.replace(/\s/g, '');
  const done = await c.post(`/setup/${token}`, { password: 'correct horse battery staple', password_confirm: 'correct horse battery staple', code: totpAt(key, Date.now()) });
  if (done.status !== 200) throw new Error(`setup failed: ${done.status}`);
  return c.cookieHeader;
}

// The secret with its last two characters changed (never to what they were).
export const wrongSecret = (secret: string) => secret.slice(0, -2) + (secret.endsWith('zz') ? 'yy' : 'zz');
