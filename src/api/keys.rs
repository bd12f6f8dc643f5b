//! Key Vault's key models (api-version 7.x / 2025-07-01): the bodies of `/keys`,
//! `/deletedkeys` and `/rng`, and their conversions from the core's types. Byte values are
//! base64url; dates are Unix seconds.
//!
//! Layer: faces, shared (see [`crate::api`]). May import `model`, `crypto` and `clock`.
//! Invariant: what the server writes is exactly Key Vault's JSON (absent fields omitted,
//! `nextLink` always present), and ids are built from the route table, so a `kid` is a path
//! the server answers.

use serde::{Deserialize, Serialize};

use super::routes::Op;
use crate::clock::UnixTime;
use crate::crypto::{Base64Url, CurveName, Jwk, KeyOperation, KeyType, SignatureAlgorithm};
use crate::model::key_policies::{
    IsoDuration, KeyReleasePolicy, KeyRotationPolicy, LifetimeAction, RotationAction,
    RotationPolicyUpdate, DEFAULT_RELEASE_CONTENT_TYPE,
};
use crate::model::{DeletedKeyBundle, KeyBundle, Tags};

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

// Request bodies: absent fields may be sent as `null`, which reads as absent.

/// Body of `POST /keys/{name}/create`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyCreateParameters {
    /// Key type.
    pub kty: KeyType,
    /// RSA or oct size in bits.
    pub key_size: Option<usize>,
    /// RSA public exponent (only 65537 is supported).
    pub public_exponent: Option<u64>,
    /// Permitted operations.
    pub key_ops: Option<Vec<KeyOperation>>,
    /// Attributes.
    pub attributes: Option<KeyAttributesWire>,
    /// Tags.
    pub tags: Option<Tags>,
    /// Curve.
    pub crv: Option<CurveName>,
    /// Release policy (exportable keys only).
    pub release_policy: Option<KeyReleasePolicyWire>,
}

/// Body of `PUT /keys/{name}` (import).
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyImportParameters {
    /// Whether to import as an HSM key.
    #[serde(rename = "Hsm", alias = "hsm")]
    pub hsm: Option<bool>,
    /// The key, with private members.
    pub key: Jwk,
    /// Attributes.
    pub attributes: Option<KeyAttributesWire>,
    /// Tags.
    pub tags: Option<Tags>,
    /// Release policy (exportable keys only).
    pub release_policy: Option<KeyReleasePolicyWire>,
}

/// Body of `PATCH /keys/{name}/{version}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyUpdateParameters {
    /// New operations.
    pub key_ops: Option<Vec<KeyOperation>>,
    /// New attributes.
    pub attributes: Option<KeyAttributesWire>,
    /// New tags.
    pub tags: Option<Tags>,
    /// New release policy.
    pub release_policy: Option<KeyReleasePolicyWire>,
}

/// A key's `release_policy`, as sent and received.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyReleasePolicyWire {
    /// Content type and version of the policy [default: `application/json; charset=utf-8`].
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Once true, the policy cannot change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// The policy, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Base64Url>,
}

impl KeyReleasePolicyWire {
    /// The policy as the core keeps it; `data` is required.
    pub fn into_policy(self) -> crate::Result<KeyReleasePolicy> {
        let data = self
            .data
            .ok_or_else(|| crate::Error::bad_parameter("release_policy: data is required"))?;
        Ok(KeyReleasePolicy {
            content_type: self
                .content_type
                .unwrap_or_else(|| DEFAULT_RELEASE_CONTENT_TYPE.to_string()),
            data,
            immutable: self.immutable.unwrap_or(false),
        })
    }

    /// The wire form of a kept policy.
    pub fn from_policy(p: KeyReleasePolicy) -> Self {
        Self {
            content_type: Some(p.content_type),
            immutable: Some(p.immutable),
            data: Some(p.data),
        }
    }
}

/// A key's rotation policy (`/keys/{name}/rotationpolicy`), as sent and received.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyRotationPolicyWire {
    /// `https://host/keys/{name}/rotationpolicy` (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The actions.
    #[serde(rename = "lifetimeActions")]
    pub lifetime_actions: Option<Vec<LifetimeActionWire>>,
    /// `expiryTime`, `created`, `updated`.
    pub attributes: Option<RotationPolicyAttributesWire>,
}

/// One lifetime action of a rotation policy.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LifetimeActionWire {
    /// When.
    pub trigger: Option<LifetimeTriggerWire>,
    /// What.
    pub action: Option<LifetimeActionTypeWire>,
}

