// Alerts from email in AWS (docs/design.md "Alerts from email"): an SES receipt rule set whose one
// rule takes mail for the groups' inbound domain, stores the raw mail in S3 (encrypted, no public
// access, TLS only, expired after a few days) and then invokes the inbound-email function, which
// reads it from there. The rule set must be activated once (docs/deploy.md): CloudFormation
// cannot, and an account has one active rule set per region.
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as actions from 'aws-cdk-lib/aws-ses-actions';
import { Construct } from 'constructs';

export interface InboundMailProps {
  /** The groups' inbound domain (their --email addresses), e.g. `alerts.example.com`: its MX points at SES. */
  readonly domain: string;
  /** Days a raw mail is kept in the bucket. Default 7. */
  readonly keepDays?: number;
  /** Name of the receipt rule set. Default `<namePrefix>-inbound`. */
  readonly ruleSetName?: string;
}

/** Where SES puts the raw mails in the bucket; the function may read there only. */
export const INBOUND_PREFIX = 'inbound/';

export class HoldoverInboundMail extends Construct {
  readonly bucket: s3.Bucket;
  readonly ruleSet: ses.ReceiptRuleSet;
  readonly domain: string;

  constructor(
    scope: Construct,
    id: string,
    props: InboundMailProps & { namePrefix: string; removalPolicy: RemovalPolicy },
  ) {
    super(scope, id);
    if (!/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/i.test(props.domain)) {
      throw new Error(
        `inboundMail.domain must be a DNS domain such as alerts.example.com, got "${props.domain}"`,
      );
    }
    this.domain = props.domain.toLowerCase();
    const keepDays = props.keepDays ?? 7;
    if (!Number.isInteger(keepDays) || keepDays < 1)
      throw new Error('inboundMail.keepDays must be a whole number of days, at least 1');
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // raw mails are personal data and only needed until the function read them
      lifecycleRules: [{ prefix: INBOUND_PREFIX, expiration: Duration.days(keepDays) }],
      removalPolicy: props.removalPolicy,
    });
    this.ruleSet = new ses.ReceiptRuleSet(this, 'RuleSet', {
      receiptRuleSetName: props.ruleSetName ?? `${props.namePrefix}-inbound`,
    });
  }

  /** The rule: mail for the domain → the bucket → `fn` (asynchronously, with the receipt's verdicts). */
  addRule(fn: lambda.IFunction): ses.ReceiptRule {
    return this.ruleSet.addRule('Alerts', {
      recipients: [this.domain],
      scanEnabled: true,
      tlsPolicy: ses.TlsPolicy.REQUIRE,
      actions: [
        new actions.S3({ bucket: this.bucket, objectKeyPrefix: INBOUND_PREFIX }),
        new actions.Lambda({ function: fn, invocationType: actions.LambdaInvocationType.EVENT }),
      ],
    });
  }
}
