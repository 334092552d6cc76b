import type { ServerResponse } from 'node:http';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimulatorServer, sendJson } from '../../../dev/simulators/https-server.js';
import { CallerAuthenticator, type CallerAuthenticatorOptions } from '../../../shared/auth/caller-auth.js';
import { CallerAuthError, CallerAuthUnavailableError } from '../../../shared/auth/errors.js';
import type { CallerAuthSettings } from '../../../shared/config/settings.js';
import { callerAuthHeaders, problemFor } from '../../../shared/http/endpoint.js';
import { testTls } from '../../support/simulators.js';

const TENANT = '4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const OTHER_TENANT = 'f0e1d2c3-b4a5-4968-8776-655443322110';
const APP_CLIENT_ID = '7d0c3e5a-1b2f-4c6d-9e8a-3f5b7c9d1e2a';
const AUDIENCE = `api://${APP_CLIENT_ID}`;
const CALLER = '2e4f6a8c-0b1d-4e3f-a5b7-c9d1e3f5a7b9';
const CALLER_OID = '9a8b7c6d-5e4f-4a3b-8c1d-0e9f8a7b6c5d';
const ROLE = 'DeviceBatch.Read';
const V1_ISSUER = `https://sts.windows.net/${TENANT}/`;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey,
    publicKey,
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A tiny HTTPS JWKS endpoint, counting what it is asked. */
class KeySetServer {
  keys: JWK[] = [];
  mode: 'ok' | 'error' | 'malformed' | 'hang' = 'ok';
  paths: string[] = [];
  readonly #server = new SimulatorServer('JwksServer', testTls(), (req, res) => this.#handle(req.url, res));

  get requests(): number {
    return this.paths.length;
  }
  get url(): string {
    return this.#server.url;
  }
  start(): Promise<string> {
    return this.#server.start();
  }
  stop(): Promise<void> {
    return this.#server.stop();
  }
  reset(keys: JWK[]): void {
    this.keys = keys;
    this.mode = 'ok';
    this.paths = [];
  }
  #handle(url: string | undefined, res: ServerResponse): void {
    this.paths.push(url ?? '');
    if (url !== `/${TENANT}/discovery/v2.0/keys`) sendJson(res, 404, { error: 'not_found' });
    else if (this.mode === 'error') sendJson(res, 500, { error: 'server_error' });
    else if (this.mode === 'malformed') sendJson(res, 200, { keys: 'nope' });
    // 'hang' never answers; the server's stop() drops the socket.
    else if (this.mode === 'ok') sendJson(res, 200, { keys: this.keys });
  }
}

