// parseAuditFilter: the audit log's query string, table-style.
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
  ];
  for (const [name, query, filter, errors] of cases) assert.deepEqual(parseAuditFilter(query), { filter, errors }, name);
});
