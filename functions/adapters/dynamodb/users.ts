// A user's own items: settings, presence and the automatic-notice claims (UserStore,
// SettingsStore). All sort before MSG#, so one query reads them; the held count comes from the
// order index (messages.ts), read alongside.
//
//   pk USER#<aor>   sk #SETTINGS           { settings, updatedAt }  (gsi1 VACATION / <until> while away)
//   pk USER#<aor>   sk #PRESENCE           { registration?, published?, version, updatedAt }
//   pk USER#<aor>   sk #NOTICE#<sender>    { until, ttl }
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { PRESENCE_STATES } from '../../../shared/contract/presence.ts';
import { type UserSettings, UserSettingsSchema } from '../../../shared/contract/settings.ts';
import { keys, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import type { Presence, SettingsStore, UserRecord, UserStore } from '../../core/ports.ts';
import { countHeld } from './messages.ts';
import { type TableContext, writeIf } from './writes.ts';

export const SETTINGS_SK = '#SETTINGS';
export const PRESENCE_SK = '#PRESENCE';
export const noticeSk = (sender: string) => `#NOTICE#${sender}`;
export const VACATION_INDEX_PK = 'VACATION';
/** The MWI and presence checks need to know whether, and how many; no more than this is counted. */
const HELD_COUNT_LIMIT = 10_000;

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
    for (const item of Items) {
      if (item.sk === SETTINGS_SK) {
        const settings = parseSettings(item.settings);
        if (settings) record.settings = settings;
      } else if (item.sk === PRESENCE_SK) record.presence = presenceFromItem(item);
    }
    return record;
  }

  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    return writeIf(
      this.table.client,
      new PutCommand({
        TableName: this.table.tableName,
        Item: { pk: keys.user(aor), sk: PRESENCE_SK, ...presence },
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
