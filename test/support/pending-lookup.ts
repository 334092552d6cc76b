import type { TestApp } from './local-app.js';

export interface PendingLookup {
  /** One lookup over HTTP of a batch that stays `processing`, so every call asks Partner Center. */
  (): Promise<{ status: number; json: Record<string, unknown> }>;
}

/** Creates a batch that never finishes at the app's Partner Center simulator, and a lookup of it. */
export function pendingLookup(app: TestApp): PendingLookup {
  const batch = app.sims.partnerCenter.createBatch({
    customerId: crypto.randomUUID(),
    devices: 1,
    statuses: ['processing'],
  });
  const url = `${app.api}/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`;
  return async () => {
    const res = await fetch(url);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
}
