//! `liblocalhsm_pkcs11.so`: a PKCS#11 (Cryptoki 2.40 and 3.0) module over the localhsm
//! store, so OpenSSL, OpenSC's `pkcs11-tool` and any other PKCS#11 application reach the
//! same keys as the Azure SDKs.
//!
//! Each live vault is a slot whose token is labelled with the vault's name; a vault's keys
//! are its objects (private, public and secret keys, `CKA_LABEL` the key name). Every
//! operation runs on the core's [`localhsm::KeyHandle`], so `key_ops`, `enabled`,
//! `nbf`/`exp` hold here as on every other face, and a destroy is the vault's soft delete.
//!
//! The store is opened in this process at `C_Initialize` (see [`config`]); when a running
//! `localhsm serve` holds it, the module goes through that server as the store's owner, the
//! way the CLI does ([`remote`]). Both sit behind [`backend::TokenBackend`].
//!
//! Layout: [`ffi`] is the C boundary and the only place with `unsafe` code; it checks
//! pointers and lengths, catches panics and turns everything into calls on the safe
//! [`module`] (state, slots, sessions, login), which uses [`objects`] (keys as PKCS#11
//! objects and attributes) and [`mechanisms`] (what each mechanism does on a key handle).

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod config;
pub mod ffi;
pub mod mechanisms;
pub mod module;
pub mod objects;
pub mod remote;
