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
export const invalidClient = (basic: boolean) =>
  new OAuthError(401, 'invalid_client', 'Client authentication failed.', basic ? { 'WWW-Authenticate': 'Basic realm="token", charset="UTF-8"' } : {});
export const slowDown = (retryAfter: number) =>
  new OAuthError(429, 'slow_down', 'Too many failed client authentications. Try again later.', { 'Retry-After': String(retryAfter) });
// The database is write-locked (or failing) past our short wait: try again shortly.
export const temporarilyUnavailable = () =>
  new OAuthError(503, 'temporarily_unavailable', 'The service is briefly unavailable. Try again in a moment.', { 'Retry-After': '1' });
