// The single table's shape, declared once: the local runtime creates it from this, the CDK
// construct mirrors it, and the store adapter builds keys with these helpers only.
//
//   pk                 sk                              what
//   USER#<aor>         MSG#<receivedAt>#<id>           a held message (gsi1: EXP#<shard> / <expiresAt>#<id> while pending)
//   USER#<aor>         #COUNTER                        held-message count, guards the quota
//   USER#<aor>         #SETTINGS                       the user's settings
//   USER#<aor>         #PRESENCE                       the user's presence state and contact
//   USER#<aor>         #LEASE                          the one delivery worker of this recipient
//   USER#<aor>         #NOTICE#<sender>                an offline notice was sent (TTL: one hour)
// The user's own items sort before MSG#, so one query (sk < MSG#) reads them all.
//   CREDENTIALS        USER#<aor>                      a user's SIP credentials (HA1 hashes, admin flag)
//   DEDUPE#<key>       DEDUPE                          Call-ID+CSeq / IMDN Message-ID → first message id
//   (gsi1) VACATION    <until>                         on the #SETTINGS item while a vacation is set
//   NONCE#<nonce>      NONCE                           a signed call's nonce, used (TTL: its window)
//   SIGNIN#<aor>       SIGNIN                          failed sign-ins of an AOR (TTL: an hour after the last)
//   REVOKED#<jti>      REVOKED                         a signed-out token (TTL: the token's expiry)
//   (gsi1) DEAD        <id>                            on a dead letter (a bounce whose notice failed
//                                                      for good), instead of its expiry entry; no TTL
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export const EXPIRY_INDEX = 'gsi1';
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
        // The sweeper decides from the index alone (no read per message): state and claim time.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state', 'claimedAt'] },
      },
    ],
  };
}

export const keys = {
  user: (aor: string) => `USER#${aor}`,
  message: (receivedAt: string, id: string) => `MSG#${receivedAt}#${id}`,
  messagePrefix: 'MSG#',
  counter: '#COUNTER',
  settings: '#SETTINGS',
  presence: '#PRESENCE',
  lease: '#LEASE',
  notice: (sender: string) => `#NOTICE#${sender}`,
  credentials: 'CREDENTIALS',
  dedupe: (key: string) => `DEDUPE#${key}`,
  dedupeSk: 'DEDUPE',
  expiryShard: (id: string) => {
    let hash = 0;
    for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
    return `EXP#${hash % EXPIRY_SHARDS}`;
  },
  expirySk: (expiresAt: string, id: string) => `${expiresAt}#${id}`,
  vacationIndex: 'VACATION',
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

export function epochSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
