// Issue 29 in Chromium: a federated credential added through the Add dialog with a preset
// (the preset fills the issuer and shows the subject's format) and deleted through its
// confirmation (Cancel focused), with JavaScript (modal dialogs, axe) and without (pages; the
// preset is a link that pre-fills the form by query string). One browser; the issuer is a
// real OpenID issuer on loopback (the sandbox accepts http there).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { assertAccessible, launchBrowser, screenshots } from '../helpers/browser.ts';
import { startPortal } from '../helpers/portal.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { loopbackIssuer } from '../helpers/issuer.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const SUBJECT = 'repo:acme/registry-sync:ref:refs/heads/main';

async function run(browser: Browser, t: TestContext, javaScript: boolean) {
  const gh = await loopbackIssuer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' });
  const org = makeOrganisation(portal, 'Erasmus MC');
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const client = await signIn(portal, await createUser(portal, org, 'vera@erasmusmc.example', [clientId]));
  const context = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: client.sessionId()!, url: portal.baseUrl }]);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
  const label = javaScript ? 'with JavaScript' : 'without JavaScript';
  const focused = () => page.evaluate(() => (document.activeElement?.textContent ?? '').trim());

  await page.goto(`${portal.baseUrl}/manage-api-credentials`);
  await page.getByRole('link', { name: /^Add a federated credential/ }).click();
  if (javaScript) await page.locator('dialog[open]').waitFor();
  else await page.waitForURL(/\/federated\/new$/);
  await page.getByRole('link', { name: 'GitHub Actions' }).click();
  if (!javaScript) await page.waitForURL(/\/federated\/new\?preset=github$/);
  const issuer = page.getByLabel('Issuer');
  assert.equal(await issuer.inputValue(), GITHUB, `${label}: the preset fills the issuer`);
  assert.match(await page.locator('#federated-subject-format').innerText(), /repo:<owner>\/<repository>:ref:refs\/heads\/<branch>/, `${label}: the subject's format`);
  assert.equal(await page.getByLabel('Subject').getAttribute('placeholder'), 'repo:OWNER/REPOSITORY:ref:refs/heads/main');
  if (javaScript) {
    assert.equal(page.url(), `${portal.baseUrl}/manage-api-credentials`, 'filled in place');
    await assertAccessible(page, 'the Add a federated credential dialog');
    await screenshots(page, 'dialog-federated-add');
  }
  // Nothing may reach the internet: the test's issuer stands in for GitHub's.
  await issuer.fill(gh.url);
  await page.getByLabel('Name').fill('registry-sync on main');
  await page.getByLabel('Subject').fill(SUBJECT);
  await page.getByRole('button', { name: 'Add' }).click();
  if (javaScript) {
    const dialog = page.locator('dialog[open]');
    await dialog.getByRole('heading', { name: 'Added “registry-sync on main”' }).waitFor();
    await dialog.getByRole('link', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
  } else {
    await page.waitForURL(/\/manage-api-credentials#app-/);
    await page.getByText('Federated credential “registry-sync on main” added').waitFor();
  }
  const row = page.getByRole('row', { name: /registry-sync on main/ });
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(SUBJECT));
  if (javaScript) await screenshots(page, 'credentials-federated');

  // Delete: the confirmation says the workload stops getting tokens, Cancel focused.
  await row.getByRole('link', { name: 'Delete federated credential registry-sync on main' }).click();
  if (javaScript) await page.locator('dialog[open]').waitFor();
  else await page.waitForURL(/\/federated\/[0-9a-f-]{36}\/delete$/);
  assert.equal(await focused(), 'Cancel', `${label}: Cancel has the focus`);
  assert.match(await page.locator('#dialog-content').innerText(), /The workload stops getting tokens at once/);
  if (javaScript) await assertAccessible(page, 'the delete confirmation');
  else await screenshots(page, 'federated-delete-page');
  await page.getByRole('button', { name: 'Delete' }).click();
  if (javaScript) await page.locator('dialog[open]').waitFor({ state: 'detached' });
  else await page.waitForURL(/\/manage-api-credentials#app-/);
  await page.getByText('The federated credential was deleted. The workload that used it can no longer get tokens.').waitFor();
  await row.waitFor({ state: 'detached' });
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from federated_credentials where deleted_at is null').get() as { n: number }).n, 0);
  assert.deepEqual(problems, [], `${label}: console errors`);
}

test('a federated credential added with a preset and deleted, with and without JavaScript', async (t) => {
  const browser = await launchBrowser(t);
  await run(browser, t, true);
  await run(browser, t, false);
});
