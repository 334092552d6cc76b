// Device batch status service: everything `azd up` provisions. See infra/README.md.
//
// Subscription scope only to create the resource group; every resource, and every role
// assignment, lives in that group and is scoped to the single resource it is about.
targetScope = 'subscription'

// ---- Where and what ----------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region for every resource; it must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create or reuse. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

// ---- Hosting -----------------------------------------------------------------------------------

@description('Node.js major version of the Functions runtime: 22 (default) or 24 where the region\'s Flex Consumption runtime list offers it.')
@allowed([
  '22'
  '24'
])
param nodeVersion string = '22'

@description('Flex Consumption: most instances the app may scale out to. Each instance runs up to PARTNER_CENTER_MAX_CONCURRENCY upstream calls, so this also caps the load on Partner Center.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Redundancy of the storage account (host storage, deployment package, tracking data).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Days the Log Analytics workspace keeps data.')
@minValue(30)
@maxValue(730)
param logAnalyticsRetentionInDays int = 30

// ---- Key Vault ---------------------------------------------------------------------------------

@description('Days a deleted vault or secret stays recoverable (soft delete is always on).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Purge protection on the vault. Once on it cannot be turned off, and the vault name stays taken until its retention ends after deletion.')
param keyVaultEnablePurgeProtection bool = true

@description('Optional object id of an operator, group or pipeline to make Key Vault Secrets Officer on the vault, so it can put the Partner Center credential in. Empty: no such assignment.')
param keyVaultSecretsOfficerPrincipalId string = ''

@description('Kind of principal keyVaultSecretsOfficerPrincipalId names.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param keyVaultSecretsOfficerPrincipalType string = 'User'

// ---- App settings (shared/config/settings.ts; defaults are the app's own) -----------------------

@description('PARTNER_CENTER_TENANT_ID: the partner\'s Entra tenant id (token authority tenant).')
param partnerCenterTenantId string

@description('PARTNER_CENTER_CLIENT_ID: client id (GUID) of the app registration used for app-only Partner Center calls.')
param partnerCenterClientId string

@description('PARTNER_CENTER_BASE_URL: Partner Center API root, without /v1.')
param partnerCenterBaseUrl string = 'https://api.partnercenter.microsoft.com'

@description('PARTNER_CENTER_SCOPE: token scope for app-only calls.')
param partnerCenterScope string = 'https://api.partnercenter.microsoft.com/.default'

@description('PARTNER_CENTER_LOCALE: X-Locale sent to Partner Center.')
param partnerCenterLocale string = 'en-US'

@description('PARTNER_CENTER_APPLICATION_NAME: MS-PartnerCenter-Application header value.')
param partnerCenterApplicationName string = 'device-batch-status'

@description('PARTNER_CENTER_ATTEMPT_TIMEOUT_MS: timeout of one upstream attempt.')
param partnerCenterAttemptTimeoutMs int = 10000

@description('PARTNER_CENTER_DEADLINE_MS: overall deadline of one logical upstream request, retries included.')
param partnerCenterDeadlineMs int = 25000

@description('PARTNER_CENTER_MAX_RETRIES: retries after the first attempt.')
param partnerCenterMaxRetries int = 4

@description('PARTNER_CENTER_MAX_RETRY_AFTER_MS: longest Retry-After waited for inside one request before answering 503.')
param partnerCenterMaxRetryAfterMs int = 10000

@description('PARTNER_CENTER_MAX_CONCURRENCY: concurrent upstream calls per instance.')
param partnerCenterMaxConcurrency int = 16

@description('PARTNER_CENTER_MAX_RESPONSE_BYTES: largest upstream response body accepted.')
param partnerCenterMaxResponseBytes int = 16777216

@description('PARTNER_CENTER_SECRET_NAME: name of the Key Vault secret holding the client secret or PEM certificate.')
param partnerCenterSecretName string = 'partner-center-app-secret'

@description('PARTNER_CENTER_AUTH_MODE: app (app-only tokens) or app_user (the secure application model: a refresh token in Key Vault that the app rotates).')
@allowed([
  'app'
  'app_user'
])
param partnerCenterAuthMode string = 'app'

@description('PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME: the Key Vault secret holding the App+User refresh token (app_user only).')
param partnerCenterRefreshTokenSecretName string = 'partner-center-refresh-token'

@description('app_user only: set to true once `npm run consent` has created the refresh-token secret, to give the app identity Key Vault Secrets Officer on that one secret (a role assignment needs its scope to exist).')
param partnerCenterRefreshTokenSecretExists bool = false

@description('CREDENTIAL_CACHE_TTL_SECONDS: how long the credential read from Key Vault is cached before it is read again.')
param credentialCacheTtlSeconds int = 900

@description('AZURE_AUTHORITY_HOST: Entra authority for sovereign clouds. Empty: public cloud (the setting is left out).')
param authorityHost string = ''

@description('TRACKING_TABLE_PREFIX: prefix of the tracking tables.')
param trackingTablePrefix string = 'batchstatus'

@description('TRACKING_RESULT_CONTAINER: blob container for full batch results.')
param trackingResultContainer string = 'batch-results'

@description('SWEEP_SCHEDULE: NCRONTAB (six fields, UTC) of the sweep of pending trackings.')
param sweepSchedule string = '0 */5 * * * *'

@description('SWEEP_CONCURRENCY: trackings checked at once by one sweep.')
param sweepConcurrency int = 16

@description('SWEEP_TIME_BUDGET_SECONDS: time after which a sweep stops claiming work (keep it under host.json functionTimeout).')
param sweepTimeBudgetSeconds int = 480

@description('SWEEP_MAX_TRACKINGS_PER_RUN: most trackings one sweep claims.')
param sweepMaxTrackingsPerRun int = 20000

@description('SWEEP_LEASE_SECONDS: how long a claim keeps other sweeps off a tracking.')
param sweepLeaseSeconds int = 600

@description('SWEEP_INITIAL_BACKOFF_SECONDS: first delay before re-checking a pending batch.')
param sweepInitialBackoffSeconds int = 60

@description('SWEEP_MAX_BACKOFF_SECONDS: longest delay between checks of a pending batch.')
param sweepMaxBackoffSeconds int = 3600

@description('TRACKING_MAX_AGE_HOURS: age after which a still-pending tracking expires.')
param trackingMaxAgeHours int = 72

@description('TRACKING_NOT_FOUND_GRACE_MINUTES: how long an unknown tracking id is retried before it is not_found.')
param trackingNotFoundGraceMinutes int = 30

@description('CALLER_AUTH_AUDIENCE: when set, callers also need an Entra ID token for this audience. Empty: function keys only (the caller-auth settings are left out).')
param callerAuthAudience string = ''

@description('CALLER_AUTH_TENANT_ID: tenant that issues caller tokens (required with callerAuthAudience).')
param callerAuthTenantId string = ''

@description('CALLER_AUTH_REQUIRED_ROLE: app role callers\' tokens must carry. Empty: any token for the audience.')
param callerAuthRequiredRole string = ''

// ---- Names -------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logAnalyticsRetentionInDays
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: 'app-package'
    appPrincipalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    enablePurgeProtection: keyVaultEnablePurgeProtection
    appPrincipalId: identity.outputs.principalId
    secretsOfficerPrincipalId: keyVaultSecretsOfficerPrincipalId
    secretsOfficerPrincipalType: keyVaultSecretsOfficerPrincipalType
    refreshTokenSecretName: partnerCenterRefreshTokenSecretName
    appWritesRefreshToken: partnerCenterAuthMode == 'app_user' && partnerCenterRefreshTokenSecretExists
  }
}

