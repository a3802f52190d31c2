// What a person experiences, in Debian's Chromium: the whole journey from an invited
// administrator to a deleted secret, with JavaScript and without; axe-core on every
// page and dialog; keyboard-only dialogs; screenshots for desktop and phone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, readable } from '../helpers/smtp.ts';
import { totpAt } from '../helpers/totp.ts';
import { PASSWORD } from '../helpers/accounts.ts';
import { assertAccessible, launchBrowser, screenshots } from '../helpers/browser.ts';

type Smtp = Awaited<ReturnType<typeof startSmtp>>;

function code(portal: TestPortal, key: string): string {
  portal.clock.advance(30_000);
  return totpAt(key, portal.clock.now());
}

// axe needs script to run; with JavaScript disabled the same templates are checked by
// the JavaScript journey (which also opens the no-JS pages directly).
async function checkPage(page: Page, name: string, shots: boolean) {
  if (jsEnabled.get(page) !== false) await assertAccessible(page, name);
  if (shots) await screenshots(page, name);
}
const jsEnabled = new WeakMap<Page, boolean>();

// Setup page: password, the key read as text, a code from our own TOTP implementation.
async function setUpAccount(page: Page, portal: TestPortal, url: string, shots: boolean, name: string): Promise<string> {
  await page.goto(url);
  await checkPage(page, `${name}-setup`, shots);
  const key = (await page.locator('#totp-key').innerText()).replace(/\s/g, '');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByLabel('Code shown by the app').fill(code(portal, key));
  await page.getByRole('button', { name: 'Finish setup' }).click();
  await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor({ timeout: 5000 }).catch(async (err) => {
    throw new Error(`${err}\n${(await page.content()).replace(/<head>[\s\S]*<\/head>/, '').slice(0, 3000)}`);
  });
  await checkPage(page, `${name}-recovery-codes`, shots);
  // Setup signed the user in: Continue opens their own page.
  await page.getByRole('link', { name: 'Continue' }).click();
  await page.waitForURL(/\/(admin|manage-api-credentials)$/);
  return key;
}

async function signIn(page: Page, portal: TestPortal, email: string, key: string, shots: boolean, name: string) {
  await page.goto(`${portal.baseUrl}/login`);
  await checkPage(page, `${name}-login`, shots);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await checkPage(page, `${name}-verify`, shots);
  await page.getByLabel('Authentication code').fill(code(portal, key));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(/\/(admin|manage-api-credentials)$/);
}

// Console errors (a CSP violation shows as one) and answers of 404, as they happen.
function watchForProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() === 404) problems.push(`404: ${r.url()}`);
  });
  return problems;
}

