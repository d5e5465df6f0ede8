// The plain CDK front door: `npx cdk synth|deploy` (cdk.json runs this file with tsx).
// Configuration comes from HOLDOVER_* variables (infra/settings.ts); the stage from
// HOLDOVER_STAGE (default `production`, which keeps data when the stack is deleted).
import { App, Stack } from 'aws-cdk-lib';
import { Holdover } from './holdover.ts';
import { holdoverPropsFromEnvironment, removalPolicyFor } from './settings.ts';

const app = new App();
const stage = process.env.HOLDOVER_STAGE ?? 'production';
const stack = new Stack(app, stage === 'production' ? 'Holdover' : `Holdover-${stage}`, {
  description: 'Holdover: offline message store for SIP instant messaging',
  // Account and region come from the deploying credentials (CDK_DEFAULT_*); left unset, synth
  // stays environment-agnostic and needs no credentials.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
new Holdover(stack, 'Holdover', {
  ...holdoverPropsFromEnvironment(stack, process.env, removalPolicyFor(stage)),
  namePrefix: stage === 'production' ? 'holdover' : `holdover-${stage}`,
});
app.synth();
