// The one user-assigned managed identity the function app uses for everything: host storage,
// tracking storage, the deployment package container, Key Vault and Application Insights.
// A user-assigned identity (rather than the app's system identity) exists before the app does,
// so every role assignment is in place by the time the app first starts.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
