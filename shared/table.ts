// The single table's shape, declared once: the local runtime creates it from this, the CDK
// construct (infra/data.ts, infra/access.ts) mirrors it. Each entity's own file under
// functions/adapters/dynamodb/ (messages.ts, users.ts, delivery.ts, expiry.ts,
// bounces.ts, credentials.ts, nonces.ts) formats and parses its keys next to its item schema.
//
//   pk                 sk                       lsi1sk (order index)        what
//   USER#<aor>         MSG#<call key>           MSG#<receivedAt>#<id>      a held message, keyed by its Call-ID+CSeq
//                                                                          dedupe key: one conditional write stores it
//                                                                          (gsi1: EXP#<shard> / <expiresAt>#<id>)
//   USER#<aor>         MSG#<call key>           —                          a settled message's tombstone: keeps the
//                                                                          dedupe answer until its TTL
//   USER#<aor>         #SETTINGS                                           the user's settings
//   USER#<aor>         #PRESENCE                #PRESENCE#<published>#<until>  the user's presence state and contact; its
//                                                                          order-index entry sorts before MSG# and says
//                                                                          what its state depends on
//   USER#<aor>         #LEASE                                              the one delivery worker of this recipient,
//                                                                          and the range of messages it has in flight
//   USER#<aor>         #NOTICE#<sender>                                    an offline notice was sent (TTL: one hour)
// The user's own items sort before MSG#, so one query (sk < MSG#) reads them all. The order
// index (an LSI: strongly consistent) lists a recipient's held messages oldest first; it is
// sparse (a tombstone or a dead letter has no lsi1sk), so counting its MSG# range is the quota and
// MWI count. The presence's entry before that range lets capture read presence and count in one
// query after its write (functions/adapters/dynamodb/users.ts, heldAndPresence).
//   CREDENTIALS        USER#<aor>                                          a user's SIP credentials (HA1 hashes, admin flag)
//   DEDUPE#<key>       DEDUPE                                              an IMDN Message-ID → first message id
//   (gsi1) VACATION    <until>                                             on the #SETTINGS item while a vacation is set
//   NONCE#<nonce>      NONCE                                               a signed call's nonce, used (TTL: its window)
//   SIGNIN#<aor>       SIGNIN                                              failed sign-ins of an AOR (TTL: an hour after the last)
//   REVOKED#<jti>      REVOKED                                             a signed-out token (TTL: the token's expiry)
//   (gsi1) DEAD        <id>                                                on a dead letter (a bounce whose notice failed
//                                                                          for good), instead of its expiry entry; no TTL
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export const EXPIRY_INDEX = 'gsi1';
/** A recipient's held messages in arrival order (local secondary index: consistent reads). */
export const ORDER_INDEX = 'lsi1';
/** The expiry index is sharded so the sweeper's reads spread over partitions. */
export const EXPIRY_SHARDS = 8;
export const TTL_ATTRIBUTE = 'ttl';

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'gsi1sk', AttributeType: 'S' },
      { AttributeName: 'lsi1sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: EXPIRY_INDEX,
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        // The sweeper decides from the index alone (no read per message): state, claim time and
        // the message's place in the order index.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state', 'claimedAt', 'lsi1sk'] },
      },
    ],
    LocalSecondaryIndexes: [
      {
        IndexName: ORDER_INDEX,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'lsi1sk', KeyType: 'RANGE' },
        ],
        // Small entries: counting them is cheap; a read of whole messages fetches from the table.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
      },
    ],
  };
}

/** Keys shared by several entities; each entity formats its own sort keys. */
export const keys = {
  user: (aor: string) => `USER#${aor}`,
  userPrefix: 'USER#',
  messagePrefix: 'MSG#',
  credentials: 'CREDENTIALS',
  nonce: (nonce: string) => `NONCE#${nonce}`,
  nonceSk: 'NONCE',
  noncePrefix: 'NONCE#',
  signIn: (aor: string) => `SIGNIN#${aor}`,
  signInSk: 'SIGNIN',
  signInPrefix: 'SIGNIN#',
  revoked: (jti: string) => `REVOKED#${jti}`,
  revokedSk: 'REVOKED',
  revokedPrefix: 'REVOKED#',
  deadIndex: 'DEAD',
};

/** The groups' keys (functions/adapters/dynamodb/groups.ts); infra/access.ts scopes grants by them. */
export const groupKeys = {
  groups: 'GROUPS',
  group: (aor: string) => `GROUP#${aor}`,
  member: (aor: string) => `MEMBER#${aor}`,
  queue: (aor: string) => `GROUPQ#${aor}`,
  idle: 'IDLE',
  sticky: (sender: string) => `STICKY#${sender}`,
};

/** Click-to-chat: a chat (CHAT#<id> / CHAT) and its lines (CHAT#<id> / LINE#<id>), TTL on each. */
export const chatKeys = {
  chat: (chatId: string) => `CHAT#${chatId}`,
  chatSk: 'CHAT',
  line: (lineId: string) => `LINE#${lineId}`,
  linePrefix: 'LINE#',
};

/** Alerts from email: ALERT#<id> / ALERT (the record), BYGROUP, MEMBER#<aor>; listed through gsi1. */
export const alertKeys = {
  alert: (id: string) => `ALERT#${id}`,
  prefix: 'ALERT#',
  header: 'ALERT',
  byGroup: 'BYGROUP',
  member: (aor: string) => `MEMBER#${aor}`,
  memberPrefix: 'MEMBER#',
  all: 'ALERTS',
  ofGroup: (group: string) => `ALERTS#${group}`,
};

export function epochSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

export function nowSeconds(nowMs: number): number {
  return Math.floor(nowMs / 1000);
}
