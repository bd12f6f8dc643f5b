//! Where the module's tokens live, behind one seam: [`TokenBackend`] is what [`crate::module`]
//! asks of a store (vaults, their keys, certificates and secrets, the token PINs), and
//! [`KeyOps`] what [`crate::mechanisms`] asks of a key. [`InProcess`] answers from a store this
//! process opened, with the core's [`KeyHandle`] as the key, and records what it does in the
//! vault's access log (when the vault keeps one) as the store's owner: the local user who
//! holds the data directory and its master key, as the CLI acts in process.
//!
//! Errors are the core's [`Error`], so the mapping to `CKR_*` is the same whichever backend
//! answered.

use std::sync::Arc;

use localhsm::audit::CallRecord;
use localhsm::crypto::{
    AesParams, Encrypted, EncryptionAlgorithm, Jwk, KeyFamily, KeySpec, KeyType, SecretBytes,
    SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::model::certificates::CertificateBundle;
use localhsm::model::{Caller, KeyBundle, KeyOptions, SecretBundle, TokenPins, VaultInfo};
use localhsm::{Error, KeyHandle, Store, Vault};

/// The result of a backend call.
pub type Result<T> = std::result::Result<T, Error>;

/// A key's cryptographic operations, each under the key's own policy (`key_ops`, `enabled`,
/// `nbf`/`exp`), wherever the key lives.
pub trait KeyOps: Send + Sync {
    /// The key's type and size.
    fn spec(&self) -> KeySpec;
    /// Signs a digest.
    fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>>;
    /// Verifies a signature over a digest.
    fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool>;
    /// Encrypts.
    fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted>;
    /// Decrypts.
    fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes>;
    /// Wraps a key.
    fn wrap_key(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>>;
    /// Unwraps a key.
    fn unwrap_key(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes>;
    /// Signs `data` as given with RSASSA-PKCS1-v1_5 padding (`CKM_RSA_PKCS` over a
    /// DigestInfo that is not SHA-2's, or other data; Key Vault's `RSNULL`).
    fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>>;
    /// Verifies a [`KeyOps::sign_pkcs1v15_raw`] signature.
    fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool>;
}

/// A key an operation runs on.
pub type Key = Arc<dyn KeyOps>;

impl KeyOps for KeyHandle {
    fn spec(&self) -> KeySpec {
        KeyHandle::spec(self)
    }

    fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        KeyHandle::sign(self, alg, digest)
    }

    fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
        KeyHandle::verify(self, alg, digest, signature)
    }

    fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted> {
        KeyHandle::encrypt(self, alg, plaintext, params)
    }

    fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes> {
        KeyHandle::decrypt(self, alg, ciphertext, params)
    }

    fn wrap_key(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        KeyHandle::wrap_key(self, alg, key)
    }

    fn unwrap_key(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        KeyHandle::unwrap_key(self, alg, wrapped)
    }

    fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>> {
        KeyHandle::sign_pkcs1v15_raw(self, data)
    }

    fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool> {
        KeyHandle::verify_pkcs1v15_raw(self, data, signature)
    }
}

/// What the module needs of a store. Every call names the vault (the token) it is about.
pub trait TokenBackend: Send + Sync {
    /// The names of the live vaults.
    fn vault_names(&self) -> Result<Vec<String>>;
    /// A vault's settings (deleted or not).
    fn vault_info(&self, vault: &str) -> Result<VaultInfo>;
    /// The token PINs' hashes.
    fn token_pins(&self, vault: &str) -> Result<TokenPins>;
    /// Replaces the token PINs' hashes.
    fn set_token_pins(&self, vault: &str, pins: TokenPins) -> Result<()>;

    /// Every live key's current version, with its type and size.
    fn keys(&self, vault: &str) -> Result<Vec<(KeyBundle, KeySpec)>>;
    /// A key version, with its type and size.
    fn get_key(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<(KeyBundle, KeySpec)>;
    /// A key version to run operations on.
    fn key(&self, vault: &str, name: &str, version: Option<&str>) -> Result<Key>;
    /// Makes a key, or a new version of one.
    fn create_key(
        &self,
        vault: &str,
        name: &str,
        kty: KeyType,
        spec: KeySpec,
        options: KeyOptions,
    ) -> Result<KeyBundle>;
    /// Imports a key, or a new version of one.
    fn import_key(
        &self,
        vault: &str,
        name: &str,
        jwk: &Jwk,
        hsm: bool,
        options: KeyOptions,
    ) -> Result<KeyBundle>;
    /// Soft-deletes a key.
    fn delete_key(&self, vault: &str, name: &str) -> Result<()>;
    /// A key version with its private members, if the vault lets it out.
    fn export_key(&self, vault: &str, name: &str, version: Option<&str>) -> Result<KeyBundle>;

    /// Every live certificate's current version (`NotSupportedByVaultKind` in a Managed HSM).
    fn certificates(&self, vault: &str) -> Result<Vec<CertificateBundle>>;
    /// A certificate version.
    fn get_certificate(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<CertificateBundle>;
    /// Soft-deletes a certificate with its key and secret.
    fn delete_certificate(&self, vault: &str, name: &str) -> Result<()>;

    /// Every live secret's current version, without values (`NotSupportedByVaultKind` in a
    /// Managed HSM).
    fn secrets(&self, vault: &str) -> Result<Vec<SecretBundle>>;
    /// A secret version with its value.
    fn get_secret(&self, vault: &str, name: &str, version: Option<&str>) -> Result<SecretBundle>;
    /// A secret version without its value.
    fn get_secret_properties(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<SecretBundle>;
    /// Soft-deletes a secret.
    fn delete_secret(&self, vault: &str, name: &str) -> Result<()>;
}

/// A page size for walking a listing.
const PAGE: usize = 100;

/// Collects every page of a listing.
fn all<T>(
    mut page: impl FnMut(Option<&str>) -> Result<localhsm::model::Page<T>>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let p = page(next.as_deref())?;
        out.extend(p.items);
        match p.next {
            Some(n) => next = Some(n),
            None => return Ok(out),
        }
    }
}

/// The store, opened by this process.
pub struct InProcess {
    store: Store,
    log: Arc<AccessLog>,
}

/// Where the in-process module's calls are recorded: the vault's access log, as the owner.
struct AccessLog {
    store: Store,
    caller: Caller,
}

impl AccessLog {
    /// Records `operation` on `resource` (`/keys/NAME[/VERSION]`, ...) in `vault`'s log, with
    /// the status and Key Vault code the server would have answered.
    fn record<T>(&self, vault: &str, operation: &str, resource: &str, outcome: &Result<T>) {
        let (status, code) = match outcome {
            Ok(_) => (200, None),
            Err(e) => {
                let w = e.wire();
                (w.status, Some(w.code))
            }
        };
        let call = CallRecord {
            caller: &self.caller,
            operation,
            api_version: "",
            resource_id: resource.to_string(),
            status,
            error_code: code,
            duration_ms: 0,
            request_id: "",
            request_uri: resource,
        };
        // A log that cannot be written does not undo or fail what was done (the server
        // answers the same way).
        if let Err(e) = self.store.record_access(vault, call) {
            eprintln!("localhsm PKCS#11: could not write the access log of {vault}: {e}");
        }
    }
}

/// A key of [`InProcess`]: its handle, and the log its operations go to.
struct LoggedKey {
    handle: KeyHandle,
    log: Arc<AccessLog>,
    vault: String,
    resource: String,
}

impl LoggedKey {
    fn logged<T>(&self, operation: &str, outcome: Result<T>) -> Result<T> {
        self.log
            .record(&self.vault, operation, &self.resource, &outcome);
        outcome
    }
}

impl KeyOps for LoggedKey {
    fn spec(&self) -> KeySpec {
        self.handle.spec()
    }

    fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        self.logged("KeySign", self.handle.sign(alg, digest))
    }

    fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
        self.logged("KeyVerify", self.handle.verify(alg, digest, signature))
    }

    fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted> {
        self.logged("KeyEncrypt", self.handle.encrypt(alg, plaintext, params))
    }

    fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes> {
        self.logged("KeyDecrypt", self.handle.decrypt(alg, ciphertext, params))
    }

    fn wrap_key(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        self.logged("KeyWrap", self.handle.wrap_key(alg, key))
    }

    fn unwrap_key(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        self.logged("KeyUnwrap", self.handle.unwrap_key(alg, wrapped))
    }

    fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>> {
        self.logged("KeySign", self.handle.sign_pkcs1v15_raw(data))
    }

    fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool> {
        self.logged(
            "KeyVerify",
            self.handle.verify_pkcs1v15_raw(data, signature),
        )
    }
}

/// The owner as the server names it: the object ID no token can claim, and the local user.
fn owner() -> Caller {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "local".into());
    Caller {
        object_id: Some(localhsm::model::access::OWNER_OID.to_string()),
        upn: Some(format!("{user}@localhost")),
        ..Caller::local()
    }
}