describe('CallerAuthenticator', () => {
  const jwks = new KeySetServer();
  let keyA: SigningKey;
  let keyB: SigningKey;
  let attacker: SigningKey;
  let now = Date.UTC(2031, 4, 1, 12, 0, 0);
  const nowSeconds = () => Math.floor(now / 1000);

  beforeAll(async () => {
    [keyA, keyB, attacker] = await Promise.all([
      signingKey('key-a'),
      signingKey('key-b'),
      signingKey('key-a'),
    ]);
    await jwks.start();
  });
  afterAll(() => jwks.stop());
  beforeEach(() => {
    jwks.reset([keyA.jwk]);
    now = Date.UTC(2031, 4, 1, 12, 0, 0);
  });

  const settings = (overrides: Partial<CallerAuthSettings> = {}): CallerAuthSettings => ({
    audience: AUDIENCE,
    tenantId: TENANT,
    requiredRole: ROLE,
    authorityHost: jwks.url,
    ...overrides,
  });
  const authenticator = (
    overrides: Partial<CallerAuthSettings> = {},
    options: CallerAuthenticatorOptions = {},
  ) => new CallerAuthenticator(settings(overrides), { now: () => now, ...options });

  /** A v1 app-only token as Entra issues it, with `claims` overriding (undefined removes a claim). */
  const v1Claims = (claims: Record<string, unknown> = {}): JWTPayload => {
    const t = nowSeconds();
    const all: Record<string, unknown> = {
      aud: AUDIENCE,
      iss: V1_ISSUER,
      iat: t - 300,
      nbf: t - 300,
      exp: t + 3600,
      tid: TENANT,
      appid: CALLER,
      appidacr: '1',
      oid: CALLER_OID,
      sub: CALLER_OID,
      idtyp: 'app',
      ver: '1.0',
      roles: [ROLE],
      ...claims,
    };
    return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
  };
  const mint = (claims: Record<string, unknown> = {}, key: SigningKey = keyA) =>
    new SignJWT(v1Claims(claims))
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
      .sign(key.privateKey);
  const bearer = (token: string) => ({
    get: (name: string) => (name.toLowerCase() === 'authorization' ? `Bearer ${token}` : null),
  });
  const headers = (value: string | null) => ({
    get: (name: string) => (name.toLowerCase() === 'authorization' ? value : null),
  });

  /** Awaits a rejection with CallerAuthError and checks it never echoes `token`. */
  async function rejection(promise: Promise<unknown>, token?: string): Promise<CallerAuthError> {
    const error = await promise.then(
      () => expect.unreachable('the request was accepted'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CallerAuthError);
    const authError = error as CallerAuthError;
    if (token) {
      expect(authError.message).not.toContain(token);
      expect(authError.wwwAuthenticate).not.toContain(token);
      // Not even the signature part alone.
      const signature = token.split('.')[2] ?? '';
      if (signature.length >= 16) expect(authError.message).not.toContain(signature);
    }
    return authError;
  }
  const expectInvalidToken = async (promise: Promise<unknown>, token: string, detail: RegExp) => {
    const error = await rejection(promise, token);
    expect(error.kind).toBe('unauthorized');
    expect(error.message).toMatch(detail);
    expect(error.wwwAuthenticate).toMatch(
      /^Bearer realm="[^"]+", error="invalid_token", error_description="[^"]+"$/,
    );
    return error;
  };

  it('accepts a valid v1 app token and returns who called', async () => {
    const auth = authenticator();
    const token = await mint();

    const identity = await auth.authenticate(bearer(token));

    expect(identity).toEqual({ appId: CALLER, objectId: CALLER_OID, roles: [ROLE], tenantId: TENANT });
    expect(JSON.stringify(identity)).not.toContain(token);
    expect(jwks.paths).toEqual([`/${TENANT}/discovery/v2.0/keys`]);
  });

  it('accepts a v2 token: v2 issuer, bare client id audience, azp', async () => {
    const token = await mint({
      aud: APP_CLIENT_ID,
      iss: `${jwks.url}/${TENANT}/v2.0`,
      appid: undefined,
      azp: CALLER,
      ver: '2.0',
    });

    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ appId: CALLER });
  });

  it('treats api://{clientId} and the bare client id as the same audience, and nothing else', async () => {
    const apiUriToken = await mint({ aud: AUDIENCE });
    const bareToken = await mint({ aud: APP_CLIENT_ID });

    await expect(
      authenticator({ audience: APP_CLIENT_ID }).authenticate(bearer(apiUriToken)),
    ).resolves.toBeDefined();
    await expect(
      authenticator({ audience: `${AUDIENCE}/.default` }).authenticate(bearer(bareToken)),
    ).resolves.toBeDefined();
    await expectInvalidToken(
      authenticator({ audience: 'https://contoso.example/batch-status' }).authenticate(bearer(bareToken)),
      bareToken,
      /audience '7d0c3e5a-[^']*', not this app.*scope 'https:\/\/contoso\.example\/batch-status\/\.default'/,
    );
  });

  it('rejects an expired token, but tolerates a little clock skew', async () => {
    const expired = await mint({ exp: nowSeconds() - 120 });
    const justExpired = await mint({ exp: nowSeconds() - 30 });

    await expectInvalidToken(authenticator().authenticate(bearer(expired)), expired, /has expired/);
    await expect(authenticator().authenticate(bearer(justExpired))).resolves.toBeDefined();
    await expectInvalidToken(
      authenticator({}, { clockToleranceSeconds: 0 }).authenticate(bearer(justExpired)),
      justExpired,
      /has expired/,
    );
  });

  it('rejects a token that is not valid yet', async () => {
    const token = await mint({ nbf: nowSeconds() + 600, iat: nowSeconds() + 600 });

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /not valid yet/);
  });

  it('rejects a token without exp', async () => {
    const token = await mint({ exp: undefined });

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /lacks the required 'exp'/);
  });

  it('rejects a token for another audience', async () => {
    const token = await mint({ aud: 'https://management.azure.com' });

    await expectInvalidToken(
      authenticator().authenticate(bearer(token)),
      token,
      new RegExp(`audience 'https://management.azure.com', not this app.*'${AUDIENCE}/.default'`),
    );
  });

  it('rejects a token from another issuer', async () => {
    const token = await mint({ iss: `https://evil.example/${TENANT}/` });

    await expectInvalidToken(
      authenticator().authenticate(bearer(token)),
      token,
      /issued by 'https:\/\/evil\.example\/.*not Microsoft Entra ID tenant/,
    );
  });

  it('rejects a token from another tenant, whatever its issuer says', async () => {
    const foreign = await mint({ tid: OTHER_TENANT, iss: `https://sts.windows.net/${OTHER_TENANT}/` });
    const mismatched = await mint({ tid: OTHER_TENANT });

    for (const token of [foreign, mismatched]) {
      await expectInvalidToken(
        authenticator().authenticate(bearer(token)),
        token,
        new RegExp(`issued in tenant ${OTHER_TENANT}; only tokens from tenant ${TENANT}`),
      );
    }
  });

  it('answers 403 with insufficient_scope when the caller lacks the required role', async () => {
    const otherRole = await mint({ roles: ['DeviceBatch.Write', ROLE.toLowerCase()] });
    const noRoles = await mint({ roles: undefined });

    for (const token of [otherRole, noRoles]) {
      const error = await rejection(authenticator().authenticate(bearer(token)), token);
      expect(error.kind).toBe('forbidden');
      expect(error.message).toContain(`lacks the app role '${ROLE}'`);
      expect(error.wwwAuthenticate).toMatch(
        /^Bearer realm="[^"]+", error="insufficient_scope", error_description=/,
      );
      expect(problemFor(error, 'cid').status).toBe(403);
    }
    await expect(
      authenticator({ requiredRole: undefined }).authenticate(bearer(noRoles)),
    ).resolves.toMatchObject({ roles: [] });
  });

  it('challenges a request without credentials, without fetching keys', async () => {
    for (const value of [null, '', '   ']) {
      const error = await rejection(authenticator().authenticate(headers(value)));
      expect(error.kind).toBe('unauthorized');
      expect(error.message).toMatch(/requires a bearer token.*scope 'api:\/\/7d0c3e5a-.*\/\.default'/);
      expect(error.wwwAuthenticate).toBe(`Bearer realm="${AUDIENCE}"`);
      expect(callerAuthHeaders(error)).toEqual({ 'WWW-Authenticate': `Bearer realm="${AUDIENCE}"` });
      expect(problemFor(error, 'cid').status).toBe(401);
    }
    expect(jwks.requests).toBe(0);
  });

  it('refuses other schemes and malformed Bearer values', async () => {
    const token = await mint();
    const basic = await rejection(
      authenticator().authenticate(headers('Basic dXNlcjpwYXNz')),
      'dXNlcjpwYXNz',
    );
    expect(basic.message).toMatch(/does not use the Bearer scheme/);
    expect(basic.wwwAuthenticate).toBe(`Bearer realm="${AUDIENCE}"`);

    const raw = await rejection(authenticator().authenticate(headers(token)), token);
    expect(raw.message).toMatch(/does not use the Bearer scheme/);

    for (const value of ['Bearer', 'Bearer ', `Bearer ${token} extra`, 'Bearer "quoted"']) {
      const error = await rejection(authenticator().authenticate(headers(value)), token);
      expect(error.wwwAuthenticate).toMatch(/error="invalid_request"/);
    }
    const huge = `${token}${'A'.repeat(20_000)}`;
    const tooLong = await rejection(authenticator().authenticate(bearer(huge)), huge);
    expect(tooLong.message).toMatch(/longer than/);
    expect(jwks.requests).toBe(0);
  });

  it('rejects garbage tokens', async () => {
    for (const garbage of ['not-a-jwt', 'a.b.c', `${b64url({ alg: 'RS256' })}.${b64url({})}`, 'eyJ.eyJ.']) {
      await expectInvalidToken(authenticator().authenticate(bearer(garbage)), garbage, /not a well-formed/);
    }
  });

  it("rejects an unsigned alg 'none' token before looking up any key", async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(v1Claims())}.`;

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /not signed with RS256/);
    expect(jwks.requests).toBe(0);
  });

  it('rejects an HS256 token keyed with the RSA public key (alg confusion)', async () => {
    const publicKeyBytes = new TextEncoder().encode(await exportSPKI(keyA.publicKey));
    const token = await new SignJWT(v1Claims())
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keyA.kid })
      .sign(publicKeyBytes);
    // The forgery is real: a verifier that trusted the header's alg would accept it.
    await expect(jwtVerify(token, publicKeyBytes, { currentDate: new Date(now) })).resolves.toBeDefined();

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /not signed with RS256/);
    expect(jwks.requests).toBe(0);
  });

  it('rejects other asymmetric algorithms too', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT(v1Claims())
      .setProtectedHeader({ alg: 'ES256', kid: keyA.kid })
      .sign(privateKey);

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /not signed with RS256/);
  });

  it('rejects a token signed by another key under a published kid', async () => {
    const token = await mint({}, attacker);

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /signature does not verify/);
  });

  it('rejects a token tampered with after signing', async () => {
    const [header, , signature] = (await mint()).split('.');
    const token = `${header}.${b64url(v1Claims({ roles: [ROLE, 'Admin'] }))}.${signature}`;

    await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /signature does not verify/);
  });

  it('fetches the key set once for many validations, concurrent or not', async () => {
    const auth = authenticator();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => mint()));

    await Promise.all(tokens.map((token) => auth.authenticate(bearer(token))));
    for (const token of tokens) await auth.authenticate(bearer(token));

    expect(jwks.requests).toBe(1);
  });

  it('picks up a rotated signing key (new kid) with one refetch', async () => {
    const auth = authenticator({}, { keySetCooldownMs: 0 });
    await auth.authenticate(bearer(await mint({}, keyA)));
    jwks.keys = [keyA.jwk, keyB.jwk];

    await expect(auth.authenticate(bearer(await mint({}, keyB)))).resolves.toMatchObject({ appId: CALLER });
    await auth.authenticate(bearer(await mint({}, keyB)));
    await auth.authenticate(bearer(await mint({}, keyA)));

    expect(jwks.requests).toBe(2);
  });

  it('does not refetch for unknown kids during the cooldown (no fetch storm from bad tokens)', async () => {
    const auth = authenticator();
    await auth.authenticate(bearer(await mint({}, keyA)));

    for (let i = 0; i < 5; i++) {
      const token = await mint({}, keyB);
      await expectInvalidToken(auth.authenticate(bearer(token)), token, /does not publish/);
    }
    expect(jwks.requests).toBe(1);
  });

  it('reports an unavailable key set as CallerAuthUnavailableError, fails fast, then recovers', async () => {
    const auth = authenticator();
    const token = await mint();
    jwks.mode = 'error';

    const error = await auth.authenticate(bearer(token)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallerAuthUnavailableError);
    expect(error).not.toBeInstanceOf(CallerAuthError);
    const unavailable = error as CallerAuthUnavailableError;
    expect(unavailable.message).toMatch(/could not be fetched.*caller did nothing wrong/);
    expect(unavailable.message).not.toContain(token);
    expect(unavailable.retryAfterSeconds).toBe(5);
    expect(callerAuthHeaders(unavailable)).toEqual({ 'Retry-After': '5' });

    now += 2_000;
    await expect(auth.authenticate(bearer(token))).rejects.toMatchObject({ retryAfterSeconds: 3 });
    expect(jwks.requests).toBe(1);

    jwks.mode = 'ok';
    now += 3_000;
    await expect(auth.authenticate(bearer(token))).resolves.toBeDefined();
    expect(jwks.requests).toBe(2);
  });

  it('treats a malformed key set, a slow one and an unreachable one as unavailable', async () => {
    const token = await mint();
    jwks.mode = 'malformed';
    await expect(authenticator().authenticate(bearer(token))).rejects.toBeInstanceOf(
      CallerAuthUnavailableError,
    );

    jwks.mode = 'hang';
    await expect(
      authenticator({}, { keySetTimeoutMs: 200 }).authenticate(bearer(token)),
    ).rejects.toBeInstanceOf(CallerAuthUnavailableError);

    const closed = new SimulatorServer('Closed', testTls(), () => {});
    const closedUrl = await closed.start();
    await closed.stop();
    await expect(
      authenticator({ authorityHost: closedUrl }).authenticate(bearer(token)),
    ).rejects.toBeInstanceOf(CallerAuthUnavailableError);
  });

  it('is a no-op when no audience is configured', async () => {
    const auth = new CallerAuthenticator({ authorityHost: jwks.url, requiredRole: ROLE });

    expect(auth.enabled).toBe(false);
    await expect(auth.authenticate(headers(null))).resolves.toBeUndefined();
    await expect(auth.authenticate(headers('Bearer garbage'))).resolves.toBeUndefined();
    expect(jwks.requests).toBe(0);
    expect(authenticator().enabled).toBe(true);
  });

  it('touches no network until the first request', async () => {
    authenticator();
    authenticator({ authorityHost: 'https://login.microsoftonline.com' });

    expect(jwks.requests).toBe(0);
  });

  it('keeps the challenge a valid quoted-string whatever the claims hold', async () => {
    const token = await mint({ iss: 'https://evil.example/"quoted"\\back\u00e9' });

    const error = await expectInvalidToken(authenticator().authenticate(bearer(token)), token, /issued by/);
    expect(error.wwwAuthenticate).toMatch(/^[\x20-\x7e]+$/);
    expect(error.wwwAuthenticate.match(/"/g)).toHaveLength(6);
  });
});