async function waitForMail(smtp: Smtp, n: number) {
  for (let i = 0; i < 200 && smtp.messages.length < n; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(smtp.messages.length, n);
}

async function token(portal: TestPortal, clientId: string, secret: string): Promise<number> {
  const r = await fetch(`${portal.baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64') },
    body: 'grant_type=client_credentials',
  });
  return r.status;
}

async function journey(browser: Browser, t: Parameters<typeof startPortal>[0], javaScript: boolean) {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_ENV: 'sandbox' });
  const shots = javaScript;

  // invite-admin, as the operator runs it.
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'server/cli/cli.ts', 'invite-admin', '--email', 'it@association.example', '--name', 'IT Team'], {
    env: { ...process.env, DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, PORTAL_ENV: 'production' },
    encoding: 'utf8',
  });
  assert.equal(cli.status, 0, cli.stderr);

  const adminContext = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1280, height: 800 } });
  t.after(() => adminContext.close());
  const admin = await adminContext.newPage();
  const problems = watchForProblems(admin);
  jsEnabled.set(admin, javaScript);
  const adminKey = await setUpAccount(admin, portal, cli.stdout.trim(), shots, 'admin');
  // Sign out and in again, so the sign-in pages are walked (and checked) too.
  await admin.getByRole('button', { name: 'Sign out' }).click();
  await admin.waitForURL(/\/login/);
  await signIn(admin, portal, 'it@association.example', adminKey, shots, 'admin');
  assert.match(admin.url(), /\/admin$/);
  await checkPage(admin, 'admin-home', shots);

  // Organisation, a user invited by mail, an application with that user as manager.
  await admin.getByLabel('Organisation name').fill('Erasmus MC');
  await admin.getByLabel('Country code').fill('NL');
  await admin.getByRole('button', { name: 'Create organisation' }).click();
  await admin.getByRole('heading', { name: /Erasmus MC/ }).waitFor();
  await checkPage(admin, 'admin-organisation', shots);
  await admin.getByLabel('Email address').fill('tech@erasmusmc.example');
  await admin.getByLabel('Name', { exact: true }).fill('Vera Manager');
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  await admin.getByText('Invitation sent to tech@erasmusmc.example').waitFor();
  await waitForMail(smtp, 1);
  const link = /(https?:\/\/[^\s"<>]+\/setup\/[A-Za-z0-9_-]{43})/.exec(readable(smtp.messages[0]!.raw))![1]!;

  await admin.getByRole('checkbox', { name: /DM — Data Manager/ }).check();
  await admin.getByRole('button', { name: 'Create application' }).click();
  await admin.getByText(/Client ID: [0-9a-f-]{36}/).waitFor();
  const clientId = /Client ID: ([0-9a-f-]{36})/.exec(await admin.content())![1]!;
  await admin.getByLabel('Add a credential manager').selectOption({ label: 'tech@erasmusmc.example' });
  await admin.getByRole('button', { name: 'Add', exact: true }).click();
  await admin.getByText('only one active credential manager').waitFor();
  await checkPage(admin, 'admin-application', shots);
  for (const [path, name] of [['/admin/apis', 'admin-apis'], ['/admin/secrets', 'admin-secrets'], ['/admin/health', 'admin-health'], ['/admin/audit', 'admin-audit'], ['/admin/administrators', 'admin-administrators'], ['/admin/outbox', 'admin-outbox']] as const) {
    const before = problems.length;
    await admin.goto(portal.baseUrl + path);
    await checkPage(admin, name, shots);
    // With SMTP configured the sandbox outbox does not exist: its 404 is the point.
    if (name === 'admin-outbox') problems.splice(before);
  }
  await admin.getByRole('button', { name: 'Sign out' }).click();
  await admin.waitForURL(/\/login/);

  // The manager sets up from the mailed link and signs in.
  const managerContext = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1280, height: 800 } });
  t.after(() => managerContext.close());
  const page = await managerContext.newPage();
  const managerProblems = watchForProblems(page);
  jsEnabled.set(page, javaScript);
  await setUpAccount(page, portal, link, false, 'manager');
  assert.match(page.url(), /\/manage-api-credentials$/);
  await page.getByRole('heading', { name: 'Manage API credentials' }).waitFor();
  await checkPage(page, 'credentials-empty', shots);

  // Create new secret.
  await page.getByRole('link', { name: /Create new secret/ }).click();
  if (javaScript) {
    await page.locator('dialog[open]').waitFor();
    await checkPage(page, 'dialog-create', shots);
  } else {
    await page.waitForURL(/\/secrets\/new$/);
    await checkPage(page, 'nojs-create', false);
  }
  await page.getByLabel('Client secret name').fill('Secret by VM');
  const dateField = page.getByLabel('Expiration date', { exact: true });
  const expires = await dateField.inputValue();
  assert.match(expires, /^\d{4}-\d{2}-\d{2}$/, 'a default date is filled in');
  if (javaScript) {
    await page.getByRole('button', { name: '3 months' }).click();
    assert.notEqual(await dateField.inputValue(), expires, 'a quick choice sets the date');
  }
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const secretLocator = page.locator('#new-secret');
  await secretLocator.waitFor();
  const secret = (await secretLocator.innerText()).trim();
  assert.match(secret, /^[0-9A-Za-z]{44}$/);
  await page.getByText('It will not be shown again: after a refresh').waitFor();
  if (javaScript) {
    await checkPage(page, 'dialog-secret-created', shots);
    assert.equal(await page.locator(`table >> text=${secret.slice(0, 3)}•••••`).count(), 1, 'the table behind the dialog has the new row');
  }

  assert.equal(await token(portal, clientId, secret), 200, 'the secret obtains a token');

  if (javaScript) {
    // Escape does not lose the secret; Test asks the token endpoint; Done asks first.
    await page.keyboard.press('Escape');
    await page.waitForTimeout(100);
    assert.equal(await page.locator('dialog[open] #new-secret').count(), 1, 'Escape leaves the new-secret dialog open');
    await page.getByRole('button', { name: 'Test this secret' }).click();
    // The sandbox portal asks for the sandbox resource (issue 26, point 12).
    await page.getByText(/^Works: token for https:\/\/sandbox\.api\.example\.org\/dm, valid 60 minutes\.$/).waitFor();
    await page.getByRole('link', { name: 'Done' }).click();
    await page.getByText('Have you stored the secret? It will not be shown again.').waitFor();
    assert.equal(await page.locator('dialog[open]').count(), 1, 'the first Done only asks');
    await page.getByRole('link', { name: 'Done' }).click();
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
  } else {
    // Post/Redirect/Get: a reload of the page that showed the secret shows only its hint.
    assert.match(page.url(), /\/secrets\/[0-9a-f-]{36}\/created$/);
    await page.reload();
    assert.ok(!(await page.content()).includes(secret), 'a reload no longer shows the secret');
    await page.getByText('The secret itself is no longer shown').waitFor();
    assert.equal(await page.locator('table >> text=Secret by VM').count(), 0);
  }

  // After a reload (or going back) only the hint is visible.
  await page.goto(`${portal.baseUrl}/manage-api-credentials`);
  await page.reload();
  const html = await page.content();
  assert.ok(!html.includes(secret), 'the secret is gone after a reload');
  assert.ok(html.includes(`${secret.slice(0, 3)}•••••`), 'the hint remains');
  await page.goBack().catch(() => undefined);
  await page.waitForLoadState('load').catch(() => undefined);
  await page.waitForTimeout(200);
  assert.ok(!(await page.content()).includes(secret), 'and after going back');
  await page.goto(`${portal.baseUrl}/manage-api-credentials`);
  await checkPage(page, 'credentials', shots);
  if (javaScript) {
    await page.screenshot({ path: 'test-output/screenshots/credentials-page.png' });
    // The pages that stand in for the dialogs without JavaScript, opened directly.
    const base = `${portal.baseUrl}/manage-api-credentials/applications/${clientId}/secrets`;
    await page.goto(`${base}/new`);
    await checkPage(page, 'page-create', shots);
    const secretId = /secrets\/([0-9a-f-]{36})\/delete/.exec(html)![1]!;
    await page.goto(`${base}/${secretId}/delete`);
    await checkPage(page, 'page-delete', shots);
    await page.goto(`${portal.baseUrl}/manage-api-credentials`);
  }

  // Delete through the confirmation dialog (or page).
  await page.getByRole('link', { name: 'Delete secret Secret by VM' }).click();
  if (javaScript) {
    await page.locator('dialog[open]').waitFor();
    await checkPage(page, 'dialog-delete', shots);
  } else {
    await page.waitForURL(/\/delete$/);
    await checkPage(page, 'nojs-delete', false);
  }
  await page.getByText('stop working at once').waitFor();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  if (javaScript) {
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
  } else {
    await page.waitForURL(/deleted=1/);
  }
  // The same notice both ways, in the page's live region.
  assert.equal(await page.locator('#page-status[aria-live="polite"]').innerText(), 'The secret was deleted. Systems that used it can no longer get tokens.');
  await page.getByText('No client secrets yet').waitFor();
  assert.equal(await token(portal, clientId, secret), 401, 'the same secret is now refused');
  // No CSP violation or other console error, and no missing file (a favicon included).
  assert.deepEqual([...problems, ...managerProblems], [], 'no console errors, no 404s');
  return { portal, page };
}

test('the whole journey in Chromium with JavaScript: htmx dialogs', async (t) => {
  const browser = await launchBrowser(t);
  await journey(browser, t, true);
});

test('the same journey with JavaScript disabled: plain pages', async (t) => {
  const browser = await launchBrowser(t);
  await journey(browser, t, false);
});

test('keyboard only: dialogs open from the keyboard, keep focus inside, close with Escape, and give focus back', async (t) => {
  const browser = await launchBrowser(t);
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const { makeOrganisation, makeApplication } = await import('../helpers/fixtures.ts');
  const { inviteUser } = await import('../../server/admin/users.ts');
  const { cliActor } = await import('../../server/audit/audit.ts');
  const org = makeOrganisation(portal, 'Hospital');
  const clientId = makeApplication(portal, org, 'Partner-NL-Hospital-DM');
  const invited = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email: 'k@hospital.example', managerOf: [clientId] });
  assert.ok(invited.ok);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  const page = await context.newPage();
  await setUpAccount(page, portal, `${portal.baseUrl}/setup/${invited.value.token}`, false, 'keyboard');

  // Reach "Create new secret" with Tab only, open it with Enter.
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.id?.startsWith('create-') ?? false);
  }
  assert.ok(reached, 'the Create new secret button is reachable by Tab');
  const focusRing = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  assert.notEqual(focusRing, 'none', 'focus is visible');
  await page.keyboard.press('Enter');
  await page.locator('dialog[open]').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'secret-name', 'focus moves into the dialog');
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press('Tab');
    const inside = await page.evaluate(() => !!document.activeElement?.closest('dialog') || document.activeElement === document.body);
    assert.ok(inside, `Tab ${i + 1} keeps focus inside the dialog`);
  }
  await page.keyboard.press('Escape');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  assert.match(await page.evaluate(() => document.activeElement?.id ?? ''), /^create-/, 'focus returns to the button that opened it');

  // Create with the keyboard, then open the delete dialog with the keyboard and leave with Escape.
  await page.keyboard.press('Enter');
  await page.locator('dialog[open]').waitFor();
  await page.keyboard.type('Keyboard secret');
  await page.keyboard.press('Enter');
  await page.locator('#new-secret').waitFor();
  await page.keyboard.press('Escape');
  await page.waitForTimeout(100);
  assert.equal(await page.locator('dialog[open] #new-secret').count(), 1, 'Escape does not close the dialog that shows a new secret');
  await page.getByRole('button', { name: 'Copy secret' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: 'Done' }).focus();
  await page.keyboard.press('Enter');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  const del = page.getByRole('link', { name: 'Delete secret Keyboard secret' });
  await del.focus();
  await page.keyboard.press('Enter');
  await page.locator('dialog[open]').waitFor();
  await assertAccessible(page, 'delete dialog (keyboard)');
  await page.keyboard.press('Escape');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Delete secret Keyboard secret', 'focus returns to the delete button');

  // Test this secret, for a secret deleted meanwhile: a clear message, not a silent failure.
  await page.getByRole('link', { name: /^Create new secret/ }).click();
  await page.locator('dialog[open]').waitFor();
  await page.getByLabel('Client secret name').fill('Deleted before the test');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.locator('#new-secret').waitFor();
  const { findApplicationByClientId } = await import('../../server/admin/applications.ts');
  const { deleteClientSecret } = await import('../../server/credentials/secrets.ts');
  const { clientSecrets } = await import('../../db/schema.ts');
  const { eq } = await import('drizzle-orm');
  const row = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.name, 'Deleted before the test')).get()!;
  assert.ok(deleteClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, row.id));
  await page.getByRole('button', { name: 'Test this secret' }).click();
  await page.getByText('Does not work: the token endpoint refused this secret (it may have been deleted, or it has expired).').waitFor();
});
