/**
 * What can honestly be checked about the deployment without the Bicep compiler (it is a .NET
 * program downloaded from GitHub, which this machine and CI cannot reach):
 * - every .bicep file parses with a real Bicep grammar (tree-sitter-bicep), no error nodes;
 * - structure: descriptions on params, no unused params/vars, module paths/params/outputs agree;
 * - resource API versions are the verified, dated, non-preview versions listed below;
 * - the security properties and role assignments the design asks for, with the real GUIDs,
 *   each scoped to one resource and none at subscription scope;
 * - the app settings match shared/config/settings.ts (names and defaults), read from that file;
 * - azd wiring: main.parameters.json, outputs, azure.yaml.
 * It cannot prove that ARM accepts a property or that a deployment succeeds.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Node } from 'web-tree-sitter';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_DIR } from '../../infra/scripts/stage-package.mjs';
import {
  type BicepFile,
  codeWithoutComments,
  declaredName,
  descendants,
  literalText,
  loadBicepFiles,
  type Module,
  modules,
  namedChildren,
  objectProperties,
  outputReferences,
  outputs,
  type Param,
  params,
  parseBicep,
  propertyAt,
  type Resource,
  referencedIdentifiers,
  resources,
  statements,
  stringValue,
  syntaxProblems,
  targetScope,
  variableValue,
} from './bicep.js';
import { type AppSetting, readSettingsModule } from './settings-module.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INFRA = path.join(ROOT, 'infra');

/**
 * API versions checked against the published ARM API versions of each type (all GA). Adding a
 * resource type, or moving a version, means checking it again and updating this list.
 */
const VERIFIED_API_VERSIONS: Record<string, string> = {
  'Microsoft.Resources/resourceGroups': '2024-03-01',
  'Microsoft.ManagedIdentity/userAssignedIdentities': '2023-01-31',
  'Microsoft.Storage/storageAccounts': '2023-05-01',
  'Microsoft.Storage/storageAccounts/blobServices': '2023-05-01',
  'Microsoft.Storage/storageAccounts/blobServices/containers': '2023-05-01',
  'Microsoft.Storage/storageAccounts/queueServices': '2023-05-01',
  'Microsoft.Storage/storageAccounts/queueServices/queues': '2023-05-01',
  'Microsoft.KeyVault/vaults': '2023-07-01',
  'Microsoft.KeyVault/vaults/secrets': '2023-07-01',
  'Microsoft.OperationalInsights/workspaces': '2023-09-01',
  'Microsoft.Insights/components': '2020-02-02',
  'Microsoft.Web/serverfarms': '2024-04-01',
  'Microsoft.Web/sites': '2024-04-01',
  'Microsoft.Web/sites/config': '2024-04-01',
  'Microsoft.Authorization/roleAssignments': '2022-04-01',
};

/** Built-in role definition ids (the same in every Azure subscription) and what each may scope. */
const ROLES: Record<string, { role: string; scopeType: string | string[] }> = {
  '4633458b-17de-408a-b874-0445c86b69e6': {
    role: 'Key Vault Secrets User',
    scopeType: 'Microsoft.KeyVault/vaults',
  },
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': {
    role: 'Key Vault Secrets Officer',
    // An operator on the vault; the app (App+User) on the refresh-token secret only.
    scopeType: ['Microsoft.KeyVault/vaults', 'Microsoft.KeyVault/vaults/secrets'],
  },
  '3913510d-42f4-4e42-8a64-420c390055eb': {
    role: 'Monitoring Metrics Publisher',
    scopeType: 'Microsoft.Insights/components',
  },
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': {
    role: 'Storage Blob Data Owner',
    scopeType: 'Microsoft.Storage/storageAccounts',
  },
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': {
    role: 'Storage Table Data Contributor',
    scopeType: 'Microsoft.Storage/storageAccounts',
  },
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': {
    role: 'Storage Queue Data Contributor',
    scopeType: 'Microsoft.Storage/storageAccounts',
  },
};
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** Local development only: the app refuses them in Azure, so the templates must never set them. */
const LOCAL_ONLY_SECRETS = ['PARTNER_CENTER_CLIENT_SECRET', 'NOTIFY_SIGNING_SECRET'];

