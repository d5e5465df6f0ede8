// Alerts from email in AWS: the SES receipt rule for the inbound domain (S3, then the function),
// the raw-mail bucket (encrypted, no public access, TLS only, expired), and the inbound-email
// function's grants (that bucket prefix, read only); without the prop, none of it exists.
import * as fs from 'node:fs';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { functionNamed, resourcesOf, statementsOfFunction, synthHoldover } from './support/synth.ts';

let template: Template;
let outdir: string;

beforeAll(() => {
  ({ template, outdir } = synthHoldover({ bundle: false }));
  return () => fs.rmSync(outdir, { recursive: true, force: true });
});

describe('inbound mail', () => {
  it('keeps raw mails in an encrypted, private bucket, TLS only, expired after 7 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ ExpirationInDays: 7, Prefix: 'inbound/', Status: 'Enabled' })],
      },
    });
    const policies = JSON.stringify(resourcesOf(template, 'AWS::S3::BucketPolicy'));
    expect(policies).toContain('aws:SecureTransport');
    expect(policies).toContain('ses.amazonaws.com');
  });

  it('has one receipt rule for the inbound domain: spam and virus scan, TLS, S3 then the function', () => {
    const [fnId] = functionNamed(template, 'inboundEmail');
    template.resourceCountIs('AWS::SES::ReceiptRuleSet', 1);
    template.hasResourceProperties('AWS::SES::ReceiptRuleSet', { RuleSetName: 'holdover-inbound' });
    template.hasResourceProperties('AWS::SES::ReceiptRule', {
      Rule: Match.objectLike({
        Enabled: true,
        Recipients: ['alerts.example.com'],
        ScanEnabled: true,
        TlsPolicy: 'Require',
        Actions: [
          { S3Action: Match.objectLike({ ObjectKeyPrefix: 'inbound/' }) },
          { LambdaAction: { FunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] }, InvocationType: 'Event' } },
        ],
      }),
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'ses.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
    });
  });

  it('lets the function read raw mails under the prefix only, and write none', () => {
    const s3 = statementsOfFunction(template, 'inboundEmail').filter((statement) =>
      [statement.Action].flat().some((action) => String(action).startsWith('s3:')),
    );
    expect(s3).toHaveLength(1);
    expect(s3[0]?.Action).toBe('s3:GetObject');
    expect(JSON.stringify(s3[0]?.Resource)).toMatch(/\/inbound\/\*"/);
    // its alert writes are confined to the alert items
    const alertStatement = statementsOfFunction(template, 'inboundEmail').find((statement) =>
      JSON.stringify(statement.Condition ?? {}).includes('ALERT#'),
    );
    expect([alertStatement?.Action].flat().sort()).toEqual([
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
  });

  it('creates none of it without an inbound domain', () => {
    const bare = synthHoldover({ bundle: false, props: { inboundMail: undefined } });
    try {
      bare.template.resourceCountIs('AWS::SES::ReceiptRuleSet', 0);
      bare.template.resourceCountIs('AWS::S3::Bucket', 0);
      expect(() => functionNamed(bare.template, 'inboundEmail')).toThrow(/found 0/);
    } finally {
      fs.rmSync(bare.outdir, { recursive: true, force: true });
    }
  });
});
