import { afterEach, describe, expect, it } from 'vitest';
import { NcrontabSchedule, resolveAppSettings, ScheduleError } from '../../../dev/host/ncrontab.js';

const at = (iso: string) => new Date(iso);

describe('NCRONTAB schedules', () => {
  const originalTz = process.env.TZ;
  afterEach(() => {
    if (originalTz === undefined) delete process.env.TZ;
    else process.env.TZ = originalTz;
  });

  it('finds the next and previous occurrence of a six-field expression', () => {
    const every5 = NcrontabSchedule.parse('0 */5 * * * *');
    expect(every5.next(at('2026-11-26T12:03:10.000Z')).toISOString()).toBe('2026-11-26T12:05:00.000Z');
    expect(every5.previous(at('2026-11-26T12:03:10.000Z')).toISOString()).toBe('2026-11-26T12:00:00.000Z');
  });

  it('is strictly after (or before) an instant that is itself an occurrence', () => {
    const every5 = NcrontabSchedule.parse('0 */5 * * * *');
    expect(every5.next(at('2026-11-26T12:05:00.000Z')).toISOString()).toBe('2026-11-26T12:10:00.000Z');
    expect(every5.previous(at('2026-11-26T12:05:00.000Z')).toISOString()).toBe('2026-11-26T12:00:00.000Z');
    expect(NcrontabSchedule.parse('*/10 * * * * *').next(at('2026-11-26T12:00:09.999Z')).toISOString()).toBe(
      '2026-11-26T12:00:10.000Z',
    );
  });

  it('evaluates in UTC whatever the process time zone', () => {
    process.env.TZ = 'America/New_York';
    const nineAm = NcrontabSchedule.parse('0 0 9 * * *');
    expect(nineAm.next(at('2026-07-01T00:00:00.000Z')).toISOString()).toBe('2026-07-01T09:00:00.000Z');
  });

  it('accepts month and weekday names, lists, ranges and steps', () => {
    const schedule = NcrontabSchedule.parse('30 15 8-10/2 * jan,Mar MON-FRI');
    // 2026-01-01 is a Thursday.
    expect(schedule.next(at('2026-01-01T09:00:00.000Z')).toISOString()).toBe('2026-01-01T10:15:30.000Z');
    expect(schedule.next(at('2026-01-02T11:00:00.000Z')).toISOString()).toBe('2026-01-05T08:15:30.000Z');
  });

  it('needs both day fields to match when both are restricted (NCrontab), not either (cron)', () => {
    const fridayThe13th = NcrontabSchedule.parse('0 0 0 13 * FRI');
    expect(fridayThe13th.next(at('2026-01-01T00:00:00.000Z')).toISOString()).toBe('2026-02-13T00:00:00.000Z');
    expect(fridayThe13th.next(at('2026-02-13T00:00:00.000Z')).toISOString()).toBe('2026-03-13T00:00:00.000Z');
    expect(fridayThe13th.previous(at('2026-02-13T00:00:00.000Z')).toISOString()).toBe(
      '2025-06-13T00:00:00.000Z',
    );
    // Rare combinations are still found: 29 February on a Tuesday (2028).
    expect(NcrontabSchedule.parse('0 0 0 29 2 2').next(at('2026-01-01T00:00:00.000Z')).toISOString()).toBe(
      '2028-02-29T00:00:00.000Z',
    );
  });

  it.each([
    ['0 */5 * * *', /six fields.*found 5/],
    ['', /six fields.*found 0/],
    ['0 0 0 L * *', /day field 'L'/],
    ['0 0 0 ? * *', /uses syntax NCRONTAB does not support/],
    ['0 0 0 * * 1#2', /uses syntax NCRONTAB does not support/],
    ['0 0 0 * * 7', /day-of-week field '7' must be within 0-6/],
    ['0 60 * * * *', /minute field '60' must be within 0-59/],
    ['0 */0 * * * *', /step of 0/],
    ['0 0 0 * FOO *', /unknown value 'FOO'/],
    ['0 0 0 31 2 *', /not a valid NCRONTAB expression|no occurrence/],
  ])('rejects %j', (expression, message) => {
    const parseAndUse = () => NcrontabSchedule.parse(expression).next(at('2026-01-01T00:00:00.000Z'));
    expect(parseAndUse).toThrow(ScheduleError);
    expect(parseAndUse).toThrow(message);
  });
});

describe('app setting references', () => {
  it('replaces %NAME% with the setting', () => {
    expect(resolveAppSettings('%SWEEP_SCHEDULE%', { SWEEP_SCHEDULE: '0 */5 * * * *' }, 'sweep')).toBe(
      '0 */5 * * * *',
    );
    expect(resolveAppSettings('0 0 %HOUR% * * *', { HOUR: '3' }, 'sweep')).toBe('0 0 3 * * *');
  });

  it('names the missing setting', () => {
    expect(() => resolveAppSettings('%SWEEP_SCHEDULE%', {}, "Timer function 'sweep'")).toThrow(
      "Timer function 'sweep': '%SWEEP_SCHEDULE%' needs the app setting 'SWEEP_SCHEDULE', which is not set.",
    );
  });
});
