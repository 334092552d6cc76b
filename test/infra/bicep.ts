/**
 * Reads the Bicep templates with a real Bicep grammar (tree-sitter-bicep, run as WebAssembly by
 * web-tree-sitter: no native build, no download at run time) and offers the few queries the infra
 * tests need. This is a parser, not the Bicep compiler: it proves syntax and structure, not types.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, type Node, Parser } from 'web-tree-sitter';

const require = createRequire(import.meta.url);

export interface BicepFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the repository root, '/'-separated. */
  rel: string;
  text: string;
  root: Node;
}

let parserPromise: Promise<Parser> | undefined;

export function bicepParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

export async function parseBicep(
  text: string,
  filePath = '<inline>',
  repoRoot = process.cwd(),
): Promise<BicepFile> {
  const tree = (await bicepParser()).parse(text);
  if (!tree) throw new Error(`tree-sitter returned no tree for ${filePath}`);
  return {
    path: filePath,
    rel: path.relative(repoRoot, filePath).split(path.sep).join('/'),
    text,
    root: tree.rootNode,
  };
}

export async function loadBicepFiles(dir: string, repoRoot: string): Promise<BicepFile[]> {
  const files: string[] = [];
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.bicep')) files.push(full);
    }
  };
  walk(dir);
  return Promise.all(files.sort().map((file) => parseBicep(readFileSync(file, 'utf8'), file, repoRoot)));
}

/** The file's text with every comment blanked out (same length, so positions still match). */
export function codeWithoutComments(file: BicepFile): string {
  let code = file.text;
  for (const comment of descendants(file.root, 'comment')) {
    code =
      code.slice(0, comment.startIndex) +
      ' '.repeat(comment.endIndex - comment.startIndex) +
      code.slice(comment.endIndex);
  }
  return code;
}

/** Syntax errors and missing tokens, as "line:column text" (1-based). */
export function syntaxProblems(file: BicepFile): string[] {
  const problems: string[] = [];
  const visit = (node: Node) => {
    if (node.isError || node.isMissing) {
      const { row, column } = node.startPosition;
      problems.push(
        `${row + 1}:${column + 1} ${node.isMissing ? `missing ${node.type}` : node.text.slice(0, 60)}`,
      );
    }
    for (const child of node.children) if (child) visit(child);
  };
  visit(file.root);
  return problems;
}

export function namedChildren(node: Node): Node[] {
  return node.namedChildren.filter((c): c is Node => c !== null && c.type !== 'comment');
}

export function descendants(node: Node, type: string): Node[] {
  return node.descendantsOfType(type).filter((c): c is Node => c !== null);
}

/** Top-level statements of a kind: parameter_declaration, variable_declaration, resource_declaration, ... */
export function statements(file: BicepFile, type: string): Node[] {
  return namedChildren(file.root).filter((n) => n.type === type);
}

/** The declared name (first identifier) of a param, var, resource, module or output. */
export function declaredName(node: Node): string {
  const id = namedChildren(node).find((c) => c.type === 'identifier');
  if (!id) throw new Error(`no name in ${node.type} at line ${node.startPosition.row + 1}`);
  return id.text;
}

/** Decorator names and their first argument node, e.g. description -> the string node. */
export function decorators(node: Node): Map<string, Node[]> {
  const result = new Map<string, Node[]>();
  let previous = node.previousNamedSibling;
  while (previous?.type === 'comment') previous = previous.previousNamedSibling;
  if (previous?.type !== 'decorators') return result;
  for (const decorator of namedChildren(previous)) {
    const call = namedChildren(decorator)[0];
    if (call?.type !== 'call_expression') continue;
    const fn = call.childForFieldName('function');
    const args = call.childForFieldName('arguments');
    if (fn) result.set(fn.text.replace(/^sys\./, ''), args ? namedChildren(args) : []);
  }
  return result;
}

/** A string literal's value (escapes decoded); undefined for interpolated strings and non-strings. */
export function stringValue(node: Node | undefined | null): string | undefined {
  if (node?.type !== 'string') return undefined;
  let value = '';
  for (const part of namedChildren(node)) {
    if (part.type === 'interpolation') return undefined;
    if (part.type === 'escape_sequence') value += decodeEscape(part.text);
    else value += part.text;
  }
  return value;
}

function decodeEscape(sequence: string): string {
  const map: Record<string, string> = {
    "\\'": "'",
    '\\\\': '\\',
    '\\n': '\n',
    '\\r': '\r',
    '\\t': '\t',
    '\\$': '$',
  };
  const decoded = map[sequence];
  if (decoded === undefined) throw new Error(`unknown Bicep escape ${sequence}`);
  return decoded;
}

/** A literal's value as text: strings, numbers, booleans and null. */
export function literalText(node: Node | undefined | null): string | undefined {
  if (!node) return undefined;
  if (node.type === 'string') return stringValue(node);
  if (['number', 'boolean', 'null'].includes(node.type)) return node.text;
  if (node.type === 'unary_expression' && /^-\s*\d+$/.test(node.text)) return node.text.replace(/\s+/g, '');
  return undefined;
}

/** The properties of an object literal, keyed by name (quoted keys unquoted). */
export function objectProperties(object: Node): Map<string, Node> {
  if (object.type !== 'object') throw new Error(`expected an object, got ${object.type}`);
  const result = new Map<string, Node>();
  for (const property of namedChildren(object)) {
    if (property.type !== 'object_property') continue;
    const [key, value] = namedChildren(property);
    if (!key || !value) continue;
    const name = key.type === 'string' ? stringValue(key) : key.text;
    if (name === undefined) throw new Error(`computed key at line ${key.startPosition.row + 1}`);
    result.set(name, value);
  }
  return result;
}

