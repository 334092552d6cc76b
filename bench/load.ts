import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

/** Latency percentiles and throughput of one load run. */
export interface LoadStats {
  requests: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  throughputPerSecond: number;
  wallMs: number;
}

/** The p-th percentile (nearest rank) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(latenciesMs: readonly number[], wallMs: number): LoadStats {
  const sum = latenciesMs.reduce((a, b) => a + b, 0);
  return {
    requests: latenciesMs.length,
    p50Ms: percentile(latenciesMs, 50),
    p90Ms: percentile(latenciesMs, 90),
    p99Ms: percentile(latenciesMs, 99),
    meanMs: latenciesMs.length ? sum / latenciesMs.length : Number.NaN,
    maxMs: latenciesMs.length ? Math.max(...latenciesMs) : Number.NaN,
    throughputPerSecond: wallMs > 0 ? (latenciesMs.length / wallMs) * 1000 : Number.NaN,
    wallMs,
  };
}

/**
 * Closed-loop load: `concurrency` callers, each sending its next request as soon as the previous
 * one answered, until `total` requests are done. Returns every request's latency.
 */
export async function closedLoop(
  options: { concurrency: number; total: number },
  send: (index: number) => Promise<void>,
): Promise<{ latenciesMs: number[]; wallMs: number }> {
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  const caller = async () => {
    for (;;) {
      const index = next++;
      if (index >= options.total) return;
      const t0 = performance.now();
      await send(index);
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.total) }, caller));
  return { latenciesMs, wallMs: performance.now() - started };
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A GET over a keep-alive agent, body read in full; what a well-behaved caller does. */
export function get(
  url: string,
  options: { agent: http.Agent; headers?: Record<string, string> },
): Promise<SimpleResponse> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: 'GET', agent: options.agent, headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Throws unless the answer is a 200: a benchmark of failures measures nothing. */
export function expectOk(response: SimpleResponse, what: string): void {
  if (response.status !== 200) {
    throw new Error(`${what} answered ${response.status}: ${response.body.slice(0, 300)}`);
  }
}

export function keepAliveAgent(secure: boolean, maxSockets: number): http.Agent {
  const options = { keepAlive: true, maxSockets };
  return secure ? new https.Agent(options) : new http.Agent(options);
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

let clockTicks: number | undefined;

/**
 * CPU time (user + system, ms) another process has used so far, from /proc/<pid>/stat (Linux; 10 ms
 * steps). CPU per request, unlike requests per second, does not depend on what else the machine runs.
 */
export function processCpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After "pid (command) ": the state is field 3, utime field 14 and stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

/** CPU time (user + system, ms) this process has used so far. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Requests served per second of the serving process's CPU time. */
export function perCpuSecond(requests: number, cpuMs: number): number {
  return cpuMs > 0 ? (requests * 1000) / cpuMs : Number.NaN;
}
