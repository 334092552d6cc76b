import fc from 'fast-check';

/**
 * Hostile inputs shared by the property suites: ids, header values, query strings and bodies
 * that a careless or malicious caller can send. Each arbitrary says what it is for.
 */

/** Path and injection payloads that must never reach storage or Partner Center as such. */
export const TRAVERSAL_AND_INJECTION = [
  '',
  ' ',
  '.',
  '..',
  '../..',
  '../../etc/passwd',
  '..%2F..%2Fadmin',
  '%2e%2e%2f',
  '%252e%252e%252f',
  '....//....//',
  '..\\..\\windows\\win.ini',
  '/',
  '//',
  '\\',
  '%00',
  '\u0000',
  '%',
  '%zz',
  '?',
  '#',
  '*',
  '~',
  'null',
  'undefined',
  '[object Object]',
  "' or ''='",
  "PartitionKey eq 'due'",
  "x' or PartitionKey ne '",
  '$(id)',
  '{{7*7}}',
  `$${'{'}jndi:ldap://127.0.0.1/a}`,
  '<script>alert(1)</script>',
  '00000000-0000-0000-0000-000000000000/../..',
  'CON',
  'aux.json',
] as const;

const HEX = '0123456789abcdef';

/** Matches a well-formed GUID, in any case. */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A well-formed GUID, in random case. */
export const guid = fc
  .tuple(fc.uuid(), fc.array(fc.boolean(), { minLength: 36, maxLength: 36 }))
  .map(([id, upper]) => [...id].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));

/** Almost a GUID: one character replaced, dropped or added, braces, whitespace, encodings, look-alikes. */
export const nearGuid: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.uuid(), fc.nat(35), fc.string({ maxLength: 2 }))
    .map(([id, at, insert]) => id.slice(0, at) + insert + id.slice(at + 1))
    .filter((id) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)),
  fc
    .tuple(
      fc.uuid(),
      fc.constantFrom(
        ' ',
        '\t',
        '\n',
        '{',
        '}',
        '(',
        ')',
        '\u200b',
        '\ufeff',
        '%20',
        '/',
        '.json',
        '%2F..',
        '\u0000',
      ),
      fc.boolean(),
    )
    .map(([id, extra, before]) => (before ? extra + id : id + extra)),
  fc.uuid().map((id) => id.replace(/-/g, '')),
  fc.uuid().map((id) => id.replace(/-/g, '%2D')),
  fc.uuid().map((id) => encodeURIComponent(encodeURIComponent(`${id}/`))),
  // Full-width digits and Cyrillic look-alikes: a GUID to the eye, not to the regex.
  fc.uuid().map((id) => id.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)))),
  fc.uuid().map((id) => id.replace(/a/g, '\u0430').replace(/e/g, '\u0435')),
  fc.uuid().map((id) => `${id}${id}`),
  fc
    .stringMatching(/^[0-9a-fg-z]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    .filter((id) => [...id].some((c) => !HEX.includes(c) && c !== '-')),
);

/** Anything a route parameter can carry. */
export const hostileId: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: nearGuid },
  { weight: 2, arbitrary: fc.constantFrom(...TRAVERSAL_AND_INJECTION) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'a'.repeat(n)) },
);

/** Drops what no HTTP stack lets into a header value: CR, LF and NUL. */
function withoutLineBreaks(value: string): string {
  return [...value].filter((c) => c !== '\r' && c !== '\n' && c !== '\u0000').join('');
}

/** True when `value` holds a C0 control character or DEL. */
export function hasControlCharacter(value: string): boolean {
  return [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

/** A header value that an HTTP stack can carry (no CR, LF or NUL; Latin-1 at most). */
export const headerValue = (maxLength = 200): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary-ascii', maxLength }).map(withoutLineBreaks),
    fc
      .string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength })
      .map((s) => s.replace(/\u007f/g, '')),
  );

/** Headers a caller may add: correlation ids, keys, tokens, content headers, and very large ones. */
export const hostileHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'ms-correlationid': fc.oneof(guid, headerValue(80)),
      'x-correlation-id': fc.oneof(guid, headerValue(80)),
      authorization: fc.oneof(
        headerValue(100),
        fc.constant('Bearer '),
        fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => `Bearer ${withoutLineBreaks(s)}`),
      ),
      'x-functions-key': headerValue(64),
      'content-length': fc.oneof(fc.nat().map(String), headerValue(12), fc.constant('99999999999999999999')),
      accept: headerValue(64),
      cookie: headerValue(200),
      'x-forwarded-for': headerValue(64),
      'x-padding': fc.integer({ min: 1, max: 64 * 1024 }).map((n) => 'x'.repeat(n)),
    },
    { requiredKeys: [] },
  )
  .map((headers) => {
    const clean: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) clean[name] = value;
    return clean;
  });

/** A query parameter value: empty, numbers of every shape, booleans, junk, very long. */
export const queryValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    'true',
    'false',
    'TRUE',
    '1',
    '0',
    '-1',
    '1e3',
    '0x10',
    ' 5 ',
    '5.0',
    'NaN',
    'Infinity',
    'devices',
    'DEVICES',
  ),
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 2_000, max: 20_000 }).map((n) => '9'.repeat(n)),
);

/** A query string from `names`, with duplicates and unknown keys; built by URLSearchParams. */
export function queryString(names: readonly string[], value: fc.Arbitrary<string> = queryValue) {
  return fc
    .array(
      fc.tuple(
        fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...names) }, fc.string({ maxLength: 10 })),
        value,
      ),
      {
        maxLength: 6,
      },
    )
    .map((pairs) => {
      const search = new URLSearchParams();
      for (const [name, v] of pairs) search.append(name, v);
      const text = search.toString();
      return text ? `?${text}` : '';
    });
}

/** Percent-encodes a route value for the request URL, whatever it holds (lone surrogates included). */
export function pathSegment(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '\ufffd'));
  }
}
