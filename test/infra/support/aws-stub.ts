// A loopback stand-in for the two AWS calls `sst build` makes before it synthesizes anything:
// STS GetCallerIdentity and CloudFormation DescribeStacks for the CDK and SST bootstrap stacks.
// Without answers SST exits 0 having built nothing (seen with sst 2.49).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STUB_ACCOUNT = '123456789012';

/** Outputs SST v2 reads from each bootstrap stack. */
const BOOTSTRAP_OUTPUTS: Record<string, Record<string, string>> = {
  CDKToolkit: { BootstrapVersion: '21', BucketName: 'cdk-stub-assets' },
  SSTBootstrap: { Version: '7.4', BucketName: 'sst-stub-bootstrap' },
};

export interface AwsStub {
  readonly url: string;
  /** `Action` of every request seen, in order. */
  readonly calls: string[];
  close(): Promise<void>;
}

export async function startAwsStub(): Promise<AwsStub> {
  const calls: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = form.get('Action') ?? 'unknown';
      calls.push(action);
      const answer = reply(action, form.get('StackName') ?? '');
      response.writeHead(answer.status, { 'content-type': 'text/xml' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function reply(action: string, stackName: string): { status: number; body: string } {
  if (action === 'GetCallerIdentity') {
    return {
      status: 200,
      body: `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${STUB_ACCOUNT}:user/ci</Arn><UserId>AIDASTUB</UserId><Account>${STUB_ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    };
  }
  const outputs = BOOTSTRAP_OUTPUTS[stackName];
  if (action === 'DescribeStacks' && outputs) {
    const members = Object.entries(outputs)
      .map(
        ([key, value]) => `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`,
      )
      .join('');
    return {
      status: 200,
      body: `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${stackName}</StackName><StackId>arn:aws:cloudformation:us-east-1:${STUB_ACCOUNT}:stack/${stackName}/stub</StackId><CreationTime>2024-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></DescribeStacksResponse>`,
    };
  }
  return {
    status: 400,
    body: `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${stackName} does not exist (stub answers ${action} only for the bootstrap stacks)</Message></Error><RequestId>stub</RequestId></ErrorResponse>`,
  };
}
