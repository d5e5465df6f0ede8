// The lease item: one per recipient, the one delivery worker and the messages it has in flight.
//
//   pk USER#<aor>   sk #LEASE   { owner, until (epoch ms), ttl, inflightFrom?, inflightUntil? }
//
// In flight is a range of the order index, [inflightFrom, inflightUntil): a batch is marked
// `delivering` by one write of the lease, not one per message. The sweeper claims a pending
// message only with a ConditionCheck that no live lease's range covers it, so a message is
// delivered XOR emailed; the range goes with the lease (released, or lapsed and garbage-collected).
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import type { TableContext } from './writes.ts';

export const LEASE_SK = '#LEASE';
/** A lease item is garbage-collected this long after it lapsed. */
export const LEASE_GC_SECONDS = 3600;
/** Appended to an order key: sorts after it and before every greater order key (same shape). */
export const AFTER = '~';

export const leaseKey = (recipient: string) => ({ pk: keys.user(recipient), sk: LEASE_SK });

export const LeaseItemSchema = z.object({
  owner: z.string(),
  until: z.number(),
  inflightFrom: z.optional(z.string()),
  inflightUntil: z.optional(z.string()),
});
export type LeaseItem = z.infer<typeof LeaseItemSchema>;

/** The stored lease, read consistently (undefined: none, or not one we can read). */
export async function readLease(table: TableContext, recipient: string): Promise<LeaseItem | undefined> {
  const { Item } = await table.client.send(
    new GetCommand({ TableName: table.tableName, Key: leaseKey(recipient), ConsistentRead: true }),
  );
  const parsed = LeaseItemSchema.safeParse(Item);
  return parsed.success ? parsed.data : undefined;
}

/** Whether the lease's in-flight range holds the message at `order` (its order-index key). */
export function covers(lease: LeaseItem | undefined, order: string): boolean {
  if (!lease?.inflightFrom || !lease.inflightUntil) return false;
  return lease.inflightFrom <= order && order < lease.inflightUntil;
}

/**
 * The condition (on the lease item) that no live lease's in-flight range overlaps [from, to]: for
 * a claim that must not take a message a delivery run has in flight. A lapsed lease (its run
 * died) holds nothing.
 */
export function notInFlight(from: string, to: string, nowMs: number) {
  return {
    ConditionExpression:
      'attribute_not_exists(inflightUntil) OR inflightUntil <= :from OR inflightFrom > :to OR #until < :now',
    ExpressionAttributeNames: { '#until': 'until' },
    ExpressionAttributeValues: { ':from': from, ':to': to, ':now': nowMs },
  };
}
