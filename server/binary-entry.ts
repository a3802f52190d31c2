// Entry point of the single executable (dist/credentials-portal): extract the embedded
// files (views, public assets, migrations, the better-sqlite3 addon) to a private
// temporary folder, load the addon from there, then run a CLI command or the server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sea from 'node:sea';
import { setResourceRoot } from './lib/paths.ts';
import { useNativeBinding } from '../db/client.ts';

function extractAssets(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'credentials-portal-'));
  fs.chmodSync(dir, 0o700);
  const manifest = JSON.parse(sea.getAsset('manifest.json', 'utf8')) as string[];
  for (const key of manifest) {
    const target = path.join(dir, key);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    fs.writeFileSync(target, Buffer.from(sea.getAsset(key)), { mode: 0o600 });
  }
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start() {
  const dir = extractAssets();
  setResourceRoot(dir);
  const addon = { exports: {} as object };
  process.dlopen(addon, path.join(dir, 'native', 'better_sqlite3.node'));
  useNativeBinding(addon.exports);
  const args = process.argv.slice(2);
  if (args.length === 0 || args[0] === 'serve') {
    const { runServer } = await import('./main.ts');
    await runServer();
  } else {
    const { runCli } = await import('./cli/cli.ts');
    process.exitCode = await runCli(args);
  }
}

start().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error).stack ?? (err as Error).message}\n`);
  process.exit(1);
});
