//! The C boundary: every exported `C_*` function. Each one checks its pointers and lengths,
//! copies what it reads out of the caller's memory, calls the safe [`crate::module`], and
//! writes results back under PKCS#11's output-buffer convention: a NULL buffer asks for the
//! length, a short one gets `CKR_BUFFER_TOO_SMALL` and the length needed. Panics are caught
//! here and become `CKR_GENERAL_ERROR`; nothing unwinds into C. This is the only module with
//! `unsafe` code.
//!
//! Functions the module does not implement return `CKR_FUNCTION_NOT_SUPPORTED`.

#![allow(unsafe_code)]
// The exported names are PKCS#11's.
#![allow(non_snake_case)]

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use cryptoki_sys::*;
use localhsm::crypto::KeyOperation;
use zeroize::Zeroizing;

use crate::mechanisms::{CipherOp, DigestOp, Mechanism, Params, SignOp, R};
use crate::module::{self, log};
use crate::objects::{self, AttrValue, Template, CK_UNAVAILABLE_INFORMATION};
use localhsm::crypto::pin::{MAX_PIN_LEN, MIN_PIN_LEN};

const MANUFACTURER: &str = "localhsm";
const LIBRARY_VERSION: CK_VERSION = CK_VERSION { major: 0, minor: 1 };

