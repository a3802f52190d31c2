// Integration health in Chromium (issue 28, point 8): the page with a row in each of its
// three lists passes axe (WCAG 2.1 AA) on a desktop and a 390-pixel phone, and a person
// follows a row's application link to the application's console page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, launchBrowser } from '../helpers/browser.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createAdmin, signIn } from '../helpers/accounts.ts';
import { secretFor, tokenFrom } from '../helpers/token-from.ts';

test('integration health in Chromium: accessible with rows in all three lists, a row leads to its application', async (t) => {
  const portal = await startPortal(t, {}, '2026-10-01T09:00:00Z');
  const admin = await createAdmin(portal);
  const org = makeOrganisation(portal, 'Hospital A');
  const busy = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  secretFor(portal, makeApplication(portal, org, 'Partner-NL-HospitalA-SMC', ['SMC']), 'Forgotten');
  portal.clock.advance(31 * 86_400_000);
  const old = secretFor(portal, busy, 'Old', 5);
  assert.equal((await tokenFrom(portal, '127.0.0.2', busy, old.secret, 'python-requests/2.31')).status, 200);
  assert.equal((await tokenFrom(portal, '127.0.0.4', busy, 'not-a-secret', 'curl/8.5.0')).status, 401);
  portal.settle();

  const browser = await launchBrowser(t);
  const c = await signIn(portal, admin);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: c.sessionId()!, url: portal.baseUrl }]);
  const page = await context.newPage();
  await page.goto(`${portal.baseUrl}/admin`);
  await page.getByRole('link', { name: 'Integration health' }).click();
  await page.getByRole('heading', { name: 'Integration health', level: 1 }).waitFor();
  for (const id of ['#refused', '#expiring', '#idle']) assert.equal(await page.locator(`${id} tbody tr`).count(), 1, `one row in ${id}`);
  await assertAccessible(page, 'integration health (desktop)');
  await page.setViewportSize({ width: 390, height: 844 });
  await assertAccessible(page, 'integration health (phone)');

  await page.locator('#expiring tbody tr').getByRole('link', { name: 'Partner-NL-HospitalA-DM' }).click();
  await page.getByRole('heading', { name: 'Partner-NL-HospitalA-DM', level: 1 }).waitFor();
  assert.match(page.url(), /\/admin\/applications\/\d+$/);
});
