// Sandbox mode: on an empty database, seed the API catalogue and a demo organisation
// with applications; while no administrator has finished setup, hand out a setup link.
import { and, eq, isNotNull } from 'drizzle-orm';
import { organisations, users } from '../db/schema.ts';
import type { Deps } from './deps.ts';
import { seedApiCatalogue } from './admin/api-catalogue.ts';
import { createOrganisation } from './admin/organisations.ts';
import { createApplication } from './admin/applications.ts';
import { inviteAdmin } from './admin/users.ts';
import { createInvitation, setupUrl } from './auth/invitations.ts';
import { systemActor } from './audit/audit.ts';

export const SANDBOX_ADMIN_EMAIL = 'admin@sandbox.example.org';

// Returns a setup URL to print, or null when an administrator is already set up.
export function prepareSandbox(deps: Deps): string | null {
  const { db, clock } = deps;
  seedApiCatalogue(db, clock);
  if (!db.select({ id: organisations.id }).from(organisations).get()) {
    const org = createOrganisation(db, clock, systemActor, { name: 'Demo Hospital', countryCode: 'NL' });
    if (org.ok) {
      createApplication(db, clock, systemActor, { organisationId: org.value.id, name: 'Partner-NL-DemoHospital-DM', apiCodes: ['DM'], sandboxOnly: false });
      createApplication(db, clock, systemActor, { organisationId: org.value.id, name: 'PartnerAlternative-NL-DemoHospital-SMC', apiCodes: ['SMC'], sandboxOnly: true });
    }
  }
  if (db.select({ id: users.id }).from(users).where(and(eq(users.isAdmin, true), isNotNull(users.passwordHash))).get()) return null;
  const existing = db.select().from(users).where(eq(users.email, SANDBOX_ADMIN_EMAIL)).get();
  if (existing) return setupUrl(deps.config.baseUrl, createInvitation(db, clock, existing.id));
  const invited = inviteAdmin(db, clock, systemActor, { email: SANDBOX_ADMIN_EMAIL, name: 'Sandbox Administrator' });
  return invited.ok ? setupUrl(deps.config.baseUrl, invited.value.token) : null;
}
