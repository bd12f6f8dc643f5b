//! The module's state: the open store, its vaults as slots, sessions, who is logged in to
//! which token, and the object handles handed out. Safe code only; [`crate::ffi`] calls it.
//!
//! Locking: `Shared` (slots, logins, sessions, handles) is held only for short lookups and
//! never while a session's operations are locked or a key is used, so a slow signature or
//! PIN check in one thread does not hold up another. Each session's operations sit behind
//! their own mutex, so sessions are safe to use from many threads (`CKF_OS_LOCKING_OK`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use cryptoki_sys::*;
use localhsm::crypto::pin::{hash_pin, verify_pin, MAX_PIN_LEN, MIN_PIN_LEN};
use localhsm::crypto::{
    Base64Url, Jwk, KeyFamily, KeyOperation, KeySpec, KeyType, SecretBase64Url, SecretBytes,
};
use localhsm::model::certificates::CertificateBundle;
use localhsm::model::{KeyBundle, KeyOptions, TokenPins, VaultKind};
use localhsm::{Error, Store};
use zeroize::Zeroizing;

use crate::backend::{InProcess, Key, TokenBackend};
use crate::config::Config;
use crate::mechanisms::{
    op_error, store_error, wrap_algorithm, CipherOp, DigestOp, Mechanism, SignOp, MECHANISMS, R,
};
use crate::objects::{
    certificate_object, curve_of_params, data_object, family_of_key_type, key_id, key_objects,
    Object, ObjectRef, Template, ID_TAG,
};
use crate::remote::{Remote, RemoteBackend};

static MODULE: RwLock<Option<Arc<Module>>> = RwLock::new(None);

/// A module inherited across `fork` belongs to the parent: its store's background threads
/// did not come along, and touching it could block forever. The child sees the module as
/// not initialized, as PKCS#11 asks, and must call `C_Initialize` itself.
fn inherited(m: &Module) -> bool {
    m.pid != std::process::id()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread was caught at the boundary; the state it left is still
    // consistent (every change below is a single insert or remove).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes one line to stderr, the only channel a PKCS#11 module has for saying why it
/// failed. Never given a secret.
pub fn log(message: &str) {
    eprintln!("localhsm-pkcs11: {message}");
}

/// The open module.
pub struct Module {
    pid: u32,
    backend: Box<dyn TokenBackend>,
    shared: Mutex<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Vault names; a slot's ID is its index plus one. Only grows, so IDs stay put.
    slots: Vec<String>,
    logins: HashMap<CK_SLOT_ID, CK_USER_TYPE>,
    sessions: HashMap<CK_SESSION_HANDLE, Arc<SessionEntry>>,
    next_session: CK_SESSION_HANDLE,
    objects: HashMap<CK_OBJECT_HANDLE, ObjectRef>,
    handles: HashMap<ObjectRef, CK_OBJECT_HANDLE>,
    next_object: CK_OBJECT_HANDLE,
}

impl Shared {
    fn handle_for(&mut self, target: ObjectRef) -> CK_OBJECT_HANDLE {
        if let Some(h) = self.handles.get(&target) {
            return *h;
        }
        self.next_object += 1;
        let h = self.next_object;
        self.objects.insert(h, target.clone());
        self.handles.insert(target, h);
        h
    }

    fn logged_in(&self, slot: CK_SLOT_ID) -> Option<CK_USER_TYPE> {
        self.logins.get(&slot).copied()
    }
}

/// A session: fixed facts, and its operations behind their own lock.
pub struct SessionEntry {
    /// The slot it was opened on.
    pub slot: CK_SLOT_ID,
    /// The slot's vault.
    pub vault: String,
    /// Whether it is read/write.
    pub rw: bool,
    /// The operations in progress.
    pub ops: Mutex<Operations>,
}

/// A session's operations in progress.
#[derive(Default)]
pub struct Operations {
    /// `C_FindObjects` results not yet returned.
    pub find: Option<VecDeque<CK_OBJECT_HANDLE>>,
    /// `C_SignInit`.
    pub sign: Option<SignOp>,
    /// `C_VerifyInit`.
    pub verify: Option<SignOp>,
    /// `C_EncryptInit`.
    pub encrypt: Option<CipherOp>,
    /// `C_DecryptInit`.
    pub decrypt: Option<CipherOp>,
    /// `C_DigestInit`.
    pub digest: Option<DigestOp>,
}

/// What `C_GetTokenInfo` reports that the store decides.
#[derive(Debug)]
pub struct TokenState {
    /// The vault's name (the token label).
    pub label: String,
    /// `vault` or `managedhsm`.
    pub kind: &'static str,
    /// `CKF_*` flags.
    pub flags: CK_FLAGS,
    /// Open sessions on the token.
    pub sessions: CK_ULONG,
    /// Open read/write sessions on the token.
    pub rw_sessions: CK_ULONG,
}

/// Opens the store and makes the module ready (`C_Initialize`).
pub fn initialize(config: Config) -> R<()> {
    let mut slot = MODULE.write().unwrap_or_else(|p| p.into_inner());
    match slot.take() {
        Some(m) if inherited(&m) => {
            // The parent's store: dropping it here would wait on threads this process
            // does not have, so it is left alone.
            std::mem::forget(m);
        }
        Some(m) => {
            *slot = Some(m);
            return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
        }
        None => {}
    }
    let module = Module {
        pid: std::process::id(),
        backend: open_backend(config)?,
        shared: Mutex::new(Shared::default()),
    };
    module.refresh_slots()?;
    *slot = Some(Arc::new(module));
    Ok(())
}

/// The store in the configured data directory: opened here, or, when a running
/// `localhsm serve` holds it, reached through that server as the store's owner.
fn open_backend(config: Config) -> R<Box<dyn TokenBackend>> {
    let dir = config.data.clone();
    let held = match Store::builder(&dir).master_key(config.master_key).open() {
        Ok(store) => return Ok(Box::new(InProcess::new(store))),
        Err(Error::StoreLocked { .. }) => Remote::find(&dir),
        Err(e) => {
            log(&format!("cannot open the store in {}: {e}", dir.display()));
            return Err(CKR_DEVICE_ERROR);
        }
    };
    match held {
        Ok(Some(remote)) => Ok(Box::new(RemoteBackend::new(remote))),
        Ok(None) => {
            log(&format!(
                "the store in {} is held by another process that is not a server (another \
                 program using this module, or a CLI command): stop it, or run `localhsm \
                 serve` on the directory so that this module goes through it",
                dir.display()
            ));
            Err(CKR_DEVICE_ERROR)
        }
        Err(why) => {
            log(&format!(
                "the store in {} is held by a running server this module cannot use: {why}",
                dir.display()
            ));
            Err(CKR_DEVICE_ERROR)
        }
    }
}

/// Closes every session and the store (`C_Finalize`).
pub fn finalize() -> R<()> {
    let module = MODULE
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)?;
    if inherited(&module) {
        std::mem::forget(module);
        return Err(CKR_CRYPTOKI_NOT_INITIALIZED);
    }
    // Sessions hold key handles, not the store; the store closes with the last clone.
    lock(&module.shared).sessions.clear();
    drop(module);
    Ok(())
}

