import { afterAll, beforeAll, describe } from 'vitest';
import { startTestApp, type TestApp } from '../support/local-app.js';
import { lookupScenarios } from './lookup-scenarios.js';

// The end-to-end lookups of local-app.test.ts, with PARTNER_CENTER_AUTH_MODE=app_user: the admin's
// consented refresh token in the vault, Partner Center accepting only user tokens with MFA.
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ tag: 'e2eau', simulators: { appUser: {} } });
});

afterAll(async () => {
  await app?.stop();
});

describe('the function app on the local host, App+User', () => {
  lookupScenarios(() => ({ app, mode: 'app_user' }));
});
