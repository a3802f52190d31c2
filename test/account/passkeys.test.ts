// Passkeys without a browser: refusals (an expired or reused challenge, another user's
// credential, garbage — each a plain message, never an exception), and the step-up that
// adding or removing one needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { passkeys, users } from '../../db/schema.ts';
import { CHALLENGE_LIFETIME_MS, takeChallenge, verifyPasskey, type PendingChallenge } from '../../server/account/passkeys.ts';
import { inviteAdmin } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { eq } from 'drizzle-orm';
import { auditEvents } from '../../db/schema.ts';
import type { Client } from '../helpers/http.ts';
import { decodeHtml } from '../helpers/http.ts';
import { startSmtp, header } from '../helpers/smtp.ts';
import { createAdmin, nextCode, passwordStep, signIn, PASSWORD } from '../helpers/accounts.ts';
import { softAuthenticator, type ChallengeOptions } from './soft-authenticator.ts';

test('passkey refusals: expired challenge, wrong purpose, another user\'s credential, junk', async (t) => {
  const portal = await startPortal(t);
  const now = portal.clock.now();
  const pending: PendingChallenge = { challenge: 'abc', purpose: 'second-step', userId: 1, at: now };
  assert.equal(takeChallenge(pending, 'second-step', now + CHALLENGE_LIFETIME_MS + 1), null, 'expired');
  assert.equal(takeChallenge(pending, 'sign-in', now), null, 'for another purpose');
  assert.equal(takeChallenge(undefined, 'sign-in', now), null, 'none');
  assert.deepEqual(takeChallenge(pending, 'second-step', now), pending);

  const a = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'a@example.org' });
  const b = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'b@example.org' });
  assert.ok(a.ok && b.ok);
  portal.deps.db.insert(passkeys).values({ id: 'cred-of-a', userId: a.value.userId, name: 'A', publicKey: 'AAAA', counter: 0, createdAt: now }).run();
  const forB: PendingChallenge = { challenge: 'abc', purpose: 'second-step', userId: b.value.userId, at: now };
  const cases: Array<[string, PendingChallenge | null, unknown, string]> = [
    ['no challenge', null, { id: 'cred-of-a' }, 'The passkey request has expired. Try again.'],
    ["another user's credential", forB, { id: 'cred-of-a', response: {} }, 'That passkey could not be used to sign in. Try again, or sign in with your password.'],
    ['unknown credential', { ...forB, userId: null, purpose: 'sign-in' }, { id: 'nope' }, 'That passkey could not be used to sign in. Try again, or sign in with your password.'],
    ['junk response', { ...forB, userId: a.value.userId }, { id: 'cred-of-a', response: 'junk' }, 'That passkey could not be used to sign in. Try again, or sign in with your password.'],
    ['not an object', forB, 'junk', 'That passkey could not be used to sign in. Try again, or sign in with your password.'],
  ];
  for (const [label, p, response, message] of cases) {
    const r = await verifyPasskey(portal.deps, p, response);
    assert.deepEqual(r, { ok: false, status: 401, message, errors: {} }, label);
  }
  assert.equal(portal.deps.db.select().from(users).all().length, 2);
});

