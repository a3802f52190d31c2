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
  assert.ok(createClientSecret(portal.deps, cliActor, app, { name: 'Production (by VM)', expires: '2027-05-28' }).ok);
  assert.ok(createClientSecret(portal.deps, cliActor, app, { name: 'Old one', expires: '2026-12-10' }).ok);
  const c = await signIn(portal, account);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: c.sessionId()!, url: portal.baseUrl }]);
  const page = await context.newPage();
  await page.goto(`${portal.baseUrl}/manage-api-credentials`);
  await page.getByRole('heading', { name: 'Manage API credentials' }).waitFor();
  // The client ID and the secrets' hints are random; the how-to (with the port) stays closed.
  const ids = [`#client-id-${clientId}`, 'td[data-label="Hint"] code'];
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
  await compare(page, 'dialog-delete', ids);
});
