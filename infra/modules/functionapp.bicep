// The function app on a Flex Consumption plan (Linux, FC1). It runs as the user-assigned identity
// only: no system identity, no storage keys, no secrets in app settings.

@description('Name of the function app (also its default host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app (the app also gets azd-service-name).')
param tags object

@description('azd service this app hosts: azd deploys to the app whose azd-service-name tag has this value.')
param serviceName string

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID, storage and telemetry client id).')
param identityClientId string

@description('Storage account for host storage and tracking data (identity-based connections).')
param storageAccountName string

@description('Blob endpoint of that account, ending with a slash.')
param storageBlobEndpoint string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('URI of the key vault that holds the Partner Center credential (KEY_VAULT_URL).')
param keyVaultUri string

@description('Node.js major version of the Functions runtime.')
@allowed([
  '22'
  '24'
])
param nodeVersion string

@description('Most instances the plan may scale the app out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('The app\'s own settings (see shared/config/settings.ts); the platform wiring below is added to them and wins on a clash.')
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// Flex Consumption takes the runtime from functionAppConfig: FUNCTIONS_WORKER_RUNTIME,
// FUNCTIONS_EXTENSION_VERSION and WEBSITE_NODE_DEFAULT_VERSION must not be set here.
resource functionAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, {
    // Host storage through the identity: the account has shared-key access switched off.
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Tracking tables and result blobs, same account, same identity (read by the app's settings module).
    TRACKING_STORAGE__accountName: storageAccountName
    TRACKING_STORAGE__clientId: identityClientId
    // DefaultAzureCredential picks the user-assigned identity (Key Vault, storage clients).
    AZURE_CLIENT_ID: identityClientId
    KEY_VAULT_URL: keyVaultUri
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    // Application Insights has local auth off: the host authenticates its telemetry as the identity.
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  })
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