/** Settings Flex Consumption rejects or ignores (the runtime lives in functionAppConfig). */
const FLEX_FORBIDDEN_SETTINGS = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
];

/** Platform wiring the templates add on top of the app's own settings, and what each must be. */
const PLATFORM_SETTINGS: Record<string, string> = {
  AzureWebJobsStorage__accountName: 'storageAccountName',
  AzureWebJobsStorage__credential: "'managedidentity'",
  AzureWebJobsStorage__clientId: 'identityClientId',
  TRACKING_STORAGE__accountName: 'storageAccountName',
  TRACKING_STORAGE__clientId: 'identityClientId',
  AZURE_CLIENT_ID: 'identityClientId',
  KEY_VAULT_URL: 'keyVaultUri',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'applicationInsightsConnectionString',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Bicep interpolation, compared as text
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "'ClientId=${identityClientId};Authorization=AAD'",
};

let files: BicepFile[];
let main: BicepFile;
let settings: AppSetting[];

const byRel = (rel: string): BicepFile => {
  const file = files.find((f) => f.rel === rel);
  if (!file) throw new Error(`${rel} not found among ${files.map((f) => f.rel).join(', ')}`);
  return file;
};
const allResources = (): Resource[] => files.flatMap(resources);
const resourcesOfType = (type: string): Resource[] => allResources().filter((r) => r.type === type);
const onlyResource = (type: string): Resource => {
  const found = resourcesOfType(type).filter((r) => !r.existing);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0]!;
};
const value = (resource: Resource, dottedPath: string): Node => {
  const node = propertyAt(resource.body, dottedPath);
  if (!node) throw new Error(`${resource.file.rel}: ${resource.name} has no ${dottedPath}`);
  return node;
};
const paramNamed = (file: BicepFile, name: string): Param => {
  const param = params(file).find((p) => p.name === name);
  if (!param) throw new Error(`${file.rel} declares no param ${name}`);
  return param;
};
const moduleNamed = (name: string): Module => {
  const found = modules(main).find((m) => m.name === name);
  if (!found) throw new Error(`main.bicep declares no module ${name}`);
  return found;
};
const moduleFile = (module: Module): BicepFile =>
  byRel(path.relative(ROOT, module.resolved).split(path.sep).join('/'));

beforeAll(async () => {
  files = await loadBicepFiles(INFRA, ROOT);
  main = byRel('infra/main.bicep');
  settings = [
    'settings.ts',
    'partner-center-settings.ts',
    'notify-settings.ts',
    'storage-connection.ts',
  ].flatMap((file) => readSettingsModule(path.join(ROOT, 'shared/config', file)));
});

