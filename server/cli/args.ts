// The command line's option parsing: node:util's parseArgs in strict mode (unknown
// options, missing values and stray arguments are errors), with our own messages.
import { parseArgs as parseNodeArgs } from 'node:util';
import type { Deps } from '../deps.ts';
import type { DomainResult } from '../lib/result.ts';
import { findApplicationByClientId } from '../admin/applications.ts';
import { recordedBaseUrl } from '../settings.ts';
export class UsageError extends Error {}

// A line for the operator on stderr (what happened beside the result: a mail sent or not).
export type Say = (line: string) => void;

// A command's options by name; each holds every value given.
export type Flags = Map<string, string[]>;

export const one = (flags: Flags, name: string): string | undefined => flags.get(name)?.[0];

// Bad input: a message on stderr and exit code 2 (runCli catches it).
export function fail(message: string): never {
  throw new UsageError(message);
}

// A domain result's value, or its failure as the command line says it: each field
// named as its option (`options` maps a form field to an option where they differ).
export function unwrap<T>(result: DomainResult<T>, options: Record<string, string> = {}): T {
  if (result.ok) return result.value;
  const fields = Object.entries(result.errors).filter(([, message]) => message);
  if (!fields.length) fail(result.message);
  return fail(fields.map(([field, message]) => `--${options[field] ?? field}: ${message}`).join('; '));
}

export interface CommandSpec {
  usage: string;
  flags: Record<string, 'value' | 'repeat' | 'boolean'>;
  required: string[];
  run(deps: Deps, flags: Flags, say: Say): string | Promise<string>;
}

export function parseArgs(spec: CommandSpec, args: string[]): Flags {
  const options = Object.fromEntries(
    Object.entries(spec.flags).map(([name, kind]) => [name, kind === 'boolean' ? { type: 'boolean' as const } : { type: 'string' as const, multiple: true }]),
  );
  let parsed: ReturnType<typeof parseNodeArgs>;
  try {
    parsed = parseNodeArgs({ args, options, strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const option = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(/argument missing|ambiguous/.test(e.message) ? `${option} needs a value` : `${option} takes no value`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument "${/'([^']*)'/.exec(e.message)?.[1] ?? ''}"`);
    throw new UsageError(e.message);
  }
  const flags: Flags = new Map();
  for (const [name, value] of Object.entries(parsed.values)) {
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    if (spec.flags[name] === 'value' && values.length > 1) throw new UsageError(`--${name} may be given only once`);
    flags.set(name, values);
  }
  for (const r of spec.required) if (!flags.has(r)) throw new UsageError(`--${r} is required`);
  return flags;
}


// The application named by --client-id, for every command that acts on one: unknown or
// disabled is refused (a disabled application gets no new credentials).
export function applicationOf(deps: Pick<Deps, 'db'>, flags: Flags) {
  const clientId = one(flags, 'client-id')!;
  const app = findApplicationByClientId(deps.db, clientId);
  if (!app) return fail(`--client-id: no application has the client ID "${clientId}"`);
  if (app.disabledAt !== null) return fail(`--client-id: the application ${app.name} is disabled`);
  return app;
}

// Commands that send mail need a real BASE_URL: given, or recorded by the server.
export function requireMailableBaseUrl(deps: Deps): void {
  if (!deps.config.baseUrlSet && !recordedBaseUrl(deps.db)) {
    throw new UsageError('no BASE_URL: set BASE_URL, or start the portal once so that it records its own, before sending mail from the command line');
  }
}
