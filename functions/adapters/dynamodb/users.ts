// A user's own items: settings, presence and the automatic-notice claims (UserStore,
// SettingsStore). All sort before MSG#, so one query reads them; the held count comes from the
// order index, read alongside.
//
//   pk USER#<aor>   sk #SETTINGS           { settings, updatedAt }  (gsi1 VACATION / <until> while away)
//   pk USER#<aor>   sk #PRESENCE           { registration?, published?, version, updatedAt }
//                                          lsi1sk #PRESENCE#<published>#<registered until>
//   pk USER#<aor>   sk #NOTICE#<sender>    { until, ttl }
//
// The presence has an entry in the order index too, before the messages (# sorts before M), and
// its key says what its state depends on: so a capture's one consistent query of the index after
// its write reads both the held count (the quota) and the presence (the capture/presence race).
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { PRESENCE_STATES } from '../../../shared/contract/presence.ts';
import { type UserSettings, UserSettingsSchema } from '../../../shared/contract/settings.ts';
import { groupKeys, keys, ORDER_INDEX, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import { type Group, parseStoredGroup } from '../../core/groups.ts';
import type {
  Presence,
  PresenceSummary,
  RecipientStore,
  SettingsStore,
  UserRecord,
  UserStore,
} from '../../core/ports.ts';
import { summaryOf } from '../../core/presence.ts';
import { getItems, type TableContext, writeIf } from './writes.ts';

export const SETTINGS_SK = '#SETTINGS';
export const PRESENCE_SK = '#PRESENCE';
export const noticeSk = (sender: string) => `#NOTICE#${sender}`;
export const VACATION_INDEX_PK = 'VACATION';
/** The MWI and presence checks need to know whether, and how many; no more than this is counted. */
const HELD_COUNT_LIMIT = 10_000;

/** The presence's entry in the order index: sorts before every message (MSG#…). */
const PRESENCE_ORDER_PREFIX = '#PRESENCE#';
/** Past every key of the order index's messages (`$` follows `#`). */
const AFTER_MESSAGES = `${keys.messagePrefix.slice(0, -1)}$`;

export function presenceOrderOf(presence: Presence): string {
  const { published, registeredUntil } = summaryOf(presence);
  return `${PRESENCE_ORDER_PREFIX}${published ?? ''}#${registeredUntil ?? ''}`;
}

export function parsePresenceOrder(order: string): PresenceSummary {
  const [published = '', registeredUntil = ''] = order.slice(PRESENCE_ORDER_PREFIX.length).split('#');
  const state = PRESENCE_STATES.find((known) => known === published);
  return {
    ...(state ? { published: state } : {}),
    ...(registeredUntil ? { registeredUntil } : {}),
  };
}

const PresenceItemSchema = z.object({
  registration: z.optional(z.object({ contact: z.string(), expiresAt: z.string() })),
  published: z.optional(z.enum(PRESENCE_STATES)),
  version: z.catch(z.number(), 0),
  updatedAt: z.catch(z.string(), ''),
});

function presenceFromItem(item: Record<string, unknown>): Presence {
  const { registration, published, version, updatedAt } = PresenceItemSchema.parse(item);
  return {
    ...(registration ? { registration } : {}),
    ...(published ? { published } : {}),
    version,
    updatedAt,
  };
}

function parseSettings(value: unknown): UserSettings | undefined {
  if (value === undefined) return undefined;
  const parsed = UserSettingsSchema.safeParse(value);
  // A stored value that no longer validates is ignored rather than breaking capture.
  return parsed.success ? parsed.data : undefined;
}

/** One of the user's own items read into their record (settings, presence; others ignored). */
function addUserItem(record: UserRecord, item: Record<string, unknown>): void {
  if (item.sk === SETTINGS_SK) {
    const settings = parseSettings(item.settings);
    if (settings) record.settings = settings;
  } else if (item.sk === PRESENCE_SK) record.presence = presenceFromItem(item);
}

export class DynamoUsers implements UserStore, SettingsStore {
  constructor(private readonly table: TableContext) {}

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    const { Item } = await this.table.client.send(
      new GetCommand({ TableName: this.table.tableName, Key: { pk: keys.user(aor), sk: SETTINGS_SK } }),
    );
    return parseSettings(Item?.settings);
  }

  async putSettings(aor: string, settings: UserSettings): Promise<void> {
    await this.table.client.send(
      new PutCommand({
        TableName: this.table.tableName,
        Item: {
          pk: keys.user(aor),
          sk: SETTINGS_SK,
          settings,
          updatedAt: new Date(this.table.now()).toISOString(),
          // listed in the index while a vacation is set, so the sweeper finds who is away
          ...(settings.vacation
            ? { gsi1pk: VACATION_INDEX_PK, gsi1sk: new Date(settings.vacation.until).toISOString() }
            : {}),
        },
      }),
    );
  }

  /** One query reads all of a user's own items (`sk < MSG#`); the held count is read beside it. */
  async getUser(aor: string, options: { countHeld?: boolean } = {}): Promise<UserRecord> {
    const [{ Items = [] }, held] = await Promise.all([
      this.table.client.send(
        new QueryCommand({
          TableName: this.table.tableName,
          KeyConditionExpression: 'pk = :pk AND sk < :msg',
          ExpressionAttributeValues: { ':pk': keys.user(aor), ':msg': keys.messagePrefix },
          ConsistentRead: true,
        }),
      ),
      options.countHeld === false ? 0 : countHeld(this.table, aor, HELD_COUNT_LIMIT),
    ]);
    const record: UserRecord = { held };
    for (const item of Items) addUserItem(record, item);
    return record;
  }

  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    return writeIf(
      this.table.client,
      new PutCommand({
        TableName: this.table.tableName,
        Item: { pk: keys.user(aor), sk: PRESENCE_SK, ...presence, lsi1sk: presenceOrderOf(presence) },
        ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : 'version = :version',
        ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ':version': expectedVersion } }),
      }),
    );
  }

  claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean> {
    const nowMs = this.table.now();
    return writeIf(
      this.table.client,
      new PutCommand({
        TableName: this.table.tableName,
        Item: {
          pk: keys.user(recipient),
          sk: noticeSk(sender),
          until: nowMs + windowMs,
          [TTL_ATTRIBUTE]: Math.ceil((nowMs + windowMs) / 1000),
        },
        ConditionExpression: 'attribute_not_exists(pk) OR #until < :now',
        ExpressionAttributeNames: { '#until': 'until' },
        ExpressionAttributeValues: { ':now': nowMs },
      }),
    );
  }
}

