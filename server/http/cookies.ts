// Reading a cookie from the request's Cookie header (the session layer's and the CSRF
// pre-session cookie's).

// The value of the first cookie called `name` (as the cookie package reads a header: the
// first one wins, spaces around the value trimmed), still URL-encoded.
export function rawCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) return header.slice(eq + 1, end).trim();
    start = end + 1;
  }
  return undefined;
}
