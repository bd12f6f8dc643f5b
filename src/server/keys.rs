//! The Key Vault data plane: `/keys`, `/deletedkeys`, `/rng`, one handler per row of the
//! route table.
//!
//! Layer: faces (server). May import `api` (bodies, route table), the core (`vault`,
//! `model`, `crypto`) and `server::{context, error}`. Invariant: a body is parsed before the
//! key is resolved, so malformed input is a 400 whatever the key's state; the request's one
//! [`Vault`] serves every call.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::context::{blob, list, ok, Ctx};
use super::error::{parse_json, ApiError};
use crate::api::routes::Op;
use crate::api::*;
use crate::crypto::{AesParams, Base64Url, KeySpec};
use crate::model::{KeyOptions, KeyUpdate};
use crate::KeyHandle;

/// Answers a request for one of the key routes, on `key` (empty for routes without one)
/// and `version` (`None`: the current one).
pub(crate) async fn handle(
    ctx: &Ctx,
    op: Op,
    (key, version): (&str, Option<&str>),
    body: &[u8],
) -> Result<Response, ApiError> {
    match op {
        Op::KeyList => list(
            ctx,
            op,
            &[],
            |v, max, next| v.list_keys(max, next),
            |base, b| KeyItemWire::key(base, &b),
        ),
        Op::KeyListVersions => list(
            ctx,
            op,
            &[key],
            |v, max, next| v.list_versions(key, max, next),
            |base, b| KeyItemWire::version(base, &b),
        ),
        Op::DeletedKeyList => list(
            ctx,
            op,
            &[],
            |v, max, next| v.list_deleted_keys(max, next),
            |base, d| KeyItemWire::deleted(base, &d),
        ),
        Op::KeyGet | Op::KeyGetVersion => bundle(ctx, ctx.vault()?.get_key(key, version)?),
        Op::KeyCreate => create(ctx, key, body).await,
        Op::KeyImport => import(ctx, key, body).await,
        Op::KeyUpdate | Op::KeyUpdateVersion => update(ctx, key, version, body).await,
        Op::KeyRotate => {
            let key = key.to_string();
            bundle(ctx, ctx.blocking(move |v| v.rotate_key(&key)).await?)
        }
        Op::KeyGetRotationPolicy => {
            let policy = ctx.vault()?.get_key_rotation_policy(key)?;
            ok(KeyRotationPolicyWire::from_policy(&ctx.base, key, policy))
        }
        Op::KeyUpdateRotationPolicy => {
            let update = parse_json::<KeyRotationPolicyWire>(body)?.into_update()?;
            let name = key.to_string();
            let policy = ctx
                .blocking(move |v| v.set_key_rotation_policy(&name, update))
                .await?;
            ok(KeyRotationPolicyWire::from_policy(&ctx.base, key, policy))
        }
        Op::KeyDelete => {
            let key = key.to_string();
            let deleted = ctx.blocking(move |v| v.delete_key(&key)).await?;
            ok(KeyBundleWire::from_deleted(&ctx.base, deleted))
        }
        Op::DeletedKeyGet => {
            let deleted = ctx.vault()?.get_deleted_key(key)?;
            ok(KeyBundleWire::from_deleted(&ctx.base, deleted))
        }
        Op::DeletedKeyRecover => {
            let key = key.to_string();
            bundle(
                ctx,
                ctx.blocking(move |v| v.recover_deleted_key(&key)).await?,
            )
        }
        Op::DeletedKeyPurge => {
            let key = key.to_string();
            ctx.blocking(move |v| v.purge_deleted_key(&key)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::KeyBackup => blob(ctx.vault()?.backup_key(key)?),
        Op::KeyRestore => {
            let p: BlobValue = parse_json(body)?;
            bundle(ctx, ctx.blocking(move |v| v.restore_key(&p.value.0)).await?)
        }
        Op::Random => {
            let p: RandomRequest = parse_json(body)?;
            blob(ctx.vault()?.random_bytes(p.count)?)
        }
        Op::KeySign => {
            let p: KeySignParameters = parse_json(body)?;
            let h = ctx.vault()?.key(key, version)?;
            let signature = match p.alg {
                SignAlg::Digest(alg) => h.sign(alg, &p.value.0)?,
                SignAlg::RsNull => h.sign_pkcs1v15_raw(&p.value.0)?,
            };
            ok(result(ctx, &h, signature))
        }
        Op::KeyVerify => {
            let p: KeyVerifyParameters = parse_json(body)?;
            let h = ctx.vault()?.key(key, version)?;
            let value = match p.alg {
                SignAlg::Digest(alg) => h.verify(alg, &p.digest.0, &p.value.0)?,
                SignAlg::RsNull => h.verify_pkcs1v15_raw(&p.digest.0, &p.value.0)?,
            };
            ok(KeyVerifyResult { value })
        }
        Op::KeyEncrypt | Op::KeyDecrypt => {
            let p: KeyOperationsParameters = parse_json(body)?;
            let alg = algorithm(&p.alg)?;
            let params = AesParams {
                iv: p.iv.as_ref().map(|b| b.0.as_slice()),
                aad: p.aad.as_ref().map(|b| b.0.as_slice()),
                tag: p.tag.as_ref().map(|b| b.0.as_slice()),
            };
            let h = ctx.vault()?.key(key, version)?;
            if op == Op::KeyDecrypt {
                let plain = h.decrypt(alg, &p.value.0, params)?;
                return ok(result(ctx, &h, plain.expose().to_vec()));
            }
            let e = h.encrypt(alg, &p.value.0, params)?;
            ok(KeyOperationResult {
                iv: e.iv.map(Base64Url),
                tag: e.tag.map(Base64Url),
                aad: e.aad.map(Base64Url),
                ..result(ctx, &h, e.ciphertext)
            })
        }
        Op::KeyWrap | Op::KeyUnwrap => {
            let p: KeyOperationsParameters = parse_json(body)?;
            let alg = algorithm(&p.alg)?;
            let h = ctx.vault()?.key(key, version)?;
            if op == Op::KeyUnwrap {
                let unwrapped = h.unwrap_key(alg, &p.value.0)?;
                return ok(result(ctx, &h, unwrapped.expose().to_vec()));
            }
            ok(result(ctx, &h, h.wrap_key(alg, &p.value.0)?))
        }
        other => Err(ApiError::misrouted(other)),
    }
}

fn bundle(ctx: &Ctx, b: crate::model::KeyBundle) -> Result<Response, ApiError> {
    ok(KeyBundleWire::from_bundle(&ctx.base, b))
}

fn result(ctx: &Ctx, h: &KeyHandle, value: Vec<u8>) -> KeyOperationResult {
    KeyOperationResult {
        kid: ctx.base.kid(h.name(), h.version()),
        value: Base64Url(value),
        iv: None,
        tag: None,
        aad: None,
    }
}

/// An encryption or key-wrap algorithm by name, parsed for the operation asked for.
fn algorithm<A: std::str::FromStr<Err = crate::Error>>(name: &str) -> Result<A, ApiError> {
    name.parse()
        .map_err(|e: crate::Error| ApiError::bad_parameter(format!("alg: {e}")))
}

fn key_options(
    attributes: Option<KeyAttributesWire>,
    tags: Option<crate::model::Tags>,
    release_policy: Option<KeyReleasePolicyWire>,
) -> Result<KeyOptions, ApiError> {
    let a = attributes.unwrap_or_default();
    Ok(KeyOptions {
        key_ops: None,
        enabled: a.enabled,
        not_before: a.nbf,
        expires: a.exp,
        exportable: a.exportable.unwrap_or(false),
        tags: tags.unwrap_or_default(),
        release_policy: release_policy
            .map(KeyReleasePolicyWire::into_policy)
            .transpose()?,
    })
}

async fn create(ctx: &Ctx, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let p: KeyCreateParameters = parse_json(body)?;
    if p.public_exponent.is_some_and(|e| e != 65537) {
        return Err(ApiError::bad_parameter("public_exponent must be 65537"));
    }
    let spec = KeySpec::for_key_type(p.kty, p.key_size, p.crv)?;
    let mut options = key_options(p.attributes, p.tags, p.release_policy)?;
    options.key_ops = p.key_ops;
    let name = name.to_string();
    let kty = p.kty;
    let b = ctx
        .blocking(move |v| v.create_key(&name, kty, spec, options))
        .await?;
    bundle(ctx, b)
}

async fn import(ctx: &Ctx, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let p: KeyImportParameters = parse_json(body)?;
    if !p.key.has_private_parts() {
        return Err(ApiError::bad_parameter(
            "key: the JWK has no private members; import needs the private key",
        ));
    }
    let options = key_options(p.attributes, p.tags, p.release_policy)?;
    let name = name.to_string();
    let hsm = p.hsm.unwrap_or(false);
    let jwk = p.key;
    let b = ctx
        .blocking(move |v| v.import_key(&name, &jwk, hsm, options))
        .await?;
    bundle(ctx, b)
}

async fn update(
    ctx: &Ctx,
    name: &str,
    version: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let p: KeyUpdateParameters = parse_json(body)?;
    let a = p.attributes.unwrap_or_default();
    let update = KeyUpdate {
        enabled: a.enabled,
        not_before: a.nbf.map(Some),
        expires: a.exp.map(Some),
        key_ops: p.key_ops,
        tags: p.tags,
        release_policy: p
            .release_policy
            .map(KeyReleasePolicyWire::into_policy)
            .transpose()?,
    };
    let (name, version) = (name.to_string(), version.map(str::to_string));
    let b = ctx
        .blocking(move |v| v.update_key(&name, version.as_deref(), update))
        .await?;
    bundle(ctx, b)
}
