//! The Key Vault secrets data plane: `/secrets` and `/deletedsecrets`, one handler per row
//! of the route table.
//!
//! Layer: faces (server). May import `api` (bodies, route table), the core (`vault`,
//! `model`) and `server::{context, error}`. Invariant: a body is parsed before the secret
//! is looked up, so malformed input is a 400 whatever the secret's state; values appear
//! only in the responses of set and get.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::context::{blob, list, ok, Ctx};
use super::error::{parse_json, ApiError};
use crate::api::routes::Op;
use crate::api::*;
use crate::model::{SecretOptions, SecretUpdate};

/// Answers a request for one of the secret routes, on `name` (empty for routes without
/// one) and `version` (`None`: the current one).
pub(crate) async fn handle(
    ctx: &Ctx,
    op: Op,
    (name, version): (&str, Option<&str>),
    body: &[u8],
) -> Result<Response, ApiError> {
    let owned = name.to_string();
    match op {
        Op::SecretList => list(
            ctx,
            op,
            &[],
            |v, max, next| v.list_secrets(max, next),
            SecretBundleWire::item,
        ),
        Op::SecretListVersions => list(
            ctx,
            op,
            &[name],
            |v, max, next| v.list_secret_versions(name, max, next),
            SecretBundleWire::version,
        ),
        Op::DeletedSecretList => list(
            ctx,
            op,
            &[],
            |v, max, next| v.list_deleted_secrets(max, next),
            |base, d| SecretBundleWire::deleted(base, d, true),
        ),
        Op::SecretGet | Op::SecretGetVersion => {
            let b = ctx.vault()?.get_secret(name, version)?;
            ok(SecretBundleWire::version(&ctx.base, b))
        }
        Op::SecretSet => {
            let p: SecretSetParameters = parse_json(body)?;
            let a = p.attributes.unwrap_or_default();
            let options = SecretOptions {
                content_type: p.content_type,
                enabled: a.enabled,
                not_before: a.nbf,
                expires: a.exp,
                tags: p.tags.unwrap_or_default(),
            };
            let value = p.value;
            let b = ctx
                .blocking(move |v| v.set_secret(&owned, value, options))
                .await?;
            ok(SecretBundleWire::version(&ctx.base, b))
        }
        Op::SecretUpdate | Op::SecretUpdateVersion => {
            let p: SecretUpdateParameters = parse_json(body)?;
            let a = p.attributes.unwrap_or_default();
            let update = SecretUpdate {
                content_type: p.content_type,
                enabled: a.enabled,
                not_before: a.nbf.map(Some),
                expires: a.exp.map(Some),
                tags: p.tags,
            };
            let version = version.map(str::to_string);
            let b = ctx
                .blocking(move |v| v.update_secret(&owned, version.as_deref(), update))
                .await?;
            ok(SecretBundleWire::version(&ctx.base, b))
        }
        Op::SecretDelete => {
            let d = ctx.blocking(move |v| v.delete_secret(&owned)).await?;
            ok(SecretBundleWire::deleted(&ctx.base, d, false))
        }
        Op::DeletedSecretGet => {
            let d = ctx.vault()?.get_deleted_secret(name)?;
            ok(SecretBundleWire::deleted(&ctx.base, d, false))
        }
        Op::DeletedSecretRecover => {
            let b = ctx
                .blocking(move |v| v.recover_deleted_secret(&owned))
                .await?;
            ok(SecretBundleWire::version(&ctx.base, b))
        }
        Op::DeletedSecretPurge => {
            ctx.blocking(move |v| v.purge_deleted_secret(&owned))
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::SecretBackup => blob(ctx.vault()?.backup_secret(name)?),
        Op::SecretRestore => {
            let p: BlobValue = parse_json(body)?;
            let b = ctx.blocking(move |v| v.restore_secret(&p.value.0)).await?;
            ok(SecretBundleWire::version(&ctx.base, b))
        }
        other => Err(ApiError::misrouted(other)),
    }
}
