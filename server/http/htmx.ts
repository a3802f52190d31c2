import type { Request, Response } from 'express';

// htmx sends HX-Request on its own requests (but not on history restores, which need the full page).
export function isHtmx(req: Request): boolean {
  return req.get('HX-Request') === 'true' && req.get('HX-History-Restore-Request') !== 'true';
}

// Redirect that works for plain navigation and for htmx requests alike.
export function redirectTo(req: Request, res: Response, location: string): void {
  if (isHtmx(req)) {
    res.set('HX-Redirect', location).status(204).end();
  } else {
    res.redirect(303, location);
  }
}
