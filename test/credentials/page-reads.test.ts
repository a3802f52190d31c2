// The credentials page's reads are kept between views while nothing is written
// (server/credentials/reads.ts): a change made in this process, or by another process on
// its own connection (the CLI), shows on the very next view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startPortal } from '../helpers/portal.ts';
import { signIn } from '../helpers/accounts.ts';
import { buildWorld } from '../helpers/fixtures.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

test('the page shows a change by another process, or by this one, on the next view', async (t) => {
  const portal = await startPortal(t);
  const world = await buildWorld(portal);
  const app = findApplicationByClientId(portal.deps.db, world.appA1)!;
  const made = createClientSecret(portal.deps, cliActor, app, { name: 'Secret by VM', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 30) });
  assert.ok(made.ok);
  const c = await signIn(portal, world.managerA1);
  for (let i = 0; i < 3; i++) assert.match((await c.get('/manage-api-credentials')).text, /Secret by VM/, 'shown (and kept)');

  // Another process: its own connection, which this process's write count never sees.
  const other = new Database(`${portal.dataDir}/portal.sqlite`);
  t.after(() => other.close());
  other.prepare("update client_secrets set name = 'Renamed elsewhere' where id = ?").run(made.value.row.id);
  let page = (await c.get('/manage-api-credentials')).text;
  assert.match(page, /Renamed elsewhere/, 'the other process\'s change, on the next view');
  assert.doesNotMatch(page, /Secret by VM/);
  other.prepare("update applications set name = 'Partner-NL-HospitalA-Renamed' where id = ?").run(app.id);
  other.prepare('delete from application_apis where application_id = ? and api_code = ?').run(app.id, 'SMC');
  page = (await c.get('/manage-api-credentials')).text;
  assert.match(page, /Partner-NL-HospitalA-Renamed/);
  assert.doesNotMatch(page, /Match-Connect/, 'the grant removed elsewhere is gone');

  // This process, through its own connection.
  portal.deps.db.$client.prepare('update client_secrets set deleted_at = ? where id = ?').run(portal.clock.now(), made.value.row.id);
  page = (await c.get('/manage-api-credentials')).text;
  assert.doesNotMatch(page, /Renamed elsewhere/, 'deleted here: gone on the next view');
});
