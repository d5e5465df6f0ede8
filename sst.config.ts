// The SST v2 front door: `npx sst deploy --stage <stage>`. It instantiates the same construct as
// the plain CDK app (infra/app.ts) through stacks/Holdover.ts; configuration is the same
// HOLDOVER_* environment (infra/settings.ts).
import type { SSTConfig } from 'sst';
import { Holdover } from './stacks/Holdover.ts';

export default {
  config() {
    return { name: 'holdover', region: process.env.AWS_REGION ?? 'us-east-1' };
  },
  stacks(app) {
    app.stack(Holdover);
  },
} satisfies SSTConfig;