/// Runs an entry point's body, turning a panic into `CKR_GENERAL_ERROR`.
fn guard(body: impl FnOnce() -> R<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(rv)) => rv,
        Err(_) => {
            log("internal error: a panic was caught at the PKCS#11 boundary");
            CKR_GENERAL_ERROR
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The caller's `len` bytes at `p` (NULL is allowed only with length 0).
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` bytes for the returned lifetime.
unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> R<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= isize::MAX as usize)
        .ok_or(CKR_ARGUMENTS_BAD)?;
    // SAFETY: non-null and, by this function's contract, valid for `len` bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The caller's `CK_ULONG` (or other) out-parameter.
///
/// # Safety
/// `p` must be NULL or valid for writes of a `T`.
unsafe fn out<'a, T>(p: *mut T) -> R<&'a mut T> {
    // SAFETY: by this function's contract `p` is NULL or points to a writable `T`.
    unsafe { p.as_mut() }.ok_or(CKR_ARGUMENTS_BAD)
}

/// Writes `data` under the output-buffer convention. `Ok(true)`: delivered; `Ok(false)`:
/// only the length was asked for.
///
/// # Safety
/// `p_len` must be NULL or valid for reads and writes; `p` NULL or valid for writes of
/// `*p_len` bytes.
unsafe fn deliver<T: Copy>(data: &[T], p: *mut T, p_len: *mut CK_ULONG) -> R<bool> {
    // SAFETY: forwarded contract.
    let len = unsafe { out(p_len) }?;
    let needed = data.len() as CK_ULONG;
    if p.is_null() {
        *len = needed;
        return Ok(false);
    }
    if *len < needed {
        *len = needed;
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    // SAFETY: `p` holds at least `*len >= data.len()` elements (the caller said so), and
    // the caller's buffer cannot overlap our own `data`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    *len = needed;
    Ok(true)
}

/// Ends a single-part operation: a result is delivered (and the operation ends) or its
/// length reported (and the operation stays); any error but `CKR_BUFFER_TOO_SMALL` ends it.
///
/// # Safety
/// As [`deliver`].
unsafe fn conclude<T>(
    slot: &mut Option<T>,
    outcome: R<Zeroizing<Vec<u8>>>,
    p: *mut u8,
    p_len: *mut CK_ULONG,
) -> R<()> {
    let result = outcome.and_then(|data| {
        // SAFETY: forwarded contract.
        unsafe { deliver(&data, p, p_len) }
    });
    match result {
        Ok(false) | Err(CKR_BUFFER_TOO_SMALL) => result.map(|_| ()),
        Ok(true) => {
            *slot = None;
            Ok(())
        }
        Err(e) => {
            *slot = None;
            Err(e)
        }
    }
}

/// Copies a template out of the caller's memory.
///
/// # Safety
/// `p` must be NULL or point to `n` attributes whose values are valid for their lengths.
unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> R<Template> {
    // SAFETY: forwarded contract (CK_ATTRIBUTE is plain data; alignment is the caller's).
    let attrs = unsafe { slice(p, n) }?;
    let mut t = Template::default();
    for a in attrs {
        // A length no value of the type can have is refused unread: a caller that declares
        // more than its buffer holds would otherwise have this module read past it.
        let len = usize::try_from(a.ulValueLen).unwrap_or(usize::MAX);
        let fits = match objects::fixed_value_len(a.type_) {
            Some(n) => len == n,
            None => len <= objects::MAX_TEMPLATE_VALUE_LEN,
        };
        if !fits {
            return Err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
        // SAFETY: forwarded contract.
        let value = unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }?;
        t.0.push((a.type_, value.to_vec()));
    }
    Ok(t)
}

/// The caller's array of `n` `T`s.
///
/// # Safety
/// `p` must be NULL (only with `n` 0) or valid for reads of `n` `T`s.
unsafe fn slice<'a, T>(p: *const T, n: CK_ULONG) -> R<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() || p.align_offset(std::mem::align_of::<T>()) != 0 {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let n = usize::try_from(n)
        .ok()
        .filter(|n| {
            n.checked_mul(std::mem::size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or(CKR_ARGUMENTS_BAD)?;
    // SAFETY: non-null, aligned, and valid for `n` elements by the contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Reads a parameter structure of exactly its own size.
///
/// # Safety
/// `raw` must be the bytes of a `T` the caller laid out (a plain C struct).
unsafe fn param<T: Copy>(raw: &[u8]) -> R<T> {
    if raw.len() != std::mem::size_of::<T>() {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: `raw` holds exactly `size_of::<T>()` bytes; read_unaligned needs no alignment,
    // and `T` is a C struct of integers and pointers, valid for any bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(raw.as_ptr() as *const T) })
}

/// Copies a mechanism and the parameters the module reads out of the caller's memory.
///
/// # Safety
/// `p` must be NULL or a valid `CK_MECHANISM` whose parameter (and the buffers it points
/// to) are valid for their lengths.
unsafe fn mechanism(p: *const CK_MECHANISM) -> R<Mechanism> {
    // SAFETY: forwarded contract.
    let m = unsafe { p.as_ref() }.ok_or(CKR_ARGUMENTS_BAD)?;
    // SAFETY: forwarded contract.
    let raw = unsafe { bytes(m.pParameter as *const u8, m.ulParameterLen) }?;
    let params = match m.mechanism {
        CKM_AES_GCM => {
            // SAFETY: the caller passes a CK_GCM_PARAMS for CKM_AES_GCM (size checked).
            let g: CK_GCM_PARAMS = unsafe { param(raw) }?;
            Params::Gcm {
                // SAFETY: the structure's buffers, valid for their lengths by contract.
                iv: unsafe { bytes(g.pIv, g.ulIvLen) }?.to_vec(),
                // SAFETY: as above.
                aad: unsafe { bytes(g.pAAD, g.ulAADLen) }?.to_vec(),
                tag_bits: g.ulTagBits,
            }
        }
        CKM_RSA_PKCS_OAEP => {
            // SAFETY: the caller passes a CK_RSA_PKCS_OAEP_PARAMS (size checked).
            let o: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param(raw) }?;
            let label = match o.source {
                CKZ_DATA_SPECIFIED => {
                    // SAFETY: the label buffer, valid for its length by contract.
                    unsafe { bytes(o.pSourceData as *const u8, o.ulSourceDataLen) }?.to_vec()
                }
                0 if o.ulSourceDataLen == 0 => Vec::new(),
                _ => return Err(CKR_MECHANISM_PARAM_INVALID),
            };
            Params::Oaep {
                hash: o.hashAlg,
                mgf: o.mgf,
                label,
            }
        }
        CKM_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            // SAFETY: the caller passes a CK_RSA_PKCS_PSS_PARAMS (size checked).
            let p: CK_RSA_PKCS_PSS_PARAMS = unsafe { param(raw) }?;
            Params::Pss {
                hash: p.hashAlg,
                mgf: p.mgf,
                salt_len: p.sLen,
            }
        }
        _ if raw.is_empty() => Params::None,
        _ => Params::Bytes(raw.to_vec()),
    };
    Ok(Mechanism {
        ty: m.mechanism,
        params,
    })
}

/// `text` blank-padded (or cut) to a fixed-width PKCS#11 field.
fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&text.as_bytes()[..end]);
    out
}

// ---- general purpose ---------------------------------------------------------------------

/// Opens the store (`C_Initialize`); see [`crate::config`].
///
/// # Safety
/// `init_args` must be NULL or a valid `CK_C_INITIALIZE_ARGS`.
#[no_mangle]
pub unsafe extern "C" fn C_Initialize(init_args: *mut c_void) -> CK_RV {
    guard(|| {
        // SAFETY: by contract NULL or a valid CK_C_INITIALIZE_ARGS.
        if let Some(a) = unsafe { (init_args as *const CK_C_INITIALIZE_ARGS).as_ref() } {
            if !a.pReserved.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let given = [
                a.CreateMutex.is_some(),
                a.DestroyMutex.is_some(),
                a.LockMutex.is_some(),
                a.UnlockMutex.is_some(),
            ];
            if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // The module locks with the OS's primitives; it cannot use the caller's.
            if given[0] && a.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(CKR_CANT_LOCK);
            }
        }
        let config = crate::config::from_env().map_err(|e| {
            log(&e);
            CKR_GENERAL_ERROR
        })?;
        module::initialize(config)
    })
}

/// Closes the store (`C_Finalize`).
///
/// # Safety
/// `reserved` must be NULL.
#[no_mangle]
pub unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard(|| {
        if !reserved.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        module::finalize()
    })
}

fn fill_info(info: &mut CK_INFO, version: CK_VERSION) {
    info.cryptokiVersion = version;
    info.manufacturerID = padded(MANUFACTURER);
    info.flags = 0;
    info.libraryDescription = padded("localhsm PKCS#11 module");
    info.libraryVersion = LIBRARY_VERSION;
}

/// `C_GetInfo`.
///
/// # Safety
/// `info` must be NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(info: *mut CK_INFO) -> CK_RV {
    guard(|| {
        module::get()?;
        // SAFETY: by contract.
        fill_info(unsafe { out(info) }?, CK_VERSION { major: 3, minor: 0 });
        Ok(())
    })
}

/// `C_GetFunctionList`: the PKCS#11 2.40 function table.
///
/// # Safety
/// `list` must be NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        // SAFETY: by contract.
        let list = unsafe { out(list) }?;
        // The table is immutable; C's type has no const, callers never write through it.
        *list = &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST;
        Ok(())
    })
}

/// `C_GetInterfaceList` (3.0): the 3.0 and the 2.40 interface, both named "PKCS 11".
///
/// # Safety
/// `list` must be NULL or valid for `*count` writes; `count` valid for reads and writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(
    list: *mut CK_INTERFACE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        // SAFETY: by contract.
        unsafe { deliver(&INTERFACES.0, list, count) }.map(|_| ())
    })
}

/// `C_GetInterface` (3.0): "PKCS 11" (or NULL) at version 3.0 (or NULL) or 2.40.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `version` NULL or valid for reads;
/// `interface` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    interface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard(|| {
        // SAFETY: by contract.
        let interface = unsafe { out(interface) }?;
        if !name.is_null() {
            // SAFETY: by contract a NUL-terminated string.
            let name = unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) };
            if name.to_bytes() != b"PKCS 11" {
                return Err(CKR_ARGUMENTS_BAD);
            }
        }
        // SAFETY: by contract NULL or readable.
        let index = match unsafe { version.as_ref() } {
            None | Some(CK_VERSION { major: 3, minor: 0 }) => 0,
            Some(CK_VERSION {
                major: 2,
                minor: 40,
            }) => 1,
            Some(_) => return Err(CKR_ARGUMENTS_BAD),
        };
        // No interface flags (such as fork safety) are offered.
        if flags != 0 {
            return Err(CKR_ARGUMENTS_BAD);
        }
        *interface = &INTERFACES.0[index] as *const CK_INTERFACE as *mut CK_INTERFACE;
        Ok(())
    })
}

// ---- slots and tokens --------------------------------------------------------------------

/// `C_GetSlotList`: one slot per vault.
///
/// # Safety
/// `list` NULL or valid for `*count` writes; `count` valid for reads and writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(
    token_present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let slots = module::get()?.slot_list(token_present != CK_FALSE)?;
        // SAFETY: by contract.
        unsafe { deliver(&slots, list, count) }.map(|_| ())
    })
}

/// `C_GetSlotInfo`.
///
/// # Safety
/// `info` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let vault = m.slot_vault(slot)?;
        let present = m.token_present(slot)?;
        // SAFETY: by contract.
        let info = unsafe { out(info) }?;
        info.slotDescription = padded(&format!("localhsm vault {vault}"));
        info.manufacturerID = padded(MANUFACTURER);
        info.flags = if present { CKF_TOKEN_PRESENT } else { 0 };
        info.hardwareVersion = LIBRARY_VERSION;
        info.firmwareVersion = LIBRARY_VERSION;
        Ok(())
    })
}

/// `C_GetTokenInfo`: the label is the vault's name.
///
/// # Safety
/// `info` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    guard(|| {
        let t = module::get()?.token_state(slot)?;
        // SAFETY: by contract.
        let info = unsafe { out(info) }?;
        info.label = padded(&t.label);
        info.manufacturerID = padded(MANUFACTURER);
        info.model = padded(t.kind);
        info.serialNumber = padded(&format!("{slot:016}"));
        info.flags = t.flags;
        info.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
        info.ulSessionCount = t.sessions;
        info.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
        info.ulRwSessionCount = t.rw_sessions;
        info.ulMaxPinLen = MAX_PIN_LEN as CK_ULONG;
        info.ulMinPinLen = MIN_PIN_LEN as CK_ULONG;
        info.ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
        info.hardwareVersion = LIBRARY_VERSION;
        info.firmwareVersion = LIBRARY_VERSION;
        info.utcTime = [b' '; 16];
        Ok(())
    })
}

/// `C_GetMechanismList`.
///
/// # Safety
/// `list` NULL or valid for `*count` writes; `count` valid for reads and writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let types: Vec<CK_MECHANISM_TYPE> = module::get()?
            .mechanisms(slot)?
            .iter()
            .map(|m| m.0)
            .collect();
        // SAFETY: by contract.
        unsafe { deliver(&types, list, count) }.map(|_| ())
    })
}

/// `C_GetMechanismInfo`.
///
/// # Safety
/// `info` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    guard(|| {
        let (_, min, max, flags) = module::get()?
            .mechanisms(slot)?
            .into_iter()
            .find(|m| m.0 == ty)
            .ok_or(CKR_MECHANISM_INVALID)?;
        // SAFETY: by contract.
        let info = unsafe { out(info) }?;
        info.ulMinKeySize = min;
        info.ulMaxKeySize = max;
        info.flags = flags;
        Ok(())
    })
}

/// `C_InitToken`: sets the SO PIN (the label must be empty or the vault's name).
///
/// # Safety
/// `pin` valid for `pin_len` bytes; `label` NULL or valid for 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn C_InitToken(
    slot: CK_SLOT_ID,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
    label: *mut CK_UTF8CHAR,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        // SAFETY: by contract.
        let pin = Zeroizing::new(unsafe { bytes(pin, pin_len) }?.to_vec());
        // SAFETY: by contract NULL or 32 bytes.
        let label = unsafe { bytes(label, if label.is_null() { 0 } else { 32 }) }?;
        let label = std::str::from_utf8(label).map_err(|_| CKR_ARGUMENTS_BAD)?;
        m.init_token(slot, &pin, label)
    })
}

/// `C_InitPIN`: the SO sets the user PIN.
///
/// # Safety
/// `pin` valid for `pin_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(
    h: CK_SESSION_HANDLE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        // SAFETY: by contract.
        let pin = Zeroizing::new(unsafe { bytes(pin, pin_len) }?.to_vec());
        m.init_pin(h, &pin)
    })
}