// The app's settings, one per setting of shared/config/settings.ts. The identity-based storage,
// Key Vault, telemetry and AZURE_CLIENT_ID wiring is added by the function app module.
// PARTNER_CENTER_CLIENT_SECRET is deliberately absent: the app refuses it when running in Azure.
var baseAppSettings = {
  PARTNER_CENTER_BASE_URL: partnerCenterBaseUrl
  PARTNER_CENTER_TENANT_ID: partnerCenterTenantId
  PARTNER_CENTER_CLIENT_ID: partnerCenterClientId
  PARTNER_CENTER_SCOPE: partnerCenterScope
  PARTNER_CENTER_LOCALE: partnerCenterLocale
  PARTNER_CENTER_APPLICATION_NAME: partnerCenterApplicationName
  PARTNER_CENTER_ATTEMPT_TIMEOUT_MS: string(partnerCenterAttemptTimeoutMs)
  PARTNER_CENTER_DEADLINE_MS: string(partnerCenterDeadlineMs)
  PARTNER_CENTER_MAX_RETRIES: string(partnerCenterMaxRetries)
  PARTNER_CENTER_MAX_RETRY_AFTER_MS: string(partnerCenterMaxRetryAfterMs)
  PARTNER_CENTER_MAX_CONCURRENCY: string(partnerCenterMaxConcurrency)
  PARTNER_CENTER_MAX_RESPONSE_BYTES: string(partnerCenterMaxResponseBytes)
  PARTNER_CENTER_SECRET_NAME: partnerCenterSecretName
  PARTNER_CENTER_AUTH_MODE: partnerCenterAuthMode
  PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME: partnerCenterRefreshTokenSecretName
  CREDENTIAL_CACHE_TTL_SECONDS: string(credentialCacheTtlSeconds)
  TRACKING_TABLE_PREFIX: trackingTablePrefix
  TRACKING_RESULT_CONTAINER: trackingResultContainer
  SWEEP_SCHEDULE: sweepSchedule
  SWEEP_CONCURRENCY: string(sweepConcurrency)
  SWEEP_TIME_BUDGET_SECONDS: string(sweepTimeBudgetSeconds)
  SWEEP_MAX_TRACKINGS_PER_RUN: string(sweepMaxTrackingsPerRun)
  SWEEP_LEASE_SECONDS: string(sweepLeaseSeconds)
  SWEEP_INITIAL_BACKOFF_SECONDS: string(sweepInitialBackoffSeconds)
  SWEEP_MAX_BACKOFF_SECONDS: string(sweepMaxBackoffSeconds)
  TRACKING_MAX_AGE_HOURS: string(trackingMaxAgeHours)
  TRACKING_NOT_FOUND_GRACE_MINUTES: string(trackingNotFoundGraceMinutes)
}

// Optional settings are left out rather than set empty (an empty AZURE_AUTHORITY_HOST, for
// example, is not the same as none to every library that reads it).
var authoritySettings = empty(authorityHost) ? {} : {
  AZURE_AUTHORITY_HOST: authorityHost
}
var callerAuthSettings = empty(callerAuthAudience) ? {} : {
  CALLER_AUTH_AUDIENCE: callerAuthAudience
  CALLER_AUTH_TENANT_ID: callerAuthTenantId
  CALLER_AUTH_REQUIRED_ROLE: callerAuthRequiredRole
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: keyVault.outputs.uri
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: union(baseAppSettings, authoritySettings, callerAuthSettings)
  }
}

// ---- Outputs (azd stores them in .azure/<env>/.env) -------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
