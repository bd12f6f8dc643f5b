//! The management API's bodies (`/management/...`): vaults (with Key Vault's permission
//! model, `enableRbacAuthorization`), vault access policies, access logs, customer-data
//! requests and the dev-mode clock. Not part of Key Vault; localhsm's own, with Azure's
//! names where Azure has them (`AccessPolicyEntry`'s `objectId`, `tenantId`, `permissions`).
//!
//! Layer: faces, shared (see [`crate::api`]). May import `model`, `audit`,
//! `customer_data` and `error`. Invariant: requests refuse unknown fields, so a misspelt
//! setting is an error rather than silently ignored.

use serde::{Deserialize, Serialize};

use crate::audit::LogQuery;
use crate::clock::UnixTime;
use crate::customer_data::Subject;
use crate::error::{Error, Result};
use crate::model::access::{AccessPolicyEntry, Permissions};
use crate::model::{VaultInfo, VaultKind};

/// A vault as the management API shows it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultWire {
    /// Settings and state.
    #[serde(flatten)]
    pub info: VaultInfo,
    /// Key Vault's recovery level for its objects.
    pub recovery_level: String,
}

impl From<VaultInfo> for VaultWire {
    fn from(info: VaultInfo) -> Self {
        let recovery_level = info.recovery_level().to_string();
        Self {
            info,
            recovery_level,
        }
    }
}

/// `{"value": [...]}`: a listing of the management API (it does not page).
#[derive(Debug, Serialize, Deserialize)]
pub struct Values<T> {
    /// The items.
    pub value: Vec<T>,
}

// Request bodies: absent fields may be sent as `null`, which reads as absent.

/// Body of `POST /management/vaults`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVaultRequest {
    /// Name.
    pub name: String,
    /// Kind: `vault` (default) or `managedhsm`.
    pub kind: Option<VaultKind>,
    /// Retention in days (default 90).
    pub retention_days: Option<u32>,
    /// Purge protection (default false).
    pub purge_protection: Option<bool>,
    /// Key Vault's permission model (default true: role assignments decide); false lets
    /// the vault's access policies decide (kind `vault` only).
    pub enable_rbac_authorization: Option<bool>,
}

/// Body of `PATCH /management/vaults/{name}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateVaultRequest {
    /// Turn purge protection on (`false` is refused once on).
    pub purge_protection: Option<bool>,
    /// Turn the access log on or off.
    pub access_log: Option<bool>,
    /// Access-log retention in days (1 to 365).
    pub log_retention_days: Option<u32>,
    /// Switch the permission model: true, role assignments; false, access policies (kind
    /// `vault` only).
    pub enable_rbac_authorization: Option<bool>,
}

/// The `permissions` of an access-policy request: Key Vault's permission names per object
/// family (case-insensitive; `all` for every one).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsRequest {
    /// On keys: `get`, `list`, `update`, `create`, `import`, `delete`, `recover`, `backup`,
    /// `restore`, `decrypt`, `encrypt`, `unwrapKey`, `wrapKey`, `verify`, `sign`, `purge`,
    /// `release`, `rotate`, `getrotationpolicy`, `setrotationpolicy`.
    pub keys: Option<Vec<String>>,
    /// On secrets: `get`, `list`, `set`, `delete`, `recover`, `backup`, `restore`, `purge`.
    pub secrets: Option<Vec<String>>,
    /// On certificates (kept; certificates are not served yet).
    pub certificates: Option<Vec<String>>,
}

/// Body of `PUT /management/vaults/{vault}/accesspolicies/{object-id}`: the principal's
/// whole policy (it replaces any the principal had).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetAccessPolicyRequest {
    /// The principal's object ID; when given, the same as the path's.
    pub object_id: Option<String>,
    /// The principal's tenant; when given, only tokens of that tenant match.
    pub tenant_id: Option<String>,
    /// What the principal may do.
    pub permissions: PermissionsRequest,
}

