// Stateful resources: what holds accepted messages or secrets and must outlive a redeploy.
// Kept apart from the stateless parts (functions, API, edge) so those can be replaced freely.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TTL_ATTRIBUTE, tableDefinition } from '../shared/table.ts';
import type { QueueName } from './catalogue.ts';

export interface MailProps {
  /** SES sending identity: a domain (`example.com`) or one address (`holdover@example.com`). */
  readonly identity: string;
  /** Sender of digest emails (README: HOLDOVER_MAIL_FROM); must belong to the identity. */
  readonly from: string;
  /** Create the identity in this stack (default), or use one already verified in the account. */
  readonly createIdentity?: boolean;
}

export interface HoldoverDataProps {
  /** Prefix of the queues' physical names: `<prefix>-delivery`, `<prefix>-delivery-dlq`, … */
  readonly namePrefix: string;
  /** What deleting the stack does to held messages, queues and the signing secret. */
  readonly removalPolicy: RemovalPolicy;
  readonly mail: MailProps;
  /** Receives before a message moves to its DLQ. */
  readonly maxReceiveCount?: number;
  /**
   * Visibility timeout of each work queue; the construct derives it from the queue's consumer
   * (consumerVisibilityTimeout). Default for a queue without one: DEFAULT_VISIBILITY_TIMEOUT.
   */
  readonly visibilityTimeouts?: Partial<Readonly<Record<QueueName, Duration>>>;
}

/** A work queue and the dead-letter queue its poison messages end up in. */
export interface QueueWithDlq {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
}

/** Visibility timeout of a work queue that no function consumes. */
export const DEFAULT_VISIBILITY_TIMEOUT = Duration.minutes(3);

/**
 * A queue's visibility timeout for a consumer with this timeout. Lambda refuses one shorter than
 * the function's timeout; AWS advises six times it, so that a batch whose invocation was
 * throttled can still be retried before its messages reappear. A job that fails is not affected:
 * the consumers set its retry delay themselves (ChangeMessageVisibility), so only a consumer that
 * crashed or timed out waits this long, and a delivery is also restarted by the next presence
 * change or captured message.
 */
export function consumerVisibilityTimeout(consumerTimeout: Duration): Duration {
  return Duration.seconds(6 * consumerTimeout.toSeconds());
}

export class HoldoverData extends Construct {
  readonly table: dynamodb.Table;
  readonly queues: Readonly<Record<QueueName, QueueWithDlq>>;
  readonly signingSecret: secretsmanager.Secret;
  readonly mailIdentity: ses.IEmailIdentity;
  readonly mailFrom: string;

  constructor(scope: Construct, id: string, props: HoldoverDataProps) {
    super(scope, id);
    const { removalPolicy } = props;

    const { partitionKey, sortKey, globalSecondaryIndexes, localSecondaryIndexes } = tableShape();
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey,
      sortKey,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Garbage collection only: expiry to email is the sweeper's job (docs/design.md "Storage").
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
    for (const index of globalSecondaryIndexes) this.table.addGlobalSecondaryIndex(index);
    // An LSI exists only from the table's creation: a table made before it is replaced (deploy.md).
    for (const index of localSecondaryIndexes) this.table.addLocalSecondaryIndex(index);

    const maxReceiveCount = props.maxReceiveCount ?? 5;
    const queue = (name: QueueName): QueueWithDlq => {
      const deadLetterQueue = new sqs.Queue(this, `${capitalise(name)}DeadLetterQueue`, {
        queueName: `${props.namePrefix}-${name}-dlq`,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // The longest SQS allows: a DLQ is where an operator looks after an incident.
        retentionPeriod: Duration.days(14),
        removalPolicy,
      });
      return {
        deadLetterQueue,
        queue: new sqs.Queue(this, `${capitalise(name)}Queue`, {
          queueName: `${props.namePrefix}-${name}`,
          encryption: sqs.QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          visibilityTimeout: props.visibilityTimeouts?.[name] ?? DEFAULT_VISIBILITY_TIMEOUT,
          retentionPeriod: Duration.days(4),
          deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount },
          removalPolicy,
        }),
      };
    };
    this.queues = { delivery: queue('delivery'), expired: queue('expired') };

    this.signingSecret = new secretsmanager.Secret(this, 'SigningSecret', {
      description: 'Holdover edge⇄API request-signing secret (HMAC-SHA256 key)',
      // A plain string (no JSON template): functions/adapters/secret.ts uses SecretString as is, a
      // comma-separated list when rotating; no punctuation, so a generated secret holds no comma.
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });

    const { mail } = props;
    this.mailFrom = mail.from;
    const identity = mail.identity.includes('@')
      ? ses.Identity.email(mail.identity)
      : ses.Identity.domain(mail.identity);
    this.mailIdentity =
      mail.createIdentity === false
        ? ses.EmailIdentity.fromEmailIdentityName(this, 'MailIdentity', mail.identity)
        : new ses.EmailIdentity(this, 'MailIdentity', { identity });
  }
}

/**
 * The CDK view of functions/adapters/dynamodb/table.ts's definition: the same key schema, attribute
 * types and index, read from the one declaration instead of typed again.
 */
export function tableShape(): {
  partitionKey: dynamodb.Attribute;
  sortKey: dynamodb.Attribute;
  globalSecondaryIndexes: dynamodb.GlobalSecondaryIndexProps[];
  localSecondaryIndexes: dynamodb.LocalSecondaryIndexProps[];
} {
  const definition = tableDefinition('holdover');
  const attribute = (name: string | undefined): dynamodb.Attribute => {
    const declared = definition.AttributeDefinitions?.find((candidate) => candidate.AttributeName === name);
    if (!declared?.AttributeName) throw new Error(`table.ts declares no attribute ${name}`);
    const type = {
      S: dynamodb.AttributeType.STRING,
      N: dynamodb.AttributeType.NUMBER,
      B: dynamodb.AttributeType.BINARY,
    }[declared.AttributeType ?? 'S'];
    return { name: declared.AttributeName, type };
  };
  const keyOf = (schema: typeof definition.KeySchema, keyType: 'HASH' | 'RANGE') =>
    attribute(schema?.find((key) => key.KeyType === keyType)?.AttributeName);
  const projection = {
    ALL: dynamodb.ProjectionType.ALL,
    KEYS_ONLY: dynamodb.ProjectionType.KEYS_ONLY,
    INCLUDE: dynamodb.ProjectionType.INCLUDE,
  };
  /** What a global and a local index have in common: the name, the sort key, the projection. */
  const indexOf = (index: NonNullable<typeof definition.LocalSecondaryIndexes>[number]) => {
    if (!index.IndexName) throw new Error('table.ts declares an index without a name');
    const projectionType = projection[index.Projection?.ProjectionType ?? 'ALL'];
    return {
      indexName: index.IndexName,
      sortKey: keyOf(index.KeySchema, 'RANGE'),
      projectionType,
      ...(projectionType === dynamodb.ProjectionType.INCLUDE
        ? { nonKeyAttributes: index.Projection?.NonKeyAttributes ?? [] }
        : {}),
    };
  };
  return {
    partitionKey: keyOf(definition.KeySchema, 'HASH'),
    sortKey: keyOf(definition.KeySchema, 'RANGE'),
    globalSecondaryIndexes: (definition.GlobalSecondaryIndexes ?? []).map((index) => ({
      ...indexOf(index),
      partitionKey: keyOf(index.KeySchema, 'HASH'),
    })),
    localSecondaryIndexes: (definition.LocalSecondaryIndexes ?? []).map(indexOf),
  };
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
