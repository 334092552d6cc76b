import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createEmptyPipeline,
  type Pipeline,
  type PipelinePolicy,
  retryPolicy,
  tracingPolicy,
  userAgentPolicy,
} from '@azure/core-rest-pipeline';
import type { PARTNER_CENTER_DEFAULTS } from '../config/partner-center-settings.js';
import { parseErrorBody, saysMfaMissing } from './errors.js';
import type { CallPriority } from './model.js';
import {
  attemptTimeoutPolicy,
  boundedBodyPolicy,
  concurrencyLimitPolicy,
  partnerCenterHeadersPolicy,
  partnerCenterRetryStrategy,
  throttleObserverPolicy,
} from './policies.js';

/** The client's settings, every default filled in (shared/config/settings.ts). */
export type PartnerCenterPipelineSettings = Omit<typeof PARTNER_CENTER_DEFAULTS, 'baseUrl'>;

/** Hears every 429 attempt as it arrives (the partner-wide budget). */
export type ThrottleObserver = (retryAfterMs: number | undefined, priority: CallPriority) => void;

/** A credential the client can tell to forget its material when Partner Center rejects it. */
export interface RotatableCredential extends TokenCredential {
  invalidate?(): void;
  /** App+User: Partner Center refused the consent itself (no MFA); only a new consent helps. */
  consentRefused?(reason: string): void;
}

/**
 * The Partner Center client's pipeline, in the Azure SDK's phases: user agent and Partner Center
 * headers; retry (Retry-After aware, within the call's budget); per attempt a timeout, the
 * throttle observer and the concurrency limit; then the bearer token, the body size limit and a
 * tracing span.
 */
export function createPartnerCenterPipeline(
  settings: PartnerCenterPipelineSettings,
  credential: RotatableCredential,
  onThrottled?: ThrottleObserver,
): Pipeline {
  const s = settings;
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(userAgentPolicy({ userAgentPrefix: s.applicationName }));
  pipeline.addPolicy(partnerCenterHeadersPolicy({ locale: s.locale, applicationName: s.applicationName }));
  pipeline.addPolicy(
    retryPolicy(
      [
        partnerCenterRetryStrategy({
          retryDelayInMs: s.retryDelayInMs,
          maxRetryDelayInMs: s.maxRetryDelayInMs,
        }),
      ],
      { maxRetries: s.maxRetries },
    ),
    { phase: 'Retry' },
  );
  pipeline.addPolicy(attemptTimeoutPolicy(s.attemptTimeoutMs), { afterPhase: 'Retry' });
  if (onThrottled) pipeline.addPolicy(throttleObserverPolicy(onThrottled), { afterPhase: 'Retry' });
  pipeline.addPolicy(concurrencyLimitPolicy(s.maxConcurrentCalls), { afterPhase: 'Retry' });
  pipeline.addPolicy(partnerCenterAuthPolicy(credential, s.scope), { phase: 'Sign' });
  pipeline.addPolicy(boundedBodyPolicy(s.maxResponseBytes), { afterPhase: 'Sign' });
  // One span per attempt, as in every Azure SDK client: a dependency in Application Insights when
  // telemetry is on (it sets @azure/core-tracing's instrumenter), a no-op otherwise.
  pipeline.addPolicy(tracingPolicy({ userAgentPrefix: s.applicationName }), { afterPhase: 'Sign' });
  return pipeline;
}

/**
 * The bearer-token policy caches the token and merges concurrent refreshes, so 100 cold calls ask
 * Entra once. A 401 challenge with a token we believed valid means the credential was rotated or
 * revoked: the challenge callback has the credential re-read the vault and the policy resend the
 * attempt once, as the same logical request (same MS-RequestId). A 401 for missing MFA is not
 * resent (no token from the same consent can have it): the credential hears that its consent was
 * refused, and the next call starts from a fresh token. The policy's token cache only refetches
 * for a claims challenge, so the callbacks ask with marker claims that the credential wrapper
 * here acts on and never passes on.
 */
function partnerCenterAuthPolicy(credential: RotatableCredential, scope: string): PipelinePolicy {
  let stale = false;
  const tokens: TokenCredential = {
    getToken: (scopes, options) => {
      if (options?.claims !== ROTATE_CLAIM && options?.claims !== REFETCH_CLAIM) {
        return credential.getToken(scopes, options);
      }
      if (options.claims === ROTATE_CLAIM) credential.invalidate?.();
      const { claims: _marker, ...rest } = options;
      return credential.getToken(scopes, rest);
    },
  };
  return bearerTokenAuthenticationPolicy({
    credential: tokens,
    scopes: scope,
    challengeCallbacks: {
      authorizeRequest: async ({ request, scopes, getAccessToken }) => {
        const refetch = stale;
        stale = false;
        const token = await getAccessToken(scopes, {
          abortSignal: request.abortSignal,
          ...(refetch ? { claims: REFETCH_CLAIM } : {}),
        });
        if (token) request.headers.set('Authorization', `Bearer ${token.token}`);
      },
      authorizeRequestOnChallenge: async ({ request, response, scopes, getAccessToken }) => {
        if (saysMfaMissing(parseErrorBody(response.bodyAsText ?? undefined))) {
          if (credential.consentRefused) {
            credential.consentRefused("Partner Center refuses its tokens: the admin's sign-in had no MFA");
            stale = true;
          }
          return false;
        }
        if (!credential.invalidate) return false;
        const token = await getAccessToken(scopes, {
          claims: ROTATE_CLAIM,
          abortSignal: request.abortSignal,
        });
        if (!token) return false;
        request.headers.set('Authorization', `Bearer ${token.token}`);
        return true;
      },
    },
  });
}

/** Internal markers (never sent to Entra): "the token was refused, re-read the credential", "drop the cached token". */
const ROTATE_CLAIM = 'device-batch-status:rotate-credential';
const REFETCH_CLAIM = 'device-batch-status:refetch-token';
