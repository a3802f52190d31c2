// Password hashing with scrypt (node:crypto, on libuv's thread pool: ~50 ms of one of its
// threads; token signatures have a thread of their own, oauth/signatures/) and the password policy.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { resourcePath } from '../lib/paths.ts';
import { promisify } from 'node:util';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
const PARAMS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const PASSWORD_HASH_COST = PARAMS.N;

// The test suite's portals hash new passwords at N = 1024: the same code path (the cost is
// stored in each hash and read back on verification), at a sixteenth of the CPU. Only
// test/helpers/portal.ts lowers it; test/auth/passwords.test.ts sets the real cost back for
// its own test (test-fast runs many files in one process). Returns the cost it replaced.
export function lowerPasswordHashCostForTests(n: number): number {
  const before = PARAMS.N;
  PARAMS.N = n;
  return before;
}
const KEY_LENGTH = 32;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password.normalize('NFKC'), Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: PARAMS.maxmem,
  });
  return crypto.timingSafeEqual(actual, expected);
}

// An unknown email costs the same scrypt work as a wrong password.
let dummyHash: Promise<string> | null = null;
export async function burnPasswordCheck(password: string): Promise<false> {
  dummyHash ??= hashPassword(crypto.randomBytes(16).toString('hex'));
  await verifyPassword(await dummyHash, password);
  return false;
}

let commonPasswords: Set<string> | null = null;
export function commonPasswordList(): Set<string> {
  commonPasswords ??= new Set(
    fs
      .readFileSync(resourcePath('server', 'auth', 'common-passwords.txt'), 'utf8')
      .split('\n')
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean),
  );
  return commonPasswords;
}

// A new password and its repetition, as every page that sets one checks them (setup, the
// forgotten password): the reason to refuse them, or null.
export function newPasswordProblem(password: unknown, confirm: unknown, email: string): string | null {
  const value = typeof password === 'string' ? password : '';
  return passwordProblem(value, email) ?? (value !== confirm ? 'The two passwords do not match.' : null);
}

// Returns the reason a password is refused, or null when it is acceptable.
export function passwordProblem(password: string, email: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
  if (password.length > MAX_PASSWORD_LENGTH) return `Use at most ${MAX_PASSWORD_LENGTH} characters.`;
  const lower = password.toLowerCase();
  const list = commonPasswordList();
  // A listed password with digits or symbols tacked on ("password1234!") is just as guessable.
  const stem = lower.replace(/[\d\W_]+$/u, '');
  if (list.has(lower) || (stem.length >= 4 && list.has(stem)) || /^(.)\1+$/.test(lower)) {
    return 'This password is too common. Choose one that is harder to guess, such as a few unrelated words.';
  }
  if (lower.includes(email.toLowerCase().split('@')[0] ?? '\u0000') && (email.split('@')[0] ?? '').length >= 4) {
    return 'Do not use your email address in your password.';
  }
  return null;
}
