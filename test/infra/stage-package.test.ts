/**
 * The deployment package azd uploads (infra/scripts/stage-package.mjs): it holds what the
 * Functions host loads and nothing else, and everything the deployed code imports is in it.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { PACKAGE_DIR, ROOT_FILES, RUNTIME_DIRS, stagePackage } from '../../infra/scripts/stage-package.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const temporary: string[] = [];

afterEach(() => {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fixtureProject(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'stage-package-'));
  temporary.push(dir);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

describe('stagePackage', () => {
  it('stages host.json, package files and the compiled functions and shared code, nothing else', () => {
    const project = fixtureProject({
      'host.json': '{}',
      'package.json': '{"main":"dist/functions/*.js"}',
      'package-lock.json': '{}',
      'local.settings.json': '{"Values":{}}',
      'functions/health.ts': '',
      'dist/functions/health.js': '',
      'dist/functions/health.js.map': '',
      'dist/shared/config/settings.js': '',
      'dist/shared/config/settings.d.ts': '',
      'dist/dev/dev.js': '',
      'dist/bench/run.js': '',
      'dist/test/x.test.js': '',
      'node_modules/dev-only/index.js': '',
    });
    const staged = stagePackage({ projectRoot: project, build: false, install: false });
    expect(staged).toEqual([
      'dist/functions/health.js',
      'dist/shared/config/settings.js',
      'host.json',
      'package-lock.json',
      'package.json',
    ]);
    expect(readdirSync(path.join(project, PACKAGE_DIR)).sort()).toEqual([
      'dist',
      'host.json',
      'package-lock.json',
      'package.json',
    ]);
  });

  it('refuses to stage a package without functions', () => {
    const project = fixtureProject({
      'host.json': '{}',
      'package.json': '{}',
      'package-lock.json': '{}',
      'dist/functions/readme.txt': '',
      'dist/shared/a.js': '',
    });
    expect(() => stagePackage({ projectRoot: project, build: false, install: false })).toThrow(
      /dist\/functions/,
    );
  });

  it('stages into dist/, which git, biome and tsc already ignore', () => {
    expect(PACKAGE_DIR.startsWith('dist/')).toBe(true);
    expect(readFileSync(path.join(ROOT, '.gitignore'), 'utf8')).toMatch(/^dist\/$/m);
    expect(ROOT_FILES).toEqual(['host.json', 'package.json', 'package-lock.json']);
  });
});

describe('what the deployed code imports', () => {
  const runtimeSources = ['functions', 'shared'];
  const packageJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    main: string;
    dependencies: Record<string, string>;
  };

  function importsOf(file: string): string[] {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    return info.importedFiles.map((i) => i.fileName);
  }

  function sourceFiles(dir: string): string[] {
    return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
      .map((e) => path.join(e.parentPath, e.name));
  }

  it('package.json main loads the compiled functions that the package stages', () => {
    expect(packageJson.main).toBe('dist/functions/*.js');
    expect(RUNTIME_DIRS).toContain('dist/functions');
  });

  it('stays inside functions/ and shared/, the folders the package holds', () => {
    expect(RUNTIME_DIRS).toEqual(runtimeSources.map((dir) => `dist/${dir}`));
    const escaping: string[] = [];
    const seen = new Set<string>();
    const queue = sourceFiles('functions');
    expect(queue.length).toBeGreaterThan(0);
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const specifier of importsOf(file).filter((s) => s.startsWith('.'))) {
        const target = path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts');
        const relative = path.relative(ROOT, target).split(path.sep).join('/');
        if (!runtimeSources.some((dir) => relative.startsWith(`${dir}/`))) {
          escaping.push(`${path.relative(ROOT, file)} imports ${specifier}`);
        } else {
          queue.push(target);
        }
      }
    }
    expect(escaping).toEqual([]);
  });

  it('needs only production dependencies (the package installs nothing else)', () => {
    const builtins = new Set(builtinModules);
    const missing: string[] = [];
    for (const file of runtimeSources.flatMap(sourceFiles)) {
      for (const specifier of importsOf(file)) {
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        const name = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : specifier.split('/')[0]!;
        if (!(name in packageJson.dependencies))
          missing.push(`${path.relative(ROOT, file)} imports ${specifier}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