/// The initialized module.
pub fn get() -> R<Arc<Module>> {
    MODULE
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .filter(|m| !inherited(m))
        .ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)
}

fn check_pin_len(pin: &[u8]) -> R<()> {
    if (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(CKR_PIN_LEN_RANGE)
    }
}

fn check_pin(pin: &[u8], hash: &str) -> R<()> {
    match verify_pin(pin, hash) {
        Ok(true) => Ok(()),
        Ok(false) => Err(CKR_PIN_INCORRECT),
        Err(_) => Err(CKR_DEVICE_ERROR),
    }
}

fn new_pin_hash(pin: &[u8]) -> R<String> {
    check_pin_len(pin)?;
    hash_pin(pin).map_err(|_| CKR_DEVICE_ERROR)
}

impl Module {
    /// Adds slots for vaults created since the last look.
    fn refresh_slots(&self) -> R<()> {
        let vaults = self.backend.vault_names().map_err(store_error)?;
        let mut shared = lock(&self.shared);
        for v in vaults {
            if !shared.slots.contains(&v) {
                shared.slots.push(v);
            }
        }
        Ok(())
    }

    /// The slots, all or only those whose vault is live (`tokenPresent`).
    pub fn slot_list(&self, token_present: bool) -> R<Vec<CK_SLOT_ID>> {
        self.refresh_slots()?;
        let names = lock(&self.shared).slots.clone();
        Ok(names
            .iter()
            .enumerate()
            .filter(|(_, n)| !token_present || self.live(n))
            .map(|(i, _)| i as CK_SLOT_ID + 1)
            .collect())
    }

    /// The vault of a slot.
    pub fn slot_vault(&self, slot: CK_SLOT_ID) -> R<String> {
        let shared = lock(&self.shared);
        (slot as usize)
            .checked_sub(1)
            .and_then(|i| shared.slots.get(i))
            .cloned()
            .ok_or(CKR_SLOT_ID_INVALID)
    }

    /// Whether the slot's vault is live.
    pub fn token_present(&self, slot: CK_SLOT_ID) -> R<bool> {
        let name = self.slot_vault(slot)?;
        Ok(self.live(&name))
    }

    fn live(&self, vault: &str) -> bool {
        self.backend
            .vault_info(vault)
            .is_ok_and(|i| i.deleted_date.is_none())
    }

    fn pins(&self, vault: &str) -> R<TokenPins> {
        self.backend.token_pins(vault).map_err(store_error)
    }

    /// What the token of `slot` reports.
    pub fn token_state(&self, slot: CK_SLOT_ID) -> R<TokenState> {
        let name = self.slot_vault(slot)?;
        let info = self.backend.vault_info(&name).map_err(store_error)?;
        if info.deleted_date.is_some() {
            return Err(CKR_TOKEN_NOT_PRESENT);
        }
        let pins = self.pins(&name)?;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED;
        if pins.so.is_some() {
            flags |= CKF_TOKEN_INITIALIZED;
        }
        if pins.user.is_some() {
            flags |= CKF_USER_PIN_INITIALIZED;
        }
        let shared = lock(&self.shared);
        let on_slot = || shared.sessions.values().filter(|s| s.slot == slot);
        Ok(TokenState {
            label: info.name,
            kind: match info.kind {
                VaultKind::ManagedHsm => "managedhsm",
                _ => "vault",
            },
            flags,
            sessions: on_slot().count() as CK_ULONG,
            rw_sessions: on_slot().filter(|s| s.rw).count() as CK_ULONG,
        })
    }

