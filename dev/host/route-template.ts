/**
 * Functions (ASP.NET Core) route templates: literal segments matched case-insensitively,
 * `{param}`, `{param?}`, `{param=default}`, catch-all `{*rest}`, inline constraints
 * (`{id:guid}`, `{n:int:min(1)}`, …) and complex segments such as `{name}.{ext}`.
 * Not supported: optional parameters inside complex segments, and `/`, `{` or `}` inside a
 * `regex(...)` constraint.
 */

export class RouteTemplateError extends Error {
  override name = 'RouteTemplateError';
}

type Constraint = { name: string; test: (value: string) => boolean };

interface LiteralSegment {
  kind: 'literal';
  value: string;
}

interface ParameterSegment {
  kind: 'parameter';
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  constraints: Constraint[];
}

interface ComplexSegment {
  kind: 'complex';
  pattern: RegExp;
  parameters: ParameterSegment[];
}

type Segment = LiteralSegment | ParameterSegment | ComplexSegment;

export type RouteParams = Record<string, string>;

export interface RouteTemplate {
  /** The template as given (prefix included when built with {@link joinRoutePrefix}). */
  readonly template: string;
  readonly parameterNames: readonly string[];
  /** ASP.NET inbound precedence digits, one per segment: lower sorts first (more specific). */
  readonly precedence: readonly number[];
  /** Matches a URL path (still percent-encoded, as in `URL.pathname`); returns decoded parameters. */
  match(pathname: string): RouteParams | undefined;
}

/** `api` + `customers/{id}` → `api/customers/{id}`; an empty prefix leaves the route alone. */
export function joinRoutePrefix(prefix: string, route: string): string {
  const cleanPrefix = prefix.replace(/^\/+|\/+$/g, '');
  const cleanRoute = route.replace(/^~?\/+/, '');
  if (!cleanPrefix) return cleanRoute;
  return cleanRoute ? `${cleanPrefix}/${cleanRoute}` : cleanPrefix;
}

export function parseRouteTemplate(template: string): RouteTemplate {
  const body = template.replace(/^~?\/+/, '').replace(/\/+$/, '');
  const rawSegments = body === '' ? [] : splitSegments(body, template);
  const segments = rawSegments.map((raw) => parseSegment(raw, template));
  validate(segments, template);

  const parameterNames = segments.flatMap((segment) =>
    segment.kind === 'parameter'
      ? [segment.name]
      : segment.kind === 'complex'
        ? segment.parameters.map((p) => p.name)
        : [],
  );
  return {
    template,
    parameterNames,
    precedence: segments.map(precedenceDigit),
    match: (pathname) => matchSegments(segments, pathname),
  };
}

