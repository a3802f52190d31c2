// Passkey refusals without a browser: an expired or reused challenge, another user's
// credential, garbage — each a plain message, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { passkeys, users } from '../../db/schema.ts';
import { CHALLENGE_LIFETIME_MS, takeChallenge, verifyPasskey, type PendingChallenge } from '../../server/account/passkeys.ts';
import { inviteAdmin } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';

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
