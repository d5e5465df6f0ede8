// The local stand-in for Lambda's SQS event source: long-polls a queue and hands each message to
// the same handler AWS runs, deleting it unless reported in batchItemFailures.
//
// Jobs run independently, as concurrent Lambda invocations would: each received message is
// handled on its own (up to `concurrency` at once) and deleted the moment it is done, and the next
// receive does not wait for the slowest job of the last one. So one slow job (a notice to an
// unreachable sender waits for Timer F, 32 s) never delays another recipient's delivery.
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface QueuePoller {
  /** Stops receiving; waits for jobs in flight at most `graceMs` (left to come back after their visibility timeout). */
  stop(graceMs?: number): Promise<void>;
}

/** Where jobs come from: an SQS queue, or the SQLite file's queue (HOLDOVER_STORE=sqlite). */
export interface QueueSource {
  /** Up to `max` jobs as SQS hands them out, waiting a moment (long polling) when none is there. */
  receive(max: number): Promise<Message[]>;
  delete(receiptHandle: string): Promise<void>;
}

export function sqsSource(client: SQSClient, queueUrl: string): QueueSource {
  return {
    receive: async (max) => {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      return Messages;
    },
    delete: async (receiptHandle) => {
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    },
  };
}

export function pollQueue(options: {
  /** An SQS queue by client and URL, or any other source. */
  source?: QueueSource;
  client?: SQSClient;
  queueUrl?: string;
  queueArn: string;
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>;
  onError: (error: unknown) => void;
  /** Jobs handled at once (Lambda's concurrency for this queue). */
  concurrency?: number;
}): QueuePoller {
  const concurrency = options.concurrency ?? 10;
  const source =
    options.source ??
    (options.client && options.queueUrl !== undefined
      ? sqsSource(options.client, options.queueUrl)
      : undefined);
  if (source === undefined) throw new Error('pollQueue needs a source, or an SQS client and queue URL');
  let running = true;
  const inFlight = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const settled = () => {
    wake?.();
    wake = undefined;
  };

  const handle = async (message: Message) => {
    try {
      const result = await options.handler({ Records: [toRecord(message, options.queueArn)] });
      if (result.batchItemFailures.length > 0) return; // it comes back after its backoff
      await source.delete(message.ReceiptHandle ?? '');
    } catch (error) {
      if (running) options.onError(error);
    }
  };

  const loop = (async () => {
    while (running) {
      if (inFlight.size >= concurrency) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      try {
        const Messages = await source.receive(Math.min(10, concurrency - inFlight.size));
        for (const message of Messages) {
          const job: Promise<void> = handle(message).finally(() => {
            inFlight.delete(job);
            settled();
          });
          inFlight.add(job);
        }
      } catch (error) {
        if (running) {
          options.onError(error);
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    }
  })();

  return {
    stop: async (graceMs = 3000) => {
      running = false;
      settled();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.all([loop, ...inFlight]), grace]);
      clearTimeout(timer);
    },
  };
}

function toRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}
