// parseAuditFilter: the audit log's query string, table-style; actions by their labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuditFilter } from '../../server/audit/query.ts';

test('parseAuditFilter: clean values, messages for bad dates, ignored junk', () => {
  const empty = { organisationId: null, applicationId: null, user: '', action: '', from: '', to: '', before: null };
  const cases: Array<[string, Record<string, unknown>, object, Record<string, string>]> = [
    ['nothing', {}, empty, {}],
    ['everything', { organisation: '3', application: '7', user: ' a@b.example ', action: 'secret.', from: '2027-01-01', to: '2027-01-31', before: '1800000000000_42' }, { organisationId: 3, applicationId: 7, user: 'a@b.example', action: 'secret.', from: '2027-01-01', to: '2027-01-31', before: { at: 1800000000000, id: 42 } }, {}],
    ['bad dates', { from: 'yesterday', to: '2027-02-30' }, empty, { from: 'Use a date like 2027-01-31.', to: 'Use a date like 2027-01-31.' }],
    ['ids that are not ids', { organisation: '-1', application: '1e3', before: '12_x' }, empty, {}],
    ['arrays are ignored', { user: ['a', 'b'], action: ['x'] }, empty, {}],
    ['a cursor that is not one', { before: '1e3_4' }, empty, {}],
    ['an action by its label, in any case', { action: ' secret CREATED ' }, { ...empty, action: 'secret.create' }, {}],
    ['a group by its label', { action: 'Any client secret event' }, { ...empty, action: 'secret.' }, {}],
    ['an action code the list does not know (a newer action)', { action: 'mail.failed' }, { ...empty, action: 'mail.failed' }, {}],
    ['neither a label nor a code', { action: 'everything please' }, empty, { action: 'No action is called “everything please”. Choose one from the list.' }],
    ['From after To', { from: '2027-02-01', to: '2027-01-31' }, { ...empty, to: '2027-01-31' }, { from: 'From (1 Feb 2027) is after To (31 Jan 2027): no event can match. Choose a From date on or before the To date.' }],
    ['From and To the same day', { from: '2027-01-31', to: '2027-01-31' }, { ...empty, from: '2027-01-31', to: '2027-01-31' }, {}],
  ];
  for (const [name, query, filter, errors] of cases) {
    const parsed = parseAuditFilter(query);
    assert.deepEqual({ filter: parsed.filter, errors: parsed.errors }, { filter, errors }, name);
  }
  // A refused value stays in its field, as typed.
  assert.deepEqual(parseAuditFilter({ from: '2027-02-01', to: '2027-01-31', action: 'nope nope' }).values, { action: 'nope nope', from: '2027-02-01', to: '2027-01-31' });
});
