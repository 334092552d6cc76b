import type { TableClient } from '@azure/data-tables';
import type { StorageClients } from '../storage/clients.js';
import { statusCodeOf } from '../storage/rest-errors.js';
import type { SharedThrottle, SharedThrottleStore } from './partner-budget.js';

const PARTITION = 'partner-center';
const ROW = 'partner';

interface ThrottleEntity {
  partitionKey: string;
  rowKey: string;
  throttledUntil: number;
  throttledAt: number;
  ratePerMinute: number;
}

/**
 * The partner's shared throttling state: one entity in the `<prefix>budget` table of tracking
 * storage. Last writer wins, which is harmless: readers keep the later `throttledUntil` they know,
 * and every write comes from a fresh 429.
 */
export class TableThrottleStore implements SharedThrottleStore {
  constructor(
    private readonly table: TableClient,
    private readonly ensure: () => Promise<void>,
  ) {}

  static fromClients(clients: StorageClients, tablePrefix: string): TableThrottleStore {
    const name = `${tablePrefix}budget`;
    return new TableThrottleStore(clients.tableClient(name), () => clients.ensureTable(name));
  }

  async read(): Promise<SharedThrottle | undefined> {
    try {
      const entity = await this.table.getEntity<ThrottleEntity>(PARTITION, ROW);
      return {
        throttledUntil: Number(entity.throttledUntil),
        throttledAt: Number(entity.throttledAt),
        ratePerMinute: Number(entity.ratePerMinute),
      };
    } catch (error) {
      // No instance was ever throttled (or the table is not there yet): nothing to honour.
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  async write(state: SharedThrottle): Promise<void> {
    await this.ensure();
    const entity: ThrottleEntity = { partitionKey: PARTITION, rowKey: ROW, ...state };
    await this.table.upsertEntity(entity, 'Replace');
  }
}
