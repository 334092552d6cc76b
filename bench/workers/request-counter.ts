import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/**
 * Counts every outgoing HTTP request of this process by service and method, from Node's own
 * `http.client.*` channels (what really went over the wire, whichever SDK sent it), with the time
 * from sending to the end of the response headers.
 */
export class RequestCounter {
  readonly counts: Record<string, Record<string, number>> = {};
  private readonly latencies: Record<string, number[]> = {};
  private readonly started = new WeakMap<ClientRequest, { service: string; at: number }>();

  private readonly onStart = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const host = String(request.getHeader('host') ?? '');
    const service = this.services[host.slice(host.lastIndexOf(':') + 1)] ?? 'other';
    const byMethod = this.counts[service] ?? {};
    byMethod[request.method] = (byMethod[request.method] ?? 0) + 1;
    this.counts[service] = byMethod;
    this.started.set(request, { service, at: performance.now() });
  };

  private readonly onResponse = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const start = this.started.get(request);
    if (!start) return;
    const samples = this.latencies[start.service] ?? [];
    samples.push(performance.now() - start.at);
    this.latencies[start.service] = samples;
  };

  /** `services`: port → name. */
  constructor(private readonly services: Record<string, string>) {
    diagnostics.subscribe('http.client.request.start', this.onStart);
    diagnostics.subscribe('http.client.response.finish', this.onResponse);
  }

  reset(): void {
    for (const key of Object.keys(this.counts)) delete this.counts[key];
    for (const key of Object.keys(this.latencies)) delete this.latencies[key];
  }

  snapshot(): Record<string, Record<string, number>> {
    return structuredClone(this.counts);
  }

  /** Mean and p90 response time per service, in ms. */
  responseTimes(): Record<string, { mean: number; p90: number }> {
    return Object.fromEntries(
      Object.entries(this.latencies).map(([service, samples]) => {
        const sorted = [...samples].sort((a, b) => a - b);
        const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
        const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] ?? Number.NaN;
        return [service, { mean: Math.round(mean * 100) / 100, p90: Math.round(p90 * 100) / 100 }];
      }),
    );
  }
}
