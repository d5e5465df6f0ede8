// The work queues of `npm start` on the embedded store (HOLDOVER_STORE=sqlite): the delivery and
// expired queues live in the SQLite file, so no SQS stand-in runs and jobs survive a restart.
// Undefined everywhere else (AWS, and HOLDOVER_STORE=dynamodb locally): SQS. One instance per
// process, shared by the producers and the local poller (a send wakes a waiting receive).

import { requireEnv } from '../../shared/env.ts';
import type { SqliteJobs } from './sqlite/jobs.ts';
import { storeKindFromEnv } from './store-kind.ts';

export { DELIVERY_QUEUE, EXPIRED_QUEUE } from './queue-names.ts';

async function open(): Promise<SqliteJobs> {
  const path = requireEnv('HOLDOVER_SQLITE_PATH');
  // computed specifiers: bundlers leave them alone, so no Lambda bundle carries SQLite
  const [{ openDatabase }, { SqliteJobs: Jobs }]: [
    typeof import('./sqlite/db.ts'),
    typeof import('./sqlite/jobs.ts'),
  ] = await Promise.all([
    import(new URL('./sqlite/db.ts', import.meta.url).href),
    import(new URL('./sqlite/jobs.ts', import.meta.url).href),
  ]);
  return new Jobs(openDatabase(path));
}

export const localJobs: SqliteJobs | undefined =
  storeKindFromEnv('dynamodb') === 'sqlite' ? await open() : undefined;
