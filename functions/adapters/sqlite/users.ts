// A user's own rows on SQLite: settings (with the vacation index), presence (versioned: every
// write is conditional on the version read), and the once-per-window claim of automatic notices.
// SettingsStore and UserStore ports.

import { type UserSettings, UserSettingsSchema } from '../../../shared/contract/settings.ts';
import type { Presence, SettingsStore, UserRecord, UserStore } from '../../core/ports.ts';
import { type GroupCommit, groupCommitOf, type SqliteDb } from './db.ts';
import { HELD_COUNT } from './messages.ts';

export class SqliteUsers implements SettingsStore, UserStore {
  private readonly group: GroupCommit;
  private readonly readSettings;
  private readonly writeSettings;
  private readonly readPresence;
  private readonly insertPresence;
  private readonly updatePresence;
  private readonly claim;
  private readonly held;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.group = groupCommitOf(db);
    this.readSettings = db.prepare('SELECT settings FROM settings WHERE aor = ?').pluck();
    this.writeSettings = db.prepare(
      `INSERT INTO settings (aor, settings, vacation_until, updated_at) VALUES (@aor, @settings, @vacationUntil, @updatedAt)
       ON CONFLICT (aor) DO UPDATE SET settings = excluded.settings, vacation_until = excluded.vacation_until,
         updated_at = excluded.updated_at`,
    );
    this.readPresence = db.prepare('SELECT presence FROM presence WHERE aor = ?').pluck();
    this.insertPresence = db.prepare(
      'INSERT INTO presence (aor, version, presence) VALUES (@aor, @version, @presence) ON CONFLICT (aor) DO NOTHING',
    );
    this.updatePresence = db.prepare(
      'UPDATE presence SET version = @version, presence = @presence WHERE aor = @aor AND version = @expected',
    );
    this.claim = db.prepare(
      `INSERT INTO notices (recipient, sender, until) VALUES (@recipient, @sender, @until)
       ON CONFLICT (recipient, sender) DO UPDATE SET until = excluded.until WHERE notices.until < @now`,
    );
    this.held = db.prepare(HELD_COUNT).pluck();
  }

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    return parseSettings(this.readSettings.get(aor) as string | undefined);
  }

  async putSettings(aor: string, settings: UserSettings): Promise<void> {
    await this.group.run(() =>
      this.writeSettings.run({
        aor,
        settings: JSON.stringify(settings),
        // listed in the vacation index while a vacation is set, so the sweeper finds who is away
        vacationUntil: settings.vacation ? new Date(settings.vacation.until).toISOString() : null,
        updatedAt: new Date(this.now()).toISOString(),
      }),
    );
  }

  /** One read transaction: settings, presence and the held count agree with each other. */
  async getUser(aor: string, _options?: { countHeld?: boolean }): Promise<UserRecord> {
    return this.db.transaction(() => {
      const settings = parseSettings(this.readSettings.get(aor) as string | undefined);
      const presence = this.readPresence.get(aor) as string | undefined;
      return {
        ...(settings ? { settings } : {}),
        ...(presence !== undefined ? { presence: JSON.parse(presence) as Presence } : {}),
        held: this.held.get({ recipient: aor, now: this.now() }) as number,
      };
    })();
  }

  async putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    const row = { aor, version: presence.version, presence: JSON.stringify(presence) };
    const written = await this.group.run(() =>
      expectedVersion === 0
        ? this.insertPresence.run(row)
        : this.updatePresence.run({ ...row, expected: expectedVersion }),
    );
    return written.changes > 0;
  }

  async claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean> {
    const now = this.now();
    return (
      (await this.group.run(() => this.claim.run({ recipient, sender, until: now + windowMs, now })))
        .changes > 0
    );
  }
}

function parseSettings(text: string | undefined): UserSettings | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // A stored value that no longer validates is ignored rather than breaking capture.
  const parsed = UserSettingsSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
