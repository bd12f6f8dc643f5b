//! The `azure_security_keyvault_keys` README's code, unchanged but for the credential: the
//! README's `DeveloperToolsCredential` runs the Azure CLI, and the README recommends a
//! managed identity outside development, so this uses `ManagedIdentityCredential`, which
//! reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` as App Service sets them (and as
//! `localhsm env` prints them). The vault URL comes from `AZURE_KEYVAULT_URL`, the name the
//! SDK's own tests read. No client option is set.

use azure_identity::ManagedIdentityCredential;
use azure_security_keyvault_keys::{
    models::{
        CreateKeyParameters, CurveName, KeyClientSignOptions, KeyType, SignParameters,
        SignatureAlgorithm, VerifyParameters,
    },
    KeyClient, ResourceExt,
};
use futures::TryStreamExt as _;
use sha2::{Digest as _, Sha256};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vault_url = std::env::var("AZURE_KEYVAULT_URL")?;
    let key_name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "key-name".to_string());

    // Create a new key client
    let credential = ManagedIdentityCredential::new(None)?;
    let client = KeyClient::new(&vault_url, credential.clone(), None)?;

    // Create an EC key.
    let body = CreateKeyParameters {
        kty: Some(KeyType::Ec),
        curve: Some(CurveName::P256),
        ..Default::default()
    };
    let key = client
        .create_key(&key_name, body.try_into()?, None)
        .await?
        .into_model()?;
    println!(
        "Key Name: {:?}, Type: {:?}, Version: {:?}",
        key.resource_id()?.name,
        key.key.as_ref().map(|k| k.kty.as_ref()),
        key.resource_id()?.version,
    );
    let key_version = key.resource_id()?.version.unwrap_or_default();

    // Retrieve a key.
    let key = client.get_key(&key_name, None).await?.into_model()?;
    println!("Retrieved: {}", key.resource_id()?.name);

    // Sign a digest and verify the signature.
    let digest = Sha256::digest(b"plaintext").to_vec();
    let signed = client
        .sign(
            &key_name,
            SignParameters {
                algorithm: Some(SignatureAlgorithm::Es256),
                value: Some(digest.clone()),
            }
            .try_into()?,
            Some(KeyClientSignOptions {
                key_version: Some(key_version.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    let verified = client
        .verify(
            &key_name,
            &key_version,
            VerifyParameters {
                algorithm: Some(SignatureAlgorithm::Es256),
                digest: Some(digest),
                signature: signed.result,
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    println!("Verified: {:?}", verified.value);

    // List keys.
    let mut pager = client.list_key_properties(None)?.into_stream();
    while let Some(key) = pager.try_next().await? {
        println!("Listed: {}", key.resource_id()?.name);
    }

    // Delete a key.
    let deleted = client.delete_key(&key_name, None).await?.into_model()?;
    println!("Deleted: {:?}", deleted.recovery_id);
    Ok(())
}
