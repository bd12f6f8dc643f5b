//! Key Vault REST wire models (api-version 7.x / 2025-07-01): what goes over HTTP, and the
//! conversions from the core's types. Byte values are base64url; dates are Unix seconds.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Base64Url, CurveName, Jwk, KeyOperation, KeyType, SignatureAlgorithm};
use crate::model::{DeletedKeyBundle, KeyBundle, Tags, VaultInfo};

/// `attributes` of a key, as sent and received.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyAttributesWire {
    /// Enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Not before (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixTime>,
    /// Expires (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixTime>,
    /// Created (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<UnixTime>,
    /// Updated (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<UnixTime>,
    /// Recovery level (read-only).
    #[serde(rename = "recoveryLevel", skip_serializing_if = "Option::is_none")]
    pub recovery_level: Option<String>,
    /// Recoverable days (read-only).
    #[serde(rename = "recoverableDays", skip_serializing_if = "Option::is_none")]
    pub recoverable_days: Option<u32>,
    /// Exportable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// HSM platform (read-only).
    #[serde(rename = "hsmPlatform", skip_serializing_if = "Option::is_none")]
    pub hsm_platform: Option<String>,
}

/// Body of `POST /keys/{name}/create`.
#[derive(Debug, Deserialize)]
pub struct KeyCreateParameters {
    /// Key type.
    pub kty: KeyType,
    /// RSA or oct size in bits.
    #[serde(default)]
    pub key_size: Option<usize>,
    /// RSA public exponent (only 65537 is supported).
    #[serde(default)]
    pub public_exponent: Option<u64>,
    /// Permitted operations.
    #[serde(default)]
    pub key_ops: Option<Vec<KeyOperation>>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Option<KeyAttributesWire>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
    /// Curve.
    #[serde(default)]
    pub crv: Option<CurveName>,
}

/// Body of `PUT /keys/{name}` (import).
#[derive(Debug, Deserialize)]
pub struct KeyImportParameters {
    /// Whether to import as an HSM key.
    #[serde(rename = "Hsm", alias = "hsm", default)]
    pub hsm: Option<bool>,
    /// The key, with private members.
    pub key: Jwk,
    /// Attributes.
    #[serde(default)]
    pub attributes: Option<KeyAttributesWire>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// Body of `PATCH /keys/{name}/{version}`.
#[derive(Debug, Deserialize)]
pub struct KeyUpdateParameters {
    /// New operations.
    #[serde(default)]
    pub key_ops: Option<Vec<KeyOperation>>,
    /// New attributes.
    #[serde(default)]
    pub attributes: Option<KeyAttributesWire>,
    /// New tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// Body of encrypt / decrypt / wrapkey / unwrapkey. `alg` is parsed per operation.
#[derive(Debug, Deserialize)]
pub struct KeyOperationsParameters {
    /// Algorithm name.
    pub alg: String,
    /// Input bytes.
    pub value: Base64Url,
    /// IV (AES).
    #[serde(default)]
    pub iv: Option<Base64Url>,
    /// Additional authenticated data (AES-GCM).
    #[serde(default)]
    pub aad: Option<Base64Url>,
    /// Authentication tag (AES-GCM decrypt).
    #[serde(default)]
    pub tag: Option<Base64Url>,
}

/// Body of `sign`.
#[derive(Debug, Deserialize)]
pub struct KeySignParameters {
    /// Algorithm.
    pub alg: SignatureAlgorithm,
    /// The digest.
    pub value: Base64Url,
}

/// Body of `verify`.
#[derive(Debug, Deserialize)]
pub struct KeyVerifyParameters {
    /// Algorithm.
    pub alg: SignatureAlgorithm,
    /// The digest.
    pub digest: Base64Url,
    /// The signature.
    pub value: Base64Url,
}

/// Result of encrypt / decrypt / sign / wrap / unwrap.
#[derive(Debug, Serialize)]
pub struct KeyOperationResult {
    /// The key version used.
    pub kid: String,
    /// Output bytes.
    pub value: Base64Url,
    /// IV used (AES encrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iv: Option<Base64Url>,
    /// Authentication tag (AES-GCM encrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<Base64Url>,
    /// AAD used (AES-GCM encrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aad: Option<Base64Url>,
}

/// Result of verify.
#[derive(Debug, Serialize)]
pub struct KeyVerifyResult {
    /// Whether the signature verified.
    pub value: bool,
}

/// A blob: backup result and restore body.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlobValue {
    /// The bytes.
    pub value: Base64Url,
}

/// Body of `POST /rng`.
#[derive(Debug, Deserialize)]
pub struct RandomRequest {
    /// How many bytes.
    pub count: usize,
}

/// A key bundle (and, with the deletion fields, a deleted key bundle).
#[derive(Debug, Serialize)]
pub struct KeyBundleWire {
    /// The public JWK with `kid`.
    pub key: Jwk,
    /// Attributes.
    pub attributes: KeyAttributesWire,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Deletion fields, for deleted keys.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionWire>,
}

/// What a deleted key carries besides its bundle or item.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionWire {
    /// Where to recover it (`https://host/deletedkeys/{name}`).
    pub recovery_id: String,
    /// When it was deleted.
    pub deleted_date: UnixTime,
    /// When it will be purged.
    pub scheduled_purge_date: UnixTime,
}