/**
 * Capture's read before its write, one BatchGetItem: the user's settings and the group at the
 * same AOR (groups.ts keeps it under GROUPS). The presence capture needs is read after the write,
 * with the quota's count (DynamoMessages.hold).
 */
export class DynamoRecipients implements RecipientStore {
  constructor(private readonly table: TableContext) {}

  async readRecipient(aor: string): Promise<{ group?: Group; settings?: UserSettings }> {
    const items = await getItems(this.table, [
      { pk: keys.user(aor), sk: SETTINGS_SK },
      { pk: groupKeys.groups, sk: groupKeys.group(aor) },
    ]);
    const groupItem = items.find((item) => item.pk === groupKeys.groups);
    const settings = parseSettings(items.find((item) => item.sk === SETTINGS_SK)?.settings);
    return {
      ...(groupItem ? { group: parseStoredGroup(groupItem) } : {}),
      ...(settings ? { settings } : {}),
    };
  }
}

// --- the order index: the held count, with the presence ---

/**
 * How many messages a recipient holds (pending, in flight, being emailed, bounced), counted in
 * the order index up to `limit`.
 */
export async function countHeld(
  table: TableContext,
  recipient: string,
  limit: number,
  options: { abortSignal?: AbortSignal } = {},
): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: ORDER_INDEX,
        KeyConditionExpression: 'pk = :pk AND begins_with(lsi1sk, :msg)',
        ExpressionAttributeValues: { ':pk': keys.user(recipient), ':msg': keys.messagePrefix },
        Select: 'COUNT',
        ConsistentRead: true,
        Limit: Math.max(1, limit - count),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
      options.abortSignal ? { abortSignal: options.abortSignal } : {},
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start && count < limit);
  return count;
}

/**
 * The held count (up to `limit`) and the presence, in one consistent query of the order index:
 * its range holds the presence's entry, then the messages; the filter returns the presence's
 * entry only (a message has a state), and the entries read beside it are the count.
 */
export async function heldAndPresence(
  table: TableContext,
  recipient: string,
  limit: number,
  options: { abortSignal?: AbortSignal } = {},
): Promise<{ held: number; presence?: PresenceSummary }> {
  let read = 0;
  let presence: PresenceSummary | undefined;
  let start: Record<string, unknown> | undefined;
  const counted = () => read - (presence ? 1 : 0);
  do {
    const page = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: ORDER_INDEX,
        KeyConditionExpression: 'pk = :pk AND lsi1sk < :end',
        FilterExpression: 'attribute_not_exists(#state)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':pk': keys.user(recipient), ':end': AFTER_MESSAGES },
        ConsistentRead: true,
        // the presence's entry comes first (if there is one), then up to `limit` messages
        Limit: Math.max(1, limit + 1 - read),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
      options.abortSignal ? { abortSignal: options.abortSignal } : {},
    );
    read += page.ScannedCount ?? 0;
    const entry = page.Items?.find((item) => String(item.lsi1sk).startsWith(PRESENCE_ORDER_PREFIX));
    if (entry) presence = parsePresenceOrder(String(entry.lsi1sk));
    start = page.LastEvaluatedKey;
  } while (start && counted() < limit);
  const held = Math.min(limit, counted());
  return presence ? { held, presence } : { held };
}
