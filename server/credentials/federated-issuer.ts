// An outside issuer of a federated credential (GitHub Actions, a Kubernetes cluster, Entra):
// its OpenID discovery document (`<issuer>/.well-known/openid-configuration`), whose
// `issuer` must be the issuer exactly, names its `jwks_uri`; the keys there verify its
// tokens. Both are fetched through safe-fetch (outside the sandbox https only, public
// addresses only, checked at the address connected to; a deadline, a size cap, no
// redirects), and the keys read with the same rules as an upload. The token endpoint
// caches them like a JWKS URL's (oauth/remote-keys.ts).
import { safeGet } from '../lib/safe-fetch.ts';
import type { Parsed } from '../lib/validation.ts';
import { FETCH_TIMEOUT_MS, fetchJwks, fetchProblemMessage, type FetchedJwks } from './jwks-url.ts';

// Entra publishes around ten keys; a cluster or GitHub a few.
export const MAX_ISSUER_KEYS = 30;
const MAX_DISCOVERY_BYTES = 64 * 1024;

export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

export async function fetchIssuerKeys(issuer: string, sandbox: boolean, timeoutMs = FETCH_TIMEOUT_MS): Promise<Parsed<FetchedJwks>> {
  const what = 'The issuer';
  const res = await safeGet(discoveryUrl(issuer), { allowHttp: sandbox, allowLoopback: sandbox, timeoutMs, maxBytes: MAX_DISCOVERY_BYTES });
  if (!res.ok) return { ok: false, message: fetchProblemMessage(what, res, timeoutMs).replace(/The JWKS is too large.*/, 'Its discovery document is too large (at most 64 KB).') };
  if (res.status < 200 || res.status >= 300) return { ok: false, message: `The issuer's discovery document (${discoveryUrl(issuer)}) answered HTTP ${res.status}.` };
  let doc: { issuer?: unknown; jwks_uri?: unknown };
  try {
    doc = JSON.parse(res.body) as typeof doc;
  } catch {
    return { ok: false, message: `The issuer's discovery document (${discoveryUrl(issuer)}) is not JSON.` };
  }
  if (typeof doc !== 'object' || doc === null) return { ok: false, message: "The issuer's discovery document is not a JSON object." };
  if (doc.issuer !== issuer) return { ok: false, message: `The issuer's discovery document names another issuer (${String(doc.issuer).slice(0, 200)}); enter the issuer exactly as its tokens carry it in iss.` };
  if (typeof doc.jwks_uri !== 'string') return { ok: false, message: "The issuer's discovery document has no jwks_uri." };
  return fetchJwks(doc.jwks_uri, sandbox, timeoutMs, MAX_ISSUER_KEYS, "The issuer's jwks_uri");
}
