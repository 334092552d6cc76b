import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The project files `func start` reads, read the same way for the local host. */

export class ProjectConfigError extends Error {
  override name = 'ProjectConfigError';
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ProjectConfigError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `local.settings.json` `Values`, or nothing when the file is absent. Values must be strings, as for func. */
export function readLocalSettingsValues(projectRoot: string): Record<string, string> {
  const file = path.join(projectRoot, 'local.settings.json');
  if (!existsSync(file)) return {};
  const json = readJson(file);
  const values = isRecord(json) ? json.Values : undefined;
  if (values === undefined) return {};
  if (!isRecord(values)) throw new ProjectConfigError(`${file}: "Values" must be an object of strings.`);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string') result[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') result[name] = String(value);
    else throw new ProjectConfigError(`${file}: Values.${name} must be a string.`);
  }
  return result;
}

/** host.json `extensions.http.routePrefix`; `api` when absent, as in Functions. */
export function readRoutePrefix(projectRoot: string): string {
  const file = path.join(projectRoot, 'host.json');
  if (!existsSync(file)) return 'api';
  const json = readJson(file);
  const extensions = isRecord(json) ? json.extensions : undefined;
  const http = isRecord(extensions) ? extensions.http : undefined;
  const prefix = isRecord(http) ? http.routePrefix : undefined;
  if (prefix === undefined) return 'api';
  if (typeof prefix !== 'string')
    throw new ProjectConfigError(`${file}: extensions.http.routePrefix must be a string.`);
  return prefix;
}

/** The function modules named by package.json `main` (a file or a glob, as the Node.js worker reads it). */
export function resolveFunctionModules(projectRoot: string): string[] {
  const file = path.join(projectRoot, 'package.json');
  const json = existsSync(file) ? readJson(file) : undefined;
  const main = isRecord(json) ? json.main : undefined;
  if (typeof main !== 'string' || main.trim() === '') {
    throw new ProjectConfigError(
      `${file} has no "main" naming the function modules (e.g. "dist/functions/*.js").`,
    );
  }
  const files = expandGlob(projectRoot, main);
  if (files.length === 0) {
    throw new ProjectConfigError(
      `package.json "main" (${main}) matches no file under ${projectRoot}. Build first (npm run build).`,
    );
  }
  return files;
}

/**
 * Minimal glob: `*` and `?` within a segment, `**` for any number of directories. Like common
 * globs, wildcards do not match names that start with a dot. Sorted, absolute paths.
 */
export function expandGlob(root: string, pattern: string): string[] {
  const segments = pattern
    .replace(/\\/g, '/')
    .replace(/^\.\//, '')
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.');
  const found = new Set<string>();

  const walk = (dir: string, index: number): void => {
    const segment = segments[index];
    if (segment === undefined) return;
    const last = index === segments.length - 1;
    if (segment === '**') {
      walk(dir, index + 1);
      for (const entry of listDirectory(dir)) {
        if (entry.isDirectory() && !entry.name.startsWith('.')) walk(path.join(dir, entry.name), index);
      }
      return;
    }
    if (!/[*?]/.test(segment)) {
      const candidate = path.join(dir, segment);
      if (!existsSync(candidate)) return;
      const stats = statSync(candidate);
      if (last && stats.isFile()) found.add(candidate);
      else if (!last && stats.isDirectory()) walk(candidate, index + 1);
      return;
    }
    const matcher = new RegExp(
      `^${segment
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    );
    for (const entry of listDirectory(dir)) {
      if (entry.name.startsWith('.') || !matcher.test(entry.name)) continue;
      const candidate = path.join(dir, entry.name);
      if (last && entry.isFile()) found.add(candidate);
      else if (!last && entry.isDirectory()) walk(candidate, index + 1);
    }
  };

  walk(path.resolve(root), 0);
  return [...found].sort();
}

function listDirectory(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** host.json `extensions.queues`, as the Functions host's queue trigger reads it (defaults are the host's). */
export interface QueuesHostOptions {
  /** Longest wait between polls of an empty queue. Default 1 minute. */
  maxPollingIntervalMs: number;
  /** How long a failed message stays invisible before it is retried. Default 0. */
  visibilityTimeoutMs: number;
  /** Messages fetched (and run in parallel) per poll. Default 16, at most 32. */
  batchSize: number;
  /** Dequeues after which a failing message moves to `<queue>-poison`. Default 5. */
  maxDequeueCount: number;
  /** `base64` (default) or `none`. */
  messageEncoding: 'base64' | 'none';
}

export const DEFAULT_QUEUES_OPTIONS: QueuesHostOptions = {
  maxPollingIntervalMs: 60_000,
  visibilityTimeoutMs: 0,
  batchSize: 16,
  maxDequeueCount: 5,
  messageEncoding: 'base64',
};

export function readQueuesOptions(projectRoot: string): QueuesHostOptions {
  const file = path.join(projectRoot, 'host.json');
  if (!existsSync(file)) return { ...DEFAULT_QUEUES_OPTIONS };
  const json = readJson(file);
  const extensions = isRecord(json) ? json.extensions : undefined;
  return parseQueuesOptions(isRecord(extensions) ? extensions.queues : undefined, file);
}

export function parseQueuesOptions(queues: unknown, source = 'host.json'): QueuesHostOptions {
  if (queues === undefined) return { ...DEFAULT_QUEUES_OPTIONS };
  if (!isRecord(queues)) throw new ProjectConfigError(`${source}: extensions.queues must be an object.`);
  const options = { ...DEFAULT_QUEUES_OPTIONS };
  const timeSpan = (name: 'maxPollingInterval' | 'visibilityTimeout'): number | undefined => {
    const value = queues[name];
    if (value === undefined) return undefined;
    const ms = typeof value === 'string' ? parseTimeSpanMs(value) : undefined;
    if (ms === undefined) {
      throw new ProjectConfigError(
        `${source}: extensions.queues.${name} must be a time span like "00:00:02".`,
      );
    }
    return ms;
  };
  const count = (name: 'batchSize' | 'maxDequeueCount', max: number): number | undefined => {
    const value = queues[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      throw new ProjectConfigError(
        `${source}: extensions.queues.${name} must be a whole number from 1 to ${max}.`,
      );
    }
    return value;
  };
  options.maxPollingIntervalMs = timeSpan('maxPollingInterval') ?? options.maxPollingIntervalMs;
  options.visibilityTimeoutMs = timeSpan('visibilityTimeout') ?? options.visibilityTimeoutMs;
  options.batchSize = count('batchSize', 32) ?? options.batchSize;
  options.maxDequeueCount = count('maxDequeueCount', 1000) ?? options.maxDequeueCount;
  const encoding = queues.messageEncoding;
  if (encoding !== undefined) {
    if (encoding !== 'base64' && encoding !== 'none') {
      throw new ProjectConfigError(
        `${source}: extensions.queues.messageEncoding must be "base64" or "none".`,
      );
    }
    options.messageEncoding = encoding;
  }
  return options;
}

/** .NET TimeSpan text as host.json uses it: `[d.]hh:mm:ss[.fff]`. */
export function parseTimeSpanMs(value: string): number | undefined {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(value.trim());
  if (!match) return undefined;
  const [, days, hours, minutes, seconds, fraction] = match;
  if (Number(minutes) > 59 || Number(seconds) > 59) return undefined;
  return (
    ((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
    Number(seconds) * 1000 +
    Math.round(Number(`0.${fraction ?? '0'}`) * 1000)
  );
}
