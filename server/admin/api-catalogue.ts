import type { Db } from '../../db/client.ts';
import { apis } from '../../db/schema.ts';
import type { Clock } from '../clock.ts';

// The association's APIs as the sandbox seeds them (also what tests start from).
export const DEMO_APIS = [
  { code: 'DM', name: 'Data Manager', sandboxResource: 'https://sandbox.api.example.org/dm', productionResource: 'https://api.example.org/dm' },
  { code: 'SMC', name: 'Match-Connect', sandboxResource: 'https://sandbox.api.example.org/smc', productionResource: 'https://api.example.org/smc' },
  { code: 'SM', name: 'Search & Match', sandboxResource: 'https://sandbox.api.example.org/sm', productionResource: 'https://api.example.org/sm' },
];

export function seedApiCatalogue(db: Db, clock: Clock): void {
  for (const api of DEMO_APIS) db.insert(apis).values({ ...api, createdAt: clock.now() }).onConflictDoNothing().run();
}
