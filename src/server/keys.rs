//! The Key Vault data plane: `/keys`, `/deletedkeys`, `/rng`.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;

use super::error::{parse_json, ApiError};
use super::wire::*;
use super::{method_not_allowed, not_found, AppState, Query};
use crate::crypto::{AesParams, Base64Url, EncryptionAlgorithm, KeySpec, WrapAlgorithm};
use crate::model::{Caller, KeyOptions, KeyUpdate};
use crate::vault::Vault;

/// Largest page a list returns, as Key Vault limits `maxresults`.
const MAX_PAGE: usize = 25;

/// One request's context.
pub(crate) struct Ctx {
    pub(crate) state: AppState,
    pub(crate) vault_name: String,
    pub(crate) base: BaseUrl,
    pub(crate) api_version: String,
    pub(crate) caller: Caller,
    pub(crate) params: Query,
}

impl Ctx {
    /// The request's vault, acting for the request's caller (access control applies).
    pub(crate) fn vault(&self) -> Result<Vault, ApiError> {
        Ok(self
            .state
            .store
            .vault_as(&self.vault_name, self.caller.clone())?)
    }

    /// Runs a store call that writes (and so flushes) off the async workers.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Vault) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        super::run_blocking(self.vault()?, f).await
    }

    fn page_size(&self) -> Result<usize, ApiError> {
        match self.params.get("maxresults") {
            None => Ok(MAX_PAGE),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_parameter(format!(
                    "maxresults must be an integer from 1 to {MAX_PAGE}, not {v:?}"
                ))),
            },
        }
    }

    fn continuation(&self) -> Result<Option<String>, ApiError> {
        self.params
            .get("$skiptoken")
            .map(|t| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| ApiError::bad_parameter("$skiptoken is not valid"))
            })
            .transpose()
    }

    fn next_link(&self, path: &str, max: usize, next: Option<String>) -> Option<String> {
        next.map(|n| {
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n);
            format!(
                "{}{path}?api-version={}&maxresults={max}&$skiptoken={token}",
                self.base.0, self.api_version
            )
        })
    }
}

fn ok<T: serde::Serialize>(v: T) -> Result<Response, ApiError> {
    Ok(Json(v).into_response())
}

fn version(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

/// The resource a request is about, for the access log: the key (with its version when
/// the path names one), or the vault.
pub(crate) fn resource_id(ctx: &Ctx, seg: &[&str]) -> String {
    match seg {
        ["keys" | "deletedkeys", name, ..] if *name != "restore" => {
            match seg.get(2).filter(|v| v.len() == 32) {
                Some(v) => ctx.base.kid(name, v),
                None => ctx.base.key_url(name),
            }
        }
        _ => ctx.base.0.clone(),
    }
}

/// Key Vault's operation name for a request, for the access log.
pub(crate) fn operation_name(method: &Method, seg: &[&str]) -> &'static str {
    use Method as M;
    match (seg, method) {
        (["keys"], _) => "KeyList",
        (["keys", "restore"], &M::POST) => "KeyRestore",
        (["keys", _], &M::GET) => "KeyGet",
        (["keys", _], &M::PUT) => "KeyImport",
        (["keys", _], &M::DELETE) => "KeyDelete",
        (["keys", _], &M::PATCH) => "KeyUpdate",
        (["keys", _, "create"], _) => "KeyCreate",
        (["keys", _, "versions"], _) => "KeyListVersions",
        (["keys", _, "backup"], _) => "KeyBackup",
        (["keys", _, "rotate"], _) => "KeyRotate",
        (["keys", _, _], &M::PATCH) => "KeyUpdate",
        (["keys", _, _], _) => "KeyGet",
        (["keys", _, _, "encrypt"], _) => "KeyEncrypt",
        (["keys", _, _, "decrypt"], _) => "KeyDecrypt",
        (["keys", _, _, "sign"], _) => "KeySign",
        (["keys", _, _, "verify"], _) => "KeyVerify",
        (["keys", _, _, "wrapkey"], _) => "KeyWrap",
        (["keys", _, _, "unwrapkey"], _) => "KeyUnwrap",
        (["deletedkeys"], _) => "KeyListDeleted",
        (["deletedkeys", _], &M::DELETE) => "KeyPurge",
        (["deletedkeys", _], _) => "KeyGetDeleted",
        (["deletedkeys", _, "recover"], _) => "KeyRecover",
        (["rng"], _) => "GetRandomBytes",
        _ => "Unknown",
    }
}

