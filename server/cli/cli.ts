// The admin command line (DESIGN.md "Command line"): the same domain functions as the
// admin console. Exit 0 on success; bad input: a message on stderr and exit code 2.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../lib/config.ts';
import { bootstrap } from '../bootstrap.ts';
import { CLI_BUSY_TIMEOUT_MS } from '../../db/client.ts';
import { cliActor, recordAudit } from '../audit/audit.ts';
import { rotateSigningKey } from '../oauth/keys.ts';
import { createOrganisation } from '../admin/organisations.ts';
import { createApplication } from '../admin/applications.ts';
import { createClientSecret } from '../credentials/secrets.ts';
import type { Deps } from '../deps.ts';
import { fixedClock } from '../lib/clock.ts';
import { recordedBaseUrl } from '../settings.ts';
import { createLogger } from '../lib/log.ts';
import { formatDailySummary, runDailyJob } from '../reminders/daily.ts';
import { sendTestMailCommand } from './mail.ts';
import { addPublicKeyCommand } from './keys.ts';
import { federatedCommands } from './federated.ts';
import { credentialCommands } from './credentials.ts';
import { applicationOf, one, parseArgs, requireMailableBaseUrl, unwrap, UsageError, type CommandSpec } from './args.ts';
import { userCommands } from './users.ts';
import { createApiCommand, listApisCommand, listApplicationsCommand, listOrganisationsCommand, listUsersCommand } from './listings.ts';

export const commands: Record<string, CommandSpec> = {
  ...userCommands,
  'create-organisation': {
    usage: 'create-organisation --name N --country CC',
    flags: { name: 'value', country: 'value' },
    required: ['name', 'country'],
    run: (deps, f) => String(unwrap(createOrganisation(deps.db, deps.clock, cliActor, { name: one(f, 'name'), countryCode: one(f, 'country') })).id),
  },
  'create-application': {
    usage: 'create-application --organisation ID --name N --api CODE [--api CODE] [--sandbox-only]',
    flags: { organisation: 'value', name: 'value', api: 'repeat', 'sandbox-only': 'boolean' },
    required: ['organisation', 'name', 'api'],
    run: (deps, f) =>
      unwrap(
        createApplication(deps.db, deps.clock, cliActor, {
          organisationId: one(f, 'organisation'),
          name: one(f, 'name'),
          apiCodes: f.get('api') ?? [],
          sandboxOnly: f.has('sandbox-only'),
        }),
      ).clientId,
  },
  'create-secret': {
    usage: 'create-secret --client-id ID --name N --expires YYYY-MM-DD',
    flags: { 'client-id': 'value', name: 'value', expires: 'value' },
    required: ['client-id', 'name', 'expires'],
    run: async (deps, f) => {
      const app = applicationOf(deps, f);
      requireMailableBaseUrl(deps);
      const result = createClientSecret(deps, cliActor, app, { name: one(f, 'name'), expires: one(f, 'expires') });
      const { secret } = unwrap(result);
      return secret;
    },
  },
  'send-expiry-reminders': {
    usage: 'send-expiry-reminders [--now ISO-8601]',
    flags: { now: 'value' },
    required: [],
    run: async (deps, f) => {
      requireMailableBaseUrl(deps);
      const raw = one(f, 'now');
      let clock = deps.clock;
      if (raw !== undefined) {
        const t = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(raw) ? Date.parse(raw) : NaN;
        if (Number.isNaN(t)) throw new UsageError(`--now must be an ISO-8601 date or time such as 2027-03-01T07:00:00Z, got "${raw}"`);
        clock = fixedClock(t);
      }
      return formatDailySummary(await runDailyJob({ ...deps, clock }), deps.mailer);
    },
  },
  'send-test-mail': { usage: 'send-test-mail --to E', flags: { to: 'value' }, required: ['to'], run: sendTestMailCommand },
  backup: {
    usage: 'backup --to FILE',
    flags: { to: 'value' },
    required: ['to'],
    // SQLite's online backup: consistent, while the portal keeps serving.
    run: async (deps, f) => {
      const to = path.resolve(one(f, 'to')!);
      if (fs.existsSync(to)) throw new UsageError(`--to: ${to} already exists; choose a new file`);
      if (!fs.existsSync(path.dirname(to))) throw new UsageError(`--to: the folder ${path.dirname(to)} does not exist`);
      await deps.db.$client.backup(to);
      fs.chmodSync(to, 0o600);
      recordAudit(deps.db, deps.clock, cliActor, { action: 'backup', target: to });
      return to;
    },
  },
  ...credentialCommands,
  'add-public-key': {
    usage: 'add-public-key --client-id ID --name N --file PATH [--expires YYYY-MM-DD]  (--expires: required unless the file is a certificate, which expires with its own date)',
    flags: { 'client-id': 'value', name: 'value', file: 'value', expires: 'value' },
    required: ['client-id', 'name', 'file'],
    run: addPublicKeyCommand,
  },
  ...federatedCommands,
  'create-api': {
    usage: 'create-api --code C --name N --production-resource URL --sandbox-resource URL',
    flags: { code: 'value', name: 'value', 'production-resource': 'value', 'sandbox-resource': 'value' },
    required: ['code', 'name', 'production-resource', 'sandbox-resource'],
    run: (deps, f) => createApiCommand(deps, f),
  },
  'list-organisations': { usage: 'list-organisations [--json]', flags: { json: 'boolean' }, required: [], run: listOrganisationsCommand },
  'list-applications': { usage: 'list-applications [--organisation ID] [--json]', flags: { organisation: 'value', json: 'boolean' }, required: [], run: listApplicationsCommand },
  'list-apis': { usage: 'list-apis [--json]', flags: { json: 'boolean' }, required: [], run: listApisCommand },
  'list-users': { usage: 'list-users [--organisation ID] [--json]', flags: { organisation: 'value', json: 'boolean' }, required: [], run: listUsersCommand },
  'rotate-signing-key': {
    usage: 'rotate-signing-key',
    flags: {},
    required: [],
    run: (deps) => {
      const kid = rotateSigningKey(deps.db, deps.masterKey, deps.clock);
      recordAudit(deps.db, deps.clock, cliActor, { action: 'signing_key.rotate', target: kid });
      return kid;
    },
  },
};

