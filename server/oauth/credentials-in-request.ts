// The first link of client authentication: what credentials a token or introspection
// request presents, read once. Each parameter at most once; one method only:
//   client_secret_basic  Authorization: Basic (RFC 6749 §2.3.1: id and secret
//                        form-urlencoded, then base64)
//   client_secret_post   client_id and client_secret in the body
//   private_key_jwt      client_assertion_type and client_assertion (RFC 7523), the
//                        assertion decoded here, once
//   federated            the same, with an outside issuer's token as the assertion: its
//                        iss an http(s) URL, the client named by client_id (issue 29)
import { invalidClient, invalidRequest } from './errors.ts';
import { ASSERTION_TYPE, readAssertion, type ReadAssertion } from './client-assertion.ts';

export type PresentedCredentials =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'private_key_jwt'; clientId: string; assertion: string; read: ReadAssertion | null }
  // `read.clientId` is the outside issuer (the token's iss).
  | { method: 'federated'; clientId: string; assertion: string; read: ReadAssertion };

const ONCE = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type'];
const METHOD_NAMES = { basic: 'HTTP Basic', post: 'client_secret in the body', jwt: 'a client assertion' } as const;

function formDecode(s: string): string {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s; // nothing encoded (a UUID, a generated secret)
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export function credentialsInRequest(authorization: string | undefined, params: URLSearchParams): PresentedCredentials {
  for (const name of ONCE) if (params.getAll(name).length > 1) throw invalidRequest(`${name} may be sent only once.`);
  const used = (['basic', 'post', 'jwt'] as const).filter((m) =>
    m === 'basic' ? authorization !== undefined : m === 'post' ? params.has('client_secret') : params.has('client_assertion') || params.has('client_assertion_type'),
  );
  if (used.length > 1) throw invalidRequest(`Use one client authentication method: ${used.map((m) => METHOD_NAMES[m]).join(' or ')}, not both.`);
  const bodyId = params.get('client_id');

  if (used[0] === 'jwt') {
    if (params.get('client_assertion_type') !== ASSERTION_TYPE) throw invalidRequest(`client_assertion_type must be ${ASSERTION_TYPE}.`);
    const assertion = params.get('client_assertion') ?? '';
    if (!assertion) throw invalidRequest('client_assertion is missing.');
    const read = readAssertion(assertion);
    // An outside issuer's token (its iss a URL, never a client ID) for the client_id beside it.
    if (read && bodyId !== null && read.clientId !== bodyId && /^https?:\/\//.test(read.clientId)) return { method: 'federated', clientId: bodyId, assertion, read };
    // A client_id beside the assertion must name the same client (RFC 7521 §4.2); when it
    // does not, the assertion authenticates nobody.
    const named = read && (bodyId === null || bodyId === read.clientId) ? read : null;
    return { method: 'private_key_jwt', clientId: read?.clientId ?? bodyId ?? '', assertion, read: named };
  }
  if (used[0] === 'basic') {
    const m = /^Basic[ ]+([A-Za-z0-9+/=._~-]+)[ ]*$/i.exec(authorization!);
    if (!m) throw invalidClient();
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) throw invalidClient();
    let clientId: string;
    let secret: string;
    try {
      clientId = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw invalidClient();
    }
    if (bodyId !== null && bodyId !== clientId) throw invalidRequest('client_id in the body does not match the Authorization header.');
    return { method: 'client_secret_basic', clientId, secret };
  }
  const secret = params.get('client_secret');
  if (bodyId === null || secret === null || bodyId === '' || secret === '') throw invalidClient();
  return { method: 'client_secret_post', clientId: bodyId, secret };
}
