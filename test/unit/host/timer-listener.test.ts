import { describe, expect, it } from 'vitest';
import { NcrontabSchedule } from '../../../dev/host/ncrontab.js';
import { TimerListener, type TimerOccurrence } from '../../../dev/host/timer-listener.js';
import { ManualClock } from '../../fixtures/host-app/manual-clock.js';

function listen(expression: string, start: string) {
  const clock = new ManualClock(new Date(start));
  const fired: TimerOccurrence[] = [];
  const listener = new TimerListener({
    schedule: NcrontabSchedule.parse(expression),
    clock,
    onFire: (occurrence) => fired.push(occurrence),
  });
  listener.start();
  return { clock, fired, listener };
}

const iso = (occurrence: TimerOccurrence | undefined) => ({
  scheduledAt: occurrence?.scheduledAt.toISOString(),
  next: occurrence?.next.toISOString(),
  isPastDue: occurrence?.isPastDue,
});

describe('TimerListener', () => {
  it('fires at each occurrence, with the next one already armed', () => {
    const { clock, fired, listener } = listen('0 */5 * * * *', '2026-11-26T12:03:10.000Z');
    expect(listener.nextOccurrence?.toISOString()).toBe('2026-11-26T12:05:00.000Z');

    clock.advanceTo(new Date('2026-11-26T12:04:59.999Z'));
    expect(fired).toHaveLength(0);

    clock.advanceTo(new Date('2026-11-26T12:10:00.000Z'));
    expect(fired.map(iso)).toEqual([
      { scheduledAt: '2026-11-26T12:05:00.000Z', next: '2026-11-26T12:10:00.000Z', isPastDue: false },
      { scheduledAt: '2026-11-26T12:10:00.000Z', next: '2026-11-26T12:15:00.000Z', isPastDue: false },
    ]);
    expect(clock.pendingTimers).toBe(1);
  });

  it('collapses occurrences missed while suspended into one past-due run', () => {
    const { clock, fired } = listen('0 */5 * * * *', '2026-11-26T12:03:10.000Z');
    // The machine sleeps: time jumps without the timer firing, then it fires late.
    clock.jumpTo(new Date('2026-11-26T12:22:00.000Z'));
    clock.advanceTo(new Date('2026-11-26T12:22:00.000Z'));
    expect(fired.map(iso)).toEqual([
      { scheduledAt: '2026-11-26T12:05:00.000Z', next: '2026-11-26T12:25:00.000Z', isPastDue: true },
    ]);
  });

  it('waits for occurrences further away than one setTimeout can', () => {
    const { clock, fired } = listen('0 0 0 1 1 *', '2026-11-26T12:00:00.000Z');
    // 36 days away: more than the 24.8 days a single timeout holds.
    expect(clock.nextDue?.toISOString()).toBe(
      new Date(Date.parse('2026-11-26T12:00:00.000Z') + 2 ** 31 - 1).toISOString(),
    );
    clock.advanceTo(new Date('2026-12-31T23:59:59.000Z'));
    expect(fired).toHaveLength(0);
    clock.advanceTo(new Date('2027-01-01T00:00:00.000Z'));
    expect(fired.map(iso)).toEqual([
      { scheduledAt: '2027-01-01T00:00:00.000Z', next: '2028-01-01T00:00:00.000Z', isPastDue: false },
    ]);
  });

  it('stops firing once stopped', () => {
    const { clock, fired, listener } = listen('*/1 * * * * *', '2026-11-26T12:00:00.000Z');
    listener.stop();
    clock.advanceTo(new Date('2026-11-26T12:01:00.000Z'));
    expect(fired).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(listener.nextOccurrence).toBeUndefined();
  });
});