impl DeletionWire {
    fn new(base: &BaseUrl, name: &str, d: crate::model::DeletionInfo) -> Self {
        Self {
            recovery_id: base.recovery_id(name),
            deleted_date: d.deleted_date,
            scheduled_purge_date: d.scheduled_purge_date,
        }
    }
}

/// A list item (no key material), deleted or not.
#[derive(Debug, Serialize)]
pub struct KeyItemWire {
    /// Key id (`https://host/keys/name` for lists of keys, with version for versions).
    pub kid: String,
    /// Attributes.
    pub attributes: KeyAttributesWire,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Deletion fields, for deleted keys.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionWire>,
}

/// A page of a listing.
#[derive(Debug, Serialize)]
pub struct ListResult<T> {
    /// Items.
    pub value: Vec<T>,
    /// Link to the next page, or null.
    #[serde(rename = "nextLink")]
    pub next_link: Option<String>,
}

/// Where the request came in: builds `kid` and `recoveryId` from the request's own scheme,
/// host and port, so the SDKs can parse them.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    /// `https://host/keys/{name}/{version}`.
    pub fn kid(&self, name: &str, version: &str) -> String {
        format!("{}/keys/{name}/{version}", self.0)
    }

    /// `https://host/keys/{name}`.
    pub fn key_url(&self, name: &str) -> String {
        format!("{}/keys/{name}", self.0)
    }

    /// `https://host/deletedkeys/{name}`.
    pub fn recovery_id(&self, name: &str) -> String {
        format!("{}/deletedkeys/{name}", self.0)
    }
}

fn attributes(b: &KeyBundle) -> KeyAttributesWire {
    let a = &b.attributes;
    KeyAttributesWire {
        enabled: Some(a.enabled),
        nbf: a.not_before,
        exp: a.expires,
        created: Some(a.created),
        updated: Some(a.updated),
        recovery_level: Some(a.recovery_level.clone()),
        recoverable_days: Some(a.recoverable_days),
        exportable: Some(a.exportable),
        hsm_platform: matches!(b.kty, KeyType::EcHsm | KeyType::RsaHsm | KeyType::OctHsm)
            .then(|| "0".to_string()),
    }
}

fn tags(b: &KeyBundle) -> Option<Tags> {
    (!b.tags.is_empty()).then(|| b.tags.clone())
}

impl KeyBundleWire {
    /// A live key bundle.
    pub fn from_bundle(base: &BaseUrl, b: KeyBundle) -> Self {
        let attributes = attributes(&b);
        let tags = tags(&b);
        let mut key = b.key;
        key.kid = Some(base.kid(&b.name, &b.version));
        key.kty = Some(b.kty);
        Self {
            key,
            attributes,
            tags,
            deletion: None,
        }
    }

