import { describe, expect, it } from 'vitest';
import { emailOfAor, normalizeAor } from '../../shared/aor.ts';
import { UserSettingsSchema } from '../../shared/contract/settings.ts';
import { formatDuration, parseDuration } from '../../shared/duration.ts';
import { InvalidRequestError } from '../../shared/errors.ts';

describe('normalizeAor', () => {
  it('keeps user@host, lower-cases the host, drops scheme variants, port and parameters', () => {
    expect(normalizeAor('<sips:Bob@Example.COM:5061;transport=tls?subject=x>')).toBe('sip:Bob@example.com');
    expect(normalizeAor('sip:alice@127.0.0.1:5070')).toBe('sip:alice@127.0.0.1');
  });

  it('refuses what is not a SIP AOR', () => {
    for (const text of ['tel:+4912345', 'sip:example.com', 'bob@example.com', '']) {
      expect(() => normalizeAor(text)).toThrow(InvalidRequestError);
    }
  });

  it('maps an AOR to the enterprise mailbox', () => {
    expect(emailOfAor('sip:bob@example.com')).toBe('bob@example.com');
  });
});

describe('durations', () => {
  it('parses and formats the units users write', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('72h')).toBe(259_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(formatDuration(259_200_000)).toBe('3d');
  });

  it('says what a bad duration is', () => {
    expect(() => parseDuration('3 days')).toThrow(/not a duration/);
    expect(() => parseDuration('0s')).toThrow(/longer than zero/);
  });
});

describe('UserSettingsSchema', () => {
  it('accepts a full, valid settings object', () => {
    const settings = {
      email: 'bob@example.com',
      expireAfter: '7d',
      hold: ['offline', 'dnd'],
      onExpire: 'bounce',
      timeZone: 'Europe/Berlin',
      vacation: { until: '2026-12-24T00:00:00Z', autoReply: 'Back after Christmas' },
    };
    expect(UserSettingsSchema.parse(settings)).toEqual(settings);
  });

  it('names each invalid field', () => {
    const result = UserSettingsSchema.safeParse({
      email: 'nope',
      expireAfter: '3 days',
      hold: ['online'],
      timeZone: 'Mars/Base',
      extra: 1,
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.') || issue.code);
    expect(paths).toEqual(expect.arrayContaining(['email', 'expireAfter', 'hold', 'timeZone']));
  });
});
