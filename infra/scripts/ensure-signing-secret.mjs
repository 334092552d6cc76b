// azd postprovision hook: creates the webhook signing secret (NOTIFY_SIGNING_SECRET_NAME) in the
// provisioned Key Vault when it does not exist yet, as Standard Webhooks expect it: `whsec_` and
// the base64 of 32 random bytes. An existing secret is left alone (receivers already hold it): to
// rotate, set a new version yourself and give it to the receivers. The value is never printed and
// never on a command line (it goes through a private temporary file). Needs the Azure CLI, signed
// in as a principal with Key Vault Secrets Officer on the vault (keyVaultSecretsOfficerPrincipalId).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const vault = process.env.AZURE_KEY_VAULT_NAME;
const name = process.env.NOTIFY_SIGNING_SECRET_NAME || 'notify-signing-secret';
if (!vault) {
  console.error('AZURE_KEY_VAULT_NAME is not set (run this as the azd postprovision hook).');
  process.exit(1);
}
const az = (args, options = {}) =>
  execFileSync('az', args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });

try {
  az(['keyvault', 'secret', 'show', '--vault-name', vault, '--name', name, '--query', 'id', '-o', 'tsv']);
  console.log(`Webhook signing secret '${name}' exists in ${vault}: left as it is.`);
} catch {
  const folder = mkdtempSync(join(tmpdir(), 'whsec-'));
  const file = join(folder, 'secret');
  try {
    writeFileSync(file, `whsec_${randomBytes(32).toString('base64')}`, { mode: 0o600 });
    az(['keyvault', 'secret', 'set', '--vault-name', vault, '--name', name, '--file', file, '-o', 'none']);
    console.log(
      `Created the webhook signing secret '${name}' in ${vault}. Give its value to your receivers:`,
    );
    console.log(`  az keyvault secret show --vault-name ${vault} --name ${name} --query value -o tsv`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