/** Negative when `a` should be tried before `b` (more literal first), as ASP.NET orders routes. */
export function comparePrecedence(a: RouteTemplate, b: RouteTemplate): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i++) {
    const diff = (a.precedence[i] ?? 0) - (b.precedence[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

// 1 literal, 2 constrained parameter or complex segment, 3 parameter,
// 4 constrained catch-all, 5 catch-all (ASP.NET Core RoutePrecedence.ComputeInbound).
function precedenceDigit(segment: Segment): number {
  if (segment.kind === 'literal') return 1;
  if (segment.kind === 'complex') return 2;
  const digit = segment.catchAll ? 5 : 3;
  return segment.constraints.length > 0 ? digit - 1 : digit;
}

function splitSegments(body: string, template: string): string[] {
  const segments: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of body) {
    if (char === '{') depth++;
    if (char === '}') depth--;
    if (depth < 0) throw new RouteTemplateError(`Unbalanced '}' in route template '${template}'.`);
    if (char === '/' && depth === 0) {
      segments.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (depth !== 0) throw new RouteTemplateError(`Unbalanced '{' in route template '${template}'.`);
  segments.push(current);
  return segments;
}

function parseSegment(raw: string, template: string): Segment {
  if (raw === '') throw new RouteTemplateError(`Route template '${template}' has an empty segment.`);
  const parts: (string | ParameterSegment)[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const open = rest.indexOf('{');
    if (open < 0) {
      parts.push(rest);
      break;
    }
    if (open > 0) parts.push(rest.slice(0, open));
    const close = rest.indexOf('}', open);
    parts.push(parseParameter(rest.slice(open + 1, close), template));
    rest = rest.slice(close + 1);
  }

  const [only] = parts;
  if (parts.length === 1 && only !== undefined) {
    if (typeof only === 'string') {
      if (only.includes('}')) throw new RouteTemplateError(`Unbalanced '}' in route template '${template}'.`);
      return { kind: 'literal', value: only };
    }
    return only;
  }

  const parameters: ParameterSegment[] = [];
  let source = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (typeof part === 'string') {
      source += escapeRegExp(part);
      continue;
    }
    if (part.optional || part.catchAll || part.defaultValue !== undefined) {
      throw new RouteTemplateError(
        `Route template '${template}': optional, default and catch-all parameters cannot share a segment with other text.`,
      );
    }
    if (typeof parts[i - 1] === 'object') {
      throw new RouteTemplateError(
        `Route template '${template}': two parameters need a literal between them.`,
      );
    }
    parameters.push(part);
    // Greedy groups give the right-to-left split ASP.NET uses: {name}.{ext} on a.b.c → a.b + c.
    source += '(.+)';
  }
  return { kind: 'complex', pattern: new RegExp(`^${source}$`, 'i'), parameters };
}

function parseParameter(inner: string, template: string): ParameterSegment {
  const match = /^(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(.*)$/s.exec(inner);
  if (!match)
    throw new RouteTemplateError(`Route template '${template}' has an invalid parameter '{${inner}}'.`);
  const catchAll = match[1] !== undefined;
  const name = match[2]!;
  let rest = match[3] ?? '';

  let optional = false;
  let defaultValue: string | undefined;
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  const constraints: Constraint[] = [];
  while (rest.startsWith(':')) {
    const constraint = /^:([A-Za-z]+)(?:\((.*?)\)(?=$|:|=))?/s.exec(rest);
    if (!constraint)
      throw new RouteTemplateError(`Route template '${template}' has an invalid constraint in '{${inner}}'.`);
    constraints.push(buildConstraint(constraint[1]!, constraint[2], template));
    rest = rest.slice(constraint[0].length);
  }
  if (rest.startsWith('=')) {
    defaultValue = rest.slice(1);
    rest = '';
  }
  if (rest !== '')
    throw new RouteTemplateError(`Route template '${template}' has an invalid parameter '{${inner}}'.`);
  if (optional && defaultValue !== undefined) {
    throw new RouteTemplateError(
      `Route template '${template}': '{${inner}}' cannot be optional and have a default.`,
    );
  }
  // A catch-all matches zero segments too, so it is optional by nature.
  return { kind: 'parameter', name, optional: optional || catchAll, catchAll, defaultValue, constraints };
}

function validate(segments: Segment[], template: string): void {
  const names = new Set<string>();
  let sawOptional = false;
  segments.forEach((segment, index) => {
    const parameters =
      segment.kind === 'parameter' ? [segment] : segment.kind === 'complex' ? segment.parameters : [];
    for (const parameter of parameters) {
      const key = parameter.name.toLowerCase();
      if (names.has(key)) {
        throw new RouteTemplateError(
          `Route template '${template}' uses the parameter '${parameter.name}' twice.`,
        );
      }
      names.add(key);
    }
    if (segment.kind === 'parameter' && segment.catchAll && index !== segments.length - 1) {
      throw new RouteTemplateError(
        `Route template '${template}': a catch-all parameter must be the last segment.`,
      );
    }
    const optionalHere =
      segment.kind === 'parameter' && (segment.optional || segment.defaultValue !== undefined);
    if (sawOptional && !optionalHere) {
      throw new RouteTemplateError(
        `Route template '${template}': only optional or default parameters may follow an optional parameter.`,
      );
    }
    sawOptional ||= optionalHere;
  });
}

function matchSegments(segments: Segment[], pathname: string): RouteParams | undefined {
  const raw = pathname.replace(/^\/+/, '').split('/');
  // A trailing slash is ignored, as in ASP.NET Core.
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const params: RouteParams = {};

  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.kind === 'parameter' && segment.catchAll) {
      const value = raw.slice(i).map(decodeSegment).join('/');
      if (value === '') return params;
      if (!segment.constraints.every((c) => c.test(value))) return undefined;
      params[segment.name] = value;
      return params;
    }
    const rawValue = raw[i];
    if (rawValue === undefined) {
      if (segment.kind !== 'parameter' || !(segment.optional || segment.defaultValue !== undefined))
        return undefined;
      if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
      continue;
    }
    const value = decodeSegment(rawValue);
    if (value === '') return undefined;
    switch (segment.kind) {
      case 'literal':
        if (value.toLowerCase() !== segment.value.toLowerCase()) return undefined;
        break;
      case 'parameter':
        if (!segment.constraints.every((c) => c.test(value))) return undefined;
        params[segment.name] = value;
        break;
      case 'complex': {
        const match = segment.pattern.exec(value);
        if (!match) return undefined;
        for (let p = 0; p < segment.parameters.length; p++) {
          const parameter = segment.parameters[p]!;
          const partValue = match[p + 1] ?? '';
          if (!parameter.constraints.every((c) => c.test(partValue))) return undefined;
          params[parameter.name] = partValue;
        }
        break;
      }
    }
  }
  return raw.length > segments.length ? undefined : params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const INT32 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;

function integerIn([min, max]: readonly [bigint, bigint]): (value: string) => boolean {
  return (value) => /^[+-]?\d+$/.test(value) && BigInt(value) >= min && BigInt(value) <= max;
}

function toInteger(value: string): bigint | undefined {
  return /^[+-]?\d+$/.test(value) ? BigInt(value) : undefined;
}

function argument(args: string | undefined, constraint: string, template: string): bigint[] {
  const values = (args ?? '').split(',').map((part) => toInteger(part.trim()));
  if (values.length === 0 || values.some((value) => value === undefined)) {
    throw new RouteTemplateError(
      `Route template '${template}': constraint '${constraint}' needs integer arguments.`,
    );
  }
  return values as bigint[];
}

function buildConstraint(name: string, args: string | undefined, template: string): Constraint {
  const lower = name.toLowerCase();
  const number = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  const decimal = /^[+-]?(\d+\.?\d*|\.\d+)$/;
  const guid =
    /^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\))$/i;
  const test = ((): ((value: string) => boolean) => {
    switch (lower) {
      case 'int':
        return integerIn(INT32);
      case 'long':
        return integerIn(INT64);
      case 'bool':
        return (value) => /^(true|false)$/i.test(value);
      case 'guid':
        return (value) => guid.test(value);
      case 'alpha':
        return (value) => /^[a-z]+$/i.test(value);
      case 'double':
      case 'float':
        return (value) => number.test(value);
      case 'decimal':
        return (value) => decimal.test(value);
      case 'datetime':
        return (value) => !Number.isNaN(Date.parse(value));
      case 'required':
        return (value) => value.length > 0;
      case 'min': {
        const [min] = argument(args, name, template);
        return (value) => (toInteger(value) ?? min! - 1n) >= min!;
      }
      case 'max': {
        const [max] = argument(args, name, template);
        return (value) => (toInteger(value) ?? max! + 1n) <= max!;
      }
      case 'range': {
        const [min, max] = argument(args, name, template);
        if (max === undefined)
          throw new RouteTemplateError(`Route template '${template}': range needs two arguments.`);
        return (value) => {
          const n = toInteger(value);
          return n !== undefined && n >= min! && n <= max;
        };
      }
      case 'length': {
        const [a, b] = argument(args, name, template).map(Number);
        return b === undefined
          ? (value) => value.length === a
          : (value) => value.length >= a! && value.length <= b;
      }
      case 'minlength': {
        const [min] = argument(args, name, template).map(Number);
        return (value) => value.length >= min!;
      }
      case 'maxlength': {
        const [max] = argument(args, name, template).map(Number);
        return (value) => value.length <= max!;
      }
      case 'regex': {
        if (!args) throw new RouteTemplateError(`Route template '${template}': regex needs a pattern.`);
        let pattern: RegExp;
        try {
          // ASP.NET's regex constraint is case-insensitive and not anchored implicitly.
          pattern = new RegExp(args, 'i');
        } catch (error) {
          throw new RouteTemplateError(
            `Route template '${template}': invalid regex (${(error as Error).message}).`,
          );
        }
        return (value) => pattern.test(value);
      }
      default:
        throw new RouteTemplateError(`Route template '${template}' uses the unknown constraint '${name}'.`);
    }
  })();
  return { name: lower, test };
}

export interface RouteEntry<T> {
  template: RouteTemplate;
  /** Upper-case; empty means every method. */
  methods: readonly string[];
  target: T;
}

export type RouteMatch<T> =
  | { kind: 'matched'; target: T; params: RouteParams }
  | { kind: 'methodNotAllowed'; allowed: string[] }
  | { kind: 'notFound' };

/** Routes ordered like ASP.NET: more literal segments first, then registration order. */
export class RouteTable<T> {
  readonly #entries: RouteEntry<T>[] = [];

  add(template: string, methods: readonly string[], target: T): RouteTemplate {
    const parsed = parseRouteTemplate(template);
    const entry: RouteEntry<T> = { template: parsed, methods: methods.map((m) => m.toUpperCase()), target };
    // Stable insertion keeps registration order among equal precedence.
    let index = this.#entries.length;
    while (index > 0 && comparePrecedence(parsed, this.#entries[index - 1]!.template) < 0) index--;
    this.#entries.splice(index, 0, entry);
    return parsed;
  }

  get entries(): readonly RouteEntry<T>[] {
    return this.#entries;
  }

  match(method: string, pathname: string): RouteMatch<T> {
    const upper = method.toUpperCase();
    const allowed = new Set<string>();
    for (const entry of this.#entries) {
      const params = entry.template.match(pathname);
      if (!params) continue;
      if (entry.methods.length === 0 || entry.methods.includes(upper)) {
        return { kind: 'matched', target: entry.target, params };
      }
      for (const m of entry.methods) allowed.add(m);
    }
    return allowed.size > 0 ? { kind: 'methodNotAllowed', allowed: [...allowed] } : { kind: 'notFound' };
  }
}