pub(crate) async fn route(
    ctx: &Ctx,
    method: &Method,
    seg: &[&str],
    body: Bytes,
) -> Result<Response, ApiError> {
    use Method as M;
    // A name Key Vault forbids is a 400 naming the problem on every route, not a 404 that
    // suggests such a key could exist.
    if let ["keys" | "deletedkeys", name, ..] = seg {
        crate::model::validate_name("key", name)?;
    }
    match (seg, method) {
        (["keys"], &M::GET) => list_keys(ctx),
        (["keys", "restore"], &M::POST) => restore(ctx, &body).await,
        (["keys", name], &M::GET) => get_key(ctx, name, None),
        (["keys", name], &M::PUT) => import(ctx, name, &body).await,
        (["keys", name], &M::DELETE) => delete(ctx, name).await,
        (["keys", name], &M::PATCH) => update(ctx, name, None, &body).await,
        (["keys", name, "create"], &M::POST) => create(ctx, name, &body).await,
        (["keys", name, "versions"], &M::GET) => list_versions(ctx, name),
        (["keys", name, "backup"], &M::POST) => backup(ctx, name),
        (["keys", name, "rotate"], &M::POST) => rotate(ctx, name).await,
        (["keys", name, v], &M::GET) => get_key(ctx, name, version(v)),
        (["keys", name, v], &M::PATCH) => update(ctx, name, version(v), &body).await,
        (["keys", name, v, op], &M::POST) => operation(ctx, name, version(v), op, &body),
        (["deletedkeys"], &M::GET) => list_deleted(ctx),
        (["deletedkeys", name], &M::GET) => get_deleted(ctx, name),
        (["deletedkeys", name], &M::DELETE) => purge(ctx, name).await,
        (["deletedkeys", name, "recover"], &M::POST) => recover(ctx, name).await,
        (["rng"], &M::POST) => rng(ctx, &body),
        (["keys"] | ["keys", ..] | ["deletedkeys", ..] | ["rng"], _)
            if seg.len() <= 4 && known_shape(seg) =>
        {
            Err(method_not_allowed(method))
        }
        _ => Err(not_found(seg)),
    }
}

fn known_shape(seg: &[&str]) -> bool {
    match seg {
        ["keys", _, _, op] => [
            "encrypt",
            "decrypt",
            "sign",
            "verify",
            "wrapkey",
            "unwrapkey",
        ]
        .contains(op),
        ["deletedkeys", _, tail] => *tail == "recover",
        _ => true,
    }
}

fn key_options(
    attributes: Option<KeyAttributesWire>,
    tags: Option<crate::model::Tags>,
) -> KeyOptions {
    let a = attributes.unwrap_or_default();
    KeyOptions {
        key_ops: None,
        enabled: a.enabled,
        not_before: a.nbf,
        expires: a.exp,
        exportable: a.exportable.unwrap_or(false),
        tags: tags.unwrap_or_default(),
    }
}

