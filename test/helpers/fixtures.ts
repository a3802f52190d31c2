// Two organisations with applications and people, built through the domain functions.
import assert from 'node:assert/strict';
import { createOrganisation } from '../../server/admin/organisations.ts';
import { createApplication } from '../../server/admin/applications.ts';
import { cliActor } from '../../server/audit/audit.ts';
import type { TestPortal } from './portal.ts';
import type { Mailer } from '../../server/mail/mailer.ts';
import { createUser, type Account } from './accounts.ts';

export function makeOrganisation(portal: TestPortal, name: string, country = 'NL'): number {
  const r = createOrganisation(portal.deps.db, portal.clock, cliActor, { name, countryCode: country });
  assert.ok(r.ok);
  return r.value.id;
}

export function makeApplication(portal: TestPortal, organisationId: number, name: string, apiCodes = ['DM'], sandboxOnly = false): string {
  const r = createApplication(portal.deps.db, portal.clock, cliActor, { organisationId, name, apiCodes, sandboxOnly });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.value.clientId;
}

export interface World {
  orgA: number;
  orgB: number;
  appA1: string;
  appA2: string;
  appB1: string;
  managerA1: Account;
  managerA2: Account;
  plainA: Account;
  managerB: Account;
}

export async function buildWorld(portal: TestPortal): Promise<World> {
  const orgA = makeOrganisation(portal, 'Hospital A');
  const orgB = makeOrganisation(portal, 'Registry B', 'BE');
  const appA1 = makeApplication(portal, orgA, 'Partner-NL-HospitalA-DM', ['DM', 'SMC']);
  const appA2 = makeApplication(portal, orgA, 'PartnerAlternative-NL-HospitalA-SMC', ['SMC'], true);
  const appB1 = makeApplication(portal, orgB, 'Partner-BE-RegistryB-DM', ['DM']);
  return {
    orgA,
    orgB,
    appA1,
    appA2,
    appB1,
    managerA1: await createUser(portal, orgA, 'a1@hospital-a.example', [appA1]),
    managerA2: await createUser(portal, orgA, 'a2@hospital-a.example', [appA2]),
    plainA: await createUser(portal, orgA, 'plain@hospital-a.example'),
    managerB: await createUser(portal, orgB, 'b1@registry-b.example', [appB1]),
  };
}

// Dependencies whose mail after a change (notices) goes nowhere: for setting up secrets
// before a test that counts the mails it is about (reminders), not the notices.
export function withoutNotices<D extends { mailer: Mailer }>(deps: D): D {
  return { ...deps, mailer: { ...deps.mailer, sendAfter() {} } };
}