/// `C_SetPIN`.
///
/// # Safety
/// `old` and `new` valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        // SAFETY: by contract.
        let old = Zeroizing::new(unsafe { bytes(old, old_len) }?.to_vec());
        // SAFETY: by contract.
        let new = Zeroizing::new(unsafe { bytes(new, new_len) }?.to_vec());
        m.set_pin(h, &old, &new)
    })
}

// ---- sessions ----------------------------------------------------------------------------

/// `C_OpenSession` (no notification callbacks are made).
///
/// # Safety
/// `session` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _application: *mut c_void,
    _notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        // SAFETY: by contract.
        let session = unsafe { out(session) }?;
        *session = m.open_session(slot, flags)?;
        Ok(())
    })
}

/// `C_CloseSession`.
#[no_mangle]
pub extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| module::get()?.close_session(h))
}

/// `C_CloseAllSessions`.
#[no_mangle]
pub extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard(|| module::get()?.close_all_sessions(slot))
}

/// `C_GetSessionInfo`.
///
/// # Safety
/// `info` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(
    h: CK_SESSION_HANDLE,
    info: *mut CK_SESSION_INFO,
) -> CK_RV {
    guard(|| {
        let (slot, state, flags) = module::get()?.session_info(h)?;
        // SAFETY: by contract.
        let info = unsafe { out(info) }?;
        info.slotID = slot;
        info.state = state;
        info.flags = flags;
        info.ulDeviceError = 0;
        Ok(())
    })
}

