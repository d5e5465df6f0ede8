// The GroupStore port's contract, run unchanged against the in-memory fake, SQLite and DynamoDB
// Local: a group stored and read back, replaced (its membership entries follow), listed in pages,
// removed; a queue's memory (idle times, stickiness).
import { ulid } from 'ulid';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Group, type GroupStore, setGroup, validateGroup } from '../../functions/core/groups.ts';

const DOMAINS = new Set(['example.com']);
const unique = () => ulid().toLowerCase();
const aor = (user: string) => `sip:${user}@example.com`;

export function describeGroupStoreContract(name: string, make: () => Promise<GroupStore>): void {
  describe(`GroupStore contract: ${name}`, () => {
    let groups: GroupStore;
    beforeAll(async () => {
      groups = await make();
    });

    it('stores a group with its flags and reads it back; unknown is undefined', async () => {
      const id = unique();
      const group: Group = validateGroup(
        aor(`support-${id}`),
        {
          members: [aor(`a-${id}`), aor(`b-${id}`)],
          routing: 'one',
          public: true,
          email: `support-${id}@example.com`,
          alertSenders: ['ops@example.com', '@monitoring.example.com'],
          onExpire: 'email',
        },
        DOMAINS,
        Date.now(),
      );
      await groups.putGroup(group);
      expect(await groups.getGroup(group.aor)).toEqual(group);
      expect(await groups.getGroup(aor(`nobody-${id}`))).toBeUndefined();
    });

    it("keeps each member's groups in step when a group is replaced or removed", async () => {
      const id = unique();
      const [a, b, c] = [aor(`a-${id}`), aor(`b-${id}`), aor(`c-${id}`)];
      const queue = aor(`queue-${id}`);
      const list = aor(`list-${id}`);
      await setGroup(groups, queue, { members: [a, b], routing: 'one' }, DOMAINS, Date.now());
      await setGroup(groups, list, { members: [b, c], routing: 'all' }, DOMAINS, Date.now());
      expect(await groups.groupsOf(b)).toEqual(
        expect.arrayContaining([
          { group: queue, routing: 'one' },
          { group: list, routing: 'all' },
        ]),
      );
      // a leaves the queue, c joins it
      await setGroup(groups, queue, { members: [b, c], routing: 'one' }, DOMAINS, Date.now());
      expect(await groups.groupsOf(a)).toEqual([]);
      expect(await groups.groupsOf(c)).toHaveLength(2);
      // nesting is refused against the real store too
      await expect(
        setGroup(groups, aor(`outer-${id}`), { members: [queue], routing: 'all' }, DOMAINS, Date.now()),
      ).rejects.toThrow(/is a group/);
      expect(await groups.removeGroup(queue)).toBe(true);
      expect(await groups.removeGroup(queue)).toBe(false);
      expect(await groups.getGroup(queue)).toBeUndefined();
      expect(await groups.groupsOf(c)).toEqual([{ group: list, routing: 'all' }]);
    });

    it('lists groups in pages', async () => {
      const id = unique();
      for (let i = 0; i < 3; i++) {
        await setGroup(
          groups,
          aor(`page-${id}-${i}`),
          { members: [aor(`m-${id}`)], routing: 'all' },
          DOMAINS,
          0,
        );
      }
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = await groups.listGroups({ limit: 2, ...(after ? { after } : {}) });
        seen.push(...page.groups.map((group) => group.aor));
        after = page.next;
      } while (after);
      expect(seen.filter((entry) => entry.includes(id))).toEqual(
        [0, 1, 2].map((i) => aor(`page-${id}-${i}`)),
      );
    });

    it("remembers a queue's assignments: each member's last time, each sender's member", async () => {
      const id = unique();
      const queue = aor(`q-${id}`);
      const [a, b] = [aor(`a-${id}`), aor(`b-${id}`)];
      expect(await groups.queueState(queue, 'sip:visitor@example.net')).toEqual({ lastAssigned: {} });
      await groups.recordAssignment(queue, a, 'sip:visitor@example.net', 1000);
      await groups.recordAssignment(queue, b, 'sip:other@example.net', 2000);
      await groups.recordAssignment(queue, a, 'sip:visitor@example.net', 3000);
      expect(await groups.queueState(queue, 'sip:visitor@example.net')).toEqual({
        lastAssigned: { [a]: 3000, [b]: 2000 },
        sticky: { member: a, atMs: 3000 },
      });
      expect((await groups.queueState(queue, 'sip:other@example.net')).sticky).toEqual({
        member: b,
        atMs: 2000,
      });
    });
  });
}
