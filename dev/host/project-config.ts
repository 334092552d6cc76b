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
