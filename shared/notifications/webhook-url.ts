import { isIP } from 'node:net';

/**
 * Which webhook URLs the service may call. The check is on the host name as the WHATWG URL parser
 * reads it — the same parser the request is sent with — so percent-encoding, upper case, trailing
 * dots, IDN or numeric IPv4 spellings (`0x7f.1`) all arrive normalised before anything is compared.
 * A listed host is trusted whatever it resolves to; a host not on the list is never contacted.
 */

/** One NOTIFY_ALLOWED_HOSTS entry: an exact host name or IP literal, or `*.suffix`. */
export type HostPattern = { exact: string } | { suffix: string };

export const MAX_WEBHOOK_URL_LENGTH = 2048;

export type WebhookUrlCheck = { ok: true; url: string; host: string } | { ok: false; reason: string };

/** The host as compared: lower case, no trailing dot, IPv6 without brackets. */
function comparableHost(hostname: string): string {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Parses NOTIFY_ALLOWED_HOSTS (comma-separated). Each entry is normalised by the URL parser as a
 * request's host would be. Returns the reason as a string when an entry is not usable.
 */
export function parseAllowedHosts(value: string): HostPattern[] | string {
  const patterns: HostPattern[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const wildcard = entry.startsWith('*.');
    const name = wildcard ? entry.slice(2) : entry;
    let host: string;
    try {
      const parsed = new URL(`https://${name}/`);
      if (parsed.port !== '' || parsed.username !== '' || parsed.pathname !== '/' || /[/?#@]/.test(name)) {
        return `entry '${entry}' must be a host name, '*.suffix' or an IP address, without scheme, port or path`;
      }
      host = comparableHost(parsed.hostname);
    } catch {
      return `entry '${entry}' is not a host name`;
    }
    if (wildcard && (isIP(host) !== 0 || !host.includes('.'))) {
      return `entry '${entry}': a wildcard needs a domain with at least two labels, never an IP address`;
    }
    patterns.push(wildcard ? { suffix: host } : { exact: host });
  }
  return patterns;
}

function isAllowed(host: string, patterns: readonly HostPattern[]): boolean {
  // IP literals match only an entry that lists them (wildcards are for names).
  const ip = isIP(host) !== 0;
  return patterns.some((pattern) =>
    'exact' in pattern ? pattern.exact === host : !ip && host.endsWith(`.${pattern.suffix}`),
  );
}

/**
 * An absolute https URL without credentials; with `allowedHosts`, also a host on that list.
 * The fragment is dropped (it is never sent). Reasons are for a 400 answer, so they never echo the
 * URL (it may carry a token in its query).
 */
export function parseWebhookUrl(raw: string, allowedHosts?: readonly HostPattern[]): WebhookUrlCheck {
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) {
    return { ok: false, reason: `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters` };
  }
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return { ok: false, reason: 'must be an absolute URL' };
  }
  if (url.protocol !== 'https:') return { ok: false, reason: 'must use https' };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'must not carry credentials (user:password@)' };
  }
  const host = comparableHost(url.hostname);
  if (allowedHosts !== undefined) {
    if (allowedHosts.length === 0) {
      return {
        ok: false,
        reason: 'webhooks are not enabled on this service (NOTIFY_ALLOWED_HOSTS is empty)',
      };
    }
    if (!isAllowed(host, allowedHosts)) {
      return {
        ok: false,
        reason: `host '${host}' is not allowed${isIP(host) !== 0 ? ' (IP addresses only when listed as such)' : ''}: ask for it to be added to NOTIFY_ALLOWED_HOSTS`,
      };
    }
  }
  url.hash = '';
  return { ok: true, url: url.href, host };
}
