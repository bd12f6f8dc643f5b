// The @azure/keyvault-keys quickstart, written as its documentation writes it: application
// code with nothing local about it. DefaultAzureCredential, a KeyClient for the vault URL
// the environment names (AZURE_KEYVAULT_URL), no client options. It creates a key, reads it
// back, signs and verifies with it, lists the vault's keys and deletes it.
// quickstart.test.mjs runs it unchanged, configured only by what `localhsm env` prints.
//
//   node quickstart-keys.mjs KEY_NAME

import { createHash } from "node:crypto";

import { DefaultAzureCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const keyName = process.argv[2];
const url = process.env["AZURE_KEYVAULT_URL"];

const credential = new DefaultAzureCredential();
const client = new KeyClient(url, credential);

const key = await client.createKey(keyName, "EC", { curve: "P-256" });
console.log(`Created: ${key.id} (${key.keyType})`);

const retrieved = await client.getKey(keyName);
console.log(`Retrieved: ${retrieved.name} ${retrieved.properties.version}`);

const cryptographyClient = new CryptographyClient(retrieved, credential);
const digest = createHash("sha256").update("Hello, Key Vault").digest();
const signed = await cryptographyClient.sign("ES256", digest);
const verified = await cryptographyClient.verify("ES256", digest, signed.result);
console.log(`Verified: ${verified.result}`);

for await (const properties of client.listPropertiesOfKeys()) {
  console.log(`Listed: ${properties.name}`);
}

const poller = await client.beginDeleteKey(keyName);
const deleted = await poller.pollUntilDone();
console.log(`Deleted: ${deleted.name} ${deleted.properties.recoveryId}`);
