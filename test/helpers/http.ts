// A tiny browser stand-in over fetch: keeps cookies, does not follow redirects,
// and remembers the last CSRF token it saw in a page.
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

export class Client {
  cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly baseUrl: string) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  sessionId(): string | undefined {
    return this.cookies.get('portal.sid');
  }

  async request(method: string, path: string, init: { form?: Record<string, string | string[]>; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size && !('Cookie' in headers)) headers.Cookie = this.cookieHeader;
    let body: string | undefined = init.body;
    if (init.form) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(init.form)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
      body = params.toString();
      headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const raw = await res.text();
    // Pages write the templates' own characters beyond ASCII as references (&#8226; for •,
    // server/http/views.ts); read as a browser reads them, so tests name the characters.
    const text = /^text\/html/.test(res.headers.get('content-type') ?? '') ? beyondAscii(raw) : raw;
    const token = /name="_csrf" value="([^"]+)"/.exec(text);
    if (token) this.csrf = token[1]!;
    return { status: res.status, headers: res.headers, text, location: res.headers.get('location') };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, { headers });
  }

  // Posts a form with the remembered CSRF token (unless the form sets its own).
  post(path: string, form: Record<string, string | string[]> = {}, headers?: Record<string, string>) {
    return this.request('POST', path, { form: { _csrf: this.csrf, ...form }, headers });
  }
}

const beyondAscii = (s: string) => s.replace(/&#(\d{3,7});/g, (ref, n: string) => (Number(n) > 0x7f && Number(n) <= 0x10ffff ? String.fromCodePoint(Number(n)) : ref));

export function decodeHtml(s: string): string {
  return beyondAscii(s).replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