describe('the Bicep files', () => {
  it('are all found (main plus its modules)', () => {
    expect(files.map((f) => f.rel)).toEqual(
      expect.arrayContaining([
        'infra/main.bicep',
        'infra/modules/functionapp.bicep',
        'infra/modules/identity.bicep',
        'infra/modules/keyvault.bicep',
        'infra/modules/monitoring.bicep',
        'infra/modules/storage.bicep',
      ]),
    );
  });

  it('parse with the Bicep grammar without a single error or missing token', () => {
    const problems = files.flatMap((f) => syntaxProblems(f).map((p) => `${f.rel}:${p}`));
    expect(problems).toEqual([]);
  });

  it('the parse check itself rejects broken Bicep', async () => {
    const broken = await parseBicep("param a string\nresource x 'A/b@2020-01-01' = {\n  name: 'x'\n");
    expect(syntaxProblems(broken).length).toBeGreaterThan(0);
    const unclosedString = await parseBicep("var a = 'no end\n");
    expect(syntaxProblems(unclosedString).length).toBeGreaterThan(0);
  });

  it('describe every parameter with @description', () => {
    const undescribed = files.flatMap((f) =>
      params(f)
        .filter((p) => !stringValue(p.decorators.get('description')?.[0])?.trim())
        .map((p) => `${f.rel}: ${p.name}`),
    );
    expect(undescribed).toEqual([]);
    expect(files.flatMap(params).length).toBeGreaterThan(40);
  });

  it('use every parameter and variable they declare', () => {
    const unused = files.flatMap((f) => {
      const used = referencedIdentifiers(f);
      const declared = [
        ...statements(f, 'parameter_declaration'),
        ...statements(f, 'variable_declaration'),
      ].map(declaredName);
      return declared.filter((name) => !used.has(name)).map((name) => `${f.rel}: ${name}`);
    });
    expect(unused).toEqual([]);
  });

  it('point every module at an existing file, and leave no module file unused', () => {
    const declared = files.flatMap(modules);
    expect(declared.filter((m) => !existsSync(m.resolved)).map((m) => `${m.file.rel}: ${m.source}`)).toEqual(
      [],
    );
    const used = new Set(declared.map((m) => m.resolved));
    expect(files.filter((f) => f.rel !== 'infra/main.bicep' && !used.has(f.path)).map((f) => f.rel)).toEqual(
      [],
    );
  });

  it('pass each module exactly the params it declares, every required one included', () => {
    const mismatches: string[] = [];
    for (const module of files.flatMap(modules)) {
      const target = moduleFile(module);
      const declared = params(target);
      const passedNode = propertyAt(module.body, 'params');
      const passed = passedNode ? [...objectProperties(passedNode).keys()] : [];
      for (const name of passed) {
        if (!declared.some((p) => p.name === name))
          mismatches.push(`${module.name}: ${name} is not a param of ${target.rel}`);
      }
      for (const param of declared) {
        if (!param.defaultValue && !passed.includes(param.name)) {
          mismatches.push(`${module.name}: required ${param.name} of ${target.rel} is not passed`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('read only outputs that the modules declare', () => {
    const problems: string[] = [];
    for (const file of files) {
      const symbols = new Map(modules(file).map((m) => [m.name, m]));
      for (const [symbol, output] of outputReferences(file)) {
        const module = symbols.get(symbol);
        if (!module) {
          problems.push(`${file.rel}: ${symbol}.outputs.${output} but ${symbol} is not a module`);
        } else if (!outputs(moduleFile(module)).includes(output)) {
          problems.push(`${file.rel}: ${symbol}.outputs.${output} is not an output of ${module.source}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(outputReferences(main).length).toBeGreaterThan(5);
  });
});

describe('resource API versions', () => {
  it('are dated, stable (no -preview) and the verified version for each type', () => {
    const problems: string[] = [];
    const today = new Date().toISOString().slice(0, 10);
    for (const r of allResources()) {
      const where = `${r.file.rel}: ${r.name} '${r.type}@${r.apiVersion}'`;
      const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(r.apiVersion);
      if (!match) {
        problems.push(`${where}: not a dated stable API version`);
        continue;
      }
      const [, y, m, d] = match;
      const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
      if (date.toISOString().slice(0, 10) !== r.apiVersion || r.apiVersion > today) {
        problems.push(`${where}: not a real past date`);
      }
      if (VERIFIED_API_VERSIONS[r.type] !== r.apiVersion) {
        problems.push(
          `${where}: verified version is ${VERIFIED_API_VERSIONS[r.type] ?? 'none (type not verified)'}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it('cover every verified type (the list holds no stale entries)', () => {
    const used = new Set(allResources().map((r) => r.type));
    expect(Object.keys(VERIFIED_API_VERSIONS).filter((t) => !used.has(t))).toEqual([]);
  });

  it('use Microsoft.Web 2023-12-01 or later, the first to know functionAppConfig (Flex Consumption)', () => {
    for (const r of [
      ...resourcesOfType('Microsoft.Web/sites'),
      ...resourcesOfType('Microsoft.Web/serverfarms'),
    ]) {
      expect(r.apiVersion >= '2023-12-01', `${r.name}@${r.apiVersion}`).toBe(true);
    }
  });
});

describe('security properties', () => {
  it('storage: no shared keys, TLS 1.2, no public blobs, HTTPS only', () => {
    const storage = onlyResource('Microsoft.Storage/storageAccounts');
    expect(value(storage, 'properties.allowSharedKeyAccess').text).toBe('false');
    expect(stringValue(value(storage, 'properties.minimumTlsVersion'))).toBe('TLS1_2');
    expect(value(storage, 'properties.allowBlobPublicAccess').text).toBe('false');
    expect(value(storage, 'properties.supportsHttpsTrafficOnly').text).toBe('true');
    const container = onlyResource('Microsoft.Storage/storageAccounts/blobServices/containers');
    expect(stringValue(value(container, 'properties.publicAccess'))).toBe('None');
  });

  it('Application Insights: workspace-based, local (key-only) auth disabled', () => {
    const appInsights = onlyResource('Microsoft.Insights/components');
    expect(value(appInsights, 'properties.DisableLocalAuth').text).toBe('true');
    const workspace = onlyResource('Microsoft.OperationalInsights/workspaces');
    expect(value(appInsights, 'properties.WorkspaceResourceId').text).toBe(`${workspace.name}.id`);
  });

  it('Key Vault: RBAC only, soft delete on, retention and purge protection from parameters', () => {
    const vault = onlyResource('Microsoft.KeyVault/vaults');
    const file = vault.file;
    expect(value(vault, 'properties.enableRbacAuthorization').text).toBe('true');
    expect(value(vault, 'properties.enableSoftDelete').text).toBe('true');
    expect(propertyAt(vault.body, 'properties.accessPolicies')).toBeUndefined();
    expect(value(vault, 'properties.softDeleteRetentionInDays').text).toBe('softDeleteRetentionInDays');
    expect(value(vault, 'properties.enablePurgeProtection').text).toMatch(/^enablePurgeProtection\b/);
    for (const name of ['softDeleteRetentionInDays', 'enablePurgeProtection']) {
      expect(
        moduleArgument('keyVault', name),
        `main.bicep wires ${name} of ${file.rel} from a parameter`,
      ).toMatch(/^keyVault\w+$/);
    }
  });

  it('function app: Flex Consumption (FC1), Linux, HTTPS only, user-assigned identity only', () => {
    const plan = onlyResource('Microsoft.Web/serverfarms');
    expect(stringValue(value(plan, 'sku.name'))).toBe('FC1');
    expect(stringValue(value(plan, 'sku.tier'))).toBe('FlexConsumption');
    expect(value(plan, 'properties.reserved').text).toBe('true');

    const app = onlyResource('Microsoft.Web/sites');
    expect(stringValue(value(app, 'kind'))).toBe('functionapp,linux');
    expect(value(app, 'properties.serverFarmId').text).toBe(`${plan.name}.id`);
    expect(value(app, 'properties.httpsOnly').text).toBe('true');
    expect(stringValue(value(app, 'identity.type'))).toBe('UserAssigned');
    expect(stringValue(value(app, 'properties.siteConfig.minTlsVersion'))).toBe('1.2');
  });

  it('function app: node runtime version 22 or 24 from a parameter, scale settings from parameters', () => {
    const app = onlyResource('Microsoft.Web/sites');
    expect(stringValue(value(app, 'properties.functionAppConfig.runtime.name'))).toBe('node');
    const versionParam = value(app, 'properties.functionAppConfig.runtime.version').text;
    const allowed = paramNamed(app.file, versionParam).decorators.get('allowed')?.[0];
    expect(allowed ? namedChildren(allowed).map(stringValue) : []).toEqual(['22', '24']);
    const mainAllowed = paramNamed(main, 'nodeVersion').decorators.get('allowed')?.[0];
    expect(mainAllowed ? namedChildren(mainAllowed).map(stringValue) : []).toEqual(['22', '24']);
    expect(stringValue(paramNamed(main, 'nodeVersion').defaultValue)).toBe('22');
    for (const setting of ['maximumInstanceCount', 'instanceMemoryMB']) {
      const expression = value(app, `properties.functionAppConfig.scaleAndConcurrency.${setting}`).text;
      expect(params(app.file).map((p) => p.name)).toContain(expression);
      expect(moduleArgument('functionApp', expression)).toBe(setting);
      expect(paramNamed(main, setting).defaultValue).toBeDefined();
    }
  });

  it('function app: deployment package in the storage container, reached with the user-assigned identity', () => {
    const app = onlyResource('Microsoft.Web/sites');
    expect(stringValue(value(app, 'properties.functionAppConfig.deployment.storage.type'))).toBe(
      'blobContainer',
    );
    expect(value(app, 'properties.functionAppConfig.deployment.storage.value').text).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Bicep interpolation, compared as text
      "'${storageBlobEndpoint}${deploymentContainerName}'",
    );
    const auth = 'properties.functionAppConfig.deployment.storage.authentication';
    expect(stringValue(value(app, `${auth}.type`))).toBe('UserAssignedIdentity');
    expect(value(app, `${auth}.userAssignedIdentityResourceId`).text).toBe('identityId');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Bicep interpolation, compared as text
    expect(value(app, 'identity.userAssignedIdentities').text).toContain('${identityId}');
    expect(moduleArgument('functionApp', 'identityId')).toBe('identity.outputs.id');
    expect(moduleArgument('functionApp', 'deploymentContainerName')).toBe(
      'storage.outputs.deploymentContainerName',
    );
  });

  it('nothing reads account keys or embeds a secret', () => {
    const azureYaml = JSON.stringify(parseYaml(readFileSync(path.join(ROOT, 'azure.yaml'), 'utf8')));
    const parameters = readFileSync(path.join(INFRA, 'main.parameters.json'), 'utf8');
    const everything = [...files.map(codeWithoutComments), azureYaml, parameters].join('\n');
    expect(everything).not.toMatch(
      /listKeys\s*\(|AccountKey=|SharedAccessSignature|PARTNER_CENTER_CLIENT_SECRET/i,
    );
    expect(everything).not.toMatch(/@secure\(\)/); // nothing secret is an input either
  });
});

describe('role assignments', () => {
  const assignments = () => resourcesOfType('Microsoft.Authorization/roleAssignments');

  it('are the six expected built-in roles, with their real ids, and no other (Secrets Officer twice)', () => {
    const ids = assignments().map((a) => roleId(a));
    expect(new Set(ids)).toEqual(new Set(Object.keys(ROLES)));
    expect(ids).toHaveLength(Object.keys(ROLES).length + 1);
    expect(ids.filter((id) => id === 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')).toHaveLength(2);
  });

  it('are each scoped to the one resource the role is about, never to a group or subscription', () => {
    const problems: string[] = [];
    for (const assignment of assignments()) {
      const where = `${assignment.file.rel}: ${assignment.name}`;
      if (targetScope(assignment.file) !== 'resourceGroup')
        problems.push(`${where}: file targets ${targetScope(assignment.file)}`);
      const scope = propertyAt(assignment.body, 'scope');
      const scoped =
        scope?.type === 'identifier'
          ? resources(assignment.file).find((r) => r.name === scope.text)
          : undefined;
      const expected = ROLES[roleId(assignment)];
      if (!scoped) problems.push(`${where}: scope is not a resource of this file (${scope?.text ?? 'none'})`);
      else if (!(expected ? [expected.scopeType].flat() : []).includes(scoped.type))
        problems.push(`${where}: scoped to ${scoped.type}, expected ${expected?.scopeType}`);
      const name = propertyAt(assignment.body, 'name')?.text ?? '';
      if (!name.startsWith(`guid(${scope?.text}.id,`))
        problems.push(`${where}: name should be guid(<scope>.id, ...)`);
      if (!propertyAt(assignment.body, 'properties.principalType'))
        problems.push(`${where}: no principalType`);
      const definition = propertyAt(assignment.body, 'properties.roleDefinitionId')?.text ?? '';
      if (!definition.startsWith("subscriptionResourceId('Microsoft.Authorization/roleDefinitions',")) {
        problems.push(`${where}: roleDefinitionId is not a built-in role reference`);
      }
    }
    expect(problems).toEqual([]);
    for (const file of files.filter((f) => targetScope(f) !== 'resourceGroup')) {
      expect(resources(file).filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')).toEqual([]);
      expect(file.text).not.toMatch(/scope:\s*(subscription|managementGroup|tenant)\(/);
    }
  });

  it('give the app identity its roles, and Secrets Officer only to a principal that is asked for', () => {
    for (const assignment of assignments()) {
      const principal = propertyAt(assignment.body, 'properties.principalId')?.text;
      const scope = propertyAt(assignment.body, 'scope')?.text;
      if (roleId(assignment) === 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' && scope === 'refreshTokenSecret') {
        // App+User: the app writes new versions of the refresh-token secret, and of nothing else.
        expect(principal).toBe('appPrincipalId');
        expect(assignment.condition?.text).toBe('(appWritesRefreshToken)');
        expect(moduleArgument('keyVault', 'appWritesRefreshToken')).toBe(
          "partnerCenterAuthMode == 'app_user' && partnerCenterRefreshTokenSecretExists",
        );
        expect(moduleArgument('keyVault', 'refreshTokenSecretName')).toBe(
          'partnerCenterRefreshTokenSecretName',
        );
        const secret = resources(assignment.file).find((r) => r.name === 'refreshTokenSecret')!;
        // Referred to, never deployed: a deployment would write a version over the rotated token.
        expect(secret.existing).toBe(true);
        expect(stringValue(propertyAt(assignment.body, 'properties.principalType'))).toBe('ServicePrincipal');
      } else if (roleId(assignment) === 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7') {
        expect(principal).toBe('secretsOfficerPrincipalId');
        expect(assignment.condition?.text).toBe('(!empty(secretsOfficerPrincipalId))');
        expect(moduleArgument('keyVault', 'secretsOfficerPrincipalId')).toBe(
          'keyVaultSecretsOfficerPrincipalId',
        );
        expect(stringValue(paramNamed(main, 'keyVaultSecretsOfficerPrincipalId').defaultValue)).toBe('');
      } else {
        expect(principal, assignment.name).toBe('appPrincipalId');
        expect(assignment.condition, assignment.name).toBeUndefined();
        expect(stringValue(propertyAt(assignment.body, 'properties.principalType'))).toBe('ServicePrincipal');
      }
    }
    for (const module of modules(main)) {
      const passed = propertyAt(module.body, 'params.appPrincipalId');
      if (passed) expect(passed.text, module.name).toBe('identity.outputs.principalId');
    }
  });
});

describe('app settings', () => {
  it('the settings module is read (the list cannot silently come back empty)', () => {
    const names = settings.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'SWEEP_SCHEDULE',
        'KEY_VAULT_URL',
        'PARTNER_CENTER_CLIENT_ID',
        'TRACKING_STORAGE',
      ]),
    );
    expect(settings.filter((s) => s.kind === 'default').length).toBeGreaterThan(20);
    expect(settings.find((s) => s.name === 'PARTNER_CENTER_MAX_RESPONSE_BYTES')?.fallback).toBe('16777216');
  });

  it('set every setting the app reads, except the local-only secret and what Azure sets itself', () => {
    const keys = appSettingKeys();
    const missing: string[] = [];
    for (const setting of settings) {
      if (LOCAL_ONLY_SECRETS.includes(setting.name) || setting.kind === 'platform') {
        expect(keys, `${setting.name} must not be set`).not.toContain(setting.name);
      } else if (setting.kind === 'connection') {
        expect(keys, `${setting.name} must be identity-based, not a connection string`).not.toContain(
          setting.name,
        );
        for (const suffix of ['__accountName', '__clientId']) {
          if (!keys.includes(`${setting.name}${suffix}`)) missing.push(`${setting.name}${suffix}`);
        }
      } else if (!keys.includes(setting.name)) {
        missing.push(setting.name);
      }
    }
    expect(missing).toEqual([]);
  });

  it('set nothing the app does not read, apart from the platform wiring', () => {
    const known = new Set(settings.map((s) => s.name));
    const unknown = appSettingKeys().filter((key) => !known.has(key) && !(key in PLATFORM_SETTINGS));
    expect(unknown).toEqual([]);
    expect(appSettingKeys().filter((key) => FLEX_FORBIDDEN_SETTINGS.includes(key))).toEqual([]);
  });

  it("default every tunable setting to the app's own default", () => {
    const wrong: string[] = [];
    const mainSettings = mainAppSettings();
    for (const setting of settings.filter((s) => s.kind === 'default')) {
      const expression = mainSettings.get(setting.name);
      const paramName = expression ? /^(?:string\((\w+)\)|(\w+))$/.exec(expression.text) : null;
      const param = paramName
        ? params(main).find((p) => p.name === (paramName[1] ?? paramName[2]))
        : undefined;
      const actual = literalText(param?.defaultValue);
      if (actual !== setting.fallback) {
        wrong.push(
          `${setting.name}: app default ${setting.fallback}, template ${expression?.text ?? 'unset'} = ${actual}`,
        );
      }
    }
    expect(wrong).toEqual([]);
  });

  it('require the Partner Center tenant and client ids, and leave optional settings out unless given', () => {
    const mainSettings = mainAppSettings();
    expect(mainSettings.get('PARTNER_CENTER_TENANT_ID')?.text).toBe('partnerCenterTenantId');
    expect(mainSettings.get('PARTNER_CENTER_CLIENT_ID')?.text).toBe('partnerCenterClientId');
    expect(paramNamed(main, 'partnerCenterTenantId').defaultValue).toBeUndefined();
    expect(paramNamed(main, 'partnerCenterClientId').defaultValue).toBeUndefined();
    for (const name of [
      'AZURE_AUTHORITY_HOST',
      'CALLER_AUTH_AUDIENCE',
      'CALLER_AUTH_TENANT_ID',
      'CALLER_AUTH_REQUIRED_ROLE',
      'NOTIFY_ALLOWED_HOSTS',
      'NOTIFY_WEBHOOK_URL',
    ]) {
      const variable = [...descendants(main.root, 'variable_declaration')].find((v) =>
        descendants(v, 'object_property').some((p) => namedChildren(p)[0]?.text === name),
      );
      expect(variable?.text, `${name} is only set when its parameter is not empty`).toMatch(
        /= empty\(\w+\) \? \{\} : \{/,
      );
    }
  });

  it('wire the identity, storage, vault and telemetry settings to the right values', () => {
    const platform = platformAppSettings();
    for (const [name, expected] of Object.entries(PLATFORM_SETTINGS)) {
      expect(platform.get(name)?.text, name).toBe(expected);
    }
    const wiring: Record<string, string> = {
      identityClientId: 'identity.outputs.clientId',
      storageAccountName: 'storage.outputs.name',
      keyVaultUri: 'keyVault.outputs.uri',
      applicationInsightsConnectionString: 'monitoring.outputs.connectionString',
    };
    for (const [param, expected] of Object.entries(wiring))
      expect(moduleArgument('functionApp', param)).toBe(expected);
  });
});

describe('azd wiring', () => {
  it('tags the function app azd-service-name: api and everything azd-env-name', () => {
    const app = onlyResource('Microsoft.Web/sites');
    const tags = value(app, 'tags');
    expect(tags.text).toMatch(/^union\(tags, \{\s*'azd-service-name': serviceName\s*\}\)$/);
    expect(stringValue(propertyAt(moduleNamed('functionApp').body, 'params.serviceName'))).toBe('api');
    const mainTags = variableValue(main, 'tags');
    expect(mainTags && objectProperties(mainTags).get('azd-env-name')?.text).toBe('environmentName');
    const rg = onlyResource('Microsoft.Resources/resourceGroups');
    expect(value(rg, 'tags').text).toBe('tags');
    for (const module of modules(main))
      expect(propertyAt(module.body, 'params.tags')?.text, module.name).toBe('tags');
    for (const r of allResources().filter(
      (r) => r.file !== main && !r.type.startsWith('Microsoft.Authorization/'),
    )) {
      if (r.type.split('/').length > 2) continue; // child resources carry no tags of their own
      expect(propertyAt(r.body, 'tags'), `${r.file.rel}: ${r.name} is tagged`).toBeDefined();
    }
  });

  it('outputs what azd and operators need', () => {
    expect(outputs(main)).toEqual(
      expect.arrayContaining([
        'AZURE_LOCATION',
        'AZURE_TENANT_ID',
        'AZURE_RESOURCE_GROUP',
        'AZURE_FUNCTION_APP_NAME',
        'SERVICE_API_NAME',
        'AZURE_KEY_VAULT_NAME',
      ]),
    );
  });

  it('main.parameters.json names only declared params, gives every required one, and matches defaults', () => {
    const file = JSON.parse(readFileSync(path.join(INFRA, 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, { value: unknown }>;
    };
    const declared = params(main);
    const given = Object.keys(file.parameters);
    expect(given.filter((name) => !declared.some((p) => p.name === name))).toEqual([]);
    expect(declared.filter((p) => !p.defaultValue && !given.includes(p.name)).map((p) => p.name)).toEqual([]);
    for (const [name, { value: raw }] of Object.entries(file.parameters)) {
      expect(typeof raw, name).toBe('string');
      const match = /^\$\{([A-Z0-9_]+)(?:=([^}]*))?\}$/.exec(String(raw));
      expect(match, `${name} is a single azd environment reference`).not.toBeNull();
      const fallback = match?.[2];
      if (fallback !== undefined)
        expect(fallback, name).toBe(literalText(paramNamed(main, name).defaultValue));
      else
        expect(
          paramNamed(main, name).defaultValue,
          `${name} has no default, so no fallback either`,
        ).toBeUndefined();
    }
  });

  it('azure.yaml parses and deploys the api service from the staged package as a function app', () => {
    const azureYaml = parseYaml(readFileSync(path.join(ROOT, 'azure.yaml'), 'utf8')) as {
      name: string;
      infra: { provider: string; path: string; module: string };
      services: Record<string, Record<string, unknown>>;
    };
    expect(azureYaml.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(azureYaml.infra).toEqual({ provider: 'bicep', path: 'infra', module: 'main' });
    expect(existsSync(path.join(ROOT, azureYaml.infra.path, `${azureYaml.infra.module}.bicep`))).toBe(true);
    expect(Object.keys(azureYaml.services)).toEqual(['api']);
    const api = azureYaml.services.api!;
    expect(api).toMatchObject({
      project: '.',
      language: 'ts',
      host: 'function',
      remoteBuild: false,
      dist: PACKAGE_DIR,
    });
    const hook = (api.hooks as Record<string, Record<string, { shell: string; run: string }>>).prepackage!;
    for (const os of ['posix', 'windows']) {
      expect(hook[os]?.run, os).toBe('node infra/scripts/stage-package.mjs');
    }
    expect(existsSync(path.join(ROOT, 'infra/scripts/stage-package.mjs'))).toBe(true);
  });
});

function roleId(assignment: Resource): string {
  const definition = propertyAt(assignment.body, 'properties.roleDefinitionId')?.text ?? '';
  const ids = definition.match(GUID) ?? [];
  expect(ids, `${assignment.file.rel}: ${assignment.name} names one role id`).toHaveLength(1);
  return ids[0]!.toLowerCase();
}

/** The expression main.bicep passes to a module param, as text. */
function moduleArgument(moduleName: string, param: string): string | undefined {
  return propertyAt(moduleNamed(moduleName).body, `params.${param}`)?.text;
}

/** The app's own settings as main.bicep builds them: key -> value expression. */
function mainAppSettings(): Map<string, Node> {
  const passed = propertyAt(moduleNamed('functionApp').body, 'params.appSettings');
  if (!passed) throw new Error('main.bicep passes no appSettings to the function app');
  return collectSettings(main, passed);
}

/** The platform wiring the function app module adds (the object literal inside its union). */
function platformAppSettings(): Map<string, Node> {
  const app = onlyResource('Microsoft.Web/sites/config');
  expect(stringValue(value(app, 'name'))).toBe('appsettings');
  const properties = value(app, 'properties');
  expect(properties.text).toMatch(/^union\(appSettings, \{/);
  const literal = namedChildren(properties.childForFieldName('arguments')!).find((n) => n.type === 'object');
  if (!literal) throw new Error('the appsettings union has no object literal');
  return objectProperties(literal);
}

function appSettingKeys(): string[] {
  return [...mainAppSettings().keys(), ...platformAppSettings().keys()].sort();
}

/** Follows union(...), variables and ternaries down to object literals, collecting their properties. */
function collectSettings(file: BicepFile, expression: Node): Map<string, Node> {
  const result = new Map<string, Node>();
  const visit = (node: Node) => {
    if (node.type === 'object') {
      for (const [key, v] of objectProperties(node)) result.set(key, v);
    } else if (node.type === 'call_expression' && node.childForFieldName('function')?.text === 'union') {
      for (const argument of namedChildren(node.childForFieldName('arguments')!)) visit(argument);
    } else if (node.type === 'identifier') {
      const variable = variableValue(file, node.text);
      if (!variable) throw new Error(`${file.rel}: ${node.text} is not a variable`);
      visit(variable);
    } else if (node.type === 'ternary_expression') {
      visit(node.childForFieldName('consequence')!);
      visit(node.childForFieldName('alternative')!);
    } else {
      throw new Error(`${file.rel}: cannot follow app settings through \`${node.text}\``);
    }
  };
  visit(expression);
  return result;
}
