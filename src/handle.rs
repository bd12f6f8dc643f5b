//! `KeyHandle`: a key version resolved once, its material unsealed in memory, ready for
//! sign / verify / encrypt / decrypt / wrap / unwrap without touching the store again; and
//! the cache of handles a store keeps.
//!
//! Layer: objects (the hot path of [`crate::keys`]). Imports the base layer and the
//! lifecycle's clock (`lifecycle::StoreTime`); holds a `KeyPolicy` value, never a
//! storage record.
//!
//! Every operation checks, in this order: the caller's grant (for handles resolved for a
//! caller), the key still exists, it is enabled, the time is within `nbf`..`exp`, and
//! `key_ops` permits the operation. The policy is shared by every clone of a handle and the
//! store updates it when the key changes (disable, delete, new `key_ops`), so a change
//! applies to handles already held.

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::clock::UnixTime;
use crate::crypto::{
    AesParams, Encrypted, EncryptionAlgorithm, KeyMaterial, KeyOperation, KeySpec, KeyType,
    SecretBytes, SignatureAlgorithm, WrapAlgorithm,
};
use crate::error::{Error, ObjectKind, Result};
use crate::lifecycle::StoreTime;
use crate::model::access::{DataAction, Grant};

/// What a key version permits right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPolicy {
    pub(crate) live: bool,
    pub(crate) enabled: bool,
    pub(crate) not_before: Option<UnixTime>,
    pub(crate) expires: Option<UnixTime>,
    pub(crate) key_ops: Vec<KeyOperation>,
}

impl KeyPolicy {
    /// The policy of a key that is gone (deleted, purged, or its vault deleted).
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

/// A [`KeyPolicy`] that every operation reads without a lock: a sequence lock over three
/// words. Writers (rare: a key change) make the sequence odd, write, and make it even
/// again; a reader retries while the sequence is odd or moved during its read, so it
/// never sees half a change.
struct PolicyCell {
    seq: AtomicU64,
    /// `LIVE | ENABLED | HAS_NBF | HAS_EXP` and one bit per permitted operation.
    flags: AtomicU64,
    not_before: AtomicU64,
    expires: AtomicU64,
}

const LIVE: u64 = 1 << 32;
const ENABLED: u64 = 1 << 33;
const HAS_NBF: u64 = 1 << 34;
const HAS_EXP: u64 = 1 << 35;

/// The bit of an operation in [`PolicyCell::flags`].
fn op_bit(op: KeyOperation) -> u64 {
    1 << match op {
        KeyOperation::Encrypt => 0,
        KeyOperation::Decrypt => 1,
        KeyOperation::Sign => 2,
        KeyOperation::Verify => 3,
        KeyOperation::WrapKey => 4,
        KeyOperation::UnwrapKey => 5,
        KeyOperation::Import => 6,
        KeyOperation::Export => 7,
    }
}

/// One consistent read of a [`PolicyCell`].
#[derive(Clone, Copy)]
struct PolicyWords {
    flags: u64,
    not_before: u64,
    expires: u64,
}

impl PolicyCell {
    fn new(policy: &KeyPolicy) -> Self {
        let cell = Self {
            seq: AtomicU64::new(0),
            flags: AtomicU64::new(0),
            not_before: AtomicU64::new(0),
            expires: AtomicU64::new(0),
        };
        cell.set(policy);
        cell
    }

