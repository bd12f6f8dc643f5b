//! The Key Vault certificates data plane: `/certificates` (with the pending operation,
//! contacts and issuers) and `/deletedcertificates`, one handler per row of the route
//! table.
//!
//! Layer: faces (server). May import `api` (bodies, route table), the core (`vault`,
//! `model`) and `server::{context, error}`. Invariants: a body is parsed (and an import
//! value decoded) before the certificate is looked up, so malformed input is a 400 whatever
//! the certificate's state; an imported PFX or PEM and its password travel in zeroizing
//! types and appear in no response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::context::{blob, created, list, ok, Ctx};
use super::error::{parse_json, ApiError};
use crate::api::routes::Op;
use crate::api::*;
use crate::model::certificates::{CertificateOptions, CertificateUpdate};

/// Answers a request for one of the certificate routes, on `name` (the certificate, or for
/// the issuer routes the issuer; empty for routes without one) and `version` (`None`: the
/// current one).
pub(crate) async fn handle(
    ctx: &Ctx,
    op: Op,
    (name, version): (&str, Option<&str>),
    body: &[u8],
) -> Result<Response, ApiError> {
    let owned = name.to_string();
    match op {
        Op::CertificateList => {
            let include_pending = include_pending(ctx)?;
            list(
                ctx,
                op,
                &[],
                |v, max, next| v.list_certificates(max, next, include_pending),
                CertificateItemWire::certificate,
            )
        }
        Op::CertificateListVersions => list(
            ctx,
            op,
            &[name],
            |v, max, next| v.list_certificate_versions(name, max, next),
            CertificateItemWire::version,
        ),
        Op::DeletedCertificateList => list(
            ctx,
            op,
            &[],
            |v, max, next| v.list_deleted_certificates(max, next),
            CertificateItemWire::deleted,
        ),
        Op::CertificateGet | Op::CertificateGetVersion => {
            let b = ctx.vault()?.get_certificate(name, version)?;
            bundle(ctx, b)
        }
        Op::CertificateCreate => {
            let p: CertificateCreateParameters = parse_json(body)?;
            let policy = p.policy.ok_or_else(|| {
                ApiError::bad_parameter("policy is required: create issues from a policy")
            })?;
            let options = options(p.attributes, p.tags);
            let o = ctx
                .blocking(move |v| v.create_certificate(&owned, policy, options))
                .await?;
            // Key Vault answers 202 with the pending operation and where to poll it.
            let location = format!(
                "{}?api-version={}&request_id={}",
                ctx.base.certificate_operation_id(name),
                ctx.api_version,
                o.request_id
            );
            let mut resp = (
                StatusCode::ACCEPTED,
                Json(CertificateOperationWire::new(&ctx.base, o)),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        Op::CertificateImport => {
            let p: CertificateImportParameters = parse_json(body)?;
            let value = p.decoded_value().map_err(ApiError::bad_parameter)?;
            let options = options(p.attributes, p.tags);
            let (password, policy) = (p.pwd, p.policy);
            let b = ctx
                .blocking(move |v| v.import_certificate(&owned, value, password, policy, options))
                .await?;
            bundle(ctx, b)
        }
        Op::CertificateMerge => {
            let p: CertificateMergeParameters = parse_json(body)?;
            if p.x5c.is_empty() {
                return Err(ApiError::bad_parameter(
                    "x5c is empty: merge needs the signed certificate, then its chain",
                ));
            }
            let options = options(p.attributes, p.tags);
            let chain: Vec<Vec<u8>> = p.x5c.into_iter().map(|c| c.0).collect();
            let b = ctx
                .blocking(move |v| v.merge_certificate(&owned, chain, options))
                .await?;
            created(CertificateBundleWire::version(&ctx.base, b))
        }
        Op::CertificateUpdate | Op::CertificateUpdateVersion => {
            let p: CertificateUpdateParameters = parse_json(body)?;
            let update = CertificateUpdate {
                enabled: p.attributes.and_then(|a| a.enabled),
                tags: p.tags,
                policy: p.policy,
            };
            let version = version.map(str::to_string);
            let b = ctx
                .blocking(move |v| v.update_certificate(&owned, version.as_deref(), update))
                .await?;
            bundle(ctx, b)
        }
        Op::PolicyGet => {
            let policy = ctx.vault()?.get_certificate_policy(name)?;
            ok(CertificatePolicyWire::new(&ctx.base, name, policy))
        }
        Op::PolicyUpdate => {
            let policy: crate::model::certificates::CertificatePolicy = parse_json(body)?;
            let policy = ctx
                .blocking(move |v| v.update_certificate_policy(&owned, policy))
                .await?;
            ok(CertificatePolicyWire::new(&ctx.base, name, policy))
        }
        Op::OperationGet => {
            let o = ctx.vault()?.get_certificate_operation(name)?;
            ok(CertificateOperationWire::new(&ctx.base, o))
        }
        Op::OperationUpdate => {
            let p: CertificateOperationUpdateParameter = parse_json(body)?;
            // Only a cancellation changes anything; `false` asks for nothing and reads back.
            let o = if p.cancellation_requested {
                ctx.blocking(move |v| v.cancel_certificate_operation(&owned))
                    .await?
            } else {
                ctx.vault()?.get_certificate_operation(name)?
            };
            ok(CertificateOperationWire::new(&ctx.base, o))
        }
        Op::OperationDelete => {
            let o = ctx
                .blocking(move |v| v.delete_certificate_operation(&owned))
                .await?;
            ok(CertificateOperationWire::new(&ctx.base, o))
        }
        Op::CertificateDelete => {
            let d = ctx.blocking(move |v| v.delete_certificate(&owned)).await?;
            ok(CertificateBundleWire::deleted(&ctx.base, d))
        }
        Op::DeletedCertificateGet => {
            let d = ctx.vault()?.get_deleted_certificate(name)?;
            ok(CertificateBundleWire::deleted(&ctx.base, d))
        }
        Op::DeletedCertificateRecover => {
            let b = ctx
                .blocking(move |v| v.recover_deleted_certificate(&owned))
                .await?;
            bundle(ctx, b)
        }
        Op::DeletedCertificatePurge => {
            ctx.blocking(move |v| v.purge_deleted_certificate(&owned))
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::CertificateBackup => blob(ctx.vault()?.backup_certificate(name)?),
        Op::CertificateRestore => {
            let p: BlobValue = parse_json(body)?;
            let b = ctx
                .blocking(move |v| v.restore_certificate(&p.value.0))
                .await?;
            bundle(ctx, b)
        }
        Op::ContactsGet => {
            let c = ctx.vault()?.get_certificate_contacts()?;
            ok(ContactsWire::new(&ctx.base, c))
        }
        Op::ContactsSet => {
            let p: ContactsWire = parse_json(body)?;
            let contacts = p.contacts.unwrap_or_default();
            let c = ctx
                .blocking(move |v| v.set_certificate_contacts(contacts))
                .await?;
            ok(ContactsWire::new(&ctx.base, c))
        }
        Op::ContactsDelete => {
            let c = ctx.blocking(|v| v.delete_certificate_contacts()).await?;
            ok(ContactsWire::new(&ctx.base, c))
        }
        Op::IssuerList => list(
            ctx,
            op,
            &[],
            |v, max, next| v.list_certificate_issuers(max, next),
            IssuerItemWire::new,
        ),
        Op::IssuerGet => {
            let i = ctx.vault()?.get_certificate_issuer(name)?;
            ok(IssuerBundleWire::new(&ctx.base, i))
        }
        Op::IssuerSet | Op::IssuerUpdate => {
            let p: IssuerParametersWire = parse_json(body)?;
            if op == Op::IssuerSet && p.provider.is_none() {
                return Err(ApiError::bad_parameter(
                    "provider is required to set an issuer",
                ));
            }
            let update = p.into_update();
            let i = ctx
                .blocking(move |v| {
                    if op == Op::IssuerSet {
                        v.set_certificate_issuer(&owned, update)
                    } else {
                        v.update_certificate_issuer(&owned, update)
                    }
                })
                .await?;
            ok(IssuerBundleWire::new(&ctx.base, i))
        }
        Op::IssuerDelete => {
            let i = ctx
                .blocking(move |v| v.delete_certificate_issuer(&owned))
                .await?;
            ok(IssuerBundleWire::new(&ctx.base, i))
        }
        other => Err(ApiError::misrouted(other)),
    }
}

fn bundle(
    ctx: &Ctx,
    b: crate::model::certificates::CertificateBundle,
) -> Result<Response, ApiError> {
    ok(CertificateBundleWire::version(&ctx.base, b))
}

fn options(
    attributes: Option<CertificateAttributesWire>,
    tags: Option<crate::model::Tags>,
) -> CertificateOptions {
    CertificateOptions {
        enabled: attributes.and_then(|a| a.enabled),
        tags: tags.unwrap_or_default(),
    }
}

/// `includePending` of `GET /certificates`: `true` or `false` (any case), default false.
fn include_pending(ctx: &Ctx) -> Result<bool, ApiError> {
    match ctx.query.get("includePending") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::bad_parameter(format!(
            "includePending must be true or false, not {v:?}"
        ))),
    }
}
