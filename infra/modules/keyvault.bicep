// The vault that holds the Partner Center app credential (PARTNER_CENTER_SECRET_NAME): a client
// secret, or a PEM with certificate and private key; in App+User mode also the refresh token
// (PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME). Access is Azure RBAC only (no access policies); the
// app may read secrets, and write new versions of the refresh-token secret only.

@description('Name of the key vault (3-24 letters, digits and hyphens, starting with a letter).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the key vault.')
param location string

@description('Tags applied to the key vault.')
param tags object

@description('Days a deleted vault or secret stays recoverable (soft delete is always on).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('Turn on purge protection: nothing deleted can be purged before its retention ends. It can never be turned off again once on.')
param enablePurgeProtection bool

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param appPrincipalId string

@description('Optional principal (object) id of an operator, group or pipeline that may write secrets (Key Vault Secrets Officer). Empty: no such assignment.')
param secretsOfficerPrincipalId string

@description('Kind of principal secretsOfficerPrincipalId names.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsOfficerPrincipalType string

@description('Name of the secret holding the App+User refresh token (PARTNER_CENTER_REFRESH_TOKEN_SECRET_NAME).')
param refreshTokenSecretName string

@description('App+User mode, once the refresh-token secret exists (created by `npm run consent`): the app identity may write its new versions.')
param appWritesRefreshToken bool

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Purge protection cannot be set to false explicitly: leave it out when it is not wanted.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Key Vault Secrets User, on this vault only: the app reads the Partner Center credential with
// SecretClient (get secret; a certificate is stored as a PEM secret too). It cannot list, write
// or delete anything, and has no access to other vaults.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets Officer, on this vault only and only when asked for: lets an operator put the
// credential in and rotate it (new secret versions) without any broader rights.
resource operatorSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
    principalId: secretsOfficerPrincipalId
    principalType: secretsOfficerPrincipalType
  }
}

// The refresh-token secret is never declared as a resource to deploy: a deployment would write a
// new version over the rotated token. It is created by the admin's consent; this only refers to it.
resource refreshTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: refreshTokenSecretName
}

// Key Vault Secrets Officer on the refresh-token secret only (not the vault): the app writes each
// rotated refresh token back as a new version. It still cannot touch the app credential's secret.
resource appRefreshTokenOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (appWritesRefreshToken) {
  name: guid(refreshTokenSecret.id, appPrincipalId, 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
  scope: refreshTokenSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
