import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  expandGlob,
  ProjectConfigError,
  readLocalSettingsValues,
  readRoutePrefix,
  resolveFunctionModules,
} from '../../../dev/host/project-config.js';

let root: string;

function write(relative: string, content = ''): void {
  const file = path.join(root, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'project-config-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('function modules from package.json "main"', () => {
  it('expands a glob to the matching files, sorted, skipping source maps, folders and dotfiles', () => {
    write('dist/functions/b.js');
    write('dist/functions/a.js');
    write('dist/functions/a.js.map');
    write('dist/functions/.hidden.js');
    mkdirSync(path.join(root, 'dist/functions/folder.js'));
    write('package.json', JSON.stringify({ main: 'dist/functions/*.js' }));
    expect(resolveFunctionModules(root)).toEqual([
      path.join(root, 'dist/functions/a.js'),
      path.join(root, 'dist/functions/b.js'),
    ]);
  });

  it('supports ** and ? and a plain file name', () => {
    write('dist/functions/http/get.js');
    write('dist/functions/timer/sweep.js');
    write('dist/functions/x1.js');
    write('dist/index.js');
    expect(expandGlob(root, 'dist/**/*.js').map((file) => path.relative(root, file))).toEqual([
      path.join('dist', 'functions', 'http', 'get.js'),
      path.join('dist', 'functions', 'timer', 'sweep.js'),
      path.join('dist', 'functions', 'x1.js'),
      path.join('dist', 'index.js'),
    ]);
    expect(expandGlob(root, './dist/functions/x?.js')).toEqual([path.join(root, 'dist/functions/x1.js')]);
    expect(expandGlob(root, 'dist/index.js')).toEqual([path.join(root, 'dist/index.js')]);
  });

  it('says to build when nothing matches, and what is missing without "main"', () => {
    write('package.json', JSON.stringify({ main: 'dist/functions/*.js' }));
    expect(() => resolveFunctionModules(root)).toThrow(/matches no file.*npm run build/);
    write('package.json', JSON.stringify({ name: 'x' }));
    expect(() => resolveFunctionModules(root)).toThrow(ProjectConfigError);
    expect(() => resolveFunctionModules(root)).toThrow(/no "main"/);
  });
});

describe('local.settings.json', () => {
  it('is optional', () => {
    expect(readLocalSettingsValues(root)).toEqual({});
  });

  it('yields Values as strings', () => {
    write(
      'local.settings.json',
      JSON.stringify({ IsEncrypted: false, Values: { A: 'a', PORT: 7072, FLAG: true } }),
    );
    expect(readLocalSettingsValues(root)).toEqual({ A: 'a', PORT: '7072', FLAG: 'true' });
  });

  it('names the file or the value that is wrong', () => {
    write('local.settings.json', '{ "Values": ');
    expect(() => readLocalSettingsValues(root)).toThrow(/local\.settings\.json is not valid JSON/);
    write('local.settings.json', JSON.stringify({ Values: { NESTED: { a: 1 } } }));
    expect(() => readLocalSettingsValues(root)).toThrow(/Values\.NESTED must be a string/);
  });
});

describe('host.json routePrefix', () => {
  it('defaults to api, and may be set or emptied', () => {
    expect(readRoutePrefix(root)).toBe('api');
    write('host.json', JSON.stringify({ version: '2.0' }));
    expect(readRoutePrefix(root)).toBe('api');
    write('host.json', JSON.stringify({ extensions: { http: { routePrefix: 'v1' } } }));
    expect(readRoutePrefix(root)).toBe('v1');
    write('host.json', JSON.stringify({ extensions: { http: { routePrefix: '' } } }));
    expect(readRoutePrefix(root)).toBe('');
  });
});