async fn create(ctx: &Ctx, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let p: KeyCreateParameters = parse_json(body)?;
    if p.public_exponent.is_some_and(|e| e != 65537) {
        return Err(ApiError::bad_parameter("public_exponent must be 65537"));
    }
    let spec = KeySpec::for_key_type(p.kty, p.key_size, p.crv)?;
    let mut options = key_options(p.attributes, p.tags);
    options.key_ops = p.key_ops;
    let name = name.to_string();
    let kty = p.kty;
    let bundle = ctx
        .blocking(move |v| v.create_key(&name, kty, spec, options))
        .await?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

async fn import(ctx: &Ctx, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let p: KeyImportParameters = parse_json(body)?;
    if !p.key.has_private_parts() {
        return Err(ApiError::bad_parameter(
            "key: the JWK has no private members; import needs the private key",
        ));
    }
    let options = key_options(p.attributes, p.tags);
    let name = name.to_string();
    let hsm = p.hsm.unwrap_or(false);
    let jwk = p.key;
    let bundle = ctx
        .blocking(move |v| v.import_key(&name, &jwk, hsm, options))
        .await?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

fn get_key(ctx: &Ctx, name: &str, version: Option<String>) -> Result<Response, ApiError> {
    let bundle = ctx.vault()?.get_key(name, version.as_deref())?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

async fn update(
    ctx: &Ctx,
    name: &str,
    version: Option<String>,
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
    };
    let name = name.to_string();
    let bundle = ctx
        .blocking(move |v| v.update_key(&name, version.as_deref(), update))
        .await?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

fn list_keys(ctx: &Ctx) -> Result<Response, ApiError> {
    let max = ctx.page_size()?;
    let page = ctx
        .vault()?
        .list_keys(max, ctx.continuation()?.as_deref())?;
    ok(ListResult {
        value: page
            .items
            .iter()
            .map(|b| KeyItemWire::key(&ctx.base, b))
            .collect(),
        next_link: ctx.next_link("/keys", max, page.next),
    })
}

fn list_versions(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let max = ctx.page_size()?;
    let page = ctx
        .vault()?
        .list_versions(name, max, ctx.continuation()?.as_deref())?;
    ok(ListResult {
        value: page
            .items
            .iter()
            .map(|b| KeyItemWire::version(&ctx.base, b))
            .collect(),
        next_link: ctx.next_link(&format!("/keys/{name}/versions"), max, page.next),
    })
}

fn list_deleted(ctx: &Ctx) -> Result<Response, ApiError> {
    let max = ctx.page_size()?;
    let page = ctx
        .vault()?
        .list_deleted_keys(max, ctx.continuation()?.as_deref())?;
    ok(ListResult {
        value: page
            .items
            .iter()
            .map(|d| KeyItemWire::deleted(&ctx.base, d))
            .collect(),
        next_link: ctx.next_link("/deletedkeys", max, page.next),
    })
}

async fn delete(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let name = name.to_string();
    let deleted = ctx.blocking(move |v| v.delete_key(&name)).await?;
    ok(KeyBundleWire::from_deleted(&ctx.base, deleted))
}

fn get_deleted(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let deleted = ctx.vault()?.get_deleted_key(name)?;
    ok(KeyBundleWire::from_deleted(&ctx.base, deleted))
}

async fn recover(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let name = name.to_string();
    let bundle = ctx.blocking(move |v| v.recover_deleted_key(&name)).await?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

async fn purge(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let name = name.to_string();
    ctx.blocking(move |v| v.purge_deleted_key(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn backup(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let blob = ctx.vault()?.backup_key(name)?;
    ok(BlobValue {
        value: Base64Url(blob),
    })
}

async fn restore(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let p: BlobValue = parse_json(body)?;
    let bundle = ctx.blocking(move |v| v.restore_key(&p.value.0)).await?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

async fn rotate(ctx: &Ctx, name: &str) -> Result<Response, ApiError> {
    let name = name.to_string();
    let bundle = ctx.blocking(move |v| v.rotate_key(&name)).await?;
    ok(KeyBundleWire::from_bundle(&ctx.base, bundle))
}

fn rng(ctx: &Ctx, body: &[u8]) -> Result<Response, ApiError> {
    let p: RandomRequest = parse_json(body)?;
    ok(BlobValue {
        value: Base64Url(ctx.vault()?.random_bytes(p.count)?),
    })
}

fn operation(
    ctx: &Ctx,
    name: &str,
    version: Option<String>,
    op: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    if ![
        "encrypt",
        "decrypt",
        "sign",
        "verify",
        "wrapkey",
        "unwrapkey",
    ]
    .contains(&op)
    {
        return Err(not_found(&[
            "keys",
            name,
            version.as_deref().unwrap_or(""),
            op,
        ]));
    }
    // Parse before resolving, so malformed input is a 400 whatever the key's state.
    let handle = |ctx: &Ctx| {
        ctx.vault()
            .and_then(|v| Ok(v.key(name, version.as_deref())?))
    };
    let result = |h: &crate::KeyHandle, value: Vec<u8>| KeyOperationResult {
        kid: ctx.base.kid(h.name(), h.version()),
        value: Base64Url(value),
        iv: None,
        tag: None,
        aad: None,
    };
    match op {
        "sign" => {
            let p: KeySignParameters = parse_json(body)?;
            let h = handle(ctx)?;
            let sig = h.sign(p.alg, &p.value.0)?;
            ok(result(&h, sig))
        }
        "verify" => {
            let p: KeyVerifyParameters = parse_json(body)?;
            let h = handle(ctx)?;
            ok(KeyVerifyResult {
                value: h.verify(p.alg, &p.digest.0, &p.value.0)?,
            })
        }
        "encrypt" | "decrypt" => {
            let p: KeyOperationsParameters = parse_json(body)?;
            let alg: EncryptionAlgorithm = p
                .alg
                .parse()
                .map_err(|e: crate::Error| ApiError::bad_parameter(format!("alg: {e}")))?;
            let params = AesParams {
                iv: p.iv.as_ref().map(|b| b.0.as_slice()),
                aad: p.aad.as_ref().map(|b| b.0.as_slice()),
                tag: p.tag.as_ref().map(|b| b.0.as_slice()),
            };
            let h = handle(ctx)?;
            if op == "encrypt" {
                let e = h.encrypt(alg, &p.value.0, params)?;
                ok(KeyOperationResult {
                    iv: e.iv.map(Base64Url),
                    tag: e.tag.map(Base64Url),
                    aad: e.aad.map(Base64Url),
                    ..result(&h, e.ciphertext)
                })
            } else {
                let plain = h.decrypt(alg, &p.value.0, params)?;
                ok(result(&h, plain.expose().to_vec()))
            }
        }
        _ => {
            let p: KeyOperationsParameters = parse_json(body)?;
            let alg: WrapAlgorithm = p
                .alg
                .parse()
                .map_err(|e: crate::Error| ApiError::bad_parameter(format!("alg: {e}")))?;
            let h = handle(ctx)?;
            if op == "wrapkey" {
                let wrapped = h.wrap_key(alg, &p.value.0)?;
                ok(result(&h, wrapped))
            } else {
                let key = h.unwrap_key(alg, &p.value.0)?;
                ok(result(&h, key.expose().to_vec()))
            }
        }
    }
}
