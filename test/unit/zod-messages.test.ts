// The schemas the Lambda bundles carry are zod/mini (shared/zod.ts), which has no messages of its
// own: a refusal must still say what is wrong in the words classic zod uses. Checked in a fresh
// process that loads nothing but a contract module, as a bundle does (in this test process
// classic zod, loaded by other modules, would set the English messages anyway).
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');

describe('zod/mini refusals', () => {
  it('say what is wrong in English in a process that loads only zod/mini', async () => {
    const script = `
      const { CaptureRequestSchema } = await import(${JSON.stringify(path.join(root, 'shared/contract/capture.ts'))});
      const result = CaptureRequestSchema.safeParse({ callId: '', cseq: 'one', from: 'a', to: 'b', contentType: 't', body: '' });
      console.log(JSON.stringify(result.error.issues.map((issue) => issue.path.join('.') + ': ' + issue.message)));`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual([
      'callId: Too small: expected string to have >=1 characters',
      'cseq: Invalid input: expected number, received string',
    ]);
  });
});
