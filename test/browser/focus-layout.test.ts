// The smaller things a person meets on the way (issue 27, point 7), in Chromium with one
// browser launch: where focus goes after Create, after a refused expiry date and after
// "Make new recovery codes"; Copy and Done beside the new secret at 390 px (element boxes
// measured); Copy and Download (.txt) of recovery codes at setup and on the account page
// (the file is made in the page: a blob: link, the codes in no URL); date quick-choices
// hidden without JavaScript; the audit log's When column on one line and its filter by
// label; passkey buttons that say why at a BASE_URL that is an IP address (the test
// portal's 127.0.0.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { assertAccessible, launchBrowser } from '../helpers/browser.ts';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createAdmin, createUser, nextCode, signIn, PASSWORD, type Account } from '../helpers/accounts.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { cliActor, recordAudit } from '../../server/audit/audit.ts';

const PHONE = { width: 390, height: 844 };
const activeId = (page: Page) => page.evaluate(() => document.activeElement?.id ?? '');

async function signedInContext(browser: Browser, t: Parameters<typeof startPortal>[0], portal: TestPortal, account: Account, options: { javaScriptEnabled?: boolean; viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const c = await signIn(portal, account);
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 }, javaScriptEnabled: options.javaScriptEnabled ?? true });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: c.sessionId()!, url: portal.baseUrl }]);
  return context;
}

// The element's box in the viewport (Playwright's boundingBox is relative to it).
async function box(page: Page, selector: string) {
  const b = await page.locator(selector).boundingBox();
  assert.ok(b, `${selector} has a box`);
  return b;
}

// Copy and Done are on screen, without scrolling, and above the curl command.
async function assertActionsBesideSecret(page: Page, label: string, viewportHeight: number, js: boolean) {
  const secret = await box(page, '#new-secret');
  const curl = await box(page, '#new-secret-curl');
  const done = await box(page, 'a[data-secret-done]');
  const controls = js ? [done, await box(page, 'button[data-copy-target="new-secret"]')] : [done];
  for (const c of controls) {
    assert.ok(c.y >= secret.y + secret.height, `${label}: below the secret (${c.y} ≥ ${secret.y + secret.height})`);
    assert.ok(c.y + c.height <= curl.y, `${label}: above the curl command (${c.y + c.height} ≤ ${curl.y})`);
    assert.ok(c.y >= 0 && c.y + c.height <= viewportHeight, `${label}: on screen without scrolling (${c.y}–${c.y + c.height} of ${viewportHeight})`);
  }
}

async function readDownload(page: Page, button: string) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: button }).click()]);
  assert.match(download.url(), /^blob:/, 'made in the page, not fetched from a URL');
  return { name: download.suggestedFilename(), text: fs.readFileSync((await download.path())!, 'utf8') };
}

async function assertCodesCopyAndDownload(page: Page, label: string) {
  const codes = (await page.locator('#recovery-codes-list li').allInnerTexts()).map((s) => s.trim());
  assert.equal(codes.length, 10, label);
  await page.getByRole('button', { name: 'Copy codes' }).click();
  await page.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), codes.join('\n'), `${label}: Copy puts the codes on the clipboard, one a line`);
  const file = await readDownload(page, 'Download (.txt)');
  assert.equal(file.name, 'recovery-codes.txt');
  assert.match(file.text, /^Credentials Portal recovery codes for \S+@\S+ \(http:\/\/127\.0\.0\.1:\d+\)\r\n/, `${label}: the file says what it is`);
  assert.ok(file.text.endsWith(`\r\n\r\n${codes.join('\r\n')}\r\n`), `${label}: the file holds the ten codes`);
}

