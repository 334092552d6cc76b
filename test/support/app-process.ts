import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { waitFor } from './wait.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface AppProcess {
  /** e.g. http://localhost:51234 */
  url: string;
  pid: number;
  /** Every stdout and stderr line so far, in order. */
  readonly lines: string[];
  /** Resolves with the first line from `from` on that matches, waiting for it if need be. */
  waitForLine(pattern: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Sends `signal` (default SIGTERM) and resolves when the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: boolean;
}

/**
 * `node dist/dev/serve.js` as a child process (what `npm run serve` runs after building), on a free
 * port, configured by `env` on top of this process's environment (NODE_EXTRA_CA_CERTS included, so
 * the child trusts the simulators). `npm test` builds dist first.
 */
export async function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  const child: ChildProcess = spawn(process.execPath, ['dist/dev/serve.js'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
    });
  }

  const findLine = (pattern: RegExp, from: number) => lines.slice(from).find((line) => pattern.test(line));
  const waitForLine = (pattern: RegExp, options: { from?: number; timeoutMs?: number } = {}) =>
    waitFor(
      () => {
        const line = findLine(pattern, options.from ?? 0);
        if (!line && exited) throw new Error(`the app exited:\n${lines.slice(-20).join('\n')}`);
        return line;
      },
      { timeoutMs: options.timeoutMs ?? 20_000, description: `a log line matching ${pattern}` },
    );

  let url: string;
  try {
    const banner = await waitForLine(/Function app listening at (http:\/\/\S+)/);
    url = /Function app listening at (http:\/\/\S+)/.exec(banner)![1]!;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    pid: child.pid!,
    lines,
    waitForLine,
    get exited() {
      return exited;
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited) child.kill(signal);
      await exit;
    },
  };
}

/** Starts a sweep through the admin endpoint, as the Functions host allows; resolves with the index of its first log line. */
export async function triggerSweep(host: AppProcess): Promise<number> {
  const from = host.lines.length;
  const res = await fetch(`${host.url}/admin/functions/sweepPendingTrackings`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"input":""}',
  });
  expect(res.status).toBe(202);
  return from;
}

/** Waits for the sweep started at `from` to end; returns its summary line. */
export async function sweepFinished(
  host: AppProcess,
  from: number,
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const executed = await host.waitForLine(
    /Executed 'Functions\.sweepPendingTrackings' \((Succeeded|Failed)/,
    { from, ...options },
  );
  expect(executed).toContain('Succeeded');
  return host.waitForLine(/Sweep (completed|stopped early)/, { from });
}
