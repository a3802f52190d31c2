// Where the portal's files (views, public assets, migrations, the password list) live:
// beside the sources normally; in a private folder the single executable extracts them to.
// And the address of the credentials page, where sign-in, mails and its own routes send people.
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The Manage API credentials page (server/credentials/): a credential manager's home.
export const CREDENTIALS_PAGE = '/manage-api-credentials';

const holder = globalThis as unknown as { __PORTAL_ROOT__?: string };

export function setResourceRoot(dir: string): void {
  holder.__PORTAL_ROOT__ = dir;
}

export function isPackaged(): boolean {
  return holder.__PORTAL_ROOT__ !== undefined;
}

export function resourceRoot(): string {
  return holder.__PORTAL_ROOT__ ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export const resourcePath = (...parts: string[]) => path.join(resourceRoot(), ...parts);

// htmx, served from node_modules (or from the executable's extracted files).
export function htmxFile(): string {
  if (isPackaged()) return resourcePath('vendor', 'htmx.min.js');
  return createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');
}

// The browser half of SimpleWebAuthn (UMD bundle, global SimpleWebAuthnBrowser), likewise.
export function simpleWebAuthnBrowserFile(): string {
  if (isPackaged()) return resourcePath('vendor', 'simplewebauthn-browser.js');
  // The package's exports hide the bundle: find it beside the package's main script.
  return path.join(path.dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js');
}
