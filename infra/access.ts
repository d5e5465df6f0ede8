// One call gives a function both halves of an access: the environment variable naming the
// resource and the narrowest IAM grant that lets it use it (STYLE.md practice 10). Statements are
// written out rather than taken from the resources' grant helpers, which add actions the
// functions never call (Table.grant* opens every index, Queue.grantSendMessages adds
// GetQueueAttributes/GetQueueUrl, Secret.grantRead adds DescribeSecret).
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as ses from 'aws-cdk-lib/aws-ses';
import { alertKeys, chatKeys, EXPIRY_INDEX, groupKeys, keys, ORDER_INDEX } from '../shared/table.ts';
import type { FunctionAccess, QueueName } from './catalogue.ts';
import type { QueueWithDlq } from './data.ts';

export interface AccessibleResources {
  readonly table: dynamodb.ITable;
  readonly signingSecret: secretsmanager.ISecret;
  readonly queues: Readonly<Record<QueueName, QueueWithDlq>>;
  readonly mailIdentity: ses.IEmailIdentity;
  readonly mailFrom: string;
  /** Base URL of the SIP edge's HTTP port. */
  readonly edgeUrl: string;
  /** The raw mails of alerts from email (when props.inboundMail is set). */
  readonly inboundMail?: { readonly bucket: s3.IBucket; readonly prefix: string };
}

/** The variable through which a function finds each queue. */
export const QUEUE_URL_VARIABLE: Readonly<Record<QueueName, string>> = {
  delivery: 'HOLDOVER_DELIVERY_QUEUE_URL',
  expired: 'HOLDOVER_EXPIRED_QUEUE_URL',
};

export function grantAccess(
  fn: lambda.Function,
  access: FunctionAccess,
  resources: AccessibleResources,
): void {
  const allow = (actions: string[], resource: string) =>
    fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [resource] }));

  const tableActions = access.table ?? [];
  const indexActions = access.expiryIndex ?? [];
  const orderActions = access.orderIndex ?? [];
  const credentialActions = access.credentials ?? [];
  const sessionActions = access.sessions ?? [];
  const groupActions = access.groups ?? [];
  const chatActions = access.chats ?? [];
  const alertActions = access.alerts ?? [];
  if (
    tableActions.length > 0 ||
    indexActions.length > 0 ||
    orderActions.length > 0 ||
    credentialActions.length > 0 ||
    sessionActions.length > 0 ||
    groupActions.length > 0 ||
    chatActions.length > 0 ||
    alertActions.length > 0
  ) {
    fn.addEnvironment('HOLDOVER_TABLE', resources.table.tableName);
  }
  if (tableActions.length > 0) {
    allow(
      tableActions.map((action) => `dynamodb:${action}`),
      resources.table.tableArn,
    );
  }
  if (credentialActions.length > 0) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: credentialActions.map((action) => `dynamodb:${action}`),
        resources: [resources.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [keys.credentials] } },
      }),
    );
  }
  if (sessionActions.length > 0) {
    // Sign-in failures and revoked tokens only, nobody's messages or hashes.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: sessionActions.map((action) => `dynamodb:${action}`),
        resources: [resources.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [`${keys.signInPrefix}*`, `${keys.revokedPrefix}*`],
          },
        },
      }),
    );
  }
  if (groupActions.length > 0) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: groupActions.map((action) => `dynamodb:${action}`),
        resources: [resources.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [groupKeys.groups, groupKeys.member('*'), groupKeys.queue('*')],
          },
        },
      }),
    );
  }
  if (chatActions.length > 0) {
    // Chats and their lines only (CHAT#…), nobody's held messages.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: chatActions.map((action) => `dynamodb:${action}`),
        resources: [resources.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [chatKeys.chat('*')] } },
      }),
    );
  }
  if (alertActions.length > 0) {
    // Alert items only (a TransactWriteItems of Puts opens one); nobody's messages.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: alertActions.map((action) => `dynamodb:${action}`),
        resources: [resources.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${alertKeys.prefix}*`] } },
      }),
    );
  }
  if (indexActions.length > 0) {
    allow(
      indexActions.map((action) => `dynamodb:${action}`),
      `${resources.table.tableArn}/index/${EXPIRY_INDEX}`,
    );
  }
  if (orderActions.length > 0) {
    allow(
      orderActions.map((action) => `dynamodb:${action}`),
      `${resources.table.tableArn}/index/${ORDER_INDEX}`,
    );
  }
  if (access.signingSecret) {
    fn.addEnvironment('HOLDOVER_SECRET_ARN', resources.signingSecret.secretArn);
    // The secret is encrypted with the account's aws/secretsmanager key: no KMS grant needed.
    allow(['secretsmanager:GetSecretValue'], resources.signingSecret.secretArn);
  }
  if (access.replayGuard) {
    // Nonce items only: the condition key is the partition key of every item written.
    fn.addEnvironment('HOLDOVER_TABLE', resources.table.tableName);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [resources.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${keys.noncePrefix}*`] } },
      }),
    );
  }
  for (const name of access.sendTo ?? []) {
    const { queue } = resources.queues[name];
    fn.addEnvironment(QUEUE_URL_VARIABLE[name], queue.queueUrl);
    // SSE-SQS (SQS-managed keys): no KMS grant needed either.
    allow(['sqs:SendMessage'], queue.queueArn);
  }
  if (access.sendEmail) {
    fn.addEnvironment('HOLDOVER_MAIL_FROM', resources.mailFrom);
    resources.mailIdentity.grantSendEmail(fn);
  }
  if (access.inboundMail) {
    const inbound = resources.inboundMail;
    if (inbound === undefined)
      throw new Error('a function reads inbound mail, but props.inboundMail is not set');
    fn.addEnvironment('HOLDOVER_INBOUND_BUCKET', inbound.bucket.bucketName);
    fn.addEnvironment('HOLDOVER_INBOUND_PREFIX', inbound.prefix);
    // SSE-S3: no KMS grant needed.
    allow(['s3:GetObject'], inbound.bucket.arnForObjects(`${inbound.prefix}*`));
  }
  if (access.edge) {
    // No IAM side: calls to the edge are signed with the shared secret.
    fn.addEnvironment('HOLDOVER_EDGE_URL', resources.edgeUrl);
  }
}
