// One storage account for the Functions host (AzureWebJobsStorage), the Flex Consumption
// deployment package, and the app's tracking tables and result blobs (TRACKING_STORAGE).
// Keys are switched off: everything reaches it with the app's managed identity (Entra ID).

@description('Name of the storage account (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the storage account.')
param location string

@description('Tags applied to the storage account.')
param tags object

@description('Redundancy of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Storage Queue that carries webhook deliveries (NOTIFY_QUEUE_NAME); its poison queue is <name>-poison.')
param notifyQueueName string

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param appPrincipalId string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Completion webhooks: the sweep and the lookup queue deliveries here, and the deliverNotification
// queue trigger reads them. Given-up deliveries are kept in the poison queue (deep health reports it).
resource notifyQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: notifyQueueName
}

resource notifyPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${notifyQueueName}-poison'
}

// Storage Blob Data Owner, on this account only. The Functions host needs it on AzureWebJobsStorage
// (Microsoft's documented role for identity-based host storage): host keys and timer/singleton
// locks are blobs held with leases. Flex Consumption reads the deployment package from the
// container above with the same identity, and the app writes its batch result blobs and creates
// their container (TRACKING_RESULT_CONTAINER) on first use.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor, on this account only: the app's tracking records live in tables
// (prefix TRACKING_TABLE_PREFIX) that it creates on first use, claims with ETag writes and queries.
// No role at all gives the identity the account's keys or management-plane rights.
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor, on this account only: the app sends webhook deliveries to
// NOTIFY_QUEUE_NAME (and given-up ones to its poison queue), and the deliverNotification queue
// trigger reads, hides and deletes them with the same identity. Microsoft's guidance for
// identity-based AzureWebJobsStorage pairs this role with Blob Data Owner for the host as well.
resource queueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output notifyQueueName string = notifyQueue.name
