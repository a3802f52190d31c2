// `make binary`: bundles the server into one script and the signature thread's code into
// another (esbuild), embeds them with the templates, public assets, migrations and the
// better-sqlite3 addon as a Node single executable application blob, and injects the blob
// into a copy of this Node binary (postject). Needs the Node version it was built with
// (20.x here) only to build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { BUNDLED_WORKER } from '../server/oauth/signatures/thread.ts';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const require = createRequire(import.meta.url);
fs.mkdirSync(dist, { recursive: true });

await build({
  // The server, and the signature thread's code (a Worker runs a file of its own).
  entryPoints: { bundle: path.join(root, 'server/binary-entry.ts'), 'signature-worker': path.join(root, 'server/oauth/signatures/worker.ts') },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outdir: dist,
  outExtension: { '.js': '.cjs' },
  logLevel: 'warning',
  // ESM dependencies (node-cron) read import.meta.url at load: give them this file's URL.
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: 'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  minifySyntax: true,
});

// Assets: key (path inside the extracted folder) -> file on disk.
const assets: Record<string, string> = {};
function addTree(dir: string, prefix: string) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) addTree(full, `${prefix}/${entry.name}`);
    else assets[`${prefix}/${entry.name}`] = full;
  }
}
addTree(path.join(root, 'views'), 'views');
addTree(path.join(root, 'public'), 'public');
addTree(path.join(root, 'db/migrations'), 'db/migrations');
assets['server/auth/common-passwords.txt'] = path.join(root, 'server/auth/common-passwords.txt');
assets[BUNDLED_WORKER] = path.join(dist, 'signature-worker.cjs');
assets['vendor/htmx.min.js'] = require.resolve('htmx.org/dist/htmx.min.js');
assets['vendor/simplewebauthn-browser.js'] = path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js');
assets['native/better_sqlite3.node'] = path.join(path.dirname(require.resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node');
fs.writeFileSync(path.join(dist, 'manifest.json'), JSON.stringify(Object.keys(assets)));

const seaConfig = {
  main: path.join(dist, 'bundle.cjs'),
  output: path.join(dist, 'sea-prep.blob'),
  disableExperimentalSEAWarning: true,
  useCodeCache: false,
  assets: { 'manifest.json': path.join(dist, 'manifest.json'), ...assets },
};
fs.writeFileSync(path.join(dist, 'sea-config.json'), JSON.stringify(seaConfig, null, 2));
execFileSync(process.execPath, ['--experimental-sea-config', path.join(dist, 'sea-config.json')], { stdio: 'inherit' });

const exe = path.join(dist, 'credentials-portal');
fs.rmSync(exe, { force: true });
fs.copyFileSync(process.execPath, exe);
fs.chmodSync(exe, 0o755);
execFileSync(process.execPath, [require.resolve('postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', path.join(dist, 'sea-prep.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'inherit' });
console.log(`built ${path.relative(root, exe)} (${(fs.statSync(exe).size / 2 ** 20).toFixed(1)} MiB, Node ${process.version})`);