// SECURITY.md 35, over real HTTP with a software authenticator: a session cookie alone
// cannot add or remove a passkey; the current password or a code entered for that very
// change can, and a refused proof uses up nothing.
async function postJson(c: Client, path: string, body: unknown) {
  const r = await c.request('POST', path, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': c.csrf } });
  return { status: r.status, json: JSON.parse(r.text) as ChallengeOptions & { errors?: Record<string, string> } };
}

test('adding a passkey needs the current password or a code entered for it; a session cookie alone is refused', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url }, Date.now(), { hostname: 'localhost' });
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  const rows = () => portal.deps.db.select().from(passkeys).all();
  const device = softAuthenticator();

  // The session alone: no challenge is issued, and an answer without one is refused.
  const bare = await postJson(c, '/account/passkeys/options', { name: 'Planted' });
  assert.equal(bare.status, 422);
  assert.equal(bare.json.errors?.proof, 'Enter your current password or a code from your authenticator app.');
  assert.equal(bare.json.challenge, undefined, 'no challenge without the proof');
  const forged = await postJson(c, '/account/passkeys', { name: 'Planted', response: device.register({ challenge: 'bm90LWlzc3VlZA', rp: {} }, portal.baseUrl) });
  assert.equal(forged.status, 422);
  assert.equal(rows().length, 0, 'no passkey row');

  // A wrong proof: refused, audited, and the recovery code is not used up by a name refused first.
  const wrong = await postJson(c, '/account/passkeys/options', { name: 'Planted', proof: 'not my password at all' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.errors?.proof, 'That is neither your current password nor a valid code.');
  assert.equal(portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.password_check_failed')).all().length, 1);
  const noName = await postJson(c, '/account/passkeys/options', { name: '', proof: account.recoveryCodes[0] });
  assert.equal(noName.status, 422);
  assert.ok(noName.json.errors?.name, 'the name is checked before the proof');
  const wrongCode = await postJson(c, '/account/passkeys/options', { name: 'Planted', proof: '000000' });
  assert.equal(wrongCode.status, 401, 'a wrong code');
  assert.equal(rows().length, 0);

  // A challenge of another kind (signing in) is not a proven registration challenge.
  const signInOptions = await postJson(c, '/login/passkey/options', {});
  assert.equal(signInOptions.status, 200);
  const other = await postJson(c, '/account/passkeys', { response: device.register(signInOptions.json, portal.baseUrl) });
  assert.equal(other.status, 422);
  assert.equal(rows().length, 0);

  // With the current password: a challenge, then the passkey, under the name given with the proof.
  const proven = await postJson(c, '/account/passkeys/options', { name: 'Work laptop', proof: PASSWORD });
  assert.equal(proven.status, 200);
  const added = await postJson(c, '/account/passkeys', { name: 'ignored', response: device.register(proven.json, portal.baseUrl) });
  assert.equal(added.status, 200, JSON.stringify(added.json));
  assert.deepEqual(rows().map((p) => p.name), ['Work laptop']);
  const replay = await postJson(c, '/account/passkeys', { response: softAuthenticator().register(proven.json, portal.baseUrl) });
  assert.equal(replay.status, 422, 'the proven challenge is single-use');

  // With a recovery code (it was not used up by the refusal above): works, and is used up now.
  const byCode = await postJson(c, '/account/passkeys/options', { name: 'YubiKey', proof: account.recoveryCodes[0] });
  assert.equal(byCode.status, 200);
  assert.equal((await postJson(c, '/account/passkeys', { response: softAuthenticator().register(byCode.json, portal.baseUrl) })).status, 200);
  assert.deepEqual(rows().map((p) => p.name), ['Work laptop', 'YubiKey']);
  assert.equal((await postJson(c, '/account/passkeys/options', { name: 'Again', proof: account.recoveryCodes[0] })).status, 401, 'the recovery code is spent');

  // A fresh TOTP code works too.
  const byTotp = await postJson(c, '/account/passkeys/options', { name: 'Phone', proof: nextCode(portal, account.key) });
  assert.equal(byTotp.status, 200);

  assert.equal(portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.passkey_added')).all().length, 2);
  await portal.deps.mailer.idle(); // notices go out in the background
  assert.equal(smtp.messages.filter((m) => header(m.raw, 'Subject') === 'A passkey was added to your account').length, 2, 'each addition mailed');
});

test('removing a passkey needs the current password or a code in the same form; without, nothing is removed', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url }, Date.now(), { hostname: 'localhost' });
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  const proven = await postJson(c, '/account/passkeys/options', { name: 'Work laptop', proof: PASSWORD });
  assert.equal((await postJson(c, '/account/passkeys', { response: softAuthenticator().register(proven.json, portal.baseUrl) })).status, 200);
  const [row] = portal.deps.db.select().from(passkeys).all();
  assert.ok(row);
  const page = await c.get('/account');
  const path = `/account/passkeys/${row.id}/remove`;
  // A link to the confirmation (a dialog with JavaScript), which asks for the proof.
  assert.ok(decodeHtml(page.text).includes(`<a class="button small" href="${path}" data-opens-dialog>Remove<span class="visually-hidden"> passkey Work laptop</span></a>`));
  const confirm = decodeHtml((await c.get(path)).text);
  assert.match(confirm, /<h2 id="dialog-title">Remove the passkey “Work laptop”\?<\/h2>/);
  assert.match(confirm, /It stops signing you in at once, on every device that holds it\. Your password with your authenticator app, and your recovery codes keep working\./);
  assert.match(confirm, /<label for="remove-proof">Current password or a code from your authenticator app<span class="visually-hidden">, to remove passkey Work laptop<\/span><\/label>/);
  assert.match(confirm, /<a class="button" href="\/account" data-close-dialog autofocus>Cancel<\/a>/);

  const bare = await c.post(path);
  assert.equal(bare.status, 422, 'the session cookie alone');
  assert.match(decodeHtml(bare.text), /<p class="field-error" id="remove-proof-error">Enter your current password or a code from your authenticator app\.<\/p>/);
  const wrong = await c.post(path, { proof: 'not my password at all' });
  assert.equal(wrong.status, 401);
  assert.match(decodeHtml(wrong.text), /id="remove-proof-error">That is neither your current password nor a valid code\.</);
  assert.match(wrong.text, /id="remove-proof" name="proof" type="password" required autocomplete="current-password" aria-describedby="remove-proof-error" aria-invalid="true" autofocus>/);
  // In the dialog (htmx), the refusal replaces the dialog's content only.
  const inDialog = await c.post(path, { proof: 'still wrong' }, { 'HX-Request': 'true', 'HX-Target': 'dialog-content' });
  assert.equal(inDialog.status, 401);
  assert.match(inDialog.text, /^<h2 id="dialog-title">/);
  const wrongWithCode = await c.post(path, { proof: '123456' });
  assert.equal(wrongWithCode.status, 401);
  assert.equal(portal.deps.db.select().from(passkeys).all().length, 1, 'nothing removed');

  const removed = await c.post(path, { proof: account.recoveryCodes[1]! });
  assert.equal(removed.status, 303);
  assert.equal(portal.deps.db.select().from(passkeys).all().length, 0);
  assert.equal(portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.passkey_removed')).all().length, 1);
  await portal.deps.mailer.idle(); // notices go out in the background
  assert.equal(smtp.messages.filter((m) => header(m.raw, 'Subject') === 'A passkey was removed from your account').length, 1);
  const again = await c.post(path, { proof: account.recoveryCodes[2]! });
  assert.equal(again.status, 303, 'already gone: nothing asked');
  const s = portal.client();
  await passwordStep(s, account);
  assert.equal((await s.post('/login/verify', { code: account.recoveryCodes[2]! })).status, 303, 'and the code sent with it was not used up');
});
