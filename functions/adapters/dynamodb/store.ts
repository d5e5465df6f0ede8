// The store ports on the single DynamoDB table, one entity per file; this facade gives the
// functions one object (`store` in ../store.ts). Dependencies: adapters → core, never back.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ComposedStore } from '../composed-store.ts';
import { DynamoBounces } from './bounces.ts';
import { type DeliveryOptions, DynamoDelivery } from './delivery.ts';
import { DynamoExpiry } from './expiry.ts';
import { DynamoMessages } from './messages.ts';
import { DynamoUsers } from './users.ts';

export { messageItem } from './messages.ts';

interface DynamoParts {
  messages: DynamoMessages;
  users: DynamoUsers;
  delivery: DynamoDelivery;
  expiry: DynamoExpiry;
  bounces: DynamoBounces;
}

export class DynamoStore extends ComposedStore<DynamoParts> {
  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    now: () => number = Date.now,
    options: DeliveryOptions = {},
  ) {
    const table = { client, tableName, now };
    super({
      messages: new DynamoMessages(table),
      users: new DynamoUsers(table),
      delivery: new DynamoDelivery(table, options),
      expiry: new DynamoExpiry(table),
      bounces: new DynamoBounces(table),
    });
  }
}