    /// The mechanisms the token of `slot` offers: a vault of kind `vault` holds no oct keys
    /// (as in Key Vault), so its token has no AES mechanisms.
    pub fn mechanisms(
        &self,
        slot: CK_SLOT_ID,
    ) -> R<Vec<(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)>> {
        let name = self.slot_vault(slot)?;
        let kind = self.backend.vault_info(&name).map_err(store_error)?.kind;
        Ok(MECHANISMS
            .iter()
            .filter(|m| kind == VaultKind::ManagedHsm || !is_aes(m.0))
            .copied()
            .collect())
    }

    /// `C_InitToken`: sets the SO PIN of the slot's vault and clears its user PIN. The
    /// vault's keys stay: they belong to the vault, which other faces share, and a PKCS#11
    /// call should not destroy them. A token already initialized needs its SO PIN.
    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> R<()> {
        let name = self.slot_vault(slot)?;
        if !self.token_present(slot)? {
            return Err(CKR_TOKEN_NOT_PRESENT);
        }
        let label = label.trim_end_matches([' ', '\0']);
        if !label.is_empty() && !label.eq_ignore_ascii_case(&name) {
            log(&format!(
                "C_InitToken: the token's label is its vault's name ({name}), not {label:?}"
            ));
            return Err(CKR_ARGUMENTS_BAD);
        }
        if lock(&self.shared).sessions.values().any(|s| s.slot == slot) {
            return Err(CKR_SESSION_EXISTS);
        }
        let pins = self.pins(&name)?;
        if let Some(so) = &pins.so {
            check_pin(so_pin, so)?;
        }
        let so = new_pin_hash(so_pin)?;
        self.backend
            .set_token_pins(
                &name,
                TokenPins {
                    so: Some(so),
                    user: None,
                },
            )
            .map_err(store_error)?;
        lock(&self.shared).logins.remove(&slot);
        Ok(())
    }

    /// `C_OpenSession`.
    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> R<CK_SESSION_HANDLE> {
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        let vault = self.slot_vault(slot)?;
        if !self.token_present(slot)? {
            return Err(CKR_TOKEN_NOT_PRESENT);
        }
        let rw = flags & CKF_RW_SESSION != 0;
        let mut shared = lock(&self.shared);
        if !rw && shared.logged_in(slot) == Some(CKU_SO) {
            return Err(CKR_SESSION_READ_WRITE_SO_EXISTS);
        }
        shared.next_session += 1;
        let h = shared.next_session;
        shared.sessions.insert(
            h,
            Arc::new(SessionEntry {
                slot,
                vault,
                rw,
                ops: Mutex::new(Operations::default()),
            }),
        );
        Ok(h)
    }

    /// A session.
    pub fn session(&self, h: CK_SESSION_HANDLE) -> R<Arc<SessionEntry>> {
        lock(&self.shared)
            .sessions
            .get(&h)
            .cloned()
            .ok_or(CKR_SESSION_HANDLE_INVALID)
    }

    /// `C_CloseSession`. Closing a token's last session logs it out.
    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> R<()> {
        let mut shared = lock(&self.shared);
        let s = shared
            .sessions
            .remove(&h)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        if !shared.sessions.values().any(|o| o.slot == s.slot) {
            shared.logins.remove(&s.slot);
        }
        Ok(())
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> R<()> {
        self.slot_vault(slot)?;
        let mut shared = lock(&self.shared);
        shared.sessions.retain(|_, s| s.slot != slot);
        shared.logins.remove(&slot);
        Ok(())
    }

    /// `C_GetSessionInfo`: the session's slot, state and flags.
    pub fn session_info(&self, h: CK_SESSION_HANDLE) -> R<(CK_SLOT_ID, CK_STATE, CK_FLAGS)> {
        let s = self.session(h)?;
        let login = lock(&self.shared).logged_in(s.slot);
        let state = match (s.rw, login) {
            (false, None) => CKS_RO_PUBLIC_SESSION,
            (false, Some(_)) => CKS_RO_USER_FUNCTIONS,
            (true, None) => CKS_RW_PUBLIC_SESSION,
            (true, Some(CKU_SO)) => CKS_RW_SO_FUNCTIONS,
            (true, Some(_)) => CKS_RW_USER_FUNCTIONS,
        };
        let flags = CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 };
        Ok((s.slot, state, flags))
    }

