// The credentials page shows what each credential is doing (issue 28, points 2–5): the
// sparkline with its text alternative, last address and client, the "Safe to delete"
// badge, the delete dialog's evidence (with htmx and as a page), and refused requests in
// the application's activity. Real token requests from real loopback addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { signIn } from '../helpers/accounts.ts';
import { buildWorld } from '../helpers/fixtures.ts';
import { decodeHtml } from '../helpers/http.ts';
import { takeOver, tokenFrom } from '../helpers/token-from.ts';

const HX = { 'HX-Request': 'true' };
const PAGE = '/manage-api-credentials';
const base = (clientId: string) => `${PAGE}/applications/${clientId}`;

test('the page: a sparkline per credential with its text, last address and client, "Safe to delete" on the idle one; the delete dialog says what deleting does; refusals in the activity', async (t) => {
  const portal = await startPortal(t, {}, '2026-11-10T10:00:00Z');
  const world = await buildWorld(portal);
  const { old, vm } = await takeOver(portal, world.appA1);
  const a1 = await signIn(portal, world.managerA1);
  const page = decodeHtml((await a1.get(PAGE)).text);

  const row = (id: string) => page.slice(page.indexOf(`<tr id="secret-${id}">`), page.indexOf('</tr>', page.indexOf(`<tr id="secret-${id}">`)));
  assert.match(row(old.id), /<svg class="sparkline" role="img" aria-label="2 requests in the last 30 days, last 9 days ago"[^>]*><title>2 requests in the last 30 days, last 9 days ago<\/title>/);
  assert.match(row(old.id), /<path stroke="currentColor" stroke-width="2\.4" d="M\d+\.2 20V1"\/>/, 'one full-height bar (a 2.4 px stroke), on the day it was used');
  assert.match(row(old.id), /from 127\.0\.0\.2 \(python-requests\/2\.31\)/);
  assert.match(row(old.id), /<span class="badge safe-to-delete"[^>]*>Safe to delete<\/span>/);
  assert.match(row(vm.id), /aria-label="4 requests in the last 30 days, last just now"/);
  assert.match(row(vm.id), /from 127\.0\.0\.3 \(curl\/8\.5\.0\)/);
  assert.doesNotMatch(row(vm.id), /Safe to delete/, 'the one in use is not');
  assert.doesNotMatch(page, /<script[^>]*sparkline/, 'no JavaScript draws it');

  // The delete dialog, with htmx and as a page of its own.
  for (const headers of [HX, {}]) {
    const idle = decodeHtml((await a1.get(`${base(world.appA1)}/secrets/${old.id}/delete`, headers)).text);
    assert.match(idle, /Not used for 9 days; “Secret by VM 2026” took over on 12 Nov 2026: safe to delete\./);
    const busy = decodeHtml((await a1.get(`${base(world.appA1)}/secrets/${vm.id}/delete`, headers)).text);
    assert.match(busy, /Used 3 times in the last 24 hours, last from 127\.0\.0\.3 \(curl\/8\.5\.0\) just now: deleting it stops that system\./);
  }

  // Recent activity: the wrong secret, three times from one address, is one row.
  const events = decodeHtml((await a1.get(`${base(world.appA1)}/events`, HX)).text);
  assert.match(events, /<strong>wrong secret<\/strong> \(3 times within the hour\) <span class="muted">from 127\.0\.0\.4 \(curl\/8\.5\.0\)<\/span>/);
  const eventsPage = decodeHtml((await a1.get(`${base(world.appA1)}/events`)).text);
  assert.match(eventsPage, /Refused token requests/);

  // Idle days are IDLE_DAYS: a day more used by "Old" and it is no longer safe to delete.
  assert.equal((await tokenFrom(portal, '127.0.0.2', world.appA1, old.secret, 'python-requests/2.31')).status, 200);
  portal.settle();
  const after = decodeHtml((await a1.get(PAGE)).text);
  assert.doesNotMatch(after, /Safe to delete<\/span>/);
});
