// SST stack: the Holdover construct in an SST-managed stack. Stages other than `production`/`prod`
// lose their data when removed (infra/settings.ts removalPolicyFor).
import type { StackContext } from 'sst/constructs';
import { featureFlags } from '../infra/feature-flags.ts';
import { Holdover as HoldoverService } from '../infra/holdover.ts';
import { holdoverPropsFromEnvironment, removalPolicyFor } from '../infra/settings.ts';

export function Holdover({ stack, app }: StackContext): void {
  new HoldoverService(stack, 'Holdover', {
    // SST reads no cdk.json, and its stack already has children: the construct sets the flags.
    featureFlags: featureFlags(),
    ...holdoverPropsFromEnvironment(stack, process.env, removalPolicyFor(app.stage)),
    namePrefix: `holdover-${app.stage}`,
  });
}
