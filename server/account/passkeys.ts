// Passkeys (WebAuthn) with @simplewebauthn/server: registration on the account page,
// and authentication either as the second step or, with user verification, on its own
// (a passkey with user verification is multi-factor by itself). Adding or removing one
// needs the current password or a code entered for that change: a stolen session
// cookie alone cannot plant a passkey. The relying party is
// BASE_URL: its host name is the RP ID, its origin the expected origin, so
// http://localhost works for development. A challenge is single-use and lives two
// minutes, in the session of the browser that asked for it; the signature counter must
// grow; a credential of another user, or one removed, is refused.
import net from 'node:net';
import { and, eq } from 'drizzle-orm';
import type { AuthenticationResponseJSON, RegistrationResponseJSON, AuthenticatorTransportFuture, PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import { passkeys, users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { parseName } from '../lib/validation.ts';
import { failure, refused, success, type DomainResult } from '../lib/result.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { sendAccountNotice } from './notices.ts';
import { proveStepUp, type AccountDeps } from './account.ts';
import { lazy } from '../lib/lazy.ts';

const loadWebAuthn = lazy(() => import('@simplewebauthn/server'));

type UserRow = typeof users.$inferSelect;
export const CHALLENGE_LIFETIME_MS = 2 * 60 * 1000;
export const MAX_PASSKEYS = 10;

export interface PendingChallenge {
  challenge: string;
  purpose: 'register' | 'sign-in' | 'second-step';
  userId: number | null;
  at: number;
  // Registration only: the name asked for, and that a step-up (the current password or a
  // code) was entered for this very challenge. A sign-in does not count.
  name?: string;
  proven?: boolean;
}

const relyingParty = (baseUrl: string) => {
  const url = new URL(baseUrl);
  return { rpID: url.hostname, origin: url.origin };
};
// WebAuthn takes a domain name as relying party, never an IP address: at a BASE_URL such
// as http://10.0.0.5:3000 the browser refuses every ceremony. Why, for the pages and the
// endpoints to say (public/passkeys.js says the same for the sign-in pages); null where
// passkeys work.
export function passkeysUnavailable(baseUrl: string): string | null {
  const host = new URL(baseUrl).hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) === 0) return null;
  return `Passkeys are not available at this address: browsers accept passkeys only at a domain name (such as portal.example.org), and this portal is reached at the IP address ${host}. Use your password and authenticator app.`;
}
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64url');
const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

export function listPasskeys(deps: Pick<Deps, 'db'>, userId: number) {
  return deps.db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(passkeys.createdAt).all();
}

// Adding a passkey, step 1: the name, then the step-up entered for this change; only
// then a challenge, marked as proven. Nothing is used up when the name or the count is
// refused. Attestation is "none": any authenticator, no make or model asked for.
export async function startPasskeyRegistration(
  deps: AccountDeps,
  user: UserRow,
  input: { name: unknown; proof: unknown },
  actor: AuditActor,
  limiter: RateLimiter,
): Promise<DomainResult<{ options: PublicKeyCredentialCreationOptionsJSON; pending: PendingChallenge }>> {
  const name = parseName(input.name, 'Passkey name', 60);
  if (!name.ok) return failure('name', name.message);
  if (listPasskeys(deps, user.id).length >= MAX_PASSKEYS) return failure('passkey', `You have ${MAX_PASSKEYS} passkeys, the most allowed. Remove one first.`);
  const refusedProof = await proveStepUp(deps, user, { kind: 'password-or-code', proof: input.proof }, actor, limiter);
  if (refusedProof) return refusedProof;
  const { options, pending } = await registrationOptions(deps, user);
  return success({ options, pending: { ...pending, name: name.value, proven: true } });
}

async function registrationOptions(deps: Pick<Deps, 'db' | 'config' | 'clock'>, user: UserRow) {
  const { generateRegistrationOptions } = await loadWebAuthn();
  const { rpID } = relyingParty(deps.config.baseUrl);
  const existing = listPasskeys(deps, user.id);
  const options = await generateRegistrationOptions({
    rpName: 'Credentials Portal',
    rpID,
    userName: user.email,
    userDisplayName: user.displayName || user.email,
    userID: new TextEncoder().encode(`user-${user.id}`),
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: JSON.parse(p.transports) as AuthenticatorTransportFuture[] })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    timeout: CHALLENGE_LIFETIME_MS,
  });
  const pending: PendingChallenge = { challenge: options.challenge, purpose: 'register', userId: user.id, at: deps.clock.now() };
  return { options, pending };
}

// Takes the pending challenge (it is used at most once) and says whether it still holds.
export function takeChallenge(pending: PendingChallenge | undefined, purpose: PendingChallenge['purpose'], now: number): PendingChallenge | null {
  if (!pending || pending.purpose !== purpose || now - pending.at > CHALLENGE_LIFETIME_MS) return null;
  return pending;
}

