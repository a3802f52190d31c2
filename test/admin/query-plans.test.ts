// The queries behind the pages that grow with the association (the audit log, the
// credentials overview) use their indexes: checked with EXPLAIN QUERY PLAN on the SQL the
// code really sends, so a query rewritten into a table scan fails here, not in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../db/client.ts';
import { actionsInLog, queryAudit } from '../../server/audit/query.ts';
import { listAllSecrets } from '../../server/admin/secrets-overview.ts';
import { tempDir } from '../helpers/temp.ts';

test('query plans: audit log pages and filters, and the credentials overview, search their indexes', (t) => {
  const db = openDatabase(`${tempDir(t)}/portal.sqlite`);
  t.after(() => db.$client.close());
  const sent: string[] = [];
  const prepare = db.$client.prepare.bind(db.$client);
  db.$client.prepare = ((source: string) => {
    sent.push(source);
    return prepare(source);
  }) as typeof db.$client.prepare;
  const planOf = (run: () => unknown, contains: RegExp) => {
    sent.length = 0;
    run();
    const select = sent.filter((s) => /^(select|with)/i.test(s) && contains.test(s));
    assert.ok(select.length, `a query matching ${contains}`);
    // The plan does not depend on the values (no ANALYZE statistics): each parameter is null.
    return select.map((s) => (prepare(`explain query plan ${s}`).all(...Array.from(s.matchAll(/\?/g), () => null)) as Array<{ detail: string }>).map((r) => r.detail).join(' | '));
  };
  const filter = { organisationId: null, applicationId: null, user: '', action: '', from: '', to: '', before: null };
  const cases: Array<[string, () => unknown, RegExp, RegExp]> = [
    ['audit log, newest first', () => queryAudit(db, filter, 'UTC'), /order by/i, /USING INDEX audit_at/],
    ['audit log, an older page (keyset)', () => queryAudit(db, { ...filter, before: { at: 5, id: 9 } }, 'UTC'), /order by/i, /SEARCH audit_events USING INDEX audit_at \(at<\?\)/],
    ['audit log, one action', () => queryAudit(db, { ...filter, action: 'login.success' }, 'UTC'), /order by/i, /SEARCH audit_events USING INDEX audit_action \(action=\?\)/],
    ['audit log, an action prefix', () => queryAudit(db, { ...filter, action: 'secret.' }, 'UTC'), /order by/i, /SEARCH audit_events USING INDEX audit_action \(action>\? AND action<\?\)/],
    ['audit log, the capped count of one action', () => queryAudit(db, { ...filter, action: 'login.success' }, 'UTC'), /count\(\*\)/i, /USING COVERING INDEX audit_action/],
    ['audit log, one application', () => queryAudit(db, { ...filter, applicationId: 3 }, 'UTC'), /order by/i, /SEARCH audit_events USING INDEX audit_app/],
    ['audit log, the actions the filter offers (a skip through the index)', () => actionsInLog(db), /with recursive/i, /SEARCH audit_events USING COVERING INDEX audit_action \(action>\?\)/],
    ['credentials overview, a later page (keyset)', () => listAllSecrets(db, Date.now(), null, { expiresAt: 5, id: '00000000-0000-0000-0000-000000000000' }), /order by/i, /SEARCH client_secrets USING INDEX client_secrets_expiry \(expires_at>\?\)/],
  ];
  for (const [name, run, which, expected] of cases) {
    const [plan] = planOf(run, which);
    assert.match(plan!, expected, `${name}: ${plan}`);
    assert.doesNotMatch(plan!, /SCAN audit_events(?! USING)|SCAN client_secrets(?! USING)/, `${name}: no table scan (${plan})`);
  }
});