test('focus, the 390 px secret dialog, recovery codes, quick choices without JavaScript, the audit log and passkeys at an IP address', async (t) => {
  const browser = await launchBrowser(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' });
  const org = makeOrganisation(portal, 'Erasmus MC');
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const manager = await createUser(portal, org, 'tech@erasmusmc.example', [clientId]);
  const createPath = `${portal.baseUrl}/manage-api-credentials/applications/${clientId}/secrets/new`;

  await t.test('with JavaScript at 390 px: a refused date focuses its field, Create focuses the new secret, Copy and Done beside it', async () => {
    const context = await signedInContext(browser, t, portal, manager, { viewport: PHONE });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: portal.baseUrl });
    const page = await context.newPage();
    await page.goto(`${portal.baseUrl}/manage-api-credentials`);
    await page.getByRole('link', { name: /^Create new secret/ }).click();
    await page.locator('dialog[open]').waitFor();
    assert.ok(await page.locator('.quick-choices').isVisible(), 'quick choices work with JavaScript');
    await page.getByLabel('Client secret name').fill('Phone (by VM)');
    await page.getByLabel('Expiration date', { exact: true }).fill('2020-01-01');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.locator('dialog[open] #secret-expires[aria-invalid="true"]').waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'secret-expires');
    await page.getByRole('button', { name: '3 months' }).click();
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.locator('dialog[open] #new-secret').waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'dialog-title').catch(async (err) => {
      throw new Error(`focus is on #${await activeId(page)} (${await page.evaluate(() => document.activeElement?.tagName)}), not the new secret's heading: ${err}`);
    });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Your new client secret');
    await assertActionsBesideSecret(page, 'dialog at 390 px', PHONE.height, true);
    await page.setViewportSize({ width: 1280, height: 800 });
    await assertActionsBesideSecret(page, 'dialog at 1280 px', 800, true);
    await assertAccessible(page, 'new secret dialog');
    await page.getByRole('button', { name: 'Copy secret' }).click();
    await page.getByRole('link', { name: 'Done' }).click();
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
  });

  await t.test('without JavaScript at 390 px: no dead quick choices, the same focus on the pages, Done beside the secret', async () => {
    const context = await signedInContext(browser, t, portal, manager, { javaScriptEnabled: false, viewport: PHONE });
    const page = await context.newPage();
    await page.goto(createPath);
    await page.getByLabel('Client secret name').waitFor();
    assert.equal(await page.locator('.quick-choices').count(), 1, 'the quick choices are in the page');
    assert.equal(await page.locator('.quick-choices').isVisible(), false, 'but hidden: they need JavaScript');
    assert.equal(await activeId(page), 'secret-name', 'the name field has the focus');
    await page.getByLabel('Client secret name').fill('No script (by VM)');
    await page.getByLabel('Expiration date', { exact: true }).fill('2020-01-01');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.locator('#secret-expires[aria-invalid="true"]').waitFor();
    assert.equal(await activeId(page), 'secret-expires', 'after a refused date, that field has the focus');
    assert.equal(await page.getByLabel('Client secret name').inputValue(), 'No script (by VM)', 'the name is kept');
    const tomorrow = new Date(portal.clock.now() + 86_400_000 * 30).toISOString().slice(0, 10);
    await page.getByLabel('Expiration date', { exact: true }).fill(tomorrow);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.waitForURL(/\/created$/);
    assert.equal(await activeId(page), 'dialog-title', 'the new secret’s heading has the focus');
    await assertActionsBesideSecret(page, 'page at 390 px', PHONE.height, false);
  });

  await t.test('recovery codes at setup: focused, Copy and Download', async () => {
    const invited = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email: 'new@erasmusmc.example', managerOf: [clientId] });
    assert.ok(invited.ok);
    const context = await browser.newContext({ viewport: PHONE });
    t.after(() => context.close());
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: portal.baseUrl });
    const page = await context.newPage();
    await page.goto(`${portal.baseUrl}/setup/${invited.value.token}`);
    const key = (await page.locator('#totp-key').innerText()).replace(/\s/g, '');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByLabel('Code shown by the app').fill(nextCode(portal, key));
    await page.getByRole('button', { name: 'Finish setup' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
    await assertCodesCopyAndDownload(page, 'setup');
    await assertAccessible(page, 'recovery codes at setup');
  });

  await t.test('new recovery codes on the account page: first, focused and on screen, with Copy and Download', async () => {
    const context = await signedInContext(browser, t, portal, manager, { viewport: PHONE });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: portal.baseUrl });
    const page = await context.newPage();
    await page.goto(`${portal.baseUrl}/account`);
    await page.getByLabel('Code from your authenticator app', { exact: true }).fill(nextCode(portal, manager.key));
    await page.getByRole('button', { name: 'Make new recovery codes' }).click();
    await page.getByRole('heading', { name: 'Your new recovery codes' }).waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'new-codes-title');
    const heading = await box(page, '#new-codes-title');
    const first = await box(page, '#recovery-codes-list li:first-child');
    assert.ok(heading.y >= 0 && first.y + first.height <= PHONE.height, `the heading and the first code are on screen (${heading.y}, ${first.y + first.height})`);
    assert.ok(heading.y < (await box(page, '#password-title')).y, 'before the rest of the page');
    await assertCodesCopyAndDownload(page, 'account page');
    await assertAccessible(page, 'account page with new codes');
  });

  await t.test('passkeys at an IP address: the buttons say why instead of failing', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`${portal.baseUrl}/login`);
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await page.locator('.passkey-unavailable').waitFor();
    assert.equal(await button.isDisabled(), true, 'the button is disabled');
    const reason = 'Passkeys are not available at this address: browsers accept passkeys only at a domain name (such as portal.example.org), and this portal is reached at the IP address 127.0.0.1. Use your password and authenticator app.';
    assert.equal(await page.locator('.passkey-unavailable').innerText(), reason);
    assert.equal(await button.evaluate((b) => document.getElementById(b.getAttribute('aria-describedby') ?? '')?.textContent), reason, 'the button is described by the reason');
    await assertAccessible(page, 'sign-in page at an IP address');
    const account = await (await signedInContext(browser, t, portal, manager)).newPage();
    await account.goto(`${portal.baseUrl}/account`);
    assert.equal(await account.locator('#passkeys-unavailable').innerText(), reason, 'the account page says the same');
    assert.equal(await account.getByRole('button', { name: 'Add a passkey' }).count(), 0, 'and offers no button that cannot work');
  });

  await t.test('the audit log: filtered by a label, When on one line at 1280 and 390 px', async () => {
    const admin = await createAdmin(portal);
    // A long word (a name without spaces) must break, not push the table into a scroll.
    recordAudit(portal.deps.db, portal.clock, { label: `someone.with.a.very.long.address@${'sub.'.repeat(8)}example.org`, ip: '2001:db8::1234:5678:9abc:def0' }, { action: 'secret.create', target: `Nightly-sync-${'x'.repeat(90)}` });
    portal.settle();
    const context = await signedInContext(browser, t, portal, admin);
    const page = await context.newPage();
    await page.goto(`${portal.baseUrl}/admin/audit`);
    await page.getByLabel('Action').selectOption({ label: 'Secret created' });
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/action=secret\.create/);
    assert.equal(await page.locator('tbody tr').count(), 3, 'the two secrets created above, and the long one');
    for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
      await page.setViewportSize(viewport);
      const lines = await page.locator('time.when').evaluateAll((times) => times.map((el) => el.getClientRects().length));
      assert.deepEqual(lines, [1, 1, 1], `When on one line at ${viewport.width} px`);
      const overflow = await page.locator('.table-scroll').evaluate((el) => el.scrollWidth - el.clientWidth);
      assert.ok(overflow <= 0, `the table fits at ${viewport.width} px (${overflow} px too wide)`);
      const heights = await page.locator('time.when').evaluateAll((times) => times.map((el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)));
      for (const h of heights) assert.ok(h < 1.5, `one line high at ${viewport.width} px (${h.toFixed(2)} lines)`);
    }
    await assertAccessible(page, 'audit log');
  });
});
