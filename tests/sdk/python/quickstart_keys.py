"""The azure-keyvault-keys quickstart, written as its documentation writes it.

Application code with nothing local about it: DefaultAzureCredential, a KeyClient for the
vault URL the environment names (AZURE_KEYVAULT_URL), no client options. It creates an
RSA key, reads it back, signs and verifies with it, lists the vault's keys and deletes it.
test_quickstart.py runs it unchanged, configured only by the environment `localhsm env`
prints.

    python quickstart_keys.py KEY_NAME
"""

import hashlib
import os
import sys

from azure.identity import DefaultAzureCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

key_name = sys.argv[1]
vault_url = os.environ["AZURE_KEYVAULT_URL"]

credential = DefaultAzureCredential()
client = KeyClient(vault_url=vault_url, credential=credential)

print(f"Creating a key in {vault_url} called '{key_name}' ...")
rsa_key = client.create_rsa_key(key_name, size=2048)
print(f"Created: {rsa_key.id} ({rsa_key.key_type})")

retrieved_key = client.get_key(key_name)
print(f"Retrieved: {retrieved_key.name} {retrieved_key.properties.version}")

crypto_client = CryptographyClient(retrieved_key, credential=credential)
digest = hashlib.sha256(b"Hello, Key Vault").digest()
result = crypto_client.sign(SignatureAlgorithm.rs256, digest)
verified = crypto_client.verify(result.algorithm, digest, result.signature)
print(f"Verified: {verified.is_valid}")

for key in client.list_properties_of_keys():
    print(f"Listed: {key.name}")

print(f"Deleting your key from {vault_url} ...")
poller = client.begin_delete_key(key_name)
deleted_key = poller.result()
print(f"Deleted: {deleted_key.name} {deleted_key.recovery_id}")
