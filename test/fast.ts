// `make test-fast`: every test but the browser, the single executable and the fault drills,
// in TEST_SHARDS processes (4) that each load the portal once and run their share of the
// files one after another. A process per file (what `node --test` does) spent more CPU
// starting (tsx, the whole server) than most files spend testing: 40 s of the suite's 89.
// Files are dealt to the shards by size, largest first, to the shard with the least so far.
// The exit code is 1 when any shard fails; each shard's report is printed as it ends.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SHARDS = Number(process.env.TEST_SHARDS ?? 4);
const LEFT_OUT = ['test/browser/', 'test/binary/', 'test/faults/'];

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? testFiles(p) : e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const files = testFiles('test')
  .filter((f) => !LEFT_OUT.some((d) => f.startsWith(d)))
  .map((f) => ({ f, size: fs.statSync(f).size }))
  .sort((a, b) => b.size - a.size);
const shards = Array.from({ length: SHARDS }, () => ({ files: [] as string[], size: 0 }));
for (const { f, size } of files) {
  const lightest = shards.reduce((a, b) => (b.size < a.size ? b : a));
  lightest.files.push(f);
  lightest.size += size;
}

const started = performance.now();
const results = await Promise.all(
  shards
    .filter((s) => s.files.length)
    .map(
      (s, i) =>
        new Promise<{ code: number; summary: string }>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', ...s.files.flatMap((f) => ['--import', `./${f}`]), '--eval', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (out += d));
          child.on('close', (code) => {
            process.stdout.write(`\n# shard ${i + 1}: ${s.files.join(' ')}\n${out}`);
            const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)`, 'm').exec(out)?.[1] ?? 0);
            resolve({ code: code ?? 1, summary: `${count('pass')} passed, ${count('fail')} failed` });
          });
        }),
    ),
);
const failed = results.some((r) => r.code !== 0);
console.log(`\ntest-fast: ${files.length} files in ${results.length} processes, ${((performance.now() - started) / 1000).toFixed(1)} s; ${results.map((r) => r.summary).join('; ')}${failed ? '; FAILED' : ''}`);
process.exitCode = failed ? 1 : 0;