/// `C_Login`.
///
/// # Safety
/// `pin` valid for `pin_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        // SAFETY: by contract.
        let pin = Zeroizing::new(unsafe { bytes(pin, pin_len) }?.to_vec());
        m.login(h, user, &pin)
    })
}

/// `C_Logout`.
#[no_mangle]
pub extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| module::get()?.logout(h))
}

// ---- objects -----------------------------------------------------------------------------

/// `C_CreateObject`: imports an AES secret key (`CKA_VALUE`).
///
/// # Safety
/// `attrs` valid for `count` attributes; `object` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    object: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let t = unsafe { template(attrs, count) }?;
        // SAFETY: by contract.
        let object = unsafe { out(object) }?;
        *object = m.create_object(&s, &t)?;
        Ok(())
    })
}

/// `C_DestroyObject`: soft-deletes the key.
#[no_mangle]
pub extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        m.destroy(&s, object)
    })
}

/// `C_GetAttributeValue`, attribute by attribute: a value too long for its buffer, a
/// sensitive one or one the object lacks gets `CK_UNAVAILABLE_INFORMATION` as its length
/// and the matching error, while the others are still filled in.
///
/// # Safety
/// `attrs` valid for `count` attributes, each `pValue` NULL or valid for `ulValueLen` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        let obj = m.object(&s, object)?;
        // SAFETY: by contract; the check is the same as for a read-only slice.
        unsafe { slice(attrs as *const CK_ATTRIBUTE, count) }?;
        let mut rv = CKR_OK;
        for i in 0..count as usize {
            // SAFETY: `attrs` holds `count` aligned attributes (checked above), writable
            // by contract.
            let a = unsafe { &mut *attrs.add(i) };
            let error = match obj.get(a.type_) {
                AttrValue::Value(v) => {
                    if a.pValue.is_null() {
                        a.ulValueLen = v.len() as CK_ULONG;
                        None
                    } else if (a.ulValueLen as usize) < v.len() {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        Some(CKR_BUFFER_TOO_SMALL)
                    } else {
                        // SAFETY: `pValue` is valid for `ulValueLen >= v.len()` bytes.
                        unsafe {
                            std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len())
                        };
                        a.ulValueLen = v.len() as CK_ULONG;
                        None
                    }
                }
                AttrValue::Sensitive => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    Some(CKR_ATTRIBUTE_SENSITIVE)
                }
                AttrValue::Invalid => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    Some(CKR_ATTRIBUTE_TYPE_INVALID)
                }
            };
            if let (CKR_OK, Some(e)) = (rv, error) {
                rv = e;
            }
        }
        if rv == CKR_OK {
            Ok(())
        } else {
            Err(rv)
        }
    })
}

