// The command line in this process (the same runCli the binary and `npm run portal` call),
// output captured; without BASE_URL it takes the one the server recorded, as the CLI does. Starting a process costs a second of CPU; test/cli.test.ts keeps the
// real processes that prove the wiring.
import { runCli, withRecordedBaseUrl } from '../../server/cli/cli.ts';
import { bootstrap } from '../../server/bootstrap.ts';
import { memoryLogger } from '../../server/lib/log.ts';

export async function cliInProcess(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const open = () => withRecordedBaseUrl({ PORTAL_ENV: 'production', ...env }, (e) => bootstrap({ env: e, logger: memoryLogger() }));
  const code = await runCli(args, open, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout: stdout.trim(), stderr: stderr.trim() };
}