// The command's options, parsed by node:util's parseArgs (strict: unknown options,
// missing values and stray arguments are errors), with our own messages.
function usage(): string {
  return ['usage: portal <command> [options]', '', 'commands:', ...Object.values(commands).map((c) => `  ${c.usage}`)].join('\n');
}

// The CLI's stdout carries only the command's result; its log lines go to stderr.
// Without BASE_URL in its environment, the CLI uses the one the server recorded at its
// last start, so links in the mails it sends point to the real portal.
const cliDeps = (): Deps => {
  const logger = createLogger((line) => process.stderr.write(line + '\n'));
  return withRecordedBaseUrl(process.env, (env) => bootstrap({ env, busyTimeoutMs: CLI_BUSY_TIMEOUT_MS, logger }));
};

export function withRecordedBaseUrl(env: Record<string, string | undefined>, open: (env: Record<string, string | undefined>) => Deps): Deps {
  const deps = open(env);
  if (deps.config.baseUrlSet) return deps;
  const recorded = recordedBaseUrl(deps.db);
  if (!recorded) return deps;
  deps.db.$client.close();
  return open({ ...env, BASE_URL: recorded });
}

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}
const processOutput: CliOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export async function runCli(argv: string[], makeDeps: () => Deps = cliDeps, io: CliOutput = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    io.err(usage() + '\n');
    return 2;
  }
  if (name === '--help' || name === 'help') {
    io.out(usage() + '\n');
    return 0;
  }
  const spec = commands[name];
  if (!spec) {
    io.err(`unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  let deps: Deps | null = null;
  try {
    const flags = parseArgs(spec, rest);
    deps = makeDeps();
    const output = await spec.run(deps, flags, (line) => io.err(line + '\n'));
    if (output !== '') io.out(output + '\n');
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.err(`${name}: ${err.message}\nusage: portal ${spec.usage}\n`);
      return 2;
    }
    io.err(`${name} failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    // Notices a command sent after its change (a key added or deleted) go out before exit.
    await deps?.mailer.idle();
    deps?.mailer.close();
    deps?.db.$client.close();
  }
}

// Run when this file is the entry point (tsx server/cli/cli.ts); the single executable calls runCli itself.
if (process.argv[1]?.endsWith('/cli.ts')) {
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