/// `C_FindObjectsInit`.
///
/// # Safety
/// `attrs` valid for `count` attributes.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(
    h: CK_SESSION_HANDLE,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let t = unsafe { template(attrs, count) }?;
        m.find_init(&s, &t)
    })
}

/// `C_FindObjects`.
///
/// # Safety
/// `objects` valid for `max` writes; `found` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    objects: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    found: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let found = unsafe { out(found) }?;
        if max > 0 && objects.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let mut ops = lock(&s.ops);
        let queue = ops.find.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let mut n = 0;
        while n < max as usize {
            let Some(next) = queue.pop_front() else { break };
            // SAFETY: `objects` is valid for `max` writes and `n < max`.
            unsafe { objects.add(n).write_unaligned(next) };
            n += 1;
        }
        *found = n as CK_ULONG;
        Ok(())
    })
}

/// `C_FindObjectsFinal`.
#[no_mangle]
pub extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let found = lock(&s.ops).find.take();
        found.map(|_| ()).ok_or(CKR_OPERATION_NOT_INITIALIZED)
    })
}

// ---- cryptographic operations -------------------------------------------------------------

/// Starts an operation of `kind` on `key` in its session slot.
///
/// # Safety
/// `mech` as for [`mechanism`].
unsafe fn start(
    h: CK_SESSION_HANDLE,
    mech: *const CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    op: KeyOperation,
) -> R<()> {
    let m = module::get()?;
    let s = m.session(h)?;
    // SAFETY: forwarded contract.
    let mech = unsafe { mechanism(mech) }?;
    let mut ops = lock(&s.ops);
    let busy = match op {
        KeyOperation::Sign => ops.sign.is_some(),
        KeyOperation::Verify => ops.verify.is_some(),
        KeyOperation::Encrypt => ops.encrypt.is_some(),
        _ => ops.decrypt.is_some(),
    };
    if busy {
        return Err(CKR_OPERATION_ACTIVE);
    }
    let handle = m.key_handle(&s, key, op)?;
    // The key's usage attribute (from its key_ops) decides at init, as PKCS#11 asks; the
    // handle checks key_ops again, with enabled and nbf/exp, when the operation runs.
    let usage = match op {
        KeyOperation::Sign => CKA_SIGN,
        KeyOperation::Verify => CKA_VERIFY,
        KeyOperation::Encrypt => CKA_ENCRYPT,
        _ => CKA_DECRYPT,
    };
    if !matches!(m.object(&s, key)?.get(usage), AttrValue::Value([b]) if *b != CK_FALSE) {
        return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    match op {
        KeyOperation::Sign => ops.sign = Some(SignOp::new(&mech, handle)?),
        KeyOperation::Verify => ops.verify = Some(SignOp::new(&mech, handle)?),
        KeyOperation::Encrypt => ops.encrypt = Some(CipherOp::new(&mech, handle)?),
        _ => ops.decrypt = Some(CipherOp::new(&mech, handle)?),
    }
    Ok(())
}

/// `C_SignInit`.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`.
#[no_mangle]
pub unsafe extern "C" fn C_SignInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: by contract.
    guard(|| unsafe { start(h, mech, key, KeyOperation::Sign) })
}

