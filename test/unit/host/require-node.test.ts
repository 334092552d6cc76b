/**
 * The runtime check ahead of `npm run dev`, `serve` and `bench`: on a Node older than
 * engines.node they stop at once with one line naming the version needed. The old Node is
 * simulated by overriding process.versions before the check runs (the suite itself runs on 22+).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../..');
const check = path.join(root, 'dev/require-node.cjs');
const packageJson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
};

function runCheckAs(nodeVersion: string) {
  const pretend = `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '${nodeVersion}' } });`;
  return spawnSync(process.execPath, ['-e', `${pretend} require(${JSON.stringify(check)});`], {
    encoding: 'utf8',
  });
}

describe('the Node version check', () => {
  it('stops Node 20 with exit code 1 and one line naming the version needed', () => {
    const result = runCheckAs('20.20.2');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('needs Node.js >=22.0.0');
    expect(lines[0]).toContain('this is 20.20.2');
  });

  it('lets Node 22 and 24 through without a word', () => {
    for (const version of ['22.0.0', '24.11.1']) {
      const result = runCheckAs(version);
      expect({ version, status: result.status, stderr: result.stderr }).toEqual({
        version,
        status: 0,
        stderr: '',
      });
    }
  });

  it('reads the version needed from engines.node, which says 22', () => {
    expect(packageJson.engines.node).toBe('>=22.0.0');
  });

  it.each(['dev', 'serve', 'bench'])('runs first in `npm run %s`, before tsc and any package', (script) => {
    expect(packageJson.scripts[script]?.startsWith('node dev/require-node.cjs && ')).toBe(true);
  });
});
