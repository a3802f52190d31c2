// The queries behind the pages that grow with the association (the audit log, the
// credentials overview, integration health) use their indexes: checked with EXPLAIN QUERY PLAN on the SQL the
// code really sends, so a query rewritten into a table scan fails here, not in production.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../db/client.ts';
import { actionsInLog, queryAudit } from '../../server/audit/query.ts';
import { listAllSecrets } from '../../server/admin/secrets-overview.ts';
import { expiringWithoutSuccessor, idleApplications, refusedApplications } from '../../server/admin/health.ts';
import { tempDir } from '../helpers/temp.ts';

// A fresh database whose connection records the SQL of every statement the code prepares.
function recording(t: TestContext) {
  const db = openDatabase(`${tempDir(t)}/portal.sqlite`);
  t.after(() => db.$client.close());
  const sent: string[] = [];
  const prepare = db.$client.prepare.bind(db.$client);
  db.$client.prepare = ((source: string) => {
    sent.push(source);
    return prepare(source);
  }) as typeof db.$client.prepare;
  return { db, sent, prepare };
}

test('query plans: audit log pages and filters, and the credentials overview, search their indexes', (t) => {
  const { db, sent, prepare } = recording(t);
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

test('query plans: integration health reads refusals by hour, expiring credentials by expiry, and each application by its own indexes', (t) => {
  const { db, sent, prepare } = recording(t);
  const now = Date.now();
  refusedApplications(db, now);
  expiringWithoutSuccessor(db, now);
  idleApplications(db, now, 'UTC');
  // Named parameters ($now …), each null: the plan does not depend on the values.
  const plans = sent.map((s) => {
    const params = Object.fromEntries(Array.from(s.matchAll(/\$(\w+)/g), (m) => [m[1]!, null]));
    return (prepare(`explain query plan ${s}`).all(params) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
  });
  const [refused, last, reasons, secrets, keys, idle] = plans;
  assert.equal(plans.length, 6, 'six statements');
  assert.match(refused!, /^CO-ROUTINE r \| SEARCH token_refusals USING INDEX token_refusals_hour \(hour>\?\)/, `refusals of the last 24 hours: ${refused}`);
  assert.equal(last, 'SEARCH token_refusals USING INDEX token_refusals_app (application_id=? AND last_at>?)', 'the last refusal of each application shown');
  assert.match(reasons!, /SEARCH token_refusals USING INDEX token_refusals_app \(application_id=\? AND last_at>\?\)/, `their reasons: ${reasons}`);
  assert.match(secrets!, /^SEARCH c USING INDEX client_secrets_expiry \(expires_at>\? AND expires_at<\?\)/, `expiring secrets: ${secrets}`);
  assert.match(keys!, /^SEARCH c USING INDEX client_keys_expiry \(expires_at>\? AND expires_at<\?\)/, `expiring keys: ${keys}`);
  assert.match(idle!, /SEARCH u USING INDEX sqlite_autoindex_credential_usage_1 \(application_id=\? AND kind=\? AND credential_id=\? AND day>\?\)/, `idle: a JWKS URL's last 30 days: ${idle}`);
  for (const [i, plan] of plans.entries()) {
    // Only the applications themselves are read one by one (the idle list looks at each once;
    // r, json_each and idle are the query's own intermediate rows); every credential, usage and
    // refusal row is found through an index.
    const scans = plan.split(' | ').filter((d) => d.startsWith('SCAN') && !/^SCAN (json_each|idle|r)\b/.test(d));
    assert.deepEqual(scans, i === 5 ? ['SCAN a'] : [], `statement ${i + 1}: ${plan}`);
    for (const table of ['client_secrets', 'client_keys', 'federated_credentials', 'credential_usage', 'token_refusals']) assert.doesNotMatch(plan, new RegExp(`SCAN ${table}\\b`));
  }
});
