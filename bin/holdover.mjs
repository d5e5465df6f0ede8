#!/usr/bin/env node
// Entry point of `npx holdover`: loads the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
const { runCli, CliError, ImportFailedError } = await import('../local/cli.ts');
try {
  await runCli(process.argv.slice(2));
} catch (error) {
  if (error instanceof ImportFailedError) {
    process.stderr.write(`holdover: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    const known = error instanceof CliError || error?.code?.startsWith?.('ERR_PARSE_ARGS');
    process.stderr.write(`holdover: ${known ? error.message : (error?.stack ?? String(error))}\n`);
    process.exitCode = known ? 2 : 1;
  }
}