impl SetAccessPolicyRequest {
    /// The entry for the principal `object_id` (the path's), with its permissions read.
    pub fn entry(self, object_id: &str) -> Result<AccessPolicyEntry> {
        if let Some(body) = &self.object_id {
            if !body.eq_ignore_ascii_case(object_id) {
                return Err(Error::bad_parameter(format!(
                    "objectId {body:?} in the body is not the object ID of the path \
                     ({object_id:?})"
                )));
            }
        }
        fn read<P: std::str::FromStr<Err = Error>>(names: Option<Vec<String>>) -> Result<Vec<P>> {
            names
                .unwrap_or_default()
                .iter()
                .map(|n| n.parse())
                .collect()
        }
        let p = self.permissions;
        Ok(AccessPolicyEntry {
            tenant_id: self.tenant_id,
            object_id: object_id.to_string(),
            permissions: Permissions {
                keys: read(p.keys)?,
                secrets: read(p.secrets)?,
                certificates: read(p.certificates)?,
            },
        })
    }
}

/// Body of `POST /management/customer-data/export|delete`: exactly one subject.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerDataRequest {
    /// A principal's object ID.
    pub principal: Option<String>,
    /// A user principal name.
    pub upn: Option<String>,
    /// An e-mail address (certificate subjects and alternative names, contacts, issuer
    /// administrators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A device ID.
    pub device_id: Option<String>,
    /// A tag, `key=value`.
    pub tag: Option<String>,
}

impl CustomerDataRequest {
    /// The one subject named.
    pub fn subject(self) -> Result<Subject> {
        let named: Vec<Subject> = [
            self.principal.map(Subject::Principal),
            self.upn.map(Subject::Upn),
            self.email.map(Subject::Email),
            self.device_id.map(Subject::DeviceId),
        ]
        .into_iter()
        .flatten()
        .chain(self.tag.map(|t| Subject::tag(&t)).transpose()?)
        .collect();
        match <[Subject; 1]>::try_from(named) {
            Ok([s]) => Ok(s),
            Err(_) => Err(Error::bad_parameter(
                "name exactly one of principal, upn, deviceId or tag (or email, an e-mail \
                 address)",
            )),
        }
    }
}

/// Body of `POST /management/time-shift`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeShiftRequest {
    /// Seconds to move the clock forward.
    pub seconds: u64,
}

/// Answer of `POST /management/time-shift`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeShiftResult {
    /// The store's time after the shift.
    pub now: UnixTime,
    /// How far the clock is ahead of the system clock, in seconds.
    pub offset_seconds: i64,
    /// Keys the shift purged, as `vault/name`.
    pub purged_keys: Vec<String>,
    /// Secrets the shift purged, as `vault/name`.
    #[serde(default)]
    pub purged_secrets: Vec<String>,
    /// Vaults the shift purged.
    pub purged_vaults: Vec<String>,
    /// Certificates the shift renewed (AutoRenew came due), as `vault/name/version`.
    #[serde(default)]
    pub renewed_certificates: Vec<String>,
    /// Keys the shift rotated (their rotation policy's Rotate action came due), as
    /// `vault/name/new-version`.
    #[serde(default)]
    pub rotated_keys: Vec<String>,
}

/// The query of `GET /management/vaults/{name}/accesslog` (absent parameters are left
/// out of a query string).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AccessLogParams {
    /// Only records of this caller object ID.
    pub principal: Option<String>,
    /// Only records at or after this time (Unix seconds).
    pub since: Option<UnixTime>,
    /// At most this many records.
    pub limit: Option<usize>,
}

impl AccessLogParams {
    /// Reads the parameters of a request; `get` looks one up by name. A malformed number
    /// is a bad parameter naming what it should be.
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self> {
        fn number<T: std::str::FromStr>(value: Option<&str>, what: &str) -> Result<Option<T>> {
            value
                .map(|v| {
                    v.parse()
                        .map_err(|_| Error::bad_parameter(what.to_string()))
                })
                .transpose()
        }
        Ok(Self {
            principal: get("principal").map(str::to_string),
            since: number(get("since"), "since must be Unix seconds")?,
            limit: number(get("limit"), "limit must be a number")?,
        })
    }
}

impl From<AccessLogParams> for LogQuery {
    fn from(p: AccessLogParams) -> Self {
        LogQuery {
            principal: p.principal,
            since: p.since,
            limit: p.limit,
        }
    }
}