    /// A deleted key bundle.
    pub fn from_deleted(base: &BaseUrl, d: DeletedKeyBundle) -> Self {
        let deletion = DeletionWire::new(base, &d.key.name, d.deletion);
        Self {
            deletion: Some(deletion),
            ..Self::from_bundle(base, d.key)
        }
    }
}

impl KeyItemWire {
    /// A key in `GET /keys` (kid without version).
    pub fn key(base: &BaseUrl, b: &KeyBundle) -> Self {
        Self {
            kid: base.key_url(&b.name),
            attributes: attributes(b),
            tags: tags(b),
            deletion: None,
        }
    }

    /// A version in `GET /keys/{name}/versions`.
    pub fn version(base: &BaseUrl, b: &KeyBundle) -> Self {
        Self {
            kid: base.kid(&b.name, &b.version),
            ..Self::key(base, b)
        }
    }

    /// A deleted key in `GET /deletedkeys`.
    pub fn deleted(base: &BaseUrl, d: &DeletedKeyBundle) -> Self {
        Self {
            deletion: Some(DeletionWire::new(base, &d.key.name, d.deletion)),
            ..Self::key(base, &d.key)
        }
    }
}

/// A vault as the management API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultWire {
    /// Settings and state.
    #[serde(flatten)]
    pub info: VaultInfo,
    /// Key Vault's recovery level for its objects.
    pub recovery_level: &'static str,
}

impl From<VaultInfo> for VaultWire {
    fn from(info: VaultInfo) -> Self {
        let recovery_level = info.recovery_level();
        Self {
            info,
            recovery_level,
        }
    }
}

/// Body of `POST /management/vaults`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVaultRequest {
    /// Name.
    pub name: String,
    /// Kind: `vault` (default) or `managedhsm`.
    #[serde(default)]
    pub kind: Option<crate::model::VaultKind>,
    /// Retention in days (default 90).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Purge protection (default false).
    #[serde(default)]
    pub purge_protection: Option<bool>,
}

/// Body of `PATCH /management/vaults/{name}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateVaultRequest {
    /// Turn purge protection on (`false` is refused once on).
    #[serde(default)]
    pub purge_protection: Option<bool>,
    /// Turn the access log on or off.
    #[serde(default)]
    pub access_log: Option<bool>,
    /// Access-log retention in days (1 to 365).
    #[serde(default)]
    pub log_retention_days: Option<u32>,
}

/// Body of `POST /management/customer-data/export|delete`: exactly one subject.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerDataRequest {
    /// A principal's object ID.
    #[serde(default)]
    pub principal: Option<String>,
    /// A user principal name.
    #[serde(default)]
    pub upn: Option<String>,
    /// A device ID.
    #[serde(default)]
    pub device_id: Option<String>,
    /// A tag, `key=value`.
    #[serde(default)]
    pub tag: Option<String>,
}

impl CustomerDataRequest {
    /// The one subject named.
    pub fn subject(self) -> crate::Result<crate::customer_data::Subject> {
        use crate::customer_data::Subject;
        let named: Vec<Subject> = [
            self.principal.map(Subject::Principal),
            self.upn.map(Subject::Upn),
            self.device_id.map(Subject::DeviceId),
        ]
        .into_iter()
        .flatten()
        .chain(self.tag.map(|t| Subject::tag(&t)).transpose()?)
        .collect();
        match <[Subject; 1]>::try_from(named) {
            Ok([s]) => Ok(s),
            Err(_) => Err(crate::Error::bad_parameter(
                "name exactly one of principal, upn, deviceId or tag",
            )),
        }
    }
}

/// Body of `POST /management/time-shift`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeShiftRequest {
    /// Seconds to move the clock forward.
    pub seconds: u64,
}