    /// `C_Login`. The PIN is checked against its slow hash without holding any lock.
    pub fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> R<()> {
        let s = self.session(h)?;
        {
            let shared = lock(&self.shared);
            match (shared.logged_in(s.slot), user) {
                (Some(CKU_USER), CKU_USER) | (Some(CKU_SO), CKU_SO) => {
                    return Err(CKR_USER_ALREADY_LOGGED_IN)
                }
                (Some(_), CKU_USER | CKU_SO) => return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
                (_, CKU_CONTEXT_SPECIFIC) => return Err(CKR_OPERATION_NOT_INITIALIZED),
                (_, CKU_USER | CKU_SO) => {}
                _ => return Err(CKR_USER_TYPE_INVALID),
            }
            if user == CKU_SO && shared.sessions.values().any(|o| o.slot == s.slot && !o.rw) {
                return Err(CKR_SESSION_READ_ONLY_EXISTS);
            }
        }
        let pins = self.pins(&s.vault)?;
        let hash = if user == CKU_SO { pins.so } else { pins.user };
        check_pin(pin, &hash.ok_or(CKR_USER_PIN_NOT_INITIALIZED)?)?;
        let mut shared = lock(&self.shared);
        if shared.logged_in(s.slot).is_some() {
            return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
        }
        shared.logins.insert(s.slot, user);
        Ok(())
    }

    /// `C_Logout`.
    pub fn logout(&self, h: CK_SESSION_HANDLE) -> R<()> {
        let s = self.session(h)?;
        lock(&self.shared)
            .logins
            .remove(&s.slot)
            .map(|_| ())
            .ok_or(CKR_USER_NOT_LOGGED_IN)
    }