/// `C_Sign`.
///
/// # Safety
/// `data` valid for `data_len` bytes; `sig` and `sig_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let outcome = (|| {
            if op.result.is_none() {
                // SAFETY: by contract.
                op.update(unsafe { bytes(data, data_len) }?)?;
            }
            op.sign().map(|s| Zeroizing::new(s.to_vec()))
        })();
        // SAFETY: by contract.
        unsafe { conclude(&mut ops.sign, outcome, sig, sig_len) }
    })
}

/// Adds a part to a hashing sign or verify operation.
///
/// # Safety
/// `data` valid for `len` bytes.
unsafe fn sign_update(h: CK_SESSION_HANDLE, data: *const u8, len: CK_ULONG, verify: bool) -> R<()> {
    let s = module::get()?.session(h)?;
    let mut ops = lock(&s.ops);
    let slot = if verify {
        &mut ops.verify
    } else {
        &mut ops.sign
    };
    let op = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    // SAFETY: forwarded contract.
    let result = unsafe { bytes(data, len) }.and_then(|d| op.update(d));
    if result.is_err() {
        *slot = None;
    }
    result
}

/// `C_SignUpdate`.
///
/// # Safety
/// `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: by contract.
    guard(|| unsafe { sign_update(h, data, len, false) })
}

/// `C_SignFinal`.
///
/// # Safety
/// `sig` and `sig_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(
    h: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let outcome = op.sign().map(|s| Zeroizing::new(s.to_vec()));
        // SAFETY: by contract.
        unsafe { conclude(&mut ops.sign, outcome, sig, sig_len) }
    })
}

/// `C_VerifyInit`.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: by contract.
    guard(|| unsafe { start(h, mech, key, KeyOperation::Verify) })
}

/// `C_Verify`.
///
/// # Safety
/// `data` and `sig` valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn C_Verify(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let mut op = ops.verify.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        // SAFETY: by contract.
        op.update(unsafe { bytes(data, data_len) }?)?;
        // SAFETY: by contract.
        op.verify(unsafe { bytes(sig, sig_len) }?)
    })
}

/// `C_VerifyUpdate`.
///
/// # Safety
/// `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: by contract.
    guard(|| unsafe { sign_update(h, data, len, true) })
}

/// `C_VerifyFinal`.
///
/// # Safety
/// `sig` valid for `sig_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(
    h: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut op = lock(&s.ops)
            .verify
            .take()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        // SAFETY: by contract.
        op.verify(unsafe { bytes(sig, sig_len) }?)
    })
}

/// `C_EncryptInit`.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: by contract.
    guard(|| unsafe { start(h, mech, key, KeyOperation::Encrypt) })
}

/// `C_Encrypt` (single-part).
///
/// # Safety
/// `data` valid for `len` bytes; `out_buf` and `out_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out_buf: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.encrypt.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        // SAFETY: by contract.
        let outcome = unsafe { bytes(data, len) }
            .and_then(|d| op.encrypt(d).map(|c| Zeroizing::new(c.to_vec())));
        // SAFETY: by contract.
        unsafe { conclude(&mut ops.encrypt, outcome, out_buf, out_len) }
    })
}

/// `C_DecryptInit`.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: by contract.
    guard(|| unsafe { start(h, mech, key, KeyOperation::Decrypt) })
}

/// `C_Decrypt` (single-part).
///
/// # Safety
/// `data` valid for `len` bytes; `out_buf` and `out_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out_buf: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.decrypt.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        // SAFETY: by contract.
        let outcome = unsafe { bytes(data, len) }
            .and_then(|d| op.decrypt(d).map(|p| Zeroizing::new(p.to_vec())));
        // SAFETY: by contract.
        unsafe { conclude(&mut ops.decrypt, outcome, out_buf, out_len) }
    })
}

