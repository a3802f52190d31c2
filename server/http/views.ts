// Eta rendering. Pages get the base layout's common view model; fragments (htmx) do not.
import { Eta } from 'eta';
import { resourcePath } from '../lib/paths.ts';
import type { Request, Response } from 'express';
import type { Config } from '../lib/config.ts';
import { ensureCsrfToken } from './security.ts';

export const viewsDir = () => resourcePath('views');

// Eta resolves a template's file on every render and include: a JSON cache key for an
// include, path.join and path.relative for a page (never cached). With the template cache
// on, each (including file, name) pair is resolved once; the checks run that first time.
export function createViews(dir = viewsDir(), cache = true): Eta {
  const eta = new Eta({ views: dir, cache, autoEscape: true, autoTrim: false });
  // The templates' own text beyond ASCII (·, •••••, “ ”, —, ←, ⚠) is compiled into character
  // references: the same page in the browser, but a page whose pieces are all ASCII stays a
  // one-byte string in V8, which it joins in about half the time (the 5 × 5 credentials
  // page: 0.5 ms less), and is sent as a copy of its bytes (sendHtml). Values (<%= %>) are
  // left as they are.
  // And the indentation of the templates' own lines goes (a line break stays, so the browser
  // shows the same): 5 KB of the 5 × 5 page. Not in a template with preformatted text
  // (<pre>, <textarea>), where its spaces are the text.
  const compileBody = eta.compileBody;
  eta.compileBody = function (buffer) {
    const preformatted = buffer.some((piece) => typeof piece === 'string' && /<(pre|textarea)\b/i.test(piece));
    return compileBody.call(
      this,
      buffer.map((piece) => {
        if (typeof piece !== 'string') return piece;
        const text = piece.replace(/[^\u0000-\u007f]/gu, (c) => `&#${c.codePointAt(0)};`);
        // A piece is already a JS string literal's inside: its line breaks are the two characters \n.
        return preformatted ? text : text.replace(/\\n(?:[ \t]|\\[rn])+/g, '\\n');
      }),
    );
  };
  if (!cache) return eta;
  // A template named from the views directory's root ('/partials/...', as every include
  // here is) is the same file whoever includes it: its compiled function and the options it
  // runs with are kept by that name. Eta's render built a new options object, resolved the
  // path and looked the function up on every include (about 45 on the 5 × 5 credentials page).
  const render = eta.render;
  const byName = new Map<string, { fn: (data: object, options: object) => string; options: { async: false; filepath: string } }>();
  eta.render = function (this: Eta, template, data, meta) {
    if (typeof template !== 'string' || template.charCodeAt(0) !== 47) return render.call(this, template, data, meta);
    let known = byName.get(template);
    if (!known) {
      const options = { async: false as const, filepath: this.resolvePath(template, {}) };
      let fn = this.templatesSync.get(options.filepath);
      if (!fn) this.templatesSync.define(options.filepath, (fn = this.compile(this.readFile!(options.filepath), options)));
      byName.set(template, (known = { fn: fn as never, options }));
    }
    return known.fn.call(this, data, known.options);
  } as Eta['render'];
  const resolveFile = eta.resolvePath;
  const resolved = new Map<string, string>();
  eta.resolvePath = function (template, options) {
    const key = `${options?.filepath ?? ''}\0${template}`;
    let file = resolved.get(key);
    if (file === undefined) resolved.set(key, (file = resolveFile.call(this, template, options)));
    return file;
  };
  return eta;
}

export interface LayoutModel {
  title: string;
  csrfToken: string;
  sandbox: boolean;
  supportEmail: string;
  user: { email: string; displayName: string; isAdmin: boolean } | null;
  nav: string; // which header link is current
  flash: string; // a one-time message from the previous request
}

export function layoutModel(req: Request, config: Config, title: string, nav = ''): LayoutModel {
  const u = req.user as { email: string; displayName: string; isAdmin: boolean } | undefined;
  return {
    title,
    csrfToken: ensureCsrfToken(req),
    sandbox: config.portalEnv === 'sandbox',
    supportEmail: config.supportEmail,
    user: u ? { email: u.email, displayName: u.displayName, isAdmin: u.isAdmin } : null,
    nav,
    flash: takeFlash(req),
  };
}

// A message shown once on the next page (after a redirect).
export function setFlash(req: Request, message: string): void {
  if (req.session) (req.session as unknown as { flash?: string }).flash = message;
}

function takeFlash(req: Request): string {
  const s = req.session as unknown as { flash?: string } | undefined;
  const message = s?.flash ?? '';
  if (s?.flash !== undefined) delete s.flash;
  return message;
}

// Express's send() turns a string of over 1,000 characters into a Buffer, which encodes it
// twice (once to measure it, once to copy it). A page is nearly always ASCII (the templates'
// own characters beyond it are character references; a name may not be): when its UTF-8
// length is its length, every unit is ASCII and its Latin-1 bytes are its UTF-8 bytes, a
// copy (93 KB: about 35 µs, against 140 µs to encode it into a buffer sized for the worst
// case, 3 bytes a unit, which also made 280 KB of garbage a page). Otherwise encoded once.
export function sendHtml(res: Response, html: string, status = 200): void {
  const body = Buffer.byteLength(html) === html.length ? Buffer.from(html, 'latin1') : Buffer.from(html);
  res.status(status).type('html').send(body);
}