/** Follows a dotted path of object properties ('properties.functionAppConfig.runtime.name'). */
export function propertyAt(object: Node, dottedPath: string): Node | undefined {
  let current: Node | undefined = object;
  for (const key of dottedPath.split('.')) {
    if (current?.type !== 'object') return undefined;
    current = objectProperties(current).get(key);
  }
  return current;
}

export interface Resource {
  file: BicepFile;
  node: Node;
  name: string;
  /** 'Microsoft.Storage/storageAccounts' */
  type: string;
  /** '2023-05-01' */
  apiVersion: string;
  /** The resource body (inside `if (...)` when conditional). */
  body: Node;
  condition?: Node;
  existing: boolean;
}

export function resources(file: BicepFile): Resource[] {
  return statements(file, 'resource_declaration').map((node) => {
    const children = namedChildren(node);
    const typeString = stringValue(children.find((c) => c.type === 'string'));
    if (!typeString) throw new Error(`${file.rel}: resource ${declaredName(node)} has no literal type`);
    const at = typeString.lastIndexOf('@');
    const ifStatement = children.find((c) => c.type === 'if_statement');
    const body = ifStatement
      ? namedChildren(ifStatement).find((c) => c.type === 'object')
      : children.find((c) => c.type === 'object');
    if (!body) throw new Error(`${file.rel}: resource ${declaredName(node)} has no body`);
    return {
      file,
      node,
      name: declaredName(node),
      type: at < 0 ? typeString : typeString.slice(0, at),
      apiVersion: at < 0 ? '' : typeString.slice(at + 1),
      body,
      condition: ifStatement
        ? namedChildren(ifStatement).find((c) => c.type === 'parenthesized_expression')
        : undefined,
      existing: /^resource\s+\S+\s+'[^']*'\s+existing\b/.test(node.text),
    };
  });
}

export interface Module {
  file: BicepFile;
  node: Node;
  name: string;
  /** The module path as written. */
  source: string;
  /** Absolute path of the module file. */
  resolved: string;
  body: Node;
}

export function modules(file: BicepFile): Module[] {
  return statements(file, 'module_declaration').map((node) => {
    const children = namedChildren(node);
    const source = stringValue(children.find((c) => c.type === 'string'));
    if (!source) throw new Error(`${file.rel}: module ${declaredName(node)} has no literal path`);
    const ifStatement = children.find((c) => c.type === 'if_statement');
    const body = ifStatement
      ? namedChildren(ifStatement).find((c) => c.type === 'object')
      : children.find((c) => c.type === 'object');
    if (!body) throw new Error(`${file.rel}: module ${declaredName(node)} has no body`);
    return {
      file,
      node,
      name: declaredName(node),
      source,
      resolved: path.resolve(path.dirname(file.path), source),
      body,
    };
  });
}

export interface Param {
  name: string;
  node: Node;
  /** Default value expression, if any. */
  defaultValue?: Node;
  decorators: Map<string, Node[]>;
}

export function params(file: BicepFile): Param[] {
  return statements(file, 'parameter_declaration').map((node) => {
    const children = namedChildren(node);
    return {
      name: declaredName(node),
      node,
      // identifier, type, then the default when there is one
      defaultValue: children[2],
      decorators: decorators(node),
    };
  });
}

export function variableValue(file: BicepFile, name: string): Node | undefined {
  const declaration = statements(file, 'variable_declaration').find((v) => declaredName(v) === name);
  return declaration ? namedChildren(declaration)[1] : undefined;
}

export function outputs(file: BicepFile): string[] {
  return statements(file, 'output_declaration').map(declaredName);
}

export function targetScope(file: BicepFile): string {
  const assignment = statements(file, 'target_scope_assignment')[0];
  return assignment ? (stringValue(namedChildren(assignment)[0]) ?? '?') : 'resourceGroup';
}

/**
 * Identifiers used as references (not declarations, not object keys, not property names after a
 * dot), so "is this param used" questions do not count `location:` keys as uses of `location`.
 */
export function referencedIdentifiers(file: BicepFile): Set<string> {
  const used = new Set<string>();
  for (const id of descendants(file.root, 'identifier')) {
    const parent = id.parent;
    if (!parent) continue;
    const isDeclarationName =
      [
        'parameter_declaration',
        'variable_declaration',
        'resource_declaration',
        'module_declaration',
        'output_declaration',
        'type_declaration',
      ].includes(parent.type) && namedChildren(parent)[0]?.id === id.id;
    const isObjectKey = parent.type === 'object_property' && namedChildren(parent)[0]?.id === id.id;
    if (!isDeclarationName && !isObjectKey) used.add(id.text);
  }
  return used;
}

/** `<symbol>.outputs.<name>` references in a file, as [symbol, output] pairs. */
export function outputReferences(file: BicepFile): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const member of descendants(file.root, 'member_expression')) {
    const object = member.childForFieldName('object');
    const property = member.childForFieldName('property');
    if (object?.type !== 'member_expression' || !property) continue;
    const inner = object.childForFieldName('object');
    const innerProperty = object.childForFieldName('property');
    if (inner?.type === 'identifier' && innerProperty?.text === 'outputs')
      pairs.push([inner.text, property.text]);
  }
  return pairs;
}