/// A lifetime action's trigger: ISO 8601 durations.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LifetimeTriggerWire {
    /// After the current version's creation.
    #[serde(rename = "timeAfterCreate", skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    /// Before the current version's expiry.
    #[serde(rename = "timeBeforeExpiry", skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

/// A lifetime action's `action`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LifetimeActionTypeWire {
    /// `Rotate` or `Notify`.
    #[serde(rename = "type")]
    pub action_type: Option<String>,
}

/// A rotation policy's `attributes`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RotationPolicyAttributesWire {
    /// How long new versions live (ISO 8601 duration).
    #[serde(rename = "expiryTime", skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    /// When the policy was first set (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<UnixTime>,
    /// When it was last set (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<UnixTime>,
}

fn duration(field: &str, text: Option<String>) -> crate::Result<Option<IsoDuration>> {
    text.map(|t| {
        t.parse::<IsoDuration>()
            .map_err(|e| crate::Error::bad_parameter(format!("{field}: {e}")))
    })
    .transpose()
}

impl KeyRotationPolicyWire {
    /// The policy a caller sets, read field by field (each problem names its field).
    pub fn into_update(self) -> crate::Result<RotationPolicyUpdate> {
        let mut lifetime_actions = Vec::new();
        for (i, a) in self
            .lifetime_actions
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let at = format!("lifetimeActions[{i}]");
            let kind = a.action.and_then(|t| t.action_type).ok_or_else(|| {
                crate::Error::bad_parameter(format!("{at}.action.type is required"))
            })?;
            let action: RotationAction = kind
                .parse()
                .map_err(|e| crate::Error::bad_parameter(format!("{at}.action.type: {e}")))?;
            let trigger = a.trigger.unwrap_or_default();
            lifetime_actions.push(LifetimeAction {
                action,
                time_after_create: duration(
                    &format!("{at}.trigger.timeAfterCreate"),
                    trigger.time_after_create,
                )?,
                time_before_expiry: duration(
                    &format!("{at}.trigger.timeBeforeExpiry"),
                    trigger.time_before_expiry,
                )?,
            });
        }
        let expiry_time = duration(
            "attributes.expiryTime",
            self.attributes.and_then(|a| a.expiry_time),
        )?;
        Ok(RotationPolicyUpdate {
            lifetime_actions,
            expiry_time,
        })
    }

    /// A key's policy as Key Vault returns it, with its id.
    pub fn from_policy(base: &BaseUrl, name: &str, p: KeyRotationPolicy) -> Self {
        let lifetime_actions = p
            .lifetime_actions
            .into_iter()
            .map(|a| LifetimeActionWire {
                trigger: Some(LifetimeTriggerWire {
                    time_after_create: a.time_after_create.map(|d| d.to_string()),
                    time_before_expiry: a.time_before_expiry.map(|d| d.to_string()),
                }),
                action: Some(LifetimeActionTypeWire {
                    action_type: Some(a.action.as_str().to_string()),
                }),
            })
            .collect();
        Self {
            id: Some(base.url(Op::KeyGetRotationPolicy, &[name])),
            lifetime_actions: Some(lifetime_actions),
            attributes: Some(RotationPolicyAttributesWire {
                expiry_time: p.expiry_time.map(|d| d.to_string()),
                created: p.created,
                updated: p.updated,
            }),
        }
    }
}

/// Body of encrypt / decrypt / wrapkey / unwrapkey. `alg` is parsed per operation.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyOperationsParameters {
    /// Algorithm name.
    pub alg: String,
    /// Input bytes.
    pub value: Base64Url,
    /// IV (AES).
    pub iv: Option<Base64Url>,
    /// Additional authenticated data (AES-GCM).
    pub aad: Option<Base64Url>,
    /// Authentication tag (AES-GCM decrypt).
    pub tag: Option<Base64Url>,
}

/// The `alg` of sign and verify: one of Key Vault's digest algorithms, or `RSNULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlg {
    /// ES*, RS*, PS*: the value is a digest of the algorithm's hash.
    Digest(SignatureAlgorithm),
    /// `RSNULL`: RSASSA-PKCS1-v1_5 over the value as given, which the caller formats (a
    /// DigestInfo of any hash, as TLS and PKCS#11's `CKM_RSA_PKCS` do). RSA keys only.
    RsNull,
}

