/**
 * Lists every environment setting a module of shared/config/ reads, with its default, by reading
 * that file with the TypeScript compiler's parser. The infra tests compare the templates against
 * this list, so a setting added to the app cannot be forgotten in the deployment (or the reverse).
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';

export interface AppSetting {
  name: string;
  /**
   * default: read with a fallback (`fallback` holds it);
   * optional: read without one;
   * platform: read straight from `env` (set by Azure, not by us);
   * connection: a Functions-style storage connection (NAME, or NAME__accountName / __clientId ...).
   */
  kind: 'default' | 'optional' | 'platform' | 'connection';
  fallback?: string;
}

export function readSettingsModule(file: string): AppSetting[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = new Map<string, AppSetting>();
  const add = (setting: AppSetting) => {
    const known = found.get(setting.name);
    if (known && known.kind !== setting.kind) {
      throw new Error(`${setting.name} is read both as ${known.kind} and as ${setting.kind}`);
    }
    found.set(setting.name, setting);
  };

  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression)) {
      const [first] = node.arguments;
      if (node.expression.text === 'withDefault' && first && ts.isObjectLiteralExpression(first)) {
        const name = propertyInitializer(first, 'name');
        const fallback = propertyInitializer(first, 'fallback');
        if (!name || !ts.isStringLiteral(name))
          throw new Error(`withDefault without a literal name: ${first.getText()}`);
        if (!fallback) throw new Error(`withDefault(${name.text}) without a fallback`);
        add({ name: name.text, kind: 'default', fallback: evaluate(fallback, name.text) });
      }
      if (node.expression.text === 'read' && first && ts.isStringLiteral(first)) {
        const fallback = node.arguments[2];
        if (fallback) add({ name: first.text, kind: 'default', fallback: evaluate(fallback, first.text) });
        else add({ name: first.text, kind: 'optional' });
      }
    }
    if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'env'
    ) {
      add({ name: node.name.text, kind: 'platform' });
    }
    // for (const name of ['TRACKING_STORAGE', 'AzureWebJobsStorage']) { env[name] ... env[`${name}__accountName`] }
    if (ts.isForOfStatement(node) && ts.isArrayLiteralExpression(node.expression)) {
      const names = node.expression.elements;
      if (
        names.length > 0 &&
        names.every(ts.isStringLiteral) &&
        /env\[`\$\{name\}__/.test(node.statement.getText())
      ) {
        for (const name of names) add({ name: name.text, kind: 'connection' });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function propertyInitializer(object: ts.ObjectLiteralExpression, key: string): ts.Expression | undefined {
  for (const property of object.properties) {
    if (ts.isPropertyAssignment(property) && ts.isIdentifier(property.name) && property.name.text === key) {
      return property.initializer;
    }
  }
  return undefined;
}

/** Constant-folds a fallback expression: literals, + - * on numbers, String(x), parentheses. */
function evaluate(expression: ts.Expression, settingName: string): string {
  const value = fold(expression);
  if (value === undefined) {
    throw new Error(`cannot work out the default of ${settingName} from \`${expression.getText()}\``);
  }
  return String(value);

  function fold(node: ts.Expression): string | number | undefined {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
    if (ts.isNumericLiteral(node)) return Number(node.text.replace(/_/g, ''));
    if (ts.isParenthesizedExpression(node)) return fold(node.expression);
    if (ts.isIdentifier(node)) {
      const initializer = constantInitializer(node);
      return initializer ? fold(initializer) : undefined;
    }
    // `DEFAULTS.key`: a property of a module-level object literal (the one place a default is defined).
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const object = constantInitializer(node.expression);
      const literal = object && ts.isObjectLiteralExpression(object) ? object : undefined;
      const value = literal ? propertyInitializer(literal, node.name.text) : undefined;
      return value ? fold(value) : undefined;
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'String') {
      const [argument] = node.arguments;
      const inner = argument ? fold(argument) : undefined;
      return inner === undefined ? undefined : String(inner);
    }
    if (ts.isBinaryExpression(node)) {
      const left = fold(node.left);
      const right = fold(node.right);
      if (typeof left !== 'number' || typeof right !== 'number') return undefined;
      switch (node.operatorToken.kind) {
        case ts.SyntaxKind.AsteriskToken:
          return left * right;
        case ts.SyntaxKind.PlusToken:
          return left + right;
        case ts.SyntaxKind.MinusToken:
          return left - right;
        default:
          return undefined;
      }
    }
    return undefined;
  }
}

/** The initializer of a module-level `const NAME = <expression>` the identifier refers to. */
function constantInitializer(identifier: ts.Identifier): ts.Expression | undefined {
  for (const statement of identifier.getSourceFile().statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (
        ts.isIdentifier(declaration.name) &&
        declaration.name.text === identifier.text &&
        declaration.initializer
      ) {
        return ts.isIdentifier(declaration.initializer) ? undefined : declaration.initializer;
      }
    }
  }
  return undefined;
}