impl InProcess {
    /// Wraps an open store.
    pub fn new(store: Store) -> Self {
        let log = Arc::new(AccessLog {
            store: store.clone(),
            caller: owner(),
        });
        Self { store, log }
    }

    /// Records a call on `kind/name` in `vault`'s access log.
    fn logged<T>(&self, vault: &str, operation: &str, path: &str, outcome: Result<T>) -> Result<T> {
        self.log.record(vault, operation, path, &outcome);
        outcome
    }

    fn vault(&self, name: &str) -> Result<Vault> {
        self.store.vault(name)
    }

    fn spec_of(vault: &Vault, b: &KeyBundle) -> Result<KeySpec> {
        match b.kty.family() {
            KeyFamily::Ec => b
                .key
                .crv
                .map(KeySpec::Ec)
                .ok_or_else(|| Error::bad_parameter("an EC key without a curve")),
            KeyFamily::Rsa => Ok(KeySpec::Rsa(
                b.key.n.as_ref().map(|n| n.0.len() * 8).unwrap_or(0),
            )),
            // The public JWK of an oct key says nothing of its size; the handle knows it.
            KeyFamily::Oct => vault.key(&b.name, Some(&b.version)).map(|k| k.spec()),
        }
    }
}

impl TokenBackend for InProcess {
    fn vault_names(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .list_vaults()?
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    fn vault_info(&self, vault: &str) -> Result<VaultInfo> {
        self.store.vault_info(vault)
    }

    fn token_pins(&self, vault: &str) -> Result<TokenPins> {
        self.store.token_pins(vault)
    }

    fn set_token_pins(&self, vault: &str, pins: TokenPins) -> Result<()> {
        self.store.set_token_pins(vault, pins)
    }

    fn keys(&self, vault: &str) -> Result<Vec<(KeyBundle, KeySpec)>> {
        let v = self.vault(vault)?;
        all(|next| v.list_keys(PAGE, next))?
            .into_iter()
            .map(|b| Self::spec_of(&v, &b).map(|s| (b, s)))
            .collect()
    }

    fn get_key(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<(KeyBundle, KeySpec)> {
        let v = self.vault(vault)?;
        let b = v.get_key(name, version)?;
        let spec = Self::spec_of(&v, &b)?;
        Ok((b, spec))
    }

    fn key(&self, vault: &str, name: &str, version: Option<&str>) -> Result<Key> {
        let handle = self.vault(vault)?.key(name, version)?;
        let resource = format!("/keys/{name}/{}", handle.version());
        Ok(Arc::new(LoggedKey {
            handle,
            log: self.log.clone(),
            vault: vault.to_string(),
            resource,
        }))
    }

    fn create_key(
        &self,
        vault: &str,
        name: &str,
        kty: KeyType,
        spec: KeySpec,
        options: KeyOptions,
    ) -> Result<KeyBundle> {
        let made = self
            .vault(vault)
            .and_then(|v| v.create_key(name, kty, spec, options));
        self.logged(vault, "KeyCreate", &format!("/keys/{name}"), made)
    }

    fn import_key(
        &self,
        vault: &str,
        name: &str,
        jwk: &Jwk,
        hsm: bool,
        options: KeyOptions,
    ) -> Result<KeyBundle> {
        let made = self
            .vault(vault)
            .and_then(|v| v.import_key(name, jwk, hsm, options));
        self.logged(vault, "KeyImport", &format!("/keys/{name}"), made)
    }

    fn delete_key(&self, vault: &str, name: &str) -> Result<()> {
        let done = self.vault(vault).and_then(|v| v.delete_key(name));
        self.logged(vault, "KeyDelete", &format!("/keys/{name}"), done)
            .map(|_| ())
    }

    fn export_key(&self, vault: &str, name: &str, version: Option<&str>) -> Result<KeyBundle> {
        localhsm::hazmat::export_private_key(&self.vault(vault)?, name, version)
    }

    fn certificates(&self, vault: &str) -> Result<Vec<CertificateBundle>> {
        let v = self.vault(vault)?;
        all(|next| v.list_certificates(PAGE, next, false))
    }

    fn get_certificate(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<CertificateBundle> {
        self.vault(vault)?.get_certificate(name, version)
    }

    fn delete_certificate(&self, vault: &str, name: &str) -> Result<()> {
        let done = self.vault(vault).and_then(|v| v.delete_certificate(name));
        self.logged(
            vault,
            "CertificateDelete",
            &format!("/certificates/{name}"),
            done,
        )
        .map(|_| ())
    }

    fn secrets(&self, vault: &str) -> Result<Vec<SecretBundle>> {
        let v = self.vault(vault)?;
        all(|next| v.list_secrets(PAGE, next))
    }

    fn get_secret(&self, vault: &str, name: &str, version: Option<&str>) -> Result<SecretBundle> {
        let got = self.vault(vault).and_then(|v| v.get_secret(name, version));
        self.logged(vault, "SecretGet", &format!("/secrets/{name}"), got)
    }

    fn get_secret_properties(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<SecretBundle> {
        self.vault(vault)?.get_secret_properties(name, version)
    }

    fn delete_secret(&self, vault: &str, name: &str) -> Result<()> {
        let done = self.vault(vault).and_then(|v| v.delete_secret(name));
        self.logged(vault, "SecretDelete", &format!("/secrets/{name}"), done)
            .map(|_| ())
    }
}