/// The wire name of [`SignAlg::RsNull`].
const RSNULL: &str = "RSNULL";

impl From<SignatureAlgorithm> for SignAlg {
    fn from(alg: SignatureAlgorithm) -> Self {
        SignAlg::Digest(alg)
    }
}

impl Serialize for SignAlg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SignAlg::Digest(alg) => alg.serialize(s),
            SignAlg::RsNull => s.serialize_str(RSNULL),
        }
    }
}

impl<'de> Deserialize<'de> for SignAlg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == RSNULL {
            return Ok(SignAlg::RsNull);
        }
        s.parse()
            .map(SignAlg::Digest)
            .map_err(serde::de::Error::custom)
    }
}

/// Body of `sign`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeySignParameters {
    /// Algorithm.
    pub alg: SignAlg,
    /// The digest.
    pub value: Base64Url,
}

/// Body of `verify`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyVerifyParameters {
    /// Algorithm.
    pub alg: SignAlg,
    /// The digest.
    pub digest: Base64Url,
    /// The signature.
    pub value: Base64Url,
}

/// Result of encrypt / decrypt / sign / wrap / unwrap.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyVerifyResult {
    /// Whether the signature verified.
    pub value: bool,
}

/// A blob: backup result and restore body; also the `/rng` result.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlobValue {
    /// The bytes.
    pub value: Base64Url,
}

/// Body of `POST /rng`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RandomRequest {
    /// How many bytes.
    pub count: usize,
}

/// A key bundle (and, with the deletion fields, a deleted key bundle).
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyBundleWire {
    /// The public JWK with `kid`.
    pub key: Jwk,
    /// Attributes, tags and deletion fields.
    #[serde(flatten)]
    pub properties: KeyProperties,
    /// The version's release policy, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<KeyReleasePolicyWire>,
}

/// A list item (no key material), deleted or not.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyItemWire {
    /// Key id (`https://host/keys/name` for lists of keys, with version for versions).
    pub kid: String,
    /// Attributes, tags and deletion fields.
    #[serde(flatten)]
    pub properties: KeyProperties,
}

/// What a bundle and a list item both carry besides the key or its id.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyProperties {
    /// Attributes.
    pub attributes: KeyAttributesWire,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// `true` when a certificate owns the key (absent otherwise, as Key Vault writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// Deletion fields, for deleted keys.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionWire>,
}

/// What a deleted key carries besides its bundle or item.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionWire {
    /// Where to recover it (`https://host/deletedkeys/{name}`).
    pub recovery_id: String,
    /// When it was deleted.
    pub deleted_date: UnixTime,
    /// When it will be purged.
    pub scheduled_purge_date: UnixTime,
}

impl KeyProperties {
    fn live(b: &KeyBundle) -> Self {
        let a = &b.attributes;
        let attributes = KeyAttributesWire {
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
        };
        Self {
            attributes,
            tags: (!b.tags.is_empty()).then(|| b.tags.clone()),
            managed: b.managed.then_some(true),
            deletion: None,
        }
    }

    fn deleted(base: &BaseUrl, d: &DeletedKeyBundle) -> Self {
        let deletion = DeletionWire {
            recovery_id: base.recovery_id(&d.key.name),
            deleted_date: d.deletion.deleted_date,
            scheduled_purge_date: d.deletion.scheduled_purge_date,
        };
        Self {
            deletion: Some(deletion),
            ..Self::live(&d.key)
        }
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, Deserialize)]
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
        self.url(Op::KeyGetVersion, &[name, version])
    }

    /// `https://host/keys/{name}`.
    pub fn key_url(&self, name: &str) -> String {
        self.url(Op::KeyGet, &[name])
    }

    /// `https://host/deletedkeys/{name}`.
    pub fn recovery_id(&self, name: &str) -> String {
        self.url(Op::DeletedKeyGet, &[name])
    }

    /// The absolute URL of a call.
    pub fn url(&self, op: Op, args: &[&str]) -> String {
        let mut url = self.0.clone();
        url.push_str(&op.path(args));
        url
    }
}

impl KeyBundleWire {
    /// A live key bundle.
    pub fn from_bundle(base: &BaseUrl, b: KeyBundle) -> Self {
        let properties = KeyProperties::live(&b);
        let mut key = b.key;
        key.kid = Some(base.kid(&b.name, &b.version));
        key.kty = Some(b.kty);
        Self {
            key,
            properties,
            release_policy: b.release_policy.map(KeyReleasePolicyWire::from_policy),
        }
    }

