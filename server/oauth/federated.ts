// A federated credential's exchange (issue 29): the workload sends its platform's token
// (GitHub Actions, Kubernetes, Entra) as client_assertion beside its client_id. Its iss is
// an outside issuer the application trusts; its signature is checked against that issuer's
// keys (discovery document → jwks_uri, cached like a JWKS URL's), then its claims here:
// sub and aud exactly one federated credential's, exp not passed, nbf/iat not in the future
// (60 s of skew), and a lifetime of at most 60 minutes. Not single-use: GitHub mints one
// token per job and a job may ask for several access tokens with it.
import { MAX_LIFETIME_S, SKEW_S } from './client-assertion.ts';

export interface FederatedRow {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audience: string;
}

// The credential the claims fit, or the claim that failed in words for error_description
// (the signature has proven the issuer by then); `credentials` are those of the token's iss.
export function federatedClaims(claims: Record<string, unknown>, credentials: FederatedRow[], now: number): { credential: FederatedRow } | { refused: string; credential?: FederatedRow } {
  const { sub, aud, exp, nbf, iat } = claims;
  const bySubject = credentials.filter((c) => c.subject === sub);
  if (bySubject.length === 0) return { refused: `the subject (sub) ${typeof sub === 'string' ? `"${sub.slice(0, 200)}" ` : ''}matches no federated credential of this application for this issuer` };
  const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  const credential = bySubject.find((c) => named.includes(c.audience));
  if (!credential) return { refused: `the audience (aud) must be ${bySubject.map((c) => `"${c.audience}"`).join(' or ')}`, credential: bySubject[0] };
  const skew = SKEW_S * 1000;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { refused: 'exp is missing', credential };
  if (exp * 1000 <= now - skew) return { refused: 'the token has expired (exp)', credential };
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf * 1000 > now + skew)) return { refused: 'nbf is in the future', credential };
  if (iat !== undefined && (typeof iat !== 'number' || iat * 1000 > now + skew)) return { refused: 'iat is in the future', credential };
  const from = typeof iat === 'number' ? iat * 1000 : typeof nbf === 'number' ? nbf * 1000 : now;
  if (exp * 1000 - from > (MAX_LIFETIME_S + (from === now ? SKEW_S : 0)) * 1000) return { refused: `the token lives more than ${MAX_LIFETIME_S / 60} minutes (exp)`, credential };
  return { credential };
}
