//! The Rust SDK suite: `KeyClient` create, get, list, sign, verify, encrypt, decrypt, wrap,
//! unwrap, delete, get-deleted and recover against a running localhsm, with the credential
//! and trust the environment gives (`localhsm env`): `ManagedIdentityCredential`, the
//! platform verifier reading `SSL_CERT_FILE`, the vault at `AZURE_KEYVAULT_URL` with the
//! challenge-resource check on.
//!
//!     keys_suite                         # the SDK's defaults: no client options at all
//!     keys_suite --api-version 7.4       # the same calls at an older api-version
//!
//! Prints one line per check and closes with `N passed, N failed`; exits 1 on any failure.

use std::future::Future;
use std::pin::Pin;

use azure_core::http::StatusCode;
use azure_identity::ManagedIdentityCredential;
use azure_security_keyvault_keys::{
    models::{
        CreateKeyParameters, CurveName, EncryptionAlgorithm, KeyClientGetKeyOptions,
        KeyClientSignOptions, KeyClientWrapKeyOptions, KeyOperationParameters, KeyType,
        SignParameters, SignatureAlgorithm, VerifyParameters,
    },
    KeyClient, KeyClientOptions, ResourceExt as _,
};
use futures::TryStreamExt as _;
use sha2::{Digest as _, Sha256};

type Outcome = Result<(), Box<dyn std::error::Error>>;
type Check<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;

fn ensure(ok: bool, what: &str) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// A key name unique to this run and api-version (vault object names: `0-9a-zA-Z-`).
fn name(base: &str, tag: &str) -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or_default();
    format!("{base}-{tag}-{nonce}")
}

