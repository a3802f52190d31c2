// Why a token request was refused, in plain words for the application's managers (its
// activity on the credentials page). These may say more than error_description: only the
// application's managers read them, never the caller.
import type { KeyRow } from './client-registry.ts';

export const WRONG_SECRET = 'wrong secret';
export const APPLICATION_DISABLED = 'application disabled';
export const UNKNOWN_KEY_ID = 'unknown key id';

export const expiredWords = (on: string) => `secret expired on ${on}`;
// `by`: "its manager (name)", "an administrator (name)" or "the command line".
export const deletedWords = (on: string, by: string | null | undefined) => `secret deleted on ${on}${by ? ` by ${by}` : ''}`;

// A rule the assertion broke after its signature verified: "exp is more than 60 minutes
// after iat" → "assertion's exp more than 60 minutes after iat".
export function assertionWords(rule: string): string {
  if (rule === 'the assertion has expired (exp)') return 'assertion expired (exp)';
  const claim = /^(iss|sub|aud|exp|nbf|iat|jti)\b/.exec(rule);
  return claim ? `assertion's ${rule.replace(/^(\w+) is /, '$1 ')}` : `assertion refused: ${rule}`;
}

// No key verified the assertion: the key id it names is not the application's, there is no
// active key, or the signature matches none of them.
export function unverifiedWords(kid: string | null, candidates: KeyRow[], now: number): string {
  if (kid && !candidates.some((k) => k.thumbprint === kid || k.id === kid)) return `${UNKNOWN_KEY_ID} ${kid.replace(/[^\x21-\x7e]/g, '?').slice(0, 64)}`;
  if (!candidates.some((k) => k.expires_at > now)) return 'no active key';
  return 'signature matches no key of the application';
}
