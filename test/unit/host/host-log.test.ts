import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createStreamLogger, formatLogLine } from '../../../dev/host/host-log.js';

const time = new Date('2026-11-26T12:00:00.000Z');

describe('host log lines', () => {
  it('carry timestamp, level, function name and invocation id', () => {
    expect(
      formatLogLine({
        time,
        level: 'information',
        category: 'user',
        functionName: 'getBatchStatus',
        invocationId: '8c1f0e2a-5b7d-4e61-9a3c-2f4b6d8e0a1c',
        message: 'looked up',
      }),
    ).toBe('2026-11-26T12:00:00.000Z info [getBatchStatus 8c1f0e2a-5b7d-4e61-9a3c-2f4b6d8e0a1c] looked up');
  });

  it('name the scope when there is no invocation', () => {
    expect(
      formatLogLine({ time, level: 'warning', category: 'host', functionName: 'sweep', message: 'skipped' }),
    ).toBe('2026-11-26T12:00:00.000Z warn [sweep] skipped');
    expect(formatLogLine({ time, level: 'critical', category: 'system', message: 'x' })).toBe(
      '2026-11-26T12:00:00.000Z critical [host] x',
    );
  });

  it('stay on one line when the message has line breaks', () => {
    const line = formatLogLine({
      time,
      level: 'error',
      category: 'host',
      message: 'Error: boom\n    at f (a.js:1:1)\r\n',
    });
    expect(line).toBe('2026-11-26T12:00:00.000Z error [host] Error: boom\\n    at f (a.js:1:1)\\n');
  });

  it('are written one per entry by the stream logger, which drops level none', () => {
    const stream = new PassThrough();
    const logger = createStreamLogger(stream);
    logger({ time, level: 'debug', category: 'host', message: 'one' });
    logger({ time, level: 'none', category: 'host', message: 'hidden' });
    logger({ time, level: 'error', category: 'host', message: 'two' });
    expect(stream.read()?.toString()).toBe(
      '2026-11-26T12:00:00.000Z debug [host] one\n2026-11-26T12:00:00.000Z error [host] two\n',
    );
  });
});
