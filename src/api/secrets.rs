//! Key Vault's secret models: the bodies of `/secrets` and `/deletedsecrets`, and their
//! conversions from the core's types. Dates are Unix seconds.
//!
//! Layer: faces, shared (see [`crate::api`]). May import `model`, `crypto` and `clock`.
//! Invariant: a value appears only in a set request and in a set or get response; items,
//! updates and deleted bundles never carry one. Ids are built from the route table, so an
//! `id` is a path the server answers.

use serde::{Deserialize, Serialize};

use super::keys::{BaseUrl, DeletionWire};
use super::routes::Op;
use crate::clock::UnixTime;
use crate::crypto::SecretString;
use crate::model::{DeletedSecretBundle, SecretBundle, Tags};

/// `attributes` of a secret, as sent and received.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SecretAttributesWire {
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
}

/// Body of `PUT /secrets/{name}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SecretSetParameters {
    /// The value.
    pub value: SecretString,
    /// Content type.
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<SecretAttributesWire>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// Body of `PATCH /secrets/{name}/{version}`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SecretUpdateParameters {
    /// Content type.
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<SecretAttributesWire>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// A secret bundle (with its value on set and get) or list item (without), deleted or not.
#[derive(Debug, Serialize, Deserialize)]
pub struct SecretBundleWire {
    /// `https://host/secrets/{name}/{version}` (for lists of secrets, without the version).
    pub id: String,
    /// The value, on set and get only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<SecretString>,
    /// Content type.
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Attributes.
    pub attributes: SecretAttributesWire,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// True when a certificate owns the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// For a certificate's secret: the key of the same name and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Deletion fields, for deleted secrets.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionWire>,
}

impl BaseUrl {
    /// `https://host/secrets/{name}/{version}`.
    pub fn secret_id(&self, name: &str, version: &str) -> String {
        self.url(Op::SecretGetVersion, &[name, version])
    }

    /// `https://host/secrets/{name}`.
    pub fn secret_url(&self, name: &str) -> String {
        self.url(Op::SecretGet, &[name])
    }

    /// `https://host/deletedsecrets/{name}`.
    pub fn secret_recovery_id(&self, name: &str) -> String {
        self.url(Op::DeletedSecretGet, &[name])
    }
}

impl SecretBundleWire {
    fn new(id: String, b: SecretBundle) -> Self {
        let a = b.attributes;
        Self {
            id,
            value: b.value,
            content_type: b.content_type,
            attributes: SecretAttributesWire {
                enabled: Some(a.enabled),
                nbf: a.not_before,
                exp: a.expires,
                created: Some(a.created),
                updated: Some(a.updated),
                recovery_level: Some(a.recovery_level),
                recoverable_days: Some(a.recoverable_days),
            },
            tags: (!b.tags.is_empty()).then_some(b.tags),
            managed: b.managed.then_some(true),
            kid: None,
            deletion: None,
        }
    }

    /// A version, with its value when the bundle carries one; a certificate's secret names
    /// its key (`kid`).
    pub fn version(base: &BaseUrl, b: SecretBundle) -> Self {
        let kid = b.managed.then(|| base.kid(&b.name, &b.version));
        Self {
            kid,
            ..Self::new(base.secret_id(&b.name, &b.version), b)
        }
    }

    /// A secret in `GET /secrets` (id without version, no value).
    pub fn item(base: &BaseUrl, mut b: SecretBundle) -> Self {
        b.value = None;
        Self::new(base.secret_url(&b.name), b)
    }

    /// A deleted secret: as a bundle (`id` with its version) or as an item of
    /// `GET /deletedsecrets` (`id` without). Never a value.
    pub fn deleted(base: &BaseUrl, d: DeletedSecretBundle, as_item: bool) -> Self {
        let deletion = DeletionWire {
            recovery_id: base.secret_recovery_id(&d.secret.name),
            deleted_date: d.deletion.deleted_date,
            scheduled_purge_date: d.deletion.scheduled_purge_date,
        };
        let mut w = if as_item {
            Self::item(base, d.secret)
        } else {
            let mut s = d.secret;
            s.value = None;
            Self::version(base, s)
        };
        w.deletion = Some(deletion);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_match_key_vault_json() {
        let p: SecretSetParameters = serde_json::from_value(json!({
            "value": "s3cr3t ✓", "contentType": null, "attributes": {"enabled": false}, "tags": null
        }))
        .unwrap();
        assert_eq!(p.value.expose(), "s3cr3t ✓");
        assert_eq!(p.attributes.unwrap().enabled, Some(false));
        assert!(serde_json::from_value::<SecretSetParameters>(json!({"tags": {}})).is_err());
        assert!(serde_json::from_value::<SecretSetParameters>(json!({"value": 5})).is_err());
        let deleted = json!({
            "id": "https://h/secrets/s/v", "attributes": {"enabled": true, "created": 1,
            "updated": 2, "recoveryLevel": "Recoverable", "recoverableDays": 90},
            "recoveryId": "https://h/deletedsecrets/s", "deletedDate": 3, "scheduledPurgeDate": 4
        });
        let b: SecretBundleWire = serde_json::from_value(deleted.clone()).unwrap();
        assert!(b.value.is_none());
        assert_eq!(serde_json::to_value(&b).unwrap(), deleted);
    }

    #[test]
    fn ids_are_paths_of_the_table() {
        let base = BaseUrl("https://localhost:8443".into());
        assert_eq!(
            base.secret_id("s1", "ab"),
            "https://localhost:8443/secrets/s1/ab"
        );
        assert_eq!(base.secret_url("s1"), "https://localhost:8443/secrets/s1");
        assert_eq!(
            base.secret_recovery_id("s1"),
            "https://localhost:8443/deletedsecrets/s1"
        );
    }
}
