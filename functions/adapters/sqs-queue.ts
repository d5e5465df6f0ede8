// Work queues on SQS: jobs are JSON; each consumer parses them with the producer's zod schema.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ExpiredQueue, ExpiryJob } from '../core/expiry.ts';
import type { DeliveryJob } from '../core/jobs.ts';
import type { DeliveryQueue } from '../core/ports.ts';

export class SqsQueue<Job> {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(job: Job, delaySeconds?: number): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(job),
        ...(delaySeconds ? { DelaySeconds: Math.min(900, Math.ceil(delaySeconds)) } : {}),
      }),
    );
  }
}

export class SqsDeliveryQueue extends SqsQueue<DeliveryJob> implements DeliveryQueue {}
export class SqsExpiredQueue extends SqsQueue<ExpiryJob> implements ExpiredQueue {}
