// README "Faults we survive", the process policy, in a real server process: a bug outside any
// request. An unhandled promise rejection is logged with its stack and the process keeps
// serving; an uncaught exception is logged, the server shuts down in order and exits 1 (so
// that systemd's Restart=on-failure starts a clean process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/temp.ts';
import { freePort } from '../bench/proc.ts';

async function portalThatThrows(t: Parameters<typeof tempDir>[0], kind: 'rejection' | 'exception') {
  const port = await freePort();
  const dataDir = tempDir(t);
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/drills/throw-later.ts', 'server/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), BASE_URL: baseUrl, PORTAL_ENV: 'production', THROW_LATER: kind },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    exited,
    log: () => out,
    healthy: () => fetch(`${baseUrl}/healthz`).then((r) => r.ok, () => false),
    throwNow: () => fs.writeFileSync(path.join(dataDir, 'throw-now'), ''),
  };
}

const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`waited ${ms / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test('process policy: an unhandled rejection outside a request is logged with its stack, and the portal keeps serving', async (t) => {
  const p = await portalThatThrows(t, 'rejection');
  await until('the portal to answer', p.healthy);
  p.throwNow();
  await until('the rejection to be logged', () => p.log().includes('unhandled promise rejection; still serving'));
  const line = p.log().split('\n').find((l) => l.includes('unhandled promise rejection'))!;
  const logged = JSON.parse(line) as { level: string; error: string; stack: string };
  assert.equal(logged.level, 'error');
  assert.equal(logged.error, 'drill: a background task failed');
  assert.match(logged.stack, /throw-later\.ts/);
  assert.equal(await p.healthy(), true, 'still serving');
});

test('process policy: an uncaught exception outside a request is logged, the portal shuts down in order and exits 1', async (t) => {
  const p = await portalThatThrows(t, 'exception');
  await until('the portal to answer', p.healthy);
  p.throwNow();
  assert.equal(await p.exited, 1);
  assert.match(p.log(), /"level":"error","msg":"uncaught exception; shutting down","error":"drill: a timer threw"/);
  assert.match(p.log(), /"msg":"shutting down","signal":"uncaughtException"/, 'in order, as for SIGTERM');
});