    /// A deleted key bundle.
    pub fn from_deleted(base: &BaseUrl, d: DeletedKeyBundle) -> Self {
        let properties = KeyProperties::deleted(base, &d);
        Self {
            properties,
            ..Self::from_bundle(base, d.key)
        }
    }
}

impl KeyItemWire {
    /// A key in `GET /keys` (kid without version).
    pub fn key(base: &BaseUrl, b: &KeyBundle) -> Self {
        Self {
            kid: base.key_url(&b.name),
            properties: KeyProperties::live(b),
        }
    }

    /// A version in `GET /keys/{name}/versions`.
    pub fn version(base: &BaseUrl, b: &KeyBundle) -> Self {
        Self {
            kid: base.kid(&b.name, &b.version),
            properties: KeyProperties::live(b),
        }
    }

    /// A deleted key in `GET /deletedkeys`.
    pub fn deleted(base: &BaseUrl, d: &DeletedKeyBundle) -> Self {
        Self {
            kid: base.key_url(&d.key.name),
            properties: KeyProperties::deleted(base, d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bundles_round_trip_with_and_without_deletion_fields() {
        let deleted = json!({
            "key": {"kid": "https://h/keys/k/v", "kty": "EC-HSM", "crv": "P-256", "x": "AA", "y": "AQ"},
            "attributes": {"enabled": true, "created": 1, "updated": 2, "recoveryLevel": "Recoverable"},
            "recoveryId": "https://h/deletedkeys/k", "deletedDate": 3, "scheduledPurgeDate": 4
        });
        let b: KeyBundleWire = serde_json::from_value(deleted.clone()).unwrap();
        assert_eq!(
            b.properties.deletion.as_ref().unwrap().scheduled_purge_date,
            4
        );
        assert_eq!(serde_json::to_value(&b).unwrap(), deleted);

        let live = json!({"key": {"kty": "oct-HSM"}, "attributes": {}, "tags": {"a": "b"}});
        let b: KeyBundleWire = serde_json::from_value(live.clone()).unwrap();
        assert!(b.properties.deletion.is_none());
        assert_eq!(serde_json::to_value(&b).unwrap(), live);
    }

    #[test]
    fn request_bodies_read_back_what_they_write() {
        let p = KeySignParameters {
            alg: SignatureAlgorithm::ES256.into(),
            value: Base64Url(vec![0, 255]),
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v, json!({"alg": "ES256", "value": "AP8"}));
        let back: KeySignParameters = serde_json::from_value(v).unwrap();
        assert_eq!(back.value.0, vec![0, 255]);
        assert_eq!(back.alg, SignAlg::Digest(SignatureAlgorithm::ES256));
        let raw: KeySignParameters =
            serde_json::from_value(json!({"alg": "RSNULL", "value": "AP8"})).unwrap();
        assert_eq!(raw.alg, SignAlg::RsNull);
        assert_eq!(serde_json::to_value(&raw).unwrap()["alg"], "RSNULL");
        let unknown =
            serde_json::from_value::<KeySignParameters>(json!({"alg": "RS1", "value": ""}));
        assert!(unknown
            .unwrap_err()
            .to_string()
            .contains("unknown signature algorithm"));
        // `null` reads as absent, so a client may send every field.
        let u: KeyUpdateParameters =
            serde_json::from_value(json!({"key_ops": null, "attributes": null, "tags": null}))
                .unwrap();
        assert!(u.key_ops.is_none() && u.attributes.is_none() && u.tags.is_none());
        let i: KeyImportParameters =
            serde_json::from_value(json!({"hsm": true, "key": {"kty": "oct"}})).unwrap();
        assert_eq!(i.hsm, Some(true));
        assert_eq!(serde_json::to_value(&i).unwrap()["Hsm"], true);
    }

    #[test]
    fn managed_keys_say_so_and_others_do_not() {
        let bundle = |managed| KeyBundle {
            vault: "v".into(),
            name: "c".into(),
            version: "0123".into(),
            kty: KeyType::Rsa,
            key: Jwk::default(),
            key_ops: Vec::new(),
            attributes: crate::model::KeyAttributes {
                enabled: true,
                not_before: None,
                expires: None,
                created: 1,
                updated: 2,
                exportable: false,
                recovery_level: "Recoverable".into(),
                recoverable_days: 90,
            },
            tags: Tags::new(),
            managed,
            is_current: true,
            release_policy: None,
        };
        let base = BaseUrl("https://h".into());
        let b = serde_json::to_value(KeyBundleWire::from_bundle(&base, bundle(true))).unwrap();
        assert_eq!(b["managed"], true);
        assert_eq!(b["key"]["kid"], "https://h/keys/c/0123");
        let i = serde_json::to_value(KeyItemWire::version(&base, &bundle(true))).unwrap();
        assert_eq!(i["managed"], true);
        let b = serde_json::to_value(KeyBundleWire::from_bundle(&base, bundle(false))).unwrap();
        assert!(b.get("managed").is_none(), "{b}");
        let i = serde_json::to_value(KeyItemWire::key(&base, &bundle(false))).unwrap();
        assert!(i.get("managed").is_none(), "{i}");
    }

    #[test]
    fn rotation_policies_read_and_write_key_vaults_shape() {
        let body = json!({
            "lifetimeActions": [
                {"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "rotate"}},
                {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
            ],
            "attributes": {"expiryTime": "P2Y"}
        });
        let w: KeyRotationPolicyWire = serde_json::from_value(body).unwrap();
        let u = w.into_update().unwrap();
        assert_eq!(u.lifetime_actions.len(), 2);
        assert_eq!(u.lifetime_actions[0].action, RotationAction::Rotate);
        assert_eq!(u.expiry_time.as_ref().map(IsoDuration::as_str), Some("P2Y"));
        let policy = KeyRotationPolicy {
            lifetime_actions: u.lifetime_actions,
            expiry_time: u.expiry_time,
            created: Some(1482188947),
            updated: Some(1482188948),
        };
        let base = BaseUrl("https://myvault.localhost".into());
        let out = serde_json::to_value(KeyRotationPolicyWire::from_policy(&base, "key01", policy))
            .unwrap();
        assert_eq!(
            out,
            json!({
                "id": "https://myvault.localhost/keys/key01/rotationpolicy",
                "lifetimeActions": [
                    {"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
                    {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
                ],
                "attributes": {"expiryTime": "P2Y", "created": 1482188947, "updated": 1482188948}
            })
        );
        // The default policy of a key without one.
        let out = serde_json::to_value(KeyRotationPolicyWire::from_policy(
            &base,
            "k",
            KeyRotationPolicy::default_policy(),
        ))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "id": "https://myvault.localhost/keys/k/rotationpolicy",
                "lifetimeActions": [
                    {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
                ],
                "attributes": {}
            })
        );
        // Each problem names its field.
        for (body, field) in [
            (
                json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "90 days"}, "action": {"type": "Rotate"}}]}),
                "lifetimeActions[0].trigger.timeAfterCreate",
            ),
            (
                json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Delete"}}]}),
                "lifetimeActions[0].action.type",
            ),
            (
                json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}}]}),
                "lifetimeActions[0].action.type is required",
            ),
            (
                json!({"attributes": {"expiryTime": "2y"}}),
                "attributes.expiryTime",
            ),
        ] {
            let w: KeyRotationPolicyWire = serde_json::from_value(body).unwrap();
            let e = w.into_update().expect_err("refused").to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn release_policies_default_their_content_type() {
        let w: KeyReleasePolicyWire = serde_json::from_value(json!({"data": "e30"})).unwrap();
        let p = w.into_policy().unwrap();
        assert_eq!(p.content_type, DEFAULT_RELEASE_CONTENT_TYPE);
        assert_eq!(p.data.0, b"{}");
        assert!(!p.immutable);
        assert_eq!(
            serde_json::to_value(KeyReleasePolicyWire::from_policy(p)).unwrap(),
            json!({"contentType": DEFAULT_RELEASE_CONTENT_TYPE, "immutable": false, "data": "e30"})
        );
        let none: KeyReleasePolicyWire = serde_json::from_value(json!({})).unwrap();
        assert!(none.into_policy().is_err());
    }

    #[test]
    fn ids_are_paths_of_the_table() {
        let base = BaseUrl("https://dev.localhost:8443".into());
        assert_eq!(
            base.kid("k1", "0123"),
            "https://dev.localhost:8443/keys/k1/0123"
        );
        assert_eq!(base.key_url("k1"), "https://dev.localhost:8443/keys/k1");
        assert_eq!(
            base.recovery_id("k1"),
            "https://dev.localhost:8443/deletedkeys/k1"
        );
    }
}
