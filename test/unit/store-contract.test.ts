// The store contract (test/contract/store-contract.ts) against the in-memory fakes the unit tests
// use, so they behave as the real adapters do (SQLite and DynamoDB run it in the integration project).
import { MemoryNonces } from '../../shared/memory-nonces.ts';
import { describeAlertStoreContract } from '../contract/alert-contract.ts';
import { describeChatStoreContract } from '../contract/chat-contract.ts';
import { describeGroupStoreContract } from '../contract/group-contract.ts';
import { describeStoreContract } from '../contract/store-contract.ts';
import {
  MemoryAlerts,
  MemoryChatStore,
  MemoryCredentials,
  MemoryGroupStore,
  MemorySessions,
  MemoryStore,
} from '../fakes/memory-store.ts';

describeGroupStoreContract('in-memory fake', async () => new MemoryGroupStore());
describeAlertStoreContract('in-memory fake', async (now) => new MemoryAlerts(now));

describeChatStoreContract('in-memory fake', async (now) => new MemoryChatStore(now));

describeStoreContract('in-memory fake', async (now) => {
  const store = new MemoryStore();
  store.now = now;
  return {
    store,
    other: store,
    credentials: new MemoryCredentials(),
    sessions: new MemorySessions(),
    nonces: new MemoryNonces(100_000, now),
    shards: 1,
  };
});
