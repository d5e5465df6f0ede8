// HOLDOVER_STORE: which store adapter a process wires, checked at start with a clear error.
import { afterEach, describe, expect, it } from 'vitest';
import { storeKindFromEnv } from '../../functions/adapters/store-kind.ts';

const saved = process.env.HOLDOVER_STORE;
afterEach(() => {
  if (saved === undefined) delete process.env.HOLDOVER_STORE;
  else process.env.HOLDOVER_STORE = saved;
});

describe('HOLDOVER_STORE', () => {
  it('defaults to what the caller runs on: DynamoDB in AWS, SQLite for npm start', () => {
    delete process.env.HOLDOVER_STORE;
    expect(storeKindFromEnv('dynamodb')).toBe('dynamodb');
    expect(storeKindFromEnv('sqlite')).toBe('sqlite');
  });

  it('takes sqlite or dynamodb, and names itself when it is anything else', () => {
    process.env.HOLDOVER_STORE = 'dynamodb';
    expect(storeKindFromEnv('sqlite')).toBe('dynamodb');
    process.env.HOLDOVER_STORE = 'postgres';
    expect(() => storeKindFromEnv('sqlite')).toThrow(
      'HOLDOVER_STORE must be sqlite or dynamodb, got "postgres"',
    );
  });
});
