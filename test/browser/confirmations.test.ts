// Confirmations before actions that stop things at once (issue 27, point 2), in Chromium,
// with JavaScript (a modal <dialog>: opened from the keyboard, Cancel focused, Escape
// closes it and gives focus back) and without (a page of its own, Cancel focused): disable
// an application, disable a user and reset MFA (admin console), remove the JWKS URL
// (credentials page), remove a passkey (account page, with its proof). One browser; axe on
// each dialog.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { assertAccessible, launchBrowser } from '../helpers/browser.ts';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { createAdmin, createUser, signIn, PASSWORD, type Account } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { applications, clientJwksUrls, passkeys, users } from '../../db/schema.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';

const problems: string[] = [];

async function pageFor(browser: Browser, t: TestContext, portal: TestPortal, account: Account, javaScript: boolean): Promise<Page> {
  const client = await signIn(portal, account);
  const context = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: client.sessionId()!, url: portal.baseUrl }]);
  const page = await context.newPage();
  // Console errors (a CSP violation shows as one), but for the refused proof's own 401
  // (the browser's line for it, and htmx's).
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401|Response Status Error Code 401 from \/account\/passkeys\//.test(m.text())) problems.push(`${account.email}: ${m.text()}`);
  });
  return page;
}

const focused = (page: Page) => page.evaluate(() => (document.activeElement?.textContent ?? '').trim());
// A page's autofocus is applied at a rendering update after it loads, not at load itself:
// what has the focus once it is (or after 5 s, for the assertion to report).
async function focusedAfterLoad(page: Page, expected: string): Promise<string> {
  await page.waitForFunction((text) => (document.activeElement?.textContent ?? '').trim() === text, expected, { timeout: 5000 }).catch(() => {});
  return focused(page);
}

// Opens a confirmation from its link. With JavaScript: from the keyboard, a modal dialog,
// Cancel focused, accessible, Escape closes it and focus returns to the link; opened
// again. Without: a page, Cancel focused. Either way the text says what stops.
async function open(page: Page, javaScript: boolean, link: ReturnType<Page['getByRole']>, says: RegExp, label: string) {
  if (javaScript) {
    await link.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.equal(await focused(page), 'Cancel', `${label}: Cancel has the focus`);
    assert.match(await dialog.innerText(), says);
    await assertAccessible(page, `${label} dialog`);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await link.evaluate((el) => el === document.activeElement), true, `${label}: focus back on the link`);
    await page.keyboard.press('Enter');
    await dialog.waitFor();
  } else {
    const before = page.url();
    await link.click();
    await page.waitForURL((u) => u.toString() !== before);
    assert.equal(await focusedAfterLoad(page, 'Cancel'), 'Cancel', `${label}: Cancel has the focus`);
    assert.match(await page.locator('#dialog-content').innerText(), says);
  }
}