/// `C_DigestInit`.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`.
#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        // SAFETY: by contract.
        let mech = unsafe { mechanism(mech) }?;
        let mut ops = lock(&s.ops);
        if ops.digest.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        ops.digest = Some(DigestOp::new(&mech)?);
        Ok(())
    })
}

/// `C_Digest`.
///
/// # Safety
/// `data` valid for `len` bytes; `digest` and `digest_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    digest: *mut CK_BYTE,
    digest_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let outcome = (|| {
            if op.result.is_none() {
                // SAFETY: by contract.
                op.update(unsafe { bytes(data, len) }?)?;
            }
            op.finish().map(|d| Zeroizing::new(d.to_vec()))
        })();
        // SAFETY: by contract.
        unsafe { conclude(&mut ops.digest, outcome, digest, digest_len) }
    })
}

/// `C_DigestUpdate`.
///
/// # Safety
/// `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        // SAFETY: by contract.
        let result = unsafe { bytes(data, len) }.and_then(|d| op.update(d));
        if result.is_err() {
            ops.digest = None;
        }
        result
    })
}

/// `C_DigestFinal`.
///
/// # Safety
/// `digest` and `digest_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(
    h: CK_SESSION_HANDLE,
    digest: *mut CK_BYTE,
    digest_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let s = module::get()?.session(h)?;
        let mut ops = lock(&s.ops);
        let op = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let outcome = op.finish().map(|d| Zeroizing::new(d.to_vec()));
        // SAFETY: by contract.
        unsafe { conclude(&mut ops.digest, outcome, digest, digest_len) }
    })
}

// ---- keys --------------------------------------------------------------------------------

/// `C_GenerateKey` (`CKM_AES_KEY_GEN`).
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`; `attrs` valid for `count`; `key` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKey(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let mech = unsafe { mechanism(mech) }?;
        // SAFETY: by contract.
        let t = unsafe { template(attrs, count) }?;
        // SAFETY: by contract.
        let key = unsafe { out(key) }?;
        *key = m.generate_key(&s, &mech, &t)?;
        Ok(())
    })
}

/// `C_GenerateKeyPair` (EC and RSA).
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`; the templates valid for their counts; the handles valid
/// for writes.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    pub_attrs: *mut CK_ATTRIBUTE,
    pub_count: CK_ULONG,
    priv_attrs: *mut CK_ATTRIBUTE,
    priv_count: CK_ULONG,
    pub_key: *mut CK_OBJECT_HANDLE,
    priv_key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let mech = unsafe { mechanism(mech) }?;
        // SAFETY: by contract.
        let public = unsafe { template(pub_attrs, pub_count) }?;
        // SAFETY: by contract.
        let private = unsafe { template(priv_attrs, priv_count) }?;
        // SAFETY: by contract.
        let (pub_key, priv_key) = unsafe { (out(pub_key)?, out(priv_key)?) };
        let (p, q) = m.generate_key_pair(&s, &mech, &public, &private)?;
        *pub_key = p;
        *priv_key = q;
        Ok(())
    })
}

/// `C_WrapKey`: wraps an exportable AES key.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`; `wrapped` and `wrapped_len` as the output convention needs.
#[no_mangle]
pub unsafe extern "C" fn C_WrapKey(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    wrapped_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let mech = unsafe { mechanism(mech) }?;
        let blob = m.wrap_key(&s, &mech, wrapping, key)?;
        // SAFETY: by contract.
        unsafe { deliver(&blob, wrapped, wrapped_len) }.map(|_| ())
    })
}

/// `C_UnwrapKey`: unwraps into a new AES key of the vault.
///
/// # Safety
/// `mech` a valid `CK_MECHANISM`; `wrapped` valid for `wrapped_len`; `attrs` for `count`;
/// `key` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn C_UnwrapKey(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    wrapped_len: CK_ULONG,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let m = module::get()?;
        let s = m.session(h)?;
        // SAFETY: by contract.
        let mech = unsafe { mechanism(mech) }?;
        // SAFETY: by contract.
        let wrapped = unsafe { bytes(wrapped, wrapped_len) }?;
        // SAFETY: by contract.
        let t = unsafe { template(attrs, count) }?;
        // SAFETY: by contract.
        let key = unsafe { out(key) }?;
        *key = m.unwrap_key(&s, &mech, unwrapping, wrapped, &t)?;
        Ok(())
    })
}

