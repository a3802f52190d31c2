// The map of the code (README, "Map of the code") as a rule: a room imports only from the
// rooms listed above it. Type-only imports are free (every room takes the one Deps type).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOMS = ['lib', 'db', 'http', 'mail', 'audit', 'auth', 'credentials', 'reminders', 'account', 'oauth', 'admin', 'composition'];

function roomOf(file: string): string | null {
  const parts = file.split('/');
  if (parts[0] === 'db') return 'db';
  if (parts[0] !== 'server') return null;
  // server/'s top level and the command line (server/cli/) compose the rooms.
  if (parts.length === 2 || parts[1] === 'cli') return 'composition';
  return parts[1]!;
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

test('rooms: no import runs from a room to one listed below it in the README map', () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  const mapped = [...readme.matchAll(/^\| `(?:server\/)?([a-z]+)\/` \|/gm)].map((m) => m[1]).filter((r) => r !== 'build' && r !== 'test');
  assert.deepEqual(mapped, ROOMS.filter((r) => r !== 'composition'), 'the README lists the rooms in this order');
  const upward: string[] = [];
  const files = [...filesUnder('server'), ...filesUnder('db')];
  for (const file of files) {
    const from = roomOf(file)!;
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/^import (?!type )[^'"]*from '(\.[^']+)'/gm)) {
      const to = roomOf(path.normalize(path.join(path.dirname(file), m[1]!)));
      if (to && to !== from && ROOMS.indexOf(to) > ROOMS.indexOf(from)) upward.push(`${file} → ${m[1]} (${from} → ${to})`);
    }
  }
  assert.ok(files.length > 80, 'the whole tree was read');
  assert.deepEqual(upward, []);
});

test('rooms: server/ itself holds only composition (12 files at most), and no file in server/ is over 250 lines', () => {
  const top = fs.readdirSync('server').filter((f) => f.endsWith('.ts'));
  assert.ok(top.length <= 12, `server/ has ${top.length} files at its top level: ${top.join(', ')}`);
  const long = filesUnder('server').map((f) => [f, fs.readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > 250);
  assert.deepEqual(long, []);
});
