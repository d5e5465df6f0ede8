// The CDK feature flags, declared once in cdk.json's `context`: the flags aws-cdk-lib 2.224
// recommends (`cx-api` CURRENTLY_RECOMMENDED_FLAGS, what `cdk init` writes). The CDK CLI hands
// them to infra/app.ts; SST, which reads no cdk.json, gets them from here (stacks/Holdover.ts
// hands them to the construct), and so do the CDK assertion tests: all three synthesize one template.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * cdk.json's feature flags (the `@aws-cdk…` keys of its context), read from the working directory:
 * the project root, where `cdk`, `sst` and the tests run (SST bundles its config elsewhere, so
 * the file cannot be found relative to this module).
 */
export function featureFlags(projectRoot: string = process.cwd()): Record<string, unknown> {
  const file = path.join(projectRoot, 'cdk.json');
  const { context = {} } = JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(context).filter(([key]) => key.startsWith('@aws-cdk')));
}
