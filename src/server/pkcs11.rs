//! `/management/vaults/{vault}/pkcs11-pins`: a vault's PKCS#11 token PIN hashes, and
//! `/management/vaults/{vault}/pkcs11-keys/{key}[/{version}]`: a key version's type and
//! size, for the PKCS#11 module when a running server holds the store (the module then
//! reaches the store through this server, as the CLI does, checks PINs itself, and needs an
//! oct key's length, which Key Vault's key bundle does not give). Not part of the Key Vault
//! API.
//!
//! Layer: faces (server). May import `api` (the route table and bodies), the core
//! (`model`, `crypto`) and `server::{context, error}`. Invariant: only the store's owner (its
//! local credential, see `server::owner`) calls these routes, whatever the access policy:
//! the hashes are what a PIN guess is checked against, and the owner is who could read
//! them, and every key's size, from the data directory anyway.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::context::{ok, run_blocking, AppState};
use super::error::{parse_json, ApiError};
use crate::api::management::Pkcs11KeySpec;
use crate::api::routes::{Op, Params};
use crate::model::access::is_owner;
use crate::model::{Caller, TokenPins};

/// The iterations a PIN hash may name: [`crate::crypto::pin`] writes 600,000; a hash that
/// names many more would make every login spin for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Whether `op` is one of this file's routes.
pub(crate) fn serves(op: Op) -> bool {
    matches!(
        op,
        Op::Pkcs11PinsGet | Op::Pkcs11PinsSet | Op::Pkcs11KeyGet | Op::Pkcs11KeyGetVersion
    )
}

/// Answers a PIN-hash or key-spec request of the store's owner; refuses anyone else.
pub(crate) async fn handle(
    state: &AppState,
    caller: &Caller,
    op: Op,
    p: &Params<'_>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let oid = caller.object_id.as_deref().unwrap_or("");
    if !is_owner(oid) {
        return Err(crate::Error::AccessDenied {
            caller: caller
                .object_id
                .clone()
                .unwrap_or_else(|| "anonymous".into()),
            action: "localhsm/pkcs11 (the store's owner only)",
            scope: match op {
                Op::Pkcs11KeyGet | Op::Pkcs11KeyGetVersion => {
                    "/management/vaults/{vault}/pkcs11-keys"
                }
                _ => "/management/vaults/{vault}/pkcs11-pins",
            }
            .into(),
        }
        .into());
    }
    let name = p.get("vault").unwrap_or_default().to_string();
    match op {
        Op::Pkcs11PinsGet => {
            ok(run_blocking(state.store.clone(), move |s| s.token_pins(&name)).await?)
        }
        Op::Pkcs11PinsSet => {
            let pins: TokenPins = parse_json(body)?;
            for hash in [&pins.so, &pins.user].into_iter().flatten() {
                check_hash(hash)?;
            }
            run_blocking(state.store.clone(), move |s| s.set_token_pins(&name, pins)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::Pkcs11KeyGet | Op::Pkcs11KeyGetVersion => {
            let key = p.get("key").unwrap_or_default().to_string();
            crate::model::validate_name("key", &key)?;
            let version = p.version().map(str::to_string);
            let spec = run_blocking(state.store.clone(), move |s| {
                // The handle, not the bundle: an oct key's public JWK has no size.
                let h = s.vault(&name)?.key(&key, version.as_deref())?;
                Ok(Pkcs11KeySpec::new(
                    h.name(),
                    h.version(),
                    h.key_type(),
                    h.spec(),
                ))
            })
            .await?;
            ok(spec)
        }
        other => Err(ApiError::misrouted(other)),
    }
}

/// A PIN hash as [`crate::crypto::pin::hash_pin`] writes it: `pbkdf2-sha256$N$salt$hash`.
fn check_hash(hash: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = hash.split('$').collect();
    let well_formed = match parts.as_slice() {
        ["pbkdf2-sha256", n, salt, digest] => {
            n.parse::<u32>()
                .is_ok_and(|n| (1..=MAX_ITERATIONS).contains(&n))
                && URL_SAFE_NO_PAD.decode(salt).is_ok_and(|s| !s.is_empty())
                && URL_SAFE_NO_PAD.decode(digest).is_ok_and(|d| d.len() == 32)
        }
        _ => false,
    };
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::bad_parameter(
            "so and user must be PIN hashes (pbkdf2-sha256$iterations$salt$hash), or null",
        ))
    }
}
