// parseAuditFilter: the audit log's query string, table-style.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuditFilter } from '../../server/audit/query.ts';

test('parseAuditFilter: clean values, messages for bad dates, ignored junk', () => {
  const empty = { organisationId: null, applicationId: null, user: '', action: '', from: '', to: '', page: 1 };
  const cases: Array<[string, Record<string, unknown>, object, Record<string, string>]> = [
    ['nothing', {}, empty, {}],
    ['everything', { organisation: '3', application: '7', user: ' a@b.example ', action: 'secret.', from: '2027-01-01', to: '2027-01-31', page: '2' }, { organisationId: 3, applicationId: 7, user: 'a@b.example', action: 'secret.', from: '2027-01-01', to: '2027-01-31', page: 2 }, {}],
    ['bad dates', { from: 'yesterday', to: '2027-02-30' }, empty, { from: 'Use a date like 2027-01-31.', to: 'Use a date like 2027-01-31.' }],
    ['ids that are not ids', { organisation: '-1', application: '1e3', page: '0' }, empty, {}],
    ['arrays are ignored', { user: ['a', 'b'], action: ['x'] }, empty, {}],
    ['page capped', { page: '999999999' }, { ...empty, page: 100_000 }, {}],
  ];
  for (const [name, query, filter, errors] of cases) assert.deepEqual(parseAuditFilter(query), { filter, errors }, name);
});