/// A key version's type and size, for the PKCS#11 module through a running server
/// (`GET /management/vaults/{vault}/pkcs11-keys/{key}[/{version}]`): Key Vault's key bundle
/// does not say how long an oct key is, which `CKA_VALUE_LEN` and the AES mechanisms need.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pkcs11KeySpec {
    /// The key's name.
    pub name: String,
    /// The version described (the current one when the request named none).
    pub version: String,
    /// Its key type.
    pub kty: crate::crypto::KeyType,
    /// Its curve (EC keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<crate::crypto::CurveName>,
    /// Its size in bits (RSA and oct keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<usize>,
}

impl Pkcs11KeySpec {
    /// The answer for a key version of type `kty` and `spec`.
    pub fn new(
        name: &str,
        version: &str,
        kty: crate::crypto::KeyType,
        spec: crate::KeySpec,
    ) -> Self {
        let (crv, key_size) = match spec {
            crate::KeySpec::Ec(crv) => (Some(crv), None),
            crate::KeySpec::Rsa(bits) | crate::KeySpec::Oct(bits) => (None, Some(bits)),
        };
        Self {
            name: name.to_string(),
            version: version.to_string(),
            kty,
            crv,
            key_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_parameters_round_trip_through_a_query_string() {
        let p = AccessLogParams {
            principal: Some("a b&c".into()),
            since: Some(5),
            limit: None,
        };
        let q = serde_urlencoded::to_string(&p).unwrap();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&q).unwrap();
        let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let back = AccessLogParams::from_query(get).unwrap();
        assert_eq!(back.principal.as_deref(), Some("a b&c"));
        assert_eq!((back.since, back.limit), (Some(5), None));
        let e = AccessLogParams::from_query(|n| (n == "limit").then_some("ten")).unwrap_err();
        assert_eq!(
            e.to_string(),
            Error::bad_parameter("limit must be a number").to_string()
        );
    }

    #[test]
    fn access_policy_requests_read_key_vaults_permission_names() {
        let req: SetAccessPolicyRequest = serde_json::from_str(
            r#"{"objectId":"OID-1","permissions":{"secrets":["Get","list"],"keys":["wrapkey"]}}"#,
        )
        .unwrap();
        let e = req.entry("oid-1").unwrap();
        assert_eq!(e.object_id, "oid-1");
        assert_eq!(
            serde_json::to_value(&e.permissions).unwrap(),
            serde_json::json!({"keys": ["wrapKey"], "secrets": ["get", "list"], "certificates": []})
        );
        let other: SetAccessPolicyRequest =
            serde_json::from_str(r#"{"objectId":"a","permissions":{}}"#).unwrap();
        assert!(other
            .entry("b")
            .unwrap_err()
            .to_string()
            .contains("not the object ID"));
        let bad: SetAccessPolicyRequest =
            serde_json::from_str(r#"{"permissions":{"secrets":["write"]}}"#).unwrap();
        assert!(bad
            .entry("a")
            .unwrap_err()
            .to_string()
            .contains("secret permission \"write\""));
        assert!(serde_json::from_str::<SetAccessPolicyRequest>(
            r#"{"permissions":{"storage":["get"]}}"#
        )
        .is_err());
    }

    #[test]
    fn customer_data_requests_name_exactly_one_subject() {
        let one = CustomerDataRequest {
            principal: None,
            upn: None,
            email: None,
            device_id: Some("d".into()),
            tag: None,
        };
        assert!(matches!(one.subject(), Ok(Subject::DeviceId(d)) if d == "d"));
        let mail: CustomerDataRequest =
            serde_json::from_str(r#"{"email":"ann@example.com"}"#).unwrap();
        assert!(matches!(mail.subject(), Ok(Subject::Email(e)) if e == "ann@example.com"));
        let both: CustomerDataRequest =
            serde_json::from_str(r#"{"email":"a@b.c","upn":"a@b.c"}"#).unwrap();
        assert!(both.subject().is_err());
        let two: CustomerDataRequest =
            serde_json::from_str(r#"{"principal":"p","upn":"u"}"#).unwrap();
        assert!(two.subject().is_err());
    }
}
