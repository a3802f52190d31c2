// Visual regression: the Manage API credentials page and its dialogs at 1280 and 390
// pixels, compared with committed references (pixelmatch, small tolerance), so that a
// layout change is seen rather than taken. The data is fixed (fixed clock, fixed names);
// what is random by design (client ID, the secret, the port in the curl command) is
// masked. UPDATE_SCREENSHOTS=1 writes new references after a deliberate change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { tokenFrom } from '../helpers/token-from.ts';

const REFERENCES = path.resolve('test/browser/references');
const OUT = path.resolve('test-output/visual');
// Anti-aliasing and font hinting differ a little between runs: allow 0.5 % of pixels.
const MAX_DIFF_RATIO = 0.005;

async function compare(page: Page, name: string, masks: string[]) {
  for (const [label, width, height] of [['desktop', 1280, 800], ['phone', 390, 844]] as const) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(100);
    const shot = await page.screenshot({ fullPage: true, animations: 'disabled', caret: 'hide', mask: masks.map((m) => page.locator(m)), maskColor: '#ff00ff' });
    const file = `${name}-${label}.png`;
    fs.mkdirSync(OUT, { recursive: true });
    fs.writeFileSync(path.join(OUT, file), shot);
    const refPath = path.join(REFERENCES, file);
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      fs.mkdirSync(REFERENCES, { recursive: true });
      fs.writeFileSync(refPath, shot);
      continue;
    }
    assert.ok(fs.existsSync(refPath), `${file}: no committed reference (run with UPDATE_SCREENSHOTS=1 after a deliberate change)`);
    const actual = PNG.sync.read(shot);
    const expected = PNG.sync.read(fs.readFileSync(refPath));
    assert.equal(`${actual.width}×${actual.height}`, `${expected.width}×${expected.height}`, `${file}: the page size changed`);
    const diff = new PNG({ width: actual.width, height: actual.height });
    const changed = pixelmatch(actual.data, expected.data, diff.data, actual.width, actual.height, { threshold: 0.1 });
    const ratio = changed / (actual.width * actual.height);
    if (ratio > MAX_DIFF_RATIO) fs.writeFileSync(path.join(OUT, `${name}-${label}-diff.png`), PNG.sync.write(diff));
    assert.ok(ratio <= MAX_DIFF_RATIO, `${file}: ${(ratio * 100).toFixed(2)} % of pixels differ from the reference (diff in test-output/visual)`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('the credentials page and its dialogs look as committed, at 1280 and 390 px', async (t) => {
  const browser = await launchBrowser(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' }, '2026-11-28T10:00:00Z');
  const org = makeOrganisation(portal, 'Erasmus MC');
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM', ['DM', 'SMC']);
  const account = await createUser(portal, org, 'tech@erasmusmc.example', [clientId]);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  // Real token requests (issue 28): "Old one" used from 127.0.0.2, then "Production (by VM)",
  // created a day later, takes over; eight days on, the old one is safe to delete.
  const old = createClientSecret(portal.deps, cliActor, app, { name: 'Old one', expires: '2026-12-20' });
  assert.ok(old.ok);
  for (let i = 0; i < 3; i++) assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, old.value.secret, 'python-requests/2.31')).status, 200);
  portal.settle();
  portal.clock.advance(86_400_000);
  const production = createClientSecret(portal.deps, cliActor, app, { name: 'Production (by VM)', expires: '2027-05-28' });
  assert.ok(production.ok);
  for (let day = 0; day < 7; day++) {
    for (let i = 0; i <= day % 3; i++) assert.equal((await tokenFrom(portal, '127.0.0.3', clientId, production.value.secret, 'curl/8.5.0')).status, 200);
    portal.settle();
    portal.clock.advance(86_400_000);
  }
  for (let i = 0; i < 2; i++) assert.equal((await tokenFrom(portal, '127.0.0.3', clientId, production.value.secret, 'curl/8.5.0')).status, 200);
  portal.settle();
  const c = await signIn(portal, account);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: c.sessionId()!, url: portal.baseUrl }]);
  const page = await context.newPage();
  await page.goto(`${portal.baseUrl}/manage-api-credentials`);
  await page.getByRole('heading', { name: 'Manage API credentials' }).waitFor();
  // The client ID and the secrets' hints are random; the how-to (with the port) stays closed.
  const ids = [`#client-id-${clientId}`, 'td[data-label="Hint"] code'];
  // The sparkline and the badge, drawn by the server, as a person (and a screen reader) meets them.
  await page.getByRole('img', { name: '3 requests in the last 30 days, last 8 days ago' }).waitFor();
  assert.ok(await page.getByRole('img', { name: '15 requests in the last 30 days, last just now' }).isVisible());
  const bars = await page.locator('svg.sparkline path').evaluateAll((paths) => paths.map((p) => (p.getAttribute('d') ?? '').split('M').length - 1));
  assert.equal(bars.reduce((a, b) => a + b, 0), 9, 'a bar on each day with requests');
  assert.ok(await page.locator('#secret-' + old.value.row.id).getByText('Safe to delete').isVisible());
  assert.equal(await page.getByText('Safe to delete', { exact: true }).count(), 1);
  await compare(page, 'credentials', ids);

  await page.getByRole('link', { name: /^Create new secret/ }).click();
  await page.locator('dialog[open]').waitFor();
  await page.getByLabel('Client secret name').fill('Staging (by VM)');
  await compare(page, 'dialog-create', ids);
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.locator('#new-secret').waitFor();
  await compare(page, 'dialog-secret-created', ['dialog #new-secret', 'dialog #new-secret-curl', 'dialog p.muted code', 'td[data-label="Hint"] code']);
  await page.getByRole('button', { name: 'Copy secret' }).click();
  await page.getByRole('link', { name: 'Done' }).click();
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  await page.getByRole('link', { name: 'Delete secret Old one' }).click();
  await page.locator('dialog[open]').waitFor();
  // The evidence, first thing in the dialog; Cancel has the focus.
  assert.equal(await page.locator('dialog #delete-evidence').innerText(), 'Not used for 8 days; “Production (by VM)” took over on 29 Nov 2026: safe to delete.');
  await compare(page, 'dialog-delete', ids);
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  await page.getByRole('link', { name: 'Delete secret Production (by VM)' }).click();
  await page.locator('dialog[open]').waitFor();
  assert.equal(await page.locator('dialog #delete-evidence').innerText(), 'Used 2 times in the last 24 hours, last from 127.0.0.3 (curl/8.5.0) just now: deleting it stops that system.');
});
