// The command line's public-key commands: `add-public-key` (prints the thumbprint) and
// `delete-credential` (by thumbprint). A private key is refused and never stored or echoed.
import fs from 'node:fs';
import type { Deps } from '../deps.ts';
import { cliActor } from '../audit/audit.ts';
import { addPublicKey, deletePublicKey, MAX_UPLOAD_BYTES } from '../credentials/public-keys.ts';
import { uploadText } from '../credentials/key-upload.ts';
import { applicationOf, fail, one, unwrap, type Flags } from './args.ts';

export function addPublicKeyCommand(deps: Deps, flags: Flags): string {
  const app = applicationOf(deps, flags);
  const file = one(flags, 'file')!;
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return fail(`--file: cannot read ${file}`);
  }
  if (size > MAX_UPLOAD_BYTES) fail(`--file: the file is too large (${size} bytes; at most ${MAX_UPLOAD_BYTES})`);
  // PEM, a JWK, or DER (a binary .cer/.crt) passed on as base64.
  const text = uploadText(fs.readFileSync(file));
  const r = addPublicKey(deps, cliActor, app, { name: one(flags, 'name'), key: text, expires: one(flags, 'expires') });
  const { row, notice } = unwrap(r, { key: 'file' });
  if (notice) process.stderr.write(`${notice}\n`);
  return row.thumbprint;
}

export function deleteCredentialCommand(deps: Deps, flags: Flags): string {
  const app = applicationOf(deps, flags);
  const row = deletePublicKey(deps, cliActor, app, { thumbprint: one(flags, 'thumbprint') });
  if (!row) fail(`--thumbprint: no active key of ${app.name} has that thumbprint`);
  return '';
}
