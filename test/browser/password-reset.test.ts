// "Forgot your password?" as a person clicks it in Debian's Chromium, with JavaScript and
// without: from the sign-in page to the mail (read from a real SMTP server on loopback),
// the link, a code, the new password and signing in with it; axe-core on every page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { makeOrganisation } from '../helpers/fixtures.ts';
import { createUser } from '../helpers/accounts.ts';
import { totpAt } from '../helpers/totp.ts';
import { assertAccessible, launchBrowser } from '../helpers/browser.ts';

const NEW_PASSWORD = 'a brand new harbour lantern';

function code(portal: TestPortal, key: string): string {
  portal.clock.advance(30_000);
  return totpAt(key, portal.clock.now());
}

for (const javaScript of [true, false]) {
  test(`forgotten password in Chromium ${javaScript ? 'with' : 'without'} JavaScript: the link by mail, a code, the new password, signed in with it`, async (t) => {
    const browser = await launchBrowser(t);
    const smtp = await startSmtp(t);
    const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_ENV: 'production' });
    const account = await createUser(portal, makeOrganisation(portal, 'Hospital A'), 'vera@hospital-a.example');
    const context = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1280, height: 800 } });
    t.after(() => context.close());
    const page = await context.newPage();
    const check = async (p: Page, name: string) => {
      if (javaScript) await assertAccessible(p, name);
    };

    await page.goto(`${portal.baseUrl}/login`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await check(page, 'forgot');
    await page.getByLabel('Email address').fill(account.email);
    await page.getByRole('button', { name: 'Mail me a link' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    await check(page, 'forgot-sent');

    await portal.deps.mailer.idle();
    const mail = smtp.messages.find((m) => header(m.raw, 'Subject') === 'Choose a new password for the Credentials Portal');
    assert.ok(mail, 'the mail arrived');
    const link = new RegExp(`${portal.baseUrl}/password/reset/[A-Za-z0-9_-]+`).exec(readable(mail.raw))![0];
    await page.goto(link);
    // The link's page changes nothing until Continue (a GET never does).
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${portal.baseUrl}/password/reset`);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await check(page, 'reset-second-factor');
    await page.getByLabel('Authentication code or recovery code').fill(code(portal, account.key));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('Your second factor was accepted.').waitFor();
    await check(page, 'reset-password');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Save the new password' }).click();
    await page.getByText('Your password was changed and every session of your account was ended.').waitFor();
    await check(page, 'login-after-reset');

    await page.getByLabel('Email address').fill(account.email);
    await page.getByLabel('Password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await page.getByLabel('Authentication code').fill(code(portal, account.key));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/manage-api-credentials$/);
  });
}
