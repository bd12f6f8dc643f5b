//! `KeyHandle`: a key version resolved once, its material unsealed in memory, ready for
//! sign / verify / encrypt / decrypt / wrap / unwrap without touching the store again.
//!
//! Every operation checks, in this order: the key still exists, it is enabled, the time is
//! within `nbf`..`exp`, and `key_ops` permits the operation. The policy is shared with the
//! store, so a change to the key (disable, delete, new `key_ops`) applies to handles already
//! held.

use std::sync::{Arc, RwLock};

use crate::clock::UnixTime;
use crate::crypto::{
    AesParams, Encrypted, EncryptionAlgorithm, KeyMaterial, KeyOperation, KeyType, SecretBytes,
    SignatureAlgorithm, WrapAlgorithm,
};
use crate::error::{Error, Result};
use crate::rbac::{DataAction, Grant};
use crate::store::records::VersionRecord;
use crate::store::StoreTime;

/// What a handle may do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    live: bool,
    enabled: bool,
    not_before: Option<UnixTime>,
    expires: Option<UnixTime>,
    key_ops: Vec<KeyOperation>,
}

impl Policy {
    pub(crate) fn from_record(r: &VersionRecord) -> Self {
        Self {
            live: true,
            enabled: r.enabled,
            not_before: r.not_before,
            expires: r.expires,
            key_ops: r.key_ops.clone(),
        }
    }

    pub(crate) fn dead() -> Self {
        Self {
            live: false,
            enabled: false,
            not_before: None,
            expires: None,
            key_ops: Vec::new(),
        }
    }
}

struct Inner {
    vault: String,
    name: String,
    version: String,
    kty: KeyType,
    material: KeyMaterial,
    policy: RwLock<Policy>,
    time: Arc<StoreTime>,
}

/// What the caller a handle was resolved for may do with it.
#[derive(Debug)]
struct Access {
    grant: Grant,
    caller: String,
    scope: String,
}

/// A resolved key version. Cheap to clone; clones share the material and the policy.
/// Private material never leaves it.
///
/// A handle resolved through a vault acting for a caller ([`crate::Store::vault_as`])
/// carries that caller's permissions at the key's scope, checked on every operation.
#[derive(Clone)]
pub struct KeyHandle(Arc<Inner>, Option<Arc<Access>>);

impl std::fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHandle")
            .field("vault", &self.0.vault)
            .field("name", &self.0.name)
            .field("version", &self.0.version)
            .field("kty", &self.0.kty)
            .finish_non_exhaustive()
    }
}

fn op_name(op: KeyOperation) -> &'static str {
    op.as_str()
}

fn data_action(op: KeyOperation) -> DataAction {
    match op {
        KeyOperation::Encrypt => DataAction::Encrypt,
        KeyOperation::Decrypt => DataAction::Decrypt,
        KeyOperation::Sign => DataAction::Sign,
        KeyOperation::Verify => DataAction::Verify,
        KeyOperation::WrapKey => DataAction::Wrap,
        KeyOperation::UnwrapKey => DataAction::Unwrap,
        KeyOperation::Import => DataAction::KeysImport,
        KeyOperation::Export => DataAction::KeysExport,
    }
}

impl KeyHandle {
    pub(crate) fn new(
        vault: &str,
        name: &str,
        version: &str,
        record: &VersionRecord,
        material: KeyMaterial,
        time: Arc<StoreTime>,
    ) -> Self {
        Self(
            Arc::new(Inner {
                vault: vault.to_string(),
                name: name.to_string(),
                version: version.to_string(),
                kty: record.kty,
                material,
                policy: RwLock::new(Policy::from_record(record)),
                time,
            }),
            None,
        )
    }

    /// This handle, restricted to what `grant` allows.
    pub(crate) fn with_access(self, grant: Grant, caller: String, scope: String) -> Self {
        Self(
            self.0,
            Some(Arc::new(Access {
                grant,
                caller,
                scope,
            })),
        )
    }

    pub(crate) fn set_policy(&self, policy: Policy) {
        *self.0.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The vault name.
    pub fn vault(&self) -> &str {
        &self.0.vault
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The version id.
    pub fn version(&self) -> &str {
        &self.0.version
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.0.kty
    }

    pub(crate) fn material(&self) -> &KeyMaterial {
        &self.0.material
    }

    fn authorize(&self, op: KeyOperation) -> Result<()> {
        if let Some(access) = &self.1 {
            access
                .grant
                .require(data_action(op), &access.caller, &access.scope)?;
        }
        let p = self.0.policy.read().unwrap_or_else(|p| p.into_inner());
        let operation = op_name(op);
        if !p.live {
            return Err(Error::KeyNotFound {
                name: self.0.name.clone(),
                version: Some(self.0.version.clone()),
            });
        }
        if !p.enabled {
            return Err(Error::KeyDisabled { operation });
        }
        if p.not_before.is_some() || p.expires.is_some() {
            let now = self.0.time.now();
            if p.not_before.is_some_and(|nbf| now < nbf) {
                return Err(Error::KeyNotYetValid { operation });
            }
            if p.expires.is_some_and(|exp| now >= exp) {
                return Err(Error::KeyExpired { operation });
            }
        }
        if !p.key_ops.contains(&op) {
            return Err(Error::OperationNotPermitted { operation });
        }
        Ok(())
    }

    /// Signs a digest the caller computed (its length must match `alg`'s hash). ECDSA
    /// signatures are raw `r||s`, as Key Vault returns them.
    pub fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        self.authorize(KeyOperation::Sign)?;
        self.0.material.sign_digest(alg, digest)
    }

    /// Verifies a signature over a digest. `Ok(false)` when it does not verify.
    pub fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
        self.authorize(KeyOperation::Verify)?;
        self.0.material.verify_digest(alg, digest, signature)
    }

    /// Encrypts. For AES, `params` may carry an IV (generated when absent) and, for GCM, AAD.
    pub fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted> {
        self.authorize(KeyOperation::Encrypt)?;
        self.0.material.encrypt(alg, plaintext, params)
    }

    /// Decrypts. For AES, `params` carries the IV, and for GCM the AAD and tag.
    pub fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes> {
        self.authorize(KeyOperation::Decrypt)?;
        self.0.material.decrypt(alg, ciphertext, params)
    }

    /// Wraps (encrypts) a key.
    pub fn wrap_key(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        self.authorize(KeyOperation::WrapKey)?;
        self.0.material.wrap(alg, key)
    }

    /// Unwraps a wrapped key.
    pub fn unwrap_key(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        self.authorize(KeyOperation::UnwrapKey)?;
        self.0.material.unwrap(alg, wrapped)
    }
}
