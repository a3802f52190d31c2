// Passkeys in Chromium with a CDP virtual authenticator (CTAP2, internal transport,
// resident keys, user verification): register one on /account (the current password
// entered for that change first; a missing or wrong one is refused next to its field),
// sign out, sign in with the passkey alone and land on the user's page. axe checks
// /account on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, launchBrowser } from '../helpers/browser.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, nextCode, signIn, PASSWORD } from '../helpers/accounts.ts';
import { passkeys, auditEvents } from '../../db/schema.ts';
import { eq } from 'drizzle-orm';

test('register a passkey on /account, sign out, sign in with the passkey alone, land on the page', async (t) => {
  const browser = await launchBrowser(t);
  const portal = await startPortal(t, {}, Date.now(), { hostname: 'localhost' });
  const org = makeOrganisation(portal, 'Erasmus MC');
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const account = await createUser(portal, org, 'tech@erasmusmc.example', [clientId]);
  const c = await signIn(portal, account);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addCookies([{ name: 'portal.sid', value: c.sessionId()!, url: portal.baseUrl }]);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });

  await page.goto(`${portal.baseUrl}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await assertAccessible(page, '/account');
  await page.getByLabel('Name for the new passkey').fill('Work laptop');
  const proof = page.getByLabel('Current password or a code from your authenticator app', { exact: true });
  // The session alone is not enough: the page asks for the proof, then the portal checks it.
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.locator('#passkey-proof-error', { hasText: 'Enter your current password or a code from your authenticator app.' }).waitFor();
  assert.equal(await proof.evaluate((el) => el === document.activeElement), true, 'the field in error has the focus');
  await proof.fill('not my password at all');
  await proof.press('Enter');
  await page.locator('#passkey-proof-error', { hasText: 'That is neither your current password nor a valid code.' }).waitFor();
  assert.equal(await proof.getAttribute('aria-invalid'), 'true');
  assert.equal(portal.deps.db.select().from(passkeys).all().length, 0, 'nothing added');
  await assertAccessible(page, '/account, a refused proof');
  await proof.fill(PASSWORD);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Your passkey was added.').waitFor();
  await page.getByText('Work laptop', { exact: true }).waitFor();
  await assertAccessible(page, '/account with a passkey');
  const stored = portal.deps.db.select().from(passkeys).all();
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.name, 'Work laptop');

  // The other states of the page, checked the same way: a new authenticator's QR code, new recovery codes.
  await page.getByLabel('Code from your current app (or a recovery code)').fill(nextCode(portal, account.key));
  await page.getByRole('button', { name: 'Replace authenticator app' }).click();
  await page.getByRole('img', { name: 'QR code for your new authenticator app' }).waitFor();
  await assertAccessible(page, '/account, replacing the authenticator');
  await page.getByLabel('Code from your authenticator app', { exact: true }).fill(nextCode(portal, account.key));
  await page.getByRole('button', { name: 'Make new recovery codes' }).click();
  await page.getByTestId('recovery-codes').waitFor();
  await assertAccessible(page, '/account, new recovery codes');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(/\/manage-api-credentials$/);
  await page.getByRole('heading', { name: 'Manage API credentials' }).waitFor();
  const after = portal.deps.db.select().from(passkeys).get()!;
  assert.ok(after.lastUsedAt !== null, 'the use is recorded');
  const method = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.success')).all().map((e) => JSON.parse(e.details).method);
  assert.ok(method.includes('passkey'), 'signed in with the passkey alone');

  // A replayed response is refused: the challenge was single-use.
  const replay = await page.evaluate(async (base) => {
    const token = JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRF-Token'];
    const res = await fetch(`${base}/login/passkey`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token }, body: JSON.stringify({ response: { id: 'x', rawId: 'x', type: 'public-key', response: {} } }) });
    return { status: res.status, body: await res.json() };
  }, portal.baseUrl);
  assert.equal(replay.status, 401);
  assert.equal(replay.body.error_description, 'The passkey request has expired. Try again.');

  // Removing it asks first (a dialog), and for the proof in the same dialog.
  await page.goto(`${portal.baseUrl}/account`);
  await page.getByRole('link', { name: 'Remove passkey Work laptop' }).click();
  await page.locator('dialog[open]').waitFor();
  await page.getByRole('button', { name: 'Remove passkey' }).click();
  const removeProof = page.getByLabel('Current password or a code from your authenticator app, to remove passkey Work laptop');
  await page.locator('#remove-proof-error', { hasText: 'Enter your current password or a code from your authenticator app.' }).waitFor();
  assert.equal(await removeProof.evaluate((el) => el === document.activeElement), true, 'the field in error has the focus');
  assert.equal(portal.deps.db.select().from(passkeys).all().length, 1, 'nothing removed');
  await removeProof.fill(PASSWORD);
  await removeProof.press('Enter');
  await page.getByText('The passkey was removed.').waitFor();
  assert.equal(portal.deps.db.select().from(passkeys).all().length, 0);
});