export async function registerPasskey(
  deps: Pick<Deps, 'db' | 'config' | 'clock' | 'mailer' | 'logger'>,
  user: UserRow,
  pending: PendingChallenge | null,
  response: unknown,
  actor: AuditActor,
): Promise<DomainResult<null>> {
  if (!pending || pending.userId !== user.id) return failure('passkey', 'The request to add a passkey has expired. Try again.');
  if (!pending.proven || pending.name === undefined) return failure('proof', 'Enter your current password or a code from your authenticator app to add a passkey.', 401);
  const name = pending.name;
  if (listPasskeys(deps, user.id).length >= MAX_PASSKEYS) return failure('passkey', `You have ${MAX_PASSKEYS} passkeys, the most allowed. Remove one first.`);
  const { verifyRegistrationResponse } = await loadWebAuthn();
  const { rpID, origin } = relyingParty(deps.config.baseUrl);
  let verified;
  try {
    verified = await verifyRegistrationResponse({ response: response as RegistrationResponseJSON, expectedChallenge: pending.challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: true });
  } catch (err) {
    deps.logger.warn('passkey registration refused', { userId: user.id, error: String((err as Error)?.message ?? err) });
    return failure('passkey', 'Your browser’s answer could not be verified. Try again.');
  }
  if (!verified.verified) return failure('passkey', 'Your browser’s answer could not be verified. Try again.');
  const { credential } = verified.registrationInfo;
  if (deps.db.select({ id: passkeys.id }).from(passkeys).where(eq(passkeys.id, credential.id)).get()) {
    return failure('passkey', 'This passkey is already registered.');
  }
  deps.db
    .insert(passkeys)
    .values({ id: credential.id, userId: user.id, name, publicKey: b64(credential.publicKey), counter: credential.counter, transports: JSON.stringify(credential.transports ?? []), createdAt: deps.clock.now() })
    .run();
  recordAudit(deps.db, deps.clock, actor, { action: 'account.passkey_added', organisationId: user.organisationId, target: name });
  sendAccountNotice(deps, user, 'passkey-added', actor, `“${name}”`);
  return success(null);
}

// Removing a passkey needs the step-up too, entered in the same form. False: it was
// already gone (nothing asked, nothing used up).
export async function removePasskey(deps: AccountDeps, user: UserRow, id: string, proof: unknown, actor: AuditActor, limiter: RateLimiter): Promise<DomainResult<boolean>> {
  const row = deps.db.select().from(passkeys).where(and(eq(passkeys.id, id), eq(passkeys.userId, user.id))).get();
  if (!row) return success(false);
  const refusedProof = await proveStepUp(deps, user, { kind: 'password-or-code', proof }, actor, limiter);
  if (refusedProof) return refusedProof;
  deps.db.delete(passkeys).where(eq(passkeys.id, id)).run();
  recordAudit(deps.db, deps.clock, actor, { action: 'account.passkey_removed', organisationId: user.organisationId, target: row.name });
  sendAccountNotice(deps, user, 'passkey-removed', actor, `“${row.name}”`);
  return success(true);
}

// Options for signing in: any discoverable passkey (userId null), or the passkeys of
// the user who has just given the password (the second step).
export async function authenticationOptions(deps: Pick<Deps, 'db' | 'config' | 'clock'>, userId: number | null) {
  const { generateAuthenticationOptions } = await loadWebAuthn();
  const { rpID } = relyingParty(deps.config.baseUrl);
  const allow = userId === null ? [] : listPasskeys(deps, userId).map((p) => ({ id: p.id, transports: JSON.parse(p.transports) as AuthenticatorTransportFuture[] }));
  const options = await generateAuthenticationOptions({ rpID, userVerification: userId === null ? 'required' : 'preferred', allowCredentials: allow, timeout: CHALLENGE_LIFETIME_MS });
  const pending: PendingChallenge = { challenge: options.challenge, purpose: userId === null ? 'sign-in' : 'second-step', userId, at: deps.clock.now() };
  return { options, pending };
}

// The user the passkey belongs to, or a plain reason. With `forUser`, the passkey must be
// that user's (the second step); alone, user verification is required.
export async function verifyPasskey(
  deps: Pick<Deps, 'db' | 'config' | 'clock' | 'logger'>,
  pending: PendingChallenge | null,
  response: unknown,
): Promise<DomainResult<UserRow>> {
  const refusal = refused('That passkey could not be used to sign in. Try again, or sign in with your password.', 401);
  if (!pending) return refused('The passkey request has expired. Try again.', 401);
  const id = (response as { id?: unknown })?.id;
  if (typeof id !== 'string') return refusal;
  const row = deps.db.select().from(passkeys).where(eq(passkeys.id, id)).get();
  if (!row || (pending.userId !== null && row.userId !== pending.userId)) return refusal;
  const user = deps.db.select().from(users).where(eq(users.id, row.userId)).get();
  if (!user || user.disabledAt !== null) return refusal;
  const { verifyAuthenticationResponse } = await loadWebAuthn();
  const { rpID, origin } = relyingParty(deps.config.baseUrl);
  try {
    const result = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: pending.challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential: { id: row.id, publicKey: fromB64(row.publicKey), counter: row.counter, transports: JSON.parse(row.transports) as AuthenticatorTransportFuture[] },
      requireUserVerification: pending.userId === null,
    });
    if (!result.verified) return refusal;
    // The counter only grows (a cloned authenticator would repeat it); a racing use of
    // the same counter loses here.
    const updated = deps.db
      .update(passkeys)
      .set({ counter: result.authenticationInfo.newCounter, lastUsedAt: deps.clock.now() })
      .where(and(eq(passkeys.id, row.id), eq(passkeys.counter, row.counter)))
      .run().changes;
    if (updated !== 1) return refusal;
    return success(user);
  } catch (err) {
    deps.logger.warn('passkey sign-in refused', { error: String((err as Error)?.message ?? err) });
    return refusal;
  }
}
