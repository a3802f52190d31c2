// OAuth 2.0 error responses (RFC 6749 §5.2): JSON {error, error_description}.
// Not an Error subclass on purpose: these are expected answers, thrown on the hot path
// (a wrong secret), and capturing a stack trace for each cost 8% of that path's CPU.
export class OAuthError {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {}
}

export const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d);
export const unsupportedGrantType = (d: string) => new OAuthError(400, 'unsupported_grant_type', d);
export const invalidScope = (d: string) => new OAuthError(400, 'invalid_scope', d);
export const invalidTarget = (d: string) => new OAuthError(400, 'invalid_target', d);
// Every 401 names a scheme it accepts (RFC 9110 §15.5.2), whichever method the client used.
const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="token", charset="UTF-8"' };
export const invalidClient = () => new OAuthError(401, 'invalid_client', 'Client authentication failed.', CHALLENGE);
// Once the caller has proven itself (a valid signature; a secret of this client, expired or
// deleted), the refusal names the rule, as Entra does: it saves a support mail per partner.
export const refusedWithReason = (reason: string) => new OAuthError(401, 'invalid_client', `Client authentication failed: ${reason}.`, CHALLENGE);
// A limit reached: 429 with a registered error code (RFC 6749's temporarily_unavailable;
// slow_down belongs to the device flow, RFC 8628) and when to try again.
export const throttled = (retryAfter: number, description = 'Too many failed client authentications. Try again later.') =>
  new OAuthError(429, 'temporarily_unavailable', description, { 'Retry-After': String(retryAfter) });
// The database is write-locked (or failing) past our short wait: try again shortly.
export const temporarilyUnavailable = () =>
  new OAuthError(503, 'temporarily_unavailable', 'The service is briefly unavailable. Try again in a moment.', { 'Retry-After': '1' });
