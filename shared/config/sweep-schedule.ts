/** The sweep's default schedule (NCRONTAB, six fields, UTC); `loadSettings` uses the same value. */
export const DEFAULT_SWEEP_SCHEDULE = '0 */5 * * * *';

/**
 * The sweep's timer binding. The Functions host resolves `%SWEEP_SCHEDULE%` from app settings and
 * has no notion of a default, so the default schedule is used as a literal when the setting is
 * absent. Read at registration (module load): it must never throw, and it stays free of heavy
 * imports so that loading the function modules stays cheap.
 */
export function sweepScheduleBinding(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const setting = 'SWEEP_SCHEDULE';
  return env[setting]?.trim() ? `%${setting}%` : DEFAULT_SWEEP_SCHEDULE;
}