async fn create_get_list(client: &KeyClient, tag: &str) -> Outcome {
    let name = name("rsa", tag);
    let body = CreateKeyParameters {
        kty: Some(KeyType::Rsa),
        key_size: Some(2048),
        ..Default::default()
    };
    let key = client
        .create_key(&name, body.try_into()?, None)
        .await?
        .into_model()?;
    let jwk = key.key.as_ref().ok_or("no JWK in the created key")?;
    ensure(jwk.e == Some(vec![1, 0, 1]), "e is not 65537")?;
    ensure(
        jwk.n.as_ref().map(Vec::len) == Some(256),
        "n is not 2048 bits",
    )?;
    let id = key.resource_id()?;
    ensure(id.name == name, "the id names another key")?;
    let version = id.version.ok_or("the id has no version")?;

    let latest = client.get_key(&name, None).await?.into_model()?;
    ensure(
        latest.key.as_ref().and_then(|k| k.kid.clone()) == jwk.kid,
        "get returned another kid",
    )?;
    let pinned = client
        .get_key(
            &name,
            Some(KeyClientGetKeyOptions {
                key_version: Some(version.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    ensure(
        pinned.resource_id()?.version.as_deref() == Some(version.as_str()),
        "get by version",
    )?;

    let mut listed = false;
    let mut pager = client.list_key_properties(None)?.into_stream();
    while let Some(item) = pager.try_next().await? {
        listed |= item.resource_id()?.name == name;
    }
    ensure(listed, "the new key is not listed")
}

async fn sign_verify(client: &KeyClient, tag: &str) -> Outcome {
    let name = name("ec", tag);
    let body = CreateKeyParameters {
        kty: Some(KeyType::Ec),
        curve: Some(CurveName::P256),
        ..Default::default()
    };
    let key = client
        .create_key(&name, body.try_into()?, None)
        .await?
        .into_model()?;
    let version = key.resource_id()?.version.ok_or("no version")?;
    let digest = Sha256::digest(b"localhsm").to_vec();
    let signed = client
        .sign(
            &name,
            SignParameters {
                algorithm: Some(SignatureAlgorithm::Es256),
                value: Some(digest.clone()),
            }
            .try_into()?,
            Some(KeyClientSignOptions {
                key_version: Some(version.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    let signature = signed.result.ok_or("no signature")?;
    ensure(
        signature.len() == 64,
        "an ES256 signature is 64 bytes (r || s)",
    )?;
    let verify = |digest: Vec<u8>, signature: Vec<u8>| {
        let name = name.clone();
        let version = version.clone();
        async move {
            let params = VerifyParameters {
                algorithm: Some(SignatureAlgorithm::Es256),
                digest: Some(digest),
                signature: Some(signature),
            };
            client
                .verify(&name, &version, params.try_into()?, None)
                .await?
                .into_model()
                .map(|r| r.value)
        }
    };
    ensure(
        verify(digest.clone(), signature.clone()).await? == Some(true),
        "the signature does not verify",
    )?;
    let other = Sha256::digest(b"something else").to_vec();
    ensure(
        verify(other, signature).await? == Some(false),
        "a signature over another digest verifies",
    )
}

async fn wrap_unwrap_encrypt_decrypt(client: &KeyClient, tag: &str) -> Outcome {
    let name = name("kek", tag);
    let body = CreateKeyParameters {
        kty: Some(KeyType::Rsa),
        key_size: Some(2048),
        ..Default::default()
    };
    let key = client
        .create_key(&name, body.try_into()?, None)
        .await?
        .into_model()?;
    let version = key.resource_id()?.version.ok_or("no version")?;
    let dek: Vec<u8> = (0u8..32).collect();
    let mut params = KeyOperationParameters {
        algorithm: Some(EncryptionAlgorithm::RsaOaep256),
        value: Some(dek.clone()),
        ..Default::default()
    };
    let wrapped = client
        .wrap_key(
            &name,
            params.clone().try_into()?,
            Some(KeyClientWrapKeyOptions {
                key_version: Some(version.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    let wrapped = wrapped.result.ok_or("no wrapped key")?;
    ensure(
        wrapped.len() == 256 && wrapped != dek,
        "the wrapped key is not an RSA-2048 block",
    )?;
    params.value = Some(wrapped);
    let unwrapped = client
        .unwrap_key(&name, &version, params.clone().try_into()?, None)
        .await?
        .into_model()?;
    ensure(
        unwrapped.result.as_deref() == Some(dek.as_slice()),
        "unwrap did not give the key back",
    )?;

    params.value = Some(b"plaintext".to_vec());
    let encrypted = client
        .encrypt(&name, params.clone().try_into()?, None)
        .await?
        .into_model()?;
    params.value = encrypted.result;
    let decrypted = client
        .decrypt(&name, &version, params.try_into()?, None)
        .await?
        .into_model()?;
    ensure(
        decrypted.result.as_deref() == Some(b"plaintext".as_slice()),
        "decrypt did not give the plaintext back",
    )
}

async fn delete_recover(client: &KeyClient, tag: &str) -> Outcome {
    let name = name("del", tag);
    let body = CreateKeyParameters {
        kty: Some(KeyType::Ec),
        curve: Some(CurveName::P384),
        ..Default::default()
    };
    let key = client
        .create_key(&name, body.try_into()?, None)
        .await?
        .into_model()?;
    let deleted = client.delete_key(&name, None).await?.into_model()?;
    ensure(
        deleted
            .recovery_id
            .as_deref()
            .is_some_and(|r| r.ends_with(&format!("/deletedkeys/{name}"))),
        "no recovery id",
    )?;
    ensure(
        deleted.scheduled_purge_date.is_some(),
        "no scheduled purge date",
    )?;
    match client.get_key(&name, None).await {
        Err(e) if e.http_status() == Some(StatusCode::NotFound) => {}
        Err(e) => return Err(format!("get of a deleted key: {e}").into()),
        Ok(_) => return Err("a deleted key is still readable".into()),
    }
    let seen = client.get_deleted_key(&name, None).await?.into_model()?;
    ensure(
        seen.recovery_id == deleted.recovery_id,
        "get-deleted names another recovery id",
    )?;
    let recovered = client
        .recover_deleted_key(&name, None)
        .await?
        .into_model()?;
    ensure(
        recovered.key.as_ref().and_then(|k| k.kid.clone())
            == key.key.as_ref().and_then(|k| k.kid.clone()),
        "recover brought back another version",
    )?;
    let again = client.get_key(&name, None).await?.into_model()?;
    ensure(again.key.is_some(), "the recovered key is not readable")
}

async fn missing_key_is_404(client: &KeyClient, tag: &str) -> Outcome {
    match client.get_key(&name("missing", tag), None).await {
        Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(()),
        Err(e) => Err(format!("expected 404, got {e}").into()),
        Ok(_) => Err("a key that was never created was found".into()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let api_version = match args.as_slice() {
        [] => None,
        [flag, v] if flag == "--api-version" => Some(v.clone()),
        _ => {
            eprintln!("usage: keys_suite [--api-version VERSION]");
            return std::process::ExitCode::from(2);
        }
    };
    let Ok(vault_url) = std::env::var("AZURE_KEYVAULT_URL") else {
        eprintln!("AZURE_KEYVAULT_URL is not set (eval \"$(localhsm env)\")");
        return std::process::ExitCode::from(2);
    };
    let credential = match ManagedIdentityCredential::new(None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ManagedIdentityCredential: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Defaults: no options at all. Otherwise only the api-version differs.
    let options = api_version.clone().map(|v| KeyClientOptions {
        api_version: v,
        ..Default::default()
    });
    let client = match KeyClient::new(&vault_url, credential, options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("KeyClient::new: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let tag = api_version
        .as_deref()
        .unwrap_or("default")
        .replace('.', "-");
    let label = api_version.as_deref().unwrap_or("SDK default api-version");
    let checks: Vec<(&str, Check<'_>)> = vec![
        (
            "create, get and list",
            Box::pin(create_get_list(&client, &tag)),
        ),
        (
            "sign and verify (ES256)",
            Box::pin(sign_verify(&client, &tag)),
        ),
        (
            "wrap, unwrap, encrypt and decrypt (RSA-OAEP-256)",
            Box::pin(wrap_unwrap_encrypt_decrypt(&client, &tag)),
        ),
        (
            "delete, get deleted and recover",
            Box::pin(delete_recover(&client, &tag)),
        ),
        (
            "a missing key is 404",
            Box::pin(missing_key_is_404(&client, &tag)),
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (what, check) in checks {
        match check.await {
            Ok(()) => {
                passed += 1;
                println!("ok - {what} [{label}]");
            }
            Err(e) => {
                failed += 1;
                println!("not ok - {what} [{label}]: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
