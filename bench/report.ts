import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One line of the results table. */
export interface Row {
  id: string;
  measure: string;
  baseline: string;
  result: string;
  /** How the result compares with the baseline (or the target's quantity); see `ratioMeaning`. */
  ratio?: number;
  ratioMeaning?: string;
  target: string;
  /** undefined: no target (smoke runs enforce none). */
  met?: boolean;
  details?: Record<string, unknown>;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

export function describeMachine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) cpuModel = match[1].trim();
  } catch {
    // Not Linux: os.cpus() is good enough.
  }
  return {
    cpuModel,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

const COLUMNS = ['measure', 'baseline', 'result', 'ratio', 'target', 'met?'] as const;

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((row) => [
    `${row.id} ${row.measure}`,
    row.baseline,
    row.result,
    row.ratio === undefined ? '—' : formatRatio(row.ratio),
    row.target,
    row.met === undefined ? '—' : row.met ? 'yes' : 'NO',
  ]);
  const widths = COLUMNS.map((title, i) =>
    Math.max(title.length, ...cells.map((c) => (c[i] as string).length)),
  );
  const line = (values: readonly string[]) =>
    `| ${values.map((v, i) => v.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(COLUMNS), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join(
    '\n',
  );
}

function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  return ratio >= 100 ? `${ratio.toFixed(0)}×` : `${ratio.toFixed(2)}×`;
}

export function writeResults(
  file: string,
  content: {
    mode: string;
    startedAt: string;
    durationMs: number;
    machine: Machine;
    loadAverage: { before: number[]; after: number[] };
    rows: readonly Row[];
    failures?: string[];
  },
): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (Math.abs(ms) >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (Math.abs(ms) >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(2)} ms`;
}

export function formatBytes(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MB`;
}
