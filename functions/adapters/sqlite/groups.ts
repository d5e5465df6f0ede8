// Groups on SQLite (GroupStore port), the twin of functions/adapters/dynamodb/groups.ts: a group's
// definition as one JSON row, each member's groups (for presence), and a queue's memory (the
// last assignment per member; a sender's conversation, kept a day).

import { ROUTINGS, type Routing } from '../../../shared/contract/views.ts';
import * as z from '../../../shared/zod.ts';
import { type Group, type GroupStore, parseStoredGroup, type QueueState } from '../../core/groups.ts';
import type { SqliteDb } from './db.ts';

const STICKY_KEEP_MS = 86_400_000;

function groupOf(body: string): Group {
  return parseStoredGroup(JSON.parse(body));
}

export class SqliteGroups implements GroupStore {
  private readonly read;
  private readonly first;
  private readonly next;
  private readonly ofMember;
  private readonly idle;
  private readonly sticky;
  private readonly put;
  private readonly remove;
  private readonly assign;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.read = db.prepare('SELECT body FROM groups WHERE aor = ?');
    this.first = db.prepare('SELECT aor, body FROM groups ORDER BY aor LIMIT ?');
    this.next = db.prepare('SELECT aor, body FROM groups WHERE aor > ? ORDER BY aor LIMIT ?');
    this.ofMember = db.prepare(
      'SELECT group_aor, routing FROM group_members WHERE member = ? ORDER BY group_aor',
    );
    this.idle = db.prepare('SELECT member, at_ms FROM group_idle WHERE group_aor = ?');
    this.sticky = db.prepare('SELECT member, at_ms FROM group_sticky WHERE group_aor = ? AND sender = ?');
    const upsertGroup = db.prepare(
      'INSERT INTO groups (aor, body) VALUES (?, ?) ON CONFLICT (aor) DO UPDATE SET body = excluded.body',
    );
    const clearMembers = db.prepare('DELETE FROM group_members WHERE group_aor = ?');
    const addMember = db.prepare('INSERT INTO group_members (member, group_aor, routing) VALUES (?, ?, ?)');
    this.put = db.transaction((group: Group) => {
      upsertGroup.run(group.aor, JSON.stringify(group));
      clearMembers.run(group.aor);
      for (const member of group.members) addMember.run(member, group.aor, group.routing);
    });
    const deleteGroup = db.prepare('DELETE FROM groups WHERE aor = ?');
    const deleteIdle = db.prepare('DELETE FROM group_idle WHERE group_aor = ?');
    this.remove = db.transaction((aor: string): boolean => {
      const removed = deleteGroup.run(aor).changes > 0;
      clearMembers.run(aor);
      deleteIdle.run(aor);
      return removed;
    });
    const setIdle = db.prepare(
      `INSERT INTO group_idle (group_aor, member, at_ms) VALUES (?, ?, ?)
       ON CONFLICT (group_aor, member) DO UPDATE SET at_ms = excluded.at_ms`,
    );
    const setSticky = db.prepare(
      `INSERT INTO group_sticky (group_aor, sender, member, at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (group_aor, sender) DO UPDATE SET member = excluded.member, at_ms = excluded.at_ms`,
    );
    this.assign = db.transaction((group: string, member: string, sender: string, atMs: number) => {
      setIdle.run(group, member, atMs);
      setSticky.run(group, sender, member, atMs);
    });
  }

  async getGroup(aor: string): Promise<Group | undefined> {
    const row = this.read.get(aor) as { body: string } | undefined;
    return row ? groupOf(row.body) : undefined;
  }

  async putGroup(group: Group): Promise<void> {
    this.put.immediate(group);
  }

  async removeGroup(aor: string): Promise<boolean> {
    return this.remove.immediate(aor);
  }

  async listGroups(
    page: { limit?: number; after?: string } = {},
  ): Promise<{ groups: Group[]; next?: string }> {
    const limit = page.limit ?? 100;
    const rows = (
      page.after === undefined ? this.first.all(limit + 1) : this.next.all(page.after, limit + 1)
    ) as Array<{ aor: string; body: string }>;
    const groups = rows.slice(0, limit).map((row) => groupOf(row.body));
    const last = groups.at(-1);
    return rows.length > limit && last ? { groups, next: last.aor } : { groups };
  }

  async groupsOf(member: string): Promise<Array<{ group: string; routing: Routing }>> {
    const rows = this.ofMember.all(member) as Array<{ group_aor: string; routing: string }>;
    return rows.map((row) => ({ group: row.group_aor, routing: z.enum(ROUTINGS).parse(row.routing) }));
  }

  async queueState(group: string, sender: string): Promise<QueueState> {
    const lastAssigned: Record<string, number> = {};
    for (const row of this.idle.all(group) as Array<{ member: string; at_ms: number }>) {
      lastAssigned[row.member] = row.at_ms;
    }
    // how long a conversation sticks is the core's rule (chooseMember); the row only records it
    const sticky = this.sticky.get(group, sender) as { member: string; at_ms: number } | undefined;
    return { lastAssigned, ...(sticky ? { sticky: { member: sticky.member, atMs: sticky.at_ms } } : {}) };
  }

  async recordAssignment(group: string, member: string, sender: string, atMs: number): Promise<void> {
    this.assign.immediate(group, member, sender, atMs);
  }

  /** Drops conversations older than a day. */
  prune(): void {
    this.db.prepare('DELETE FROM group_sticky WHERE at_ms <= ?').run(this.now() - STICKY_KEEP_MS);
  }
}
