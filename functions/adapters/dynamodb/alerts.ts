// Alerts from email on the single table (AlertStore port), the twin of ../sqlite/alerts.ts:
//   pk ALERT#<id>   sk ALERT             the alert { id, group, from, subject, messageId?, receivedAt, dispatched }
//                                        (gsi1: ALERTS / <receivedAt>#<id>: every alert, newest first)
//   pk ALERT#<id>   sk BYGROUP           (gsi1: ALERTS#<group> / <receivedAt>#<id>: one group's alerts)
//   pk ALERT#<id>   sk MEMBER#<aor>      a member's outcome { member, outcome, final, messageId?, at, detail? }
// All with a TTL (the retention); reads ignore items past it. An alert is opened with one
// transaction whose condition is that none with its id lives (the id comes from the group and the
// mail's Message-ID); a member's outcome is one conditional update: a final one is never replaced
// by a non-final one.
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { alertKeys, EXPIRY_INDEX, nowSeconds, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import {
  ALERT_RETENTION_MS,
  type AlertPage,
  type AlertRecord,
  type AlertStore,
  alertCursor,
  FINAL_OUTCOMES,
  type MemberOutcome,
  parseAlertCursor,
  parseStoredAlert,
  parseStoredOutcome,
} from '../../core/alerts.ts';
import { type TableContext, type TransactItem, writeIf } from './writes.ts';

export class DynamoAlerts implements AlertStore {
  constructor(private readonly table: TableContext) {}

  async openAlert(alert: AlertRecord): Promise<{ opened: true } | { opened: false; existing: AlertRecord }> {
    const { tableName, client } = this.table;
    const ttl = Math.floor((Date.parse(alert.receivedAt) + ALERT_RETENTION_MS) / 1000);
    const pk = alertKeys.alert(alert.id);
    const order = `${alert.receivedAt}#${alert.id}`;
    const { members, ...header } = alert;
    const items: TransactItem[] = [
      {
        Put: {
          TableName: tableName,
          Item: {
            pk,
            sk: alertKeys.header,
            type: 'alert',
            ...header,
            gsi1pk: alertKeys.all,
            gsi1sk: order,
            [TTL_ATTRIBUTE]: ttl,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':now': nowSeconds(this.table.now()) },
        },
      },
      {
        Put: {
          TableName: tableName,
          Item: {
            pk,
            sk: alertKeys.byGroup,
            gsi1pk: alertKeys.ofGroup(alert.group),
            gsi1sk: order,
            [TTL_ATTRIBUTE]: ttl,
          },
        },
      },
      ...members.map(
        (member): TransactItem => ({
          Put: {
            TableName: tableName,
            Item: {
              pk,
              sk: alertKeys.member(member.member),
              ...member,
              final: FINAL_OUTCOMES.has(member.outcome),
              [TTL_ATTRIBUTE]: ttl,
            },
          },
        }),
      ),
    ];
    try {
      await client.send(new TransactWriteCommand({ TransactItems: items }));
      return { opened: true };
    } catch (error) {
      const conflict =
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed';
      if (!conflict) throw error;
      const existing = await this.getAlert(alert.id);
      if (existing === undefined) throw error;
      return { opened: false, existing };
    }
  }

  async recordOutcomes(alertId: string, outcomes: MemberOutcome[]): Promise<void> {
    const now = nowSeconds(this.table.now());
    await Promise.all(
      outcomes.map((update) => {
        const final = FINAL_OUTCOMES.has(update.outcome);
        const fields: Record<string, unknown> = {
          outcome: update.outcome,
          at: update.at,
          final,
          ...(update.messageId !== undefined ? { messageId: update.messageId } : {}),
          ...(update.detail !== undefined ? { detail: update.detail } : {}),
        };
        const names = Object.keys(fields);
        return writeIf(
          this.table.client,
          new UpdateCommand({
            TableName: this.table.tableName,
            Key: { pk: alertKeys.alert(alertId), sk: alertKeys.member(update.member) },
            UpdateExpression: `SET ${names.map((_, index) => `#f${index} = :v${index}`).join(', ')}, #member = :member`,
            // the alert lives (a member item is written with it); a final outcome stays
            ConditionExpression: `attribute_exists(pk) AND #ttl >= :now${final ? '' : ' AND #final = :false'}`,
            ExpressionAttributeNames: {
              ...Object.fromEntries(names.map((name, index) => [`#f${index}`, name])),
              '#member': 'member',
              '#ttl': TTL_ATTRIBUTE,
              ...(final ? {} : { '#final': 'final' }),
            },
            ExpressionAttributeValues: {
              ...Object.fromEntries(names.map((name, index) => [`:v${index}`, fields[name]])),
              ':member': update.member,
              ':now': now,
              ...(final ? {} : { ':false': false }),
            },
          }),
        );
      }),
    );
  }

  async markDispatched(alertId: string): Promise<void> {
    await writeIf(
      this.table.client,
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: { pk: alertKeys.alert(alertId), sk: alertKeys.header },
        UpdateExpression: 'SET dispatched = :true',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':true': true },
      }),
    );
  }

  async getAlert(id: string): Promise<AlertRecord | undefined> {
    const now = nowSeconds(this.table.now());
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.table.client.send(
        new QueryCommand({
          TableName: this.table.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': alertKeys.alert(id) },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    const live = items.filter((item) => !(Number(item[TTL_ATTRIBUTE]) < now));
    const header = live.find((item) => item.sk === alertKeys.header);
    if (header === undefined) return undefined;
    const members = live
      .filter((item) => String(item.sk).startsWith(alertKeys.memberPrefix))
      .map(({ member, outcome, messageId, at, detail }) =>
        parseStoredOutcome({ member, outcome, messageId, at, detail }),
      );
    const { id: alertId, group, from, subject, messageId, receivedAt, dispatched } = header;
    return parseStoredAlert({
      id: alertId,
      group,
      from,
      subject,
      messageId,
      receivedAt,
      dispatched,
      members,
    });
  }

  async listAlerts(page: { group?: string; limit?: number; after?: string } = {}): Promise<AlertPage> {
    const limit = page.limit ?? 100;
    const after = page.after ? parseAlertCursor(page.after) : undefined;
    const ids: string[] = [];
    let start: Record<string, unknown> | undefined;
    // newest first in the index; one more than asked tells whether there is a next page
    do {
      const result = await this.table.client.send(
        new QueryCommand({
          TableName: this.table.tableName,
          IndexName: EXPIRY_INDEX,
          KeyConditionExpression: after ? 'gsi1pk = :pk AND gsi1sk < :after' : 'gsi1pk = :pk',
          ExpressionAttributeValues: {
            ':pk': page.group !== undefined ? alertKeys.ofGroup(page.group) : alertKeys.all,
            ...(after ? { ':after': `${after.receivedAt}#${after.id}` } : {}),
          },
          ScanIndexForward: false,
          Limit: limit + 1 - ids.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      // (the index holds keys only: an alert past its TTL is skipped when it is read)
      for (const item of result.Items ?? []) ids.push(String(item.pk).slice(alertKeys.prefix.length));
      start = result.LastEvaluatedKey;
    } while (start && ids.length <= limit);
    const alerts = (await Promise.all(ids.slice(0, limit).map((id) => this.getAlert(id)))).filter(
      (alert): alert is AlertRecord => alert !== undefined,
    );
    const last = alerts.at(-1);
    return ids.length > limit && last ? { alerts, next: alertCursor(last) } : { alerts };
  }
}