async function run(browser: Browser, t: TestContext, javaScript: boolean) {
  problems.length = 0;
  const portal = await startPortal(t, {}, Date.now(), { hostname: 'localhost' });
  const { db } = portal.deps;
  const org = makeOrganisation(portal, 'Erasmus MC');
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const app = findApplicationByClientId(db, clientId)!;
  const vera = await createUser(portal, org, 'vera@erasmusmc.example', [clientId]);
  await createUser(portal, org, 'jan@erasmusmc.example', [clientId]);
  await createUser(portal, org, 'piet@erasmusmc.example', [clientId]);
  const veraId = db.select().from(users).where(eq(users.email, vera.email)).get()!.id;
  db.insert(passkeys).values({ id: 'passkey-work-laptop', userId: veraId, name: 'Work laptop', publicKey: 'AAAA', createdAt: portal.clock.now() }).run();
  db.insert(clientJwksUrls).values({ applicationId: app.id, url: 'https://keys.erasmusmc.example/jwks.json', createdAt: portal.clock.now() }).run();
  const admin = await pageFor(browser, t, portal, await createAdmin(portal), javaScript);
  const user = (email: string) => db.select().from(users).where(eq(users.email, email)).get()!;

  // Disable application: Cancel first, then for real.
  await admin.goto(`${portal.baseUrl}/admin/applications/${app.id}`);
  await open(admin, javaScript, admin.getByRole('link', { name: 'Disable application' }), /stops working at once/, 'disable application');
  await admin.getByRole('link', { name: 'Cancel' }).click();
  if (javaScript) await admin.locator('dialog[open]').waitFor({ state: 'detached' });
  else await admin.waitForURL(`${portal.baseUrl}/admin/applications/${app.id}`);
  assert.equal(db.select().from(applications).get()!.disabledAt, null, 'Cancel changes nothing');
  if (!javaScript) await open(admin, javaScript, admin.getByRole('link', { name: 'Disable application' }), /stops working at once/, 'disable application');
  else {
    await admin.getByRole('link', { name: 'Disable application' }).click();
    await admin.locator('dialog[open]').waitFor();
  }
  await admin.getByRole('button', { name: 'Disable application' }).click();
  await admin.getByText('Application disabled: its secrets and keys no longer get tokens.').waitFor();
  assert.notEqual(db.select().from(applications).get()!.disabledAt, null);

  // Disable a user, and reset another's MFA, from the organisation's page.
  await admin.goto(`${portal.baseUrl}/admin/organisations/${org}`);
  await open(admin, javaScript, admin.getByRole('link', { name: 'Disable jan@erasmusmc.example' }), /signed out everywhere at once/, 'disable user');
  await admin.getByRole('button', { name: 'Disable', exact: true }).click();
  await admin.getByText('jan@erasmusmc.example is disabled and signed out everywhere.').waitFor();
  assert.notEqual(user('jan@erasmusmc.example').disabledAt, null);
  await open(admin, javaScript, admin.getByRole('link', { name: 'Reset MFA of piet@erasmusmc.example' }), /every session of theirs ends at once/, 'reset MFA');
  await admin.getByRole('button', { name: 'Reset MFA' }).click();
  await admin.getByText(/Two-step verification of piet@erasmusmc\.example was reset/).waitFor();
  assert.equal(user('piet@erasmusmc.example').totpSecret, null);

  // The page that stands in for a dialog without JavaScript, checked by axe (which needs script).
  if (javaScript) {
    await admin.goto(`${portal.baseUrl}/admin/users/${veraId}/disable`);
    assert.equal(await focusedAfterLoad(admin, 'Cancel'), 'Cancel', 'the page: Cancel has the focus');
    await assertAccessible(admin, 'disable user page');
  }

  // The manager (the application enabled again): remove the JWKS URL, then a passkey.
  await admin.goto(`${portal.baseUrl}/admin/applications/${app.id}`);
  await admin.getByRole('button', { name: 'Enable application' }).click();
  await admin.getByText('Application enabled.').waitFor();
  const manager = await pageFor(browser, t, portal, vera, javaScript);
  await manager.goto(`${portal.baseUrl}/manage-api-credentials`);
  await open(manager, javaScript, manager.getByRole('link', { name: 'Remove the JWKS URL of Partner-NL-ErasmusMC-DM' }), /stop getting tokens at once/, 'remove JWKS URL');
  await manager.getByRole('button', { name: 'Remove the JWKS URL' }).click();
  await manager.getByText('The JWKS URL was removed: its keys no longer get tokens.').waitFor();
  assert.equal(db.select().from(clientJwksUrls).all().length, 0);

  await manager.goto(`${portal.baseUrl}/account`);
  await open(manager, javaScript, manager.getByRole('link', { name: 'Remove passkey Work laptop' }), /stops signing you in at once/, 'remove passkey');
  const proof = manager.getByLabel('Current password or a code from your authenticator app, to remove passkey Work laptop');
  await proof.fill('not my password');
  await manager.getByRole('button', { name: 'Remove passkey' }).click();
  await manager.locator('#remove-proof-error', { hasText: 'That is neither your current password nor a valid code.' }).waitFor();
  if (javaScript) assert.equal(await manager.locator('dialog[open] #remove-proof-error').count(), 1, 'the refusal shows inside the dialog');
  assert.equal(await proof.evaluate((el) => el === document.activeElement), true, 'the field in error has the focus');
  assert.equal(db.select().from(passkeys).all().length, 1, 'nothing removed');
  await proof.fill(PASSWORD);
  await manager.getByRole('button', { name: 'Remove passkey' }).click();
  await manager.getByText('The passkey was removed.').waitFor();
  assert.match(manager.url(), /\/account$/);
  assert.equal(db.select().from(passkeys).all().length, 0);
  assert.deepEqual(problems, [], 'no console errors');
}

test('confirmations in Chromium: with JavaScript as dialogs, without as pages', async (t) => {
  const browser = await launchBrowser(t);
  await t.test('with JavaScript', (t) => run(browser, t, true));
  await t.test('without JavaScript', (t) => run(browser, t, false));
});
