import { type BatchKey, isGuid } from '../partner-center/model.js';
import { MAX_LABEL_LENGTH, MAX_LOCATION_LENGTH, type ValidationProblem } from './model.js';

/** What a registration asks for, validated and normalised (ids lower case). */
export interface TrackingRegistration {
  key: BatchKey;
  label?: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: ValidationProblem[] };

/** At most this many entries of a `links` object are looked at: bounded work for any body. */
const MAX_LINKS = 20;

// Relative Location values have no host and no /v1 (reference: "/customers/{c}/batchJobStatus/{t}").
const RELATIVE_PATH = /^\/?(?:v1\/)?customers\/([^/]+)\/batchjobstatus\/([^/]+)\/?$/i;
// Absolute ones may sit under any base path on any host (simulators, sovereign clouds).
const ABSOLUTE_PATH = /\/customers\/([^/]+)\/batchjobstatus\/([^/]+)\/?$/i;
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A customer or tracking id: exactly a GUID (blanks included are not), normalised to lower case. */
export function parseGuid(value: unknown, field: string): ParseResult<string> {
  if (typeof value !== 'string' || value.trim() === '') {
    return { ok: false, problems: [{ field, message: 'is required and must be a GUID' }] };
  }
  if (value.length > 36 || !isGuid(value)) {
    return {
      ok: false,
      problems: [{ field, message: 'must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)' }],
    };
  }
  return { ok: true, value: value.toLowerCase() };
}

/**
 * Blanks around a value dropped, for the places that forgive them (the tracking API's bodies,
 * links and routes); the live lookup's route takes ids exactly as given.
 */
export function withoutBlanks(value: unknown): unknown {
  return typeof value === 'string' ? value.trim() : value;
}

/** The one check of a batch key: both ids GUIDs, or every problem at once. */
export function parseBatchKey(customerId: unknown, trackingId: unknown): ParseResult<BatchKey> {
  const customer = parseGuid(customerId, 'customerId');
  const tracking = parseGuid(trackingId, 'trackingId');
  if (customer.ok && tracking.ok)
    return { ok: true, value: { customerId: customer.value, trackingId: tracking.value } };
  return {
    ok: false,
    problems: [...(customer.ok ? [] : customer.problems), ...(tracking.ok ? [] : tracking.problems)],
  };
}

/**
 * The ids in a Location value or status link: `/customers/{c}/batchJobStatus/{t}` (what the upload
 * calls answer), `/v1/customers/...`, or an absolute `https://api.partnercenter.microsoft.com/v1/customers/...`;
 * any case, trailing slash, query and fragment tolerated.
 */
export function parseLocation(value: unknown, field = 'location'): ParseResult<BatchKey> {
  const expected =
    'must look like /customers/{customerId}/batchJobStatus/{trackingId} (relative or absolute)';
  if (typeof value !== 'string' || value.trim() === '') {
    return { ok: false, problems: [{ field, message: `is required and ${expected}` }] };
  }
  if (value.length > MAX_LOCATION_LENGTH) {
    return { ok: false, problems: [{ field, message: `must be at most ${MAX_LOCATION_LENGTH} characters` }] };
  }
  let path = value.trim();
  const absolute = HAS_SCHEME.test(path);
  if (absolute) {
    if (!URL.canParse(path))
      return { ok: false, problems: [{ field, message: `is not a valid URL; it ${expected}` }] };
    const url = new URL(path);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return { ok: false, problems: [{ field, message: 'must be an http(s) URL or a relative path' }] };
    }
    path = url.pathname;
  } else {
    path = path.replace(/[?#].*$/s, '');
  }
  const match = (absolute ? ABSOLUTE_PATH : RELATIVE_PATH).exec(path);
  if (!match) return { ok: false, problems: [{ field, message: expected }] };
  const key = parseBatchKey(withoutBlanks(match[1]), withoutBlanks(match[2]));
  if (key.ok) return key;
  return {
    ok: false,
    problems: key.problems.map((p) => ({ field, message: `${p.field} in the path ${p.message}` })),
  };
}

function linkUri(value: unknown): unknown {
  return isRecord(value) ? value.uri : value;
}

/**
 * A registration body: `{ customerId, trackingId }`, `{ location }`, `{ statusLink }` (string or
 * `{ uri }`) or an upload response carrying `links: { <name>: { uri } }`, each with an optional
 * `label`. When a body names the tracking more than one way, all of them must agree. Never throws.
 */
export function parseRegistration(body: unknown): ParseResult<TrackingRegistration> {
  if (!isRecord(body)) {
    return { ok: false, problems: [{ field: 'body', message: 'must be a JSON object' }] };
  }
  const problems: ValidationProblem[] = [];
  const candidates: { field: string; key: BatchKey }[] = [];
  const collect = (field: string, result: ParseResult<BatchKey>) => {
    if (result.ok) candidates.push({ field, key: result.value });
    else problems.push(...result.problems);
  };

  if (body.customerId !== undefined || body.trackingId !== undefined) {
    collect(
      'customerId/trackingId',
      parseBatchKey(withoutBlanks(body.customerId), withoutBlanks(body.trackingId)),
    );
  }
  if (body.location !== undefined) collect('location', parseLocation(body.location, 'location'));
  if (body.statusLink !== undefined)
    collect('statusLink', parseLocation(linkUri(body.statusLink), 'statusLink'));
  if (body.links !== undefined) {
    if (!isRecord(body.links)) {
      problems.push({ field: 'links', message: 'must be an object of links ({ "<name>": { "uri": "…" } })' });
    } else {
      let found: BatchKey | undefined;
      let looked = 0;
      for (const name in body.links) {
        if (looked++ >= MAX_LINKS) break;
        const result = parseLocation(linkUri(body.links[name]), `links.${name}`);
        if (result.ok) {
          found = result.value;
          break;
        }
      }
      if (found) candidates.push({ field: 'links', key: found });
      else
        problems.push({
          field: 'links',
          message: 'has no link to a /customers/{customerId}/batchJobStatus/{trackingId} resource',
        });
    }
  }

  let label: string | undefined;
  if (body.label !== undefined && body.label !== null) {
    if (typeof body.label !== 'string') {
      problems.push({ field: 'label', message: 'must be a string' });
    } else if (body.label.length > MAX_LABEL_LENGTH) {
      problems.push({ field: 'label', message: `must be at most ${MAX_LABEL_LENGTH} characters` });
    } else if (CONTROL_CHARACTERS.test(body.label)) {
      problems.push({ field: 'label', message: 'must not contain control characters' });
    } else {
      label = body.label.trim() || undefined;
    }
  }

  if (problems.length === 0 && candidates.length === 0) {
    problems.push({
      field: 'body',
      message:
        "must contain customerId and trackingId, or location (the upload call's Location header), or statusLink",
    });
  }
  const [first, ...others] = candidates;
  if (first) {
    for (const other of others) {
      if (other.key.customerId !== first.key.customerId || other.key.trackingId !== first.key.trackingId) {
        problems.push({ field: other.field, message: `names a different tracking than ${first.field}` });
      }
    }
  }
  if (problems.length > 0 || !first) return { ok: false, problems };
  return { ok: true, value: label === undefined ? { key: first.key } : { key: first.key, label } };
}