    /// `C_InitPIN`: the SO sets the user PIN.
    pub fn init_pin(&self, h: CK_SESSION_HANDLE, pin: &[u8]) -> R<()> {
        let s = self.session(h)?;
        if lock(&self.shared).logged_in(s.slot) != Some(CKU_SO) || !s.rw {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        let mut pins = self.pins(&s.vault)?;
        pins.user = Some(new_pin_hash(pin)?);
        self.backend
            .set_token_pins(&s.vault, pins)
            .map_err(store_error)
    }

    /// `C_SetPIN`: the SO's PIN when the SO is logged in, else the user's.
    pub fn set_pin(&self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> R<()> {
        let s = self.session(h)?;
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let so = lock(&self.shared).logged_in(s.slot) == Some(CKU_SO);
        let mut pins = self.pins(&s.vault)?;
        let slot = if so { &mut pins.so } else { &mut pins.user };
        check_pin(old, slot.as_deref().ok_or(CKR_USER_PIN_NOT_INITIALIZED)?)?;
        *slot = Some(new_pin_hash(new)?);
        self.backend
            .set_token_pins(&s.vault, pins)
            .map_err(store_error)
    }

    fn is_hsm(&self, s: &SessionEntry) -> R<bool> {
        let info = self.backend.vault_info(&s.vault).map_err(store_error)?;
        Ok(info.kind == VaultKind::ManagedHsm)
    }

    fn user_logged_in(&self, s: &SessionEntry) -> bool {
        lock(&self.shared).logged_in(s.slot) == Some(CKU_USER)
    }

    fn require_user(&self, s: &SessionEntry) -> R<()> {
        if self.user_logged_in(s) {
            Ok(())
        } else {
            Err(CKR_USER_NOT_LOGGED_IN)
        }
    }

    /// Every object of the session's token the session may see.
    fn visible_objects(&self, s: &SessionEntry) -> R<Vec<Object>> {
        let vault = &s.vault;
        let private = self.user_logged_in(s);
        let mut out = Vec::new();
        for (b, spec) in self.backend.keys(vault).map_err(store_error)? {
            out.extend(
                key_objects(&b, spec)
                    .into_iter()
                    .filter(|o| private || !o.target.is_private()),
            );
        }
        let certificates = match self.backend.certificates(vault) {
            Ok(c) => c,
            // A Managed HSM holds no certificates (nor secrets).
            Err(Error::NotSupportedByVaultKind { .. }) => return Ok(out),
            Err(e) => return Err(store_error(e)),
        };
        for b in &certificates {
            out.extend(certificate_object(b, self.certificate_id(vault, b)));
        }
        if !private {
            return Ok(out);
        }
        match self.backend.secrets(vault) {
            // Listed without values: a value is unsealed only when it is read.
            Ok(secrets) => out.extend(secrets.iter().map(data_object)),
            Err(Error::NotSupportedByVaultKind { .. }) => {}
            Err(e) => return Err(store_error(e)),
        }
        Ok(out)
    }

    /// The `CKA_ID` of a certificate: its key's (same name and version), else the version.
    fn certificate_id(&self, vault: &str, b: &CertificateBundle) -> Vec<u8> {
        match self.backend.get_key(vault, &b.name, Some(&b.version)) {
            Ok((key, _)) => key_id(&key),
            Err(_) => hex::decode(&b.version).unwrap_or_else(|_| b.version.as_bytes().to_vec()),
        }
    }

    /// The object behind a handle, as the session may see it.
    pub fn object(&self, s: &SessionEntry, h: CK_OBJECT_HANDLE) -> R<Object> {
        let target = lock(&self.shared)
            .objects
            .get(&h)
            .cloned()
            .ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        if target.vault != s.vault || (target.is_private() && !self.user_logged_in(s)) {
            return Err(CKR_OBJECT_HANDLE_INVALID);
        }
        let (backend, vault) = (&self.backend, &s.vault);
        let gone = |e| match e {
            Error::NotFound { .. } | Error::IsDeleted { .. } => CKR_OBJECT_HANDLE_INVALID,
            e => store_error(e),
        };
        match target.class {
            CKO_CERTIFICATE => {
                let b = backend
                    .get_certificate(vault, &target.name, Some(&target.version))
                    .map_err(gone)?;
                return certificate_object(&b, self.certificate_id(vault, &b))
                    .ok_or(CKR_OBJECT_HANDLE_INVALID);
            }
            CKO_DATA => {
                let b = match backend.get_secret(vault, &target.name, Some(&target.version)) {
                    Ok(b) => b,
                    Err(Error::NotExportable | Error::Disabled { .. }) => backend
                        .get_secret_properties(vault, &target.name, Some(&target.version))
                        .map_err(gone)?,
                    Err(e) => return Err(gone(e)),
                };
                return Ok(data_object(&b));
            }
            _ => {}
        }
        let (bundle, spec) = backend
            .get_key(vault, &target.name, Some(&target.version))
            .map_err(gone)?;
        key_objects(&bundle, spec)
            .into_iter()
            .find(|o| o.target.class == target.class)
            .ok_or(CKR_OBJECT_HANDLE_INVALID)
    }

    /// `C_FindObjectsInit`: the matching objects, kept in the session.
    pub fn find_init(&self, s: &SessionEntry, template: &Template) -> R<()> {
        let mut ops = lock(&s.ops);
        if ops.find.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let found = self
            .visible_objects(s)?
            .into_iter()
            .filter(|o| o.matches(&template.0))
            .map(|o| o.target.clone())
            .collect::<Vec<_>>();
        let mut shared = lock(&self.shared);
        ops.find = Some(found.into_iter().map(|t| shared.handle_for(t)).collect());
        Ok(())
    }

    /// The key handle behind an object, for an operation that needs `op`: private and
    /// secret keys need the user logged in, and the object must be of a class that does `op`.
    pub fn key_handle(&self, s: &SessionEntry, h: CK_OBJECT_HANDLE, op: KeyOperation) -> R<Key> {
        // Only the handle table and the vault's handle cache: building the whole object
        // (reading the key's record, encoding its attributes) here cost as much as an ES256
        // signature. `Vault::key` still refuses a key that is gone (CKR_KEY_HANDLE_INVALID
        // through `op_error`), and the handle applies the key's current policy.
        let target = lock(&self.shared)
            .objects
            .get(&h)
            .cloned()
            .ok_or(CKR_KEY_HANDLE_INVALID)?;
        if target.vault != s.vault || (target.is_private() && !self.user_logged_in(s)) {
            return Err(CKR_KEY_HANDLE_INVALID);
        }
        let class_ok = match target.class {
            CKO_PRIVATE_KEY => matches!(
                op,
                KeyOperation::Sign | KeyOperation::Decrypt | KeyOperation::UnwrapKey
            ),
            CKO_PUBLIC_KEY => matches!(
                op,
                KeyOperation::Verify | KeyOperation::Encrypt | KeyOperation::WrapKey
            ),
            CKO_SECRET_KEY => true,
            // A certificate or a data object is no key.
            _ => return Err(CKR_KEY_HANDLE_INVALID),
        };
        if !class_ok {
            return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
        }
        self.backend
            .key(&s.vault, &target.name, Some(&target.version))
            .map_err(op_error)
    }

    /// `C_GenerateKeyPair` (EC and RSA).
    pub fn generate_key_pair(
        &self,
        s: &SessionEntry,
        m: &Mechanism,
        public: &Template,
        private: &Template,
    ) -> R<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let spec = match m.ty {
            CKM_EC_KEY_PAIR_GEN => {
                let params = public
                    .bytes(CKA_EC_PARAMS)
                    .or_else(|| private.bytes(CKA_EC_PARAMS))
                    .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
                KeySpec::Ec(curve_of_params(params).ok_or(CKR_CURVE_NOT_SUPPORTED)?)
            }
            CKM_RSA_PKCS_KEY_PAIR_GEN => {
                let bits = public
                    .ulong(CKA_MODULUS_BITS)?
                    .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
                if !matches!(bits, 2048 | 3072 | 4096) {
                    return Err(CKR_KEY_SIZE_RANGE);
                }
                if let Some(e) = public.bytes(CKA_PUBLIC_EXPONENT) {
                    // Key Vault's RSA keys all have e = 65537.
                    let start = e.iter().position(|b| *b != 0).unwrap_or(e.len());
                    if e[start..] != [1, 0, 1] {
                        return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                    }
                }
                KeySpec::Rsa(bits as usize)
            }
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        if m.params != crate::mechanisms::Params::None {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        let bundle = self.create(s, spec, &[private, public])?;
        let mut shared = lock(&self.shared);
        let objects = key_objects(&bundle, spec);
        let mut handle = |class| {
            objects
                .iter()
                .find(|o| o.target.class == class)
                .map(|o| shared.handle_for(o.target.clone()))
                .ok_or(CKR_GENERAL_ERROR)
        };
        let private = handle(CKO_PRIVATE_KEY)?;
        Ok((handle(CKO_PUBLIC_KEY)?, private))
    }

    /// `C_GenerateKey` (AES).
    pub fn generate_key(
        &self,
        s: &SessionEntry,
        m: &Mechanism,
        template: &Template,
    ) -> R<CK_OBJECT_HANDLE> {
        if m.ty != CKM_AES_KEY_GEN {
            return Err(CKR_MECHANISM_INVALID);
        }
        if m.params != crate::mechanisms::Params::None {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        let len = template
            .ulong(CKA_VALUE_LEN)?
            .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        if !matches!(len, 16 | 24 | 32) {
            return Err(CKR_KEY_SIZE_RANGE);
        }
        let spec = KeySpec::Oct(len as usize * 8);
        let bundle = self.create(s, spec, &[template])?;
        self.single_handle(&bundle, spec)
    }

    fn single_handle(&self, bundle: &KeyBundle, spec: KeySpec) -> R<CK_OBJECT_HANDLE> {
        let object = key_objects(bundle, spec)
            .into_iter()
            .next()
            .ok_or(CKR_GENERAL_ERROR)?;
        Ok(lock(&self.shared).handle_for(object.target.clone()))
    }

    /// What a key-making call may ask for: a token object, never extractable (the store's
    /// exportable keys need a release policy, which PKCS#11 cannot give), `key_ops` from
    /// the `CKA_SIGN` ... `CKA_UNWRAP` flags, the label as name and `CKA_ID` as a tag.
    fn key_options(
        family: KeyFamily,
        kty: KeyType,
        templates: &[&Template],
    ) -> R<(Option<String>, KeyOptions)> {
        use KeyOperation::*;
        let mut label = None;
        let mut options = KeyOptions::default();
        let mut ops = kty.default_ops();
        let possible: &[KeyOperation] = match family {
            KeyFamily::Ec => &[Sign, Verify],
            KeyFamily::Rsa => &[Sign, Verify, Encrypt, Decrypt, WrapKey, UnwrapKey],
            KeyFamily::Oct => &[Encrypt, Decrypt, WrapKey, UnwrapKey],
        };
        for t in templates {
            if t.bool(CKA_TOKEN)? == Some(false) {
                log("session objects (CKA_TOKEN false) are not supported: keys live in the vault");
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            if t.bool(CKA_EXTRACTABLE)? == Some(true) || t.bool(CKA_SENSITIVE)? == Some(false) {
                log("keys made through PKCS#11 are sensitive and never extractable");
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            // There is no context-specific login to enforce it with: refused, never dropped.
            if t.bool(CKA_ALWAYS_AUTHENTICATE)? == Some(true) {
                log("CKA_ALWAYS_AUTHENTICATE is not supported (no CKU_CONTEXT_SPECIFIC login)");
                return Err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            // CKA_DERIVE is asked for by tools that default to every usage (pkcs11-tool
            // does for EC keys); no derive mechanism is offered, and the key's CKA_DERIVE
            // reads false, so the request is dropped rather than failing the whole key.
            let _ = t.bool(CKA_DERIVE)?;
            for (attr, op) in [
                (CKA_SIGN, Sign),
                (CKA_VERIFY, Verify),
                (CKA_ENCRYPT, Encrypt),
                (CKA_DECRYPT, Decrypt),
                (CKA_WRAP, WrapKey),
                (CKA_UNWRAP, UnwrapKey),
            ] {
                match t.bool(attr)? {
                    Some(true) if !possible.contains(&op) => return Err(CKR_TEMPLATE_INCONSISTENT),
                    Some(true) if !ops.contains(&op) => ops.push(op),
                    Some(false) => ops.retain(|o| *o != op),
                    _ => {}
                }
            }
            if label.is_none() {
                if let Some(l) = t.bytes(CKA_LABEL) {
                    label = Some(
                        String::from_utf8(l.to_vec()).map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?,
                    );
                }
            }
            if let Some(id) = t.bytes(CKA_ID) {
                options.tags.insert(ID_TAG.to_string(), hex::encode(id));
            }
        }
        options.key_ops = Some(ops);
        Ok((label, options))
    }

    /// A new key (or a new version of the key with that label) of `spec` in the session's
    /// vault.
    fn create(&self, s: &SessionEntry, spec: KeySpec, templates: &[&Template]) -> R<KeyBundle> {
        self.require_user(s)?;
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let hsm = self.is_hsm(s)?;
        let (family, kty) = match (spec, hsm) {
            (KeySpec::Ec(_), false) => (KeyFamily::Ec, KeyType::Ec),
            (KeySpec::Ec(_), true) => (KeyFamily::Ec, KeyType::EcHsm),
            (KeySpec::Rsa(_), false) => (KeyFamily::Rsa, KeyType::Rsa),
            (KeySpec::Rsa(_), true) => (KeyFamily::Rsa, KeyType::RsaHsm),
            (KeySpec::Oct(_), false) => (KeyFamily::Oct, KeyType::Oct),
            (KeySpec::Oct(_), true) => (KeyFamily::Oct, KeyType::OctHsm),
        };
        let (label, options) = Self::key_options(family, kty, templates)?;
        let name = match label {
            Some(l) => l,
            None => generated_name()?,
        };
        self.backend
            .create_key(&s.vault, &name, kty, spec, options)
            .map_err(keygen_error)
    }

    /// `C_DestroyObject`: the vault's soft delete of the whole key (every version, both
    /// halves of a pair), certificate (with its key and secret) or secret, under its
    /// retention and purge protection. A certificate's own key and secret are refused, as
    /// the vault refuses them.
    pub fn destroy(&self, s: &SessionEntry, h: CK_OBJECT_HANDLE) -> R<()> {
        self.require_user(s)?;
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let object = self.object(s, h)?;
        let (vault, name) = (&s.vault, &object.target.name);
        match object.target.class {
            CKO_CERTIFICATE => self.backend.delete_certificate(vault, name),
            CKO_DATA => self.backend.delete_secret(vault, name),
            _ => self.backend.delete_key(vault, name),
        }
        .map_err(store_error)
    }

    /// `C_WrapKey`: wraps an AES key the vault lets out (an exportable one).
    pub fn wrap_key(
        &self,
        s: &SessionEntry,
        m: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
    ) -> R<Vec<u8>> {
        let wrapper = self.key_handle(s, wrapping, KeyOperation::WrapKey)?;
        let alg = wrap_algorithm(m, &wrapper)?;
        let target = self
            .object(s, key)
            .map_err(|_| CKR_KEY_HANDLE_INVALID)?
            .target
            .clone();
        if target.class != CKO_SECRET_KEY {
            return Err(CKR_KEY_NOT_WRAPPABLE);
        }
        let exported = self
            .backend
            .export_key(&s.vault, &target.name, Some(&target.version))
            .map_err(|e| match e {
                Error::NotExportable | Error::AccessDenied { .. } => CKR_KEY_UNEXTRACTABLE,
                e => store_error(e),
            })?;
        let k = exported.key.k.as_ref().ok_or(CKR_KEY_NOT_WRAPPABLE)?;
        wrapper.wrap_key(alg, k.0.expose()).map_err(op_error)
    }

    /// `C_UnwrapKey`: unwraps an AES key into a new key (or version) of the vault.
    pub fn unwrap_key(
        &self,
        s: &SessionEntry,
        m: &Mechanism,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Template,
    ) -> R<CK_OBJECT_HANDLE> {
        if template
            .ulong(CKA_CLASS)?
            .is_some_and(|c| c != CKO_SECRET_KEY)
            || template
                .ulong(CKA_KEY_TYPE)?
                .is_some_and(|t| family_of_key_type(t) != Some(KeyFamily::Oct))
        {
            log("C_UnwrapKey makes AES keys only");
            return Err(CKR_TEMPLATE_INCONSISTENT);
        }
        self.require_user(s)?;
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let unwrapper = self.key_handle(s, unwrapping, KeyOperation::UnwrapKey)?;
        let alg = wrap_algorithm(m, &unwrapper)?;
        let plain = unwrapper.unwrap_key(alg, wrapped).map_err(|e| match e {
            Error::CryptoFailure | Error::BadParameter(_) => CKR_WRAPPED_KEY_INVALID,
            e => op_error(e),
        })?;
        if !matches!(plain.len(), 16 | 24 | 32) {
            return Err(CKR_WRAPPED_KEY_LEN_RANGE);
        }
        if let Some(len) = template.ulong(CKA_VALUE_LEN)? {
            if len as usize != plain.len() {
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
        }
        let spec = KeySpec::Oct(plain.len() * 8);
        let bundle = self.import_secret(s, plain, template)?;
        self.single_handle(&bundle, spec)
    }

    fn import_secret(
        &self,
        s: &SessionEntry,
        value: SecretBytes,
        template: &Template,
    ) -> R<KeyBundle> {
        let jwk = Jwk {
            kty: Some(KeyType::Oct),
            k: Some(SecretBase64Url(value)),
            ..Jwk::default()
        };
        self.import(s, KeyFamily::Oct, jwk, template)
    }

    /// Imports `jwk` (with its private members) as a new key, or a new version of the key the
    /// template's label names, with the template's usage flags and `CKA_ID`.
    fn import(
        &self,
        s: &SessionEntry,
        family: KeyFamily,
        jwk: Jwk,
        template: &Template,
    ) -> R<KeyBundle> {
        let hsm = self.is_hsm(s)?;
        let kty = match (family, hsm) {
            (KeyFamily::Ec, false) => KeyType::Ec,
            (KeyFamily::Ec, true) => KeyType::EcHsm,
            (KeyFamily::Rsa, false) => KeyType::Rsa,
            (KeyFamily::Rsa, true) => KeyType::RsaHsm,
            (KeyFamily::Oct, false) => KeyType::Oct,
            (KeyFamily::Oct, true) => KeyType::OctHsm,
        };
        let (label, options) = Self::key_options(family, kty, &[template])?;
        let name = match label {
            Some(l) => l,
            None => generated_name()?,
        };
        // The operations travel in the JWK too, for a backend that sends the JWK alone.
        let mut jwk = jwk;
        jwk.key_ops.clone_from(&options.key_ops);
        self.backend
            .import_key(&s.vault, &name, &jwk, hsm, options)
            .map_err(keygen_error)
    }

    /// The JWK of an EC private key template: `CKA_EC_PARAMS` and `CKA_VALUE` (the scalar).
    /// The public point is derived from the scalar (a `CKA_EC_POINT` is not needed).
    fn ec_private_jwk(template: &Template) -> R<Jwk> {
        let params = template
            .bytes(CKA_EC_PARAMS)
            .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let crv = curve_of_params(params).ok_or(CKR_CURVE_NOT_SUPPORTED)?;
        let d = template.bytes(CKA_VALUE).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        Ok(Jwk {
            kty: Some(KeyType::Ec),
            crv: Some(crv),
            d: Some(SecretBase64Url(SecretBytes::from_slice(d))),
            ..Jwk::default()
        })
    }

    /// The JWK of an RSA private key template: modulus, public and private exponents and
    /// both primes; the CRT values all or none.
    fn rsa_private_jwk(template: &Template) -> R<Jwk> {
        let public = |ty| {
            template
                .bytes(ty)
                .map(|b| Base64Url(b.to_vec()))
                .ok_or(CKR_TEMPLATE_INCOMPLETE)
        };
        let secret = |ty| {
            template
                .bytes(ty)
                .map(|b| SecretBase64Url(SecretBytes::from_slice(b)))
        };
        let required = |ty| secret(ty).ok_or(CKR_TEMPLATE_INCOMPLETE);
        Ok(Jwk {
            kty: Some(KeyType::Rsa),
            n: Some(public(CKA_MODULUS)?),
            e: Some(public(CKA_PUBLIC_EXPONENT)?),
            d: Some(required(CKA_PRIVATE_EXPONENT)?),
            p: Some(required(CKA_PRIME_1)?),
            q: Some(required(CKA_PRIME_2)?),
            dp: secret(CKA_EXPONENT_1),
            dq: secret(CKA_EXPONENT_2),
            qi: secret(CKA_COEFFICIENT),
            ..Jwk::default()
        })
    }

    /// `C_CreateObject`: imports an AES key (`CKA_VALUE`), or an EC or RSA private key (the
    /// vault keeps the pair; its public key object comes with it). A public key alone is
    /// refused: a vault's keys are pairs.
    pub fn create_object(&self, s: &SessionEntry, template: &Template) -> R<CK_OBJECT_HANDLE> {
        let (family, class) = match (template.ulong(CKA_CLASS)?, template.ulong(CKA_KEY_TYPE)?) {
            (Some(CKO_SECRET_KEY), Some(CKK_AES)) => (KeyFamily::Oct, CKO_SECRET_KEY),
            (Some(CKO_PRIVATE_KEY), Some(CKK_EC)) => (KeyFamily::Ec, CKO_PRIVATE_KEY),
            (Some(CKO_PRIVATE_KEY), Some(CKK_RSA)) => (KeyFamily::Rsa, CKO_PRIVATE_KEY),
            (None, _) | (Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY), None) => {
                return Err(CKR_TEMPLATE_INCOMPLETE)
            }
            (Some(CKO_PUBLIC_KEY), _) => {
                log("C_CreateObject: a public key alone cannot be imported (a vault's keys are pairs); import the private key");
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            _ => {
                log("C_CreateObject imports AES keys and EC and RSA private keys");
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
        };
        self.require_user(s)?;
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let bundle = match family {
            KeyFamily::Oct => {
                let value = template.bytes(CKA_VALUE).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
                if !matches!(value.len(), 16 | 24 | 32) {
                    return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
                let bundle = self.import_secret(s, SecretBytes::from_slice(value), template)?;
                return self.single_handle(&bundle, KeySpec::Oct(value.len() * 8));
            }
            KeyFamily::Ec => self.import(s, family, Self::ec_private_jwk(template)?, template)?,
            KeyFamily::Rsa => self.import(s, family, Self::rsa_private_jwk(template)?, template)?,
        };
        let (_, spec) = self
            .backend
            .get_key(&s.vault, &bundle.name, Some(&bundle.version))
            .map_err(store_error)?;
        let object = key_objects(&bundle, spec)
            .into_iter()
            .find(|o| o.target.class == class)
            .ok_or(CKR_GENERAL_ERROR)?;
        Ok(lock(&self.shared).handle_for(object.target.clone()))
    }
}

fn is_aes(m: CK_MECHANISM_TYPE) -> bool {
    matches!(
        m,
        CKM_AES_KEY_GEN | CKM_AES_GCM | CKM_AES_CBC_PAD | CKM_AES_KEY_WRAP
    )
}

/// A name for a key whose template gave no label.
fn generated_name() -> R<String> {
    let bytes = Zeroizing::new(localhsm::crypto::random_bytes(8).map_err(|_| CKR_DEVICE_ERROR)?);
    Ok(format!("pkcs11-{}", hex::encode(&*bytes)))
}

fn keygen_error(e: Error) -> CK_RV {
    match e {
        Error::BadParameter(ref why) => {
            log(&format!("the key was not made: {why}"));
            CKR_ATTRIBUTE_VALUE_INVALID
        }
        Error::IsDeleted { .. } => {
            log("a deleted key holds that label until it is recovered or purged");
            CKR_ATTRIBUTE_VALUE_INVALID
        }
        e => store_error(e),
    }
}
