import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLocalApp, type LocalApp, startLocalApp } from '../../../dev/serve.js';

const fixtureDir = fileURLToPath(new URL('../../fixtures/host-app/', import.meta.url));
let projectRoot: string;
let app: LocalApp;

beforeAll(async () => {
  // A throwaway project root: local.settings.json is git-ignored, so the test writes its own,
  // and package.json "main" points back at the fixture functions.
  projectRoot = mkdtempSync(path.join(tmpdir(), 'local-host-app-'));
  const functionsGlob = `${path.relative(projectRoot, path.join(fixtureDir, 'functions')).split(path.sep).join('/')}/*.ts`;
  writeFileSync(
    path.join(projectRoot, 'package.json'),
    JSON.stringify({ name: 'tmp-app', main: functionsGlob }),
  );
  copyFileSync(path.join(fixtureDir, 'host.json'), path.join(projectRoot, 'host.json'));
  writeFileSync(
    path.join(projectRoot, 'local.settings.json'),
    JSON.stringify({
      IsEncrypted: false,
      Values: {
        FIXTURE_SETTING: 'from-local-settings',
        FIXTURE_SWEEP_SCHEDULE: '0 0 * * * *',
        SERVE_TEST_ENVIRONMENT_WINS: 'from-local-settings',
        SERVE_TEST_OPTION_WINS: 'from-local-settings',
        LOCAL_FUNCTION_KEY: 'key-from-local-settings',
      },
    }),
  );
  process.env.SERVE_TEST_ENVIRONMENT_WINS = 'from-environment';
  process.env.SERVE_TEST_OPTION_WINS = 'from-environment';

  app = await startLocalApp({
    projectRoot,
    port: 0,
    env: { SERVE_TEST_OPTION_WINS: 'from-option' },
    logger: () => {},
  });
});

afterAll(async () => {
  await app?.stop();
  if (projectRoot) rmSync(projectRoot, { recursive: true, force: true });
});

describe('startLocalApp', () => {
  it('applies local.settings.json Values under the environment, and the env option over both, before loading', async () => {
    expect(process.env.SERVE_TEST_ENVIRONMENT_WINS).toBe('from-environment');
    expect(process.env.SERVE_TEST_OPTION_WINS).toBe('from-option');
    // The app read it from process.env while serving a request.
    const response = await fetch(`${app.url}/fixture-api/health`);
    expect(await response.json()).toEqual({ status: 'ok', setting: 'from-local-settings' });
  });

  it('loads every module matched by package.json "main" and serves under host.json routePrefix', async () => {
    expect(app.url).toMatch(/^http:\/\/localhost:\d+$/);
    expect(app.registry.functions.map((fn) => fn.name)).toEqual(
      expect.arrayContaining(['health', 'getItem', 'echo', 'fixtureSweep', 'fixtureQueue']),
    );
    expect((await fetch(`${app.url}/api/health`)).status).toBe(404);
    expect((await fetch(`${app.url}/fixture-api/health`)).status).toBe(200);
  });

  it('takes the function key from LOCAL_FUNCTION_KEY', async () => {
    expect((await fetch(`${app.url}/fixture-api/items/1`)).status).toBe(401);
    const withKey = await fetch(`${app.url}/fixture-api/items/1`, {
      headers: { 'x-functions-key': 'key-from-local-settings' },
    });
    expect(withKey.status).toBe(200);
  });

  it('prints the routes like func start, without the key', () => {
    const banner = describeLocalApp(app);
    expect(banner).toContain(`health: [GET] ${app.url}/fixture-api/health`);
    expect(banner).toContain(`getItem: [GET] ${app.url}/fixture-api/items/{id:int}`);
    expect(banner).toContain('fixtureSweep: timerTrigger (0 0 * * * * UTC, next ');
    expect(banner).toContain(`Function app listening at ${app.url}`);
    expect(banner).toContain('Function keys: required');
    expect(banner).not.toContain('key-from-local-settings');
  });
});
