import { CronExpressionParser } from 'cron-parser';

/**
 * NCRONTAB schedules as the Functions timer trigger reads them: six fields
 * `{second} {minute} {hour} {day} {month} {day-of-week}`, evaluated in UTC here.
 * cron-parser does the arithmetic; this module keeps NCRONTAB's rules on top of it:
 * - only `*`, lists, ranges, steps and month/day names are accepted (no `?`, `L`, `#`, `H`), so
 *   an expression that works locally also works in Azure;
 * - day-of-week is 0-6 (Sunday = 0);
 * - when both day-of-month and day-of-week are restricted, a day must match both (NCrontab),
 *   not either (Vixie cron, cron-parser).
 */

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

const FIELDS = [
  { name: 'second', min: 0, max: 59, names: [] as string[] },
  { name: 'minute', min: 0, max: 59, names: [] as string[] },
  { name: 'hour', min: 0, max: 23, names: [] as string[] },
  { name: 'day', min: 1, max: 31, names: [] as string[] },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day-of-week', min: 0, max: 6, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;

/** Bounds the search for a day matching both day fields (e.g. 29 February on a Monday: every 28 years). */
const MAX_DAY_SEARCH = 20_000;

/**
 * Replaces `%NAME%` with the app setting NAME, as the Functions host resolves binding
 * expressions; a missing setting is an error that names it.
 */
export function resolveAppSettings(expression: string, env: NodeJS.ProcessEnv, usedBy: string): string {
  return expression.replace(/%([^%]+)%/g, (_whole, name: string) => {
    const value = env[name];
    if (value === undefined || value === '') {
      throw new ScheduleError(`${usedBy}: '%${name}%' needs the app setting '${name}', which is not set.`);
    }
    return value;
  });
}

export class NcrontabSchedule {
  readonly expression: string;
  readonly #bothDaysRestricted: boolean;
  readonly #days: ReadonlySet<number>;
  readonly #weekdays: ReadonlySet<number>;

  private constructor(expression: string, days: number[] | undefined, weekdays: number[] | undefined) {
    this.expression = expression;
    this.#bothDaysRestricted = days !== undefined && weekdays !== undefined;
    this.#days = new Set(days);
    this.#weekdays = new Set(weekdays);
  }

  static parse(expression: string): NcrontabSchedule {
    const trimmed = expression.trim();
    const fields = trimmed.split(/\s+/);
    if (fields.length !== 6) {
      throw new ScheduleError(
        `'${expression}' is not a valid NCRONTAB expression: it needs six fields ` +
          `({second} {minute} {hour} {day} {month} {day-of-week}), found ${trimmed === '' ? 0 : fields.length}.`,
      );
    }
    fields.forEach((field, index) => {
      validateField(field, FIELDS[index]!, expression);
    });
    let days: number[] | undefined;
    let weekdays: number[] | undefined;
    try {
      const parsed = CronExpressionParser.parse(fields.join(' '), { tz: 'UTC' });
      if (!parsed.fields.dayOfMonth.isWildcard) days = parsed.fields.dayOfMonth.values.map(Number);
      if (!parsed.fields.dayOfWeek.isWildcard) weekdays = parsed.fields.dayOfWeek.values.map(Number);
    } catch (error) {
      throw new ScheduleError(
        `'${expression}' is not a valid NCRONTAB expression: ${(error as Error).message}`,
      );
    }
    return new NcrontabSchedule(fields.join(' '), days, weekdays);
  }

  /** The first occurrence strictly after `after`. */
  next(after: Date): Date {
    return this.#search(after, 'next');
  }

  /** The last occurrence strictly before `before`. */
  previous(before: Date): Date {
    return this.#search(before, 'prev');
  }

  #search(from: Date, direction: 'next' | 'prev'): Date {
    let cursor = from;
    for (let i = 0; i < MAX_DAY_SEARCH; i++) {
      const candidate = CronExpressionParser.parse(this.expression, { currentDate: cursor, tz: 'UTC' })
        [direction]()
        .toDate();
      if (!this.#bothDaysRestricted) return candidate;
      if (this.#days.has(candidate.getUTCDate()) && this.#weekdays.has(candidate.getUTCDay()))
        return candidate;
      // The candidate's day matched only one of the two day fields: skip the rest of that day.
      const dayStart = Date.UTC(candidate.getUTCFullYear(), candidate.getUTCMonth(), candidate.getUTCDate());
      cursor = new Date(direction === 'next' ? dayStart + 86_400_000 - 1 : dayStart);
    }
    throw new ScheduleError(`'${this.expression}' has no occurrence near ${from.toISOString()}.`);
  }
}

function validateField(
  field: string,
  spec: { name: string; min: number; max: number; names: readonly string[] },
  expression: string,
): void {
  const fail = (why: string): never => {
    throw new ScheduleError(
      `'${expression}' is not a valid NCRONTAB expression: ${spec.name} field '${field}' ${why}.`,
    );
  };
  for (const item of field.split(',')) {
    const match = /^(\*|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:\/(\d+))?$/.exec(item);
    if (!match) fail('uses syntax NCRONTAB does not support');
    const [, , from, to, step] = match!;
    for (const value of [from, to]) {
      if (value === undefined) continue;
      const number = /^\d+$/.test(value) ? Number(value) : spec.names.indexOf(value.toUpperCase()) + spec.min;
      if (!/^\d+$/.test(value) && !spec.names.includes(value.toUpperCase()))
        fail(`has an unknown value '${value}'`);
      if (number < spec.min || number > spec.max) fail(`must be within ${spec.min}-${spec.max}`);
    }
    if (step !== undefined && Number(step) === 0) fail('has a step of 0');
  }
}