    fn set(&self, p: &KeyPolicy) {
        let mut flags = p.key_ops.iter().fold(0, |f, op| f | op_bit(*op));
        for (on, bit) in [
            (p.live, LIVE),
            (p.enabled, ENABLED),
            (p.not_before.is_some(), HAS_NBF),
            (p.expires.is_some(), HAS_EXP),
        ] {
            if on {
                flags |= bit;
            }
        }
        // Take the write side: from even to odd, waiting out another writer.
        let mut seq = self.seq.load(Ordering::Relaxed);
        loop {
            if seq % 2 == 1 {
                std::hint::spin_loop();
                seq = self.seq.load(Ordering::Relaxed);
                continue;
            }
            match self
                .seq
                .compare_exchange_weak(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => seq = now,
            }
        }
        fence(Ordering::Release);
        self.flags.store(flags, Ordering::Relaxed);
        self.not_before
            .store(p.not_before.unwrap_or(0), Ordering::Relaxed);
        self.expires
            .store(p.expires.unwrap_or(0), Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    #[inline]
    fn get(&self) -> PolicyWords {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            let words = PolicyWords {
                flags: self.flags.load(Ordering::Relaxed),
                not_before: self.not_before.load(Ordering::Relaxed),
                expires: self.expires.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if before % 2 == 0 && self.seq.load(Ordering::Relaxed) == before {
                return words;
            }
            std::hint::spin_loop();
        }
    }
}

struct Inner {
    vault: String,
    name: String,
    version: String,
    kty: KeyType,
    material: KeyMaterial,
    policy: PolicyCell,
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

// The operations are `#[inline]`: each is one policy check and one call, and callers in
// other crates (servers, benchmarks) should not pay for a call and a moved result on top.
impl KeyHandle {
    pub(crate) fn new(
        (vault, name, version): (&str, &str, &str),
        kty: KeyType,
        policy: KeyPolicy,
        material: KeyMaterial,
        time: Arc<StoreTime>,
    ) -> Self {
        Self(
            Arc::new(Inner {
                vault: vault.to_string(),
                name: name.to_string(),
                version: version.to_string(),
                kty,
                material,
                policy: PolicyCell::new(&policy),
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

    fn set_policy(&self, policy: KeyPolicy) {
        self.0.policy.set(&policy);
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

    /// The material, for the fuzz targets' checks of what a restore produced.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn material(&self) -> &KeyMaterial {
        &self.0.material
    }

    /// Checks the operation against the caller's grant and the key's policy. The common
    /// case (no caller to check, a live and enabled key with no validity dates that permits
    /// the operation) is one read of the policy and one comparison, inlined; everything else
    /// goes to the full check.
    #[inline]
    fn authorize(&self, op: KeyOperation) -> Result<()> {
        if self.1.is_none() {
            let wanted = LIVE | ENABLED | op_bit(op);
            let flags = self.0.policy.get().flags;
            if flags & (wanted | HAS_NBF | HAS_EXP) == wanted {
                return Ok(());
            }
        }
        self.authorize_fully(op)
    }

    #[cold]
    fn authorize_fully(&self, op: KeyOperation) -> Result<()> {
        if let Some(access) = &self.1 {
            access
                .grant
                .require(data_action(op), &access.caller, &access.scope)?;
        }
        let p = self.0.policy.get();
        let operation = op.as_str();
        let kind = ObjectKind::Key;
        if p.flags & LIVE == 0 {
            return Err(Error::not_found(kind, &self.0.name, Some(&self.0.version)));
        }
        if p.flags & ENABLED == 0 {
            return Err(Error::Disabled { kind, operation });
        }
        if p.flags & (HAS_NBF | HAS_EXP) != 0 {
            let now = self.0.time.now();
            if p.flags & HAS_NBF != 0 && now < p.not_before {
                return Err(Error::NotYetValid { kind, operation });
            }
            if p.flags & HAS_EXP != 0 && now >= p.expires {
                return Err(Error::Expired { kind, operation });
            }
        }
        if p.flags & op_bit(op) == 0 {
            return Err(Error::OperationNotPermitted { operation });
        }
        Ok(())
    }

    /// The key's type and size: its curve, modulus bits or AES key bits (for faces that
    /// describe keys by size, such as PKCS#11's `CKA_VALUE_LEN` and `CKA_MODULUS_BITS`).
    pub fn spec(&self) -> KeySpec {
        self.0.material.spec()
    }

    /// Signs a digest the caller computed (its length must match `alg`'s hash). ECDSA
    /// signatures are raw `r||s`, as Key Vault returns them.
    #[inline]
    pub fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        self.authorize(KeyOperation::Sign)?;
        self.0.material.sign_digest(alg, digest)
    }

    /// Verifies a signature over a digest. `Ok(false)` when it does not verify.
    #[inline]
    pub fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
        self.authorize(KeyOperation::Verify)?;
        self.0.material.verify_digest(alg, digest, signature)
    }

    /// Signs `data` as given with RSASSA-PKCS1-v1_5 padding and no hash of its own: PKCS#11's
    /// `CKM_RSA_PKCS`, where the caller supplies the DigestInfo (of any hash, SHA-1 included)
    /// or other short data, at most the modulus length less 11 bytes. RSA keys only; the
    /// key's `sign` permission, `enabled`, `nbf` and `exp` apply as to [`KeyHandle::sign`].
    pub fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>> {
        self.authorize(KeyOperation::Sign)?;
        self.0.material.sign_pkcs1v15_raw(data)
    }

    /// Verifies a [`KeyHandle::sign_pkcs1v15_raw`] signature over `data`. `Ok(false)` when
    /// it does not verify.
    pub fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool> {
        self.authorize(KeyOperation::Verify)?;
        self.0.material.verify_pkcs1v15_raw(data, signature)
    }

    /// Encrypts. For AES, `params` may carry an IV (generated when absent) and, for GCM, AAD.
    #[inline]
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
    #[inline]
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
    #[inline]
    pub fn wrap_key(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        self.authorize(KeyOperation::WrapKey)?;
        self.0.material.wrap(alg, key)
    }

    /// Unwraps a wrapped key.
    #[inline]
    pub fn unwrap_key(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        self.authorize(KeyOperation::UnwrapKey)?;
        self.0.material.unwrap(alg, wrapped)
    }
}

/// The cached handles of one key.
struct CachedKey {
    current: String,
    versions: HashMap<String, KeyHandle>,
}

impl CachedKey {
    /// Makes every handle of the key refuse from now on (including clones held elsewhere).
    fn kill(&self) {
        for h in self.versions.values() {
            h.set_policy(KeyPolicy::dead());
        }
    }
}

/// A key's committed state, as [`HandleCache::reconcile`] applies it: its current
/// version and the policy of each version asked about (`None`: that version is gone).
pub(crate) struct KeyState {
    pub(crate) current: String,
    pub(crate) policies: Vec<(String, Option<KeyPolicy>)>,
}

/// Unsealed handles, by key id (`vault/name`), kept in step with the store: a key change
/// reconciles them under the cache's lock after it commits, and a cache miss reads the
/// committed state under the same lock, so no stale handle survives a concurrent change.
#[derive(Default)]
pub(crate) struct HandleCache {
    keys: RwLock<HashMap<Vec<u8>, CachedKey>>,
}

impl HandleCache {
    /// A cached handle of `version` (the current one when `None`).
    pub(crate) fn get(&self, id: &[u8], version: Option<&str>) -> Option<KeyHandle> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let entry = keys.get(id)?;
        entry
            .versions
            .get(version.unwrap_or(&entry.current))
            .cloned()
    }

    /// A handle on a cache miss: `load` reads the committed state and builds the handle,
    /// returning it with the key's current version.
    pub(crate) fn resolve(
        &self,
        id: &[u8],
        version: Option<&str>,
        load: impl FnOnce() -> Result<(String, KeyHandle)>,
    ) -> Result<KeyHandle> {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = keys.get(id) {
            if let Some(h) = entry.versions.get(version.unwrap_or(&entry.current)) {
                return Ok(h.clone());
            }
        }
        let (current, handle) = load()?;
        let entry = keys.entry(id.to_vec()).or_insert_with(|| CachedKey {
            current: current.clone(),
            versions: HashMap::new(),
        });
        entry.current = current;
        entry
            .versions
            .insert(handle.version().to_string(), handle.clone());
        Ok(handle)
    }

    /// Brings the cached handles of a key in line with its committed state, which `read`
    /// returns for the cached versions (`None`: the key is gone).
    pub(crate) fn reconcile(
        &self,
        id: &[u8],
        read: impl FnOnce(&[String]) -> Result<Option<KeyState>>,
    ) -> Result<()> {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = keys.get_mut(id) else {
            return Ok(());
        };
        let cached: Vec<String> = entry.versions.keys().cloned().collect();
        match read(&cached)? {
            None => {
                entry.kill();
                keys.remove(id);
            }
            Some(state) => {
                entry.current = state.current;
                for (version, policy) in state.policies {
                    if let Some(h) = entry.versions.get(&version) {
                        h.set_policy(policy.unwrap_or_else(KeyPolicy::dead));
                    }
                }
            }
        }
        Ok(())
    }

    /// The ids of the keys with cached handles.
    pub(crate) fn ids(&self) -> Vec<Vec<u8>> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.keys().cloned().collect()
    }

    /// Whether a key has cached handles.
    pub(crate) fn holds(&self, id: &[u8]) -> bool {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.contains_key(id)
    }

    /// Kills the cached handles of one key, whose state cannot be read now: a later call
    /// resolves it again from the store.
    pub(crate) fn forget_key(&self, id: &[u8]) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = keys.remove(id) {
            entry.kill();
        }
    }

    /// Kills every cached handle whose id starts with `prefix` (a deleted vault's).
    pub(crate) fn forget(&self, prefix: &[u8]) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.retain(|id, entry| {
            if id.starts_with(prefix) {
                entry.kill();
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(
        enabled: bool,
        nbf: Option<u64>,
        exp: Option<u64>,
        ops: &[KeyOperation],
    ) -> KeyPolicy {
        KeyPolicy {
            live: true,
            enabled,
            not_before: nbf,
            expires: exp,
            key_ops: ops.to_vec(),
        }
    }

    #[test]
    fn the_cell_reads_back_what_was_set() {
        let p = policy(
            true,
            Some(5),
            None,
            &[KeyOperation::Sign, KeyOperation::Export],
        );
        let cell = PolicyCell::new(&p);
        let w = cell.get();
        assert_eq!(
            w.flags & (LIVE | ENABLED | HAS_NBF | HAS_EXP),
            LIVE | ENABLED | HAS_NBF
        );
        assert_eq!(w.not_before, 5);
        assert!(w.flags & op_bit(KeyOperation::Sign) != 0);
        assert!(w.flags & op_bit(KeyOperation::Export) != 0);
        assert!(w.flags & op_bit(KeyOperation::Verify) == 0);
        cell.set(&KeyPolicy::dead());
        assert_eq!(cell.get().flags, 0);
    }

    #[test]
    fn readers_never_see_half_a_change() {
        // Two policies whose words differ everywhere: a torn read mixes them.
        let a = policy(true, Some(1), Some(2), &[KeyOperation::Sign]);
        let b = policy(
            false,
            Some(3),
            None,
            &[KeyOperation::Verify, KeyOperation::WrapKey],
        );
        let words = |p: &KeyPolicy| {
            let w = PolicyCell::new(p).get();
            (w.flags, w.not_before, w.expires)
        };
        let (wa, wb) = (words(&a), words(&b));
        let cell = Arc::new(PolicyCell::new(&a));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (cell, stop, reads) = (cell.clone(), stop.clone(), reads.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let w = cell.get();
                        let got = (w.flags, w.not_before, w.expires);
                        assert!(got == wa || got == wb, "torn read {got:?}");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Keep changing the policy until the readers have read it many times meanwhile.
        let mut writes = 0u64;
        while writes < 20_000 || reads.load(Ordering::Relaxed) < 100_000 {
            cell.set(if writes % 2 == 0 { &b } else { &a });
            writes += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("a reader saw a torn policy");
        }
    }
}