/// `C_GenerateRandom`, from the system CSPRNG.
///
/// # Safety
/// `buf` valid for `len` writes.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(
    h: CK_SESSION_HANDLE,
    buf: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        module::get()?.session(h)?;
        if len == 0 {
            return Ok(());
        }
        if buf.is_null() || len as usize > isize::MAX as usize {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let random = Zeroizing::new(
            localhsm::crypto::random_bytes(len as usize).map_err(|_| CKR_DEVICE_ERROR)?,
        );
        // SAFETY: `buf` is valid for `len` bytes by contract.
        unsafe { std::ptr::copy_nonoverlapping(random.as_ptr(), buf, random.len()) };
        Ok(())
    })
}

/// `C_SeedRandom`: the system CSPRNG takes no seed.
#[no_mangle]
pub extern "C" fn C_SeedRandom(h: CK_SESSION_HANDLE, _seed: *mut CK_BYTE, _len: CK_ULONG) -> CK_RV {
    guard(|| {
        module::get()?.session(h)?;
        Err(CKR_RANDOM_SEED_NOT_SUPPORTED)
    })
}

/// `C_GetFunctionStatus`: a legacy call; no function runs in parallel.
#[no_mangle]
pub extern "C" fn C_GetFunctionStatus(_h: CK_SESSION_HANDLE) -> CK_RV {
    CKR_FUNCTION_NOT_PARALLEL
}

/// `C_CancelFunction`: a legacy call; no function runs in parallel.
#[no_mangle]
pub extern "C" fn C_CancelFunction(_h: CK_SESSION_HANDLE) -> CK_RV {
    CKR_FUNCTION_NOT_PARALLEL
}

// ---- not implemented ---------------------------------------------------------------------

/// Entry points the module does not implement: each returns `CKR_FUNCTION_NOT_SUPPORTED`
/// and touches none of its arguments.
macro_rules! not_supported {
    ($($name:ident($($arg:ty),*);)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: not supported.")]
        #[no_mangle]
        pub extern "C" fn $name($(_: $arg),*) -> CK_RV {
            CKR_FUNCTION_NOT_SUPPORTED
        }
    )*};
}

not_supported! {
    C_GetOperationState(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_SetOperationState(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE);
    C_CopyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_GetObjectSize(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ULONG);
    C_SetAttributeValue(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG);
    C_EncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_EncryptFinal(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptFinal(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_DigestKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
    C_SignRecoverInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_SignRecover(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_VerifyRecoverInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_VerifyRecover(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DigestEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptDigestUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_SignEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptVerifyUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DeriveKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_WaitForSlotEvent(CK_FLAGS, *mut CK_SLOT_ID, *mut c_void);
    C_LoginUser(CK_SESSION_HANDLE, CK_USER_TYPE, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_UTF8CHAR, CK_ULONG);
    C_SessionCancel(CK_SESSION_HANDLE, CK_FLAGS);
    C_MessageEncryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_EncryptMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_EncryptMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_EncryptMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, CK_FLAGS);
    C_MessageEncryptFinal(CK_SESSION_HANDLE);
    C_MessageDecryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_DecryptMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_DecryptMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, CK_FLAGS);
    C_MessageDecryptFinal(CK_SESSION_HANDLE);
    C_MessageSignInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_SignMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_SignMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG);
    C_SignMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_MessageSignFinal(CK_SESSION_HANDLE);
    C_MessageVerifyInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_VerifyMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_VerifyMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG);
    C_VerifyMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_MessageVerifyFinal(CK_SESSION_HANDLE);
}

// ---- the function tables -----------------------------------------------------------------

macro_rules! function_list {
    ($ty:ident, $major:expr, $minor:expr; $($extra:ident),*) => {
        $ty {
            version: CK_VERSION { major: $major, minor: $minor },
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetInfo: Some(C_GetInfo),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra: Some($extra),)*
        }
    };
}

static FUNCTION_LIST: CK_FUNCTION_LIST = function_list!(CK_FUNCTION_LIST, 2, 40;);

static FUNCTION_LIST_3_0: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, 3, 0;
    C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext,
    C_MessageEncryptFinal, C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin,
    C_DecryptMessageNext, C_MessageDecryptFinal, C_MessageSignInit, C_SignMessage,
    C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal, C_MessageVerifyInit,
    C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal);

static INTERFACE_NAME: &[u8] = b"PKCS 11\0";

/// The two interfaces, 3.0 first.
struct Interfaces([CK_INTERFACE; 2]);

// SAFETY: the pointers inside point to immutable statics (the name and the function
// tables), never written through, so sharing them between threads is sound.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
]);
