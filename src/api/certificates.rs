//! Key Vault's certificate models (`certificates.json`, api-version 2025-07-01): the bodies
//! of `/certificates`, `/certificates/{name}/pending`, `/certificates/contacts`,
//! `/certificates/issuers` and `/deletedcertificates`, and their conversions from the core's
//! types. `cer`, `csr` and `x5c` are standard base64; `x5t` is base64url; dates are Unix
//! seconds. The policy is the model's [`CertificatePolicy`], which already serializes as
//! Key Vault's JSON; on the way out it gains its `id`.
//!
//! Layer: faces, shared (see [`crate::api`]). May import `model`, `crypto` and `clock`.
//! Invariants: an import value and an issuer password are read into zeroizing types and
//! never written back (an issuer's `credentials` on the way out has no `pwd` member at
//! all); ids are built from the route table, so an `id` is a path the server answers.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::keys::{BaseUrl, DeletionWire};
use super::routes::Op;
use crate::clock::UnixTime;
use crate::crypto::jwk::B64URL;
use crate::crypto::{Base64Url, SecretBytes, SecretString};
use crate::model::certificates::{
    CertificateAttributes, CertificateBundle, CertificateOperation, CertificatePolicy, Contact,
    DeletedCertificateBundle, IssuerBundle, IssuerParameters, OperationStatus, OrganizationDetails,
    CONTENT_TYPE_PEM,
};
use crate::model::Tags;

/// Standard base64: written with padding, read with or without it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64 (padded or not); base64url is taken too, as some clients send
/// it where Key Vault's reference says standard.
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).or_else(|_| B64URL.decode(s)).ok()
}

/// Public bytes carried as standard base64 on the wire (`format: byte`): `cer`, `csr`,
/// `x5c`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Bytes(pub Vec<u8>);

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(&self.0))
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        b64_decode(&s)
            .map(Base64Bytes)
            .ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }
}

/// `attributes` of a certificate, as sent and received. On requests only `enabled` is
/// read: the dates come from the certificate itself.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CertificateAttributesWire {
    /// Enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Not before (Unix seconds; the certificate's notBefore).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixTime>,
    /// Expires (Unix seconds; the certificate's notAfter).
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

impl From<&CertificateAttributes> for CertificateAttributesWire {
    fn from(a: &CertificateAttributes) -> Self {
        Self {
            enabled: Some(a.enabled),
            nbf: a.not_before,
            exp: a.expires,
            created: Some(a.created),
            updated: Some(a.updated),
            recovery_level: Some(a.recovery_level.clone()),
            recoverable_days: Some(a.recoverable_days),
        }
    }
}

/// A policy as the server answers it: the model's policy with its read-only `id`
/// (`https://host/certificates/{name}/policy`).
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificatePolicyWire {
    /// `https://host/certificates/{name}/policy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The policy.
    #[serde(flatten)]
    pub policy: CertificatePolicy,
}

impl CertificatePolicyWire {
    /// The policy of certificate `name`.
    pub fn new(base: &BaseUrl, name: &str, policy: CertificatePolicy) -> Self {
        Self {
            id: Some(base.certificate_policy_id(name)),
            policy,
        }
    }
}

// Request bodies: absent fields may be sent as `null`, which reads as absent. A policy in a
// request is the model's type: a client's read-only `id` in it is ignored.

/// Body of `POST /certificates/{name}/create`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CertificateCreateParameters {
    /// The policy to issue from (required by localhsm, as by Key Vault).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<CertificatePolicy>,
    /// Attributes (only `enabled` is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CertificateAttributesWire>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Accepted and not needed: localhsm keeps a chain leaf first, in the order given.
    #[serde(rename = "preserveCertOrder", skip_serializing_if = "Option::is_none")]
    pub preserve_cert_order: Option<bool>,
}

/// Body of `POST /certificates/{name}/import`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificateImportParameters {
    /// The PFX, base64; or, when the policy's content type is `application/x-pem-file`, the
    /// PEM text (private key and certificates).
    pub value: SecretString,
    /// The PFX password, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd: Option<SecretString>,
    /// The policy (defaults come from the certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<CertificatePolicy>,
    /// Attributes (only `enabled` is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CertificateAttributesWire>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Accepted and not needed: localhsm keeps a chain leaf first, in the order given.
    #[serde(rename = "preserveCertOrder", skip_serializing_if = "Option::is_none")]
    pub preserve_cert_order: Option<bool>,
}

impl CertificateImportParameters {
    /// Whether the policy says the value is PEM text (`application/x-pem-file`); otherwise
    /// it is a PFX, as Key Vault's default content type says.
    pub fn is_pem(&self) -> bool {
        self.content_type()
            .is_some_and(|c| c.eq_ignore_ascii_case(CONTENT_TYPE_PEM))
    }

    /// The content type the policy gives, if any.
    fn content_type(&self) -> Option<&str> {
        self.policy
            .as_ref()
            .and_then(|p| p.secret_props.as_ref())
            .and_then(|s| s.content_type.as_deref())
    }

    /// The bytes to import: the PEM text as it is (or base64-decoded, if a client encoded
    /// it), or the PFX decoded from base64. The message names what is wrong, never the
    /// value.
    pub fn decoded_value(&self) -> Result<SecretBytes, String> {
        let text = self.value.expose().trim();
        if self.is_pem() {
            if text.contains("-----BEGIN") {
                return Ok(SecretBytes::from_slice(text.as_bytes()));
            }
            return match decode_secret(text) {
                Some(b) if contains(b.expose(), b"-----BEGIN") => Ok(b),
                _ => Err(
                    "value: with contentType application/x-pem-file, value is the PEM \
                          text of the private key and its certificates"
                        .into(),
                ),
            };
        }
        // Checked first: with its spaces dropped, PEM text can pass for base64url. Without a
        // content type, PEM text is PEM (the JS SDK sends it so); a PFX content type with
        // PEM text is a contradiction to name.
        if text.contains("-----BEGIN") {
            if self.content_type().is_none() {
                return Ok(SecretBytes::from_slice(text.as_bytes()));
            }
            return Err(
                "value: this looks like PEM; set policy.secret_props.contentType \
                        to application/x-pem-file to import PEM"
                    .into(),
            );
        }
        decode_secret(text)
            .ok_or_else(|| "value: a PFX is sent base64-encoded, and this is not base64".into())
    }
}

/// Decodes base64 that may be wrapped in lines, into bytes that are zeroized on drop.
fn decode_secret(text: &str) -> Option<SecretBytes> {
    let compact = zeroize::Zeroizing::new(
        text.chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>(),
    );
    if compact.is_empty() {
        return None;
    }
    b64_decode(&compact).map(SecretBytes::new)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Body of `POST /certificates/{name}/pending/merge`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificateMergeParameters {
    /// The signed certificate and its chain, DER, standard base64 each, leaf first.
    pub x5c: Vec<Base64Bytes>,
    /// Attributes (only `enabled` is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CertificateAttributesWire>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// Body of `PATCH /certificates/{name}[/{version}]`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CertificateUpdateParameters {
    /// Changes to the certificate's policy (merged into it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<CertificatePolicy>,
    /// Attributes (only `enabled` is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CertificateAttributesWire>,
    /// New tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// Body of `PATCH /certificates/{name}/pending`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificateOperationUpdateParameter {
    /// `true` cancels the operation.
    pub cancellation_requested: bool,
}

/// A certificate bundle (with the deletion fields, a deleted certificate bundle).
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificateBundleWire {
    /// `https://host/certificates/{name}/{version}`.
    pub id: String,
    /// `https://host/keys/{name}/{version}`: the key the certificate owns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `https://host/secrets/{name}/{version}`: the secret the certificate owns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// SHA-1 thumbprint of the certificate, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<Base64Url>,
    /// The certificate's policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<CertificatePolicyWire>,
    /// The certificate, DER, standard base64; absent while it is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cer: Option<Base64Bytes>,
    /// The content type of its secret.
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Attributes.
    pub attributes: CertificateAttributesWire,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Whether the chain keeps the order it was given in (never sent by localhsm).
    #[serde(rename = "preserveCertOrder", skip_serializing_if = "Option::is_none")]
    pub preserve_cert_order: Option<bool>,
    /// Deletion fields, for deleted certificates.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionWire>,
}

/// A certificate in a list, deleted or not: no certificate, no policy.
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificateItemWire {
    /// `https://host/certificates/{name}` (for versions: `.../{name}/{version}`).
    pub id: String,
    /// SHA-1 thumbprint of the certificate, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<Base64Url>,
    /// Attributes.
    pub attributes: CertificateAttributesWire,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Deletion fields, for deleted certificates.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionWire>,
}

/// The error of a failed certificate operation.
#[derive(Debug, Serialize, Deserialize)]
pub struct OperationErrorWire {
    /// Error code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// A certificate's creation operation (`/certificates/{name}/pending`).
#[derive(Debug, Serialize, Deserialize)]
pub struct CertificateOperationWire {
    /// `https://host/certificates/{name}/pending`.
    pub id: String,
    /// The issuer it was made for.
    pub issuer: IssuerParameters,
    /// The CSR, DER, standard base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csr: Option<Base64Bytes>,
    /// Whether cancellation was asked.
    #[serde(default)]
    pub cancellation_requested: bool,
    /// `inProgress`, `completed`, `cancelled` or `failed`.
    pub status: OperationStatus,
    /// Details, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// The error of a failed operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationErrorWire>,
    /// `https://host/certificates/{name}`, once the operation has completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether the chain keeps the order it was given in (never sent by localhsm).
    #[serde(rename = "preserveCertOrder", skip_serializing_if = "Option::is_none")]
    pub preserve_cert_order: Option<bool>,
    /// The operation's request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The vault's certificate contacts: the body of `PUT /certificates/contacts` and the
/// answer of its three routes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ContactsWire {
    /// `https://host/certificates/contacts` (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Contact>>,
}

impl ContactsWire {
    /// The vault's contacts, as answered.
    pub fn new(base: &BaseUrl, contacts: Vec<Contact>) -> Self {
        Self {
            id: Some(base.contacts_id()),
            contacts: Some(contacts),
        }
    }
}

/// An issuer's credentials as sent: the account and its password. The password is read
/// and dropped (zeroized): localhsm signs locally and has no use for it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IssuerCredentialsWire {
    /// Account id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pwd: Option<SecretString>,
}

/// An issuer's credentials as answered: the account only. The type has no password, so
/// none can be written back.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuerAccountWire {
    /// Account id.
    pub account_id: String,
}

/// `attributes` of an issuer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IssuerAttributesWire {
    /// Enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Created (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<UnixTime>,
    /// Updated (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<UnixTime>,
}

/// Body of `PUT` (`provider` required) and `PATCH /certificates/issuers/{name}`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IssuerParametersWire {
    /// Provider name (`Test`, `DigiCert`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<IssuerCredentialsWire>,
    /// Organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_details: Option<OrganizationDetails>,
    /// Attributes (only `enabled` is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<IssuerAttributesWire>,
}

impl IssuerParametersWire {
    /// What to set on the issuer. The password, if any, is dropped here.
    pub fn into_update(self) -> crate::model::certificates::IssuerUpdate {
        crate::model::certificates::IssuerUpdate {
            provider: self.provider,
            account_id: self.credentials.and_then(|c| c.account_id),
            organization: self.org_details,
            enabled: self.attributes.and_then(|a| a.enabled),
        }
    }
}

/// An issuer, as answered.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuerBundleWire {
    /// `https://host/certificates/issuers/{name}`.
    pub id: String,
    /// Provider name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The account (never the password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<IssuerAccountWire>,
    /// Organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_details: Option<OrganizationDetails>,
    /// Attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<IssuerAttributesWire>,
}

/// An issuer in `GET /certificates/issuers`.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuerItemWire {
    /// `https://host/certificates/issuers/{name}`.
    pub id: String,
    /// Provider name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl BaseUrl {
    /// `https://host/certificates/{name}/{version}`.
    pub fn certificate_id(&self, name: &str, version: &str) -> String {
        self.url(Op::CertificateGetVersion, &[name, version])
    }

    /// `https://host/certificates/{name}`.
    pub fn certificate_url(&self, name: &str) -> String {
        self.url(Op::CertificateGet, &[name])
    }

    /// `https://host/certificates/{name}/policy`.
    pub fn certificate_policy_id(&self, name: &str) -> String {
        self.url(Op::PolicyGet, &[name])
    }

    /// `https://host/certificates/{name}/pending`.
    pub fn certificate_operation_id(&self, name: &str) -> String {
        self.url(Op::OperationGet, &[name])
    }

    /// `https://host/deletedcertificates/{name}`.
    pub fn certificate_recovery_id(&self, name: &str) -> String {
        self.url(Op::DeletedCertificateGet, &[name])
    }

    /// `https://host/certificates/contacts`.
    pub fn contacts_id(&self) -> String {
        self.url(Op::ContactsGet, &[])
    }

    /// `https://host/certificates/issuers/{name}`.
    pub fn issuer_id(&self, name: &str) -> String {
        self.url(Op::IssuerGet, &[name])
    }
}

fn non_empty(tags: Tags) -> Option<Tags> {
    (!tags.is_empty()).then_some(tags)
}

fn deletion(base: &BaseUrl, d: &DeletedCertificateBundle) -> DeletionWire {
    DeletionWire {
        recovery_id: base.certificate_recovery_id(&d.certificate.name),
        deleted_date: d.deletion.deleted_date,
        scheduled_purge_date: d.deletion.scheduled_purge_date,
    }
}

impl CertificateBundleWire {
    /// A certificate version, with its key, secret and policy ids.
    pub fn version(base: &BaseUrl, b: CertificateBundle) -> Self {
        let (name, version) = (&b.name, &b.version);
        Self {
            id: base.certificate_id(name, version),
            kid: Some(base.kid(name, version)),
            sid: Some(base.secret_id(name, version)),
            x5t: b.x5t.map(Base64Url),
            policy: Some(CertificatePolicyWire::new(base, name, b.policy)),
            cer: b.cer.map(Base64Bytes),
            content_type: Some(b.content_type),
            attributes: (&b.attributes).into(),
            tags: non_empty(b.tags),
            preserve_cert_order: None,
            deletion: None,
        }
    }

    /// A deleted certificate: its current version, and where and until when it can be
    /// recovered.
    pub fn deleted(base: &BaseUrl, d: DeletedCertificateBundle) -> Self {
        let deletion = deletion(base, &d);
        Self {
            deletion: Some(deletion),
            ..Self::version(base, d.certificate)
        }
    }
}

impl CertificateItemWire {
    fn new(id: String, b: &CertificateBundle) -> Self {
        Self {
            id,
            x5t: b.x5t.clone().map(Base64Url),
            attributes: (&b.attributes).into(),
            tags: non_empty(b.tags.clone()),
            deletion: None,
        }
    }

    /// A certificate in `GET /certificates` (id without version).
    pub fn certificate(base: &BaseUrl, b: CertificateBundle) -> Self {
        Self::new(base.certificate_url(&b.name), &b)
    }

    /// A version in `GET /certificates/{name}/versions`.
    pub fn version(base: &BaseUrl, b: CertificateBundle) -> Self {
        Self::new(base.certificate_id(&b.name, &b.version), &b)
    }

    /// A deleted certificate in `GET /deletedcertificates` (id without version).
    pub fn deleted(base: &BaseUrl, d: DeletedCertificateBundle) -> Self {
        Self {
            deletion: Some(deletion(base, &d)),
            ..Self::certificate(base, d.certificate)
        }
    }
}

impl CertificateOperationWire {
    /// The operation of certificate `op.name`; `target` once it has completed.
    pub fn new(base: &BaseUrl, op: CertificateOperation) -> Self {
        let completed = op.status == OperationStatus::Completed;
        Self {
            id: base.certificate_operation_id(&op.name),
            issuer: IssuerParameters {
                name: Some(op.issuer),
                cty: None,
                cert_transparency: None,
            },
            csr: op.csr.map(Base64Bytes),
            cancellation_requested: op.cancellation_requested,
            status: op.status,
            status_details: op.status_details,
            error: op
                .error
                .map(|(code, message)| OperationErrorWire { code, message }),
            target: completed.then(|| base.certificate_url(&op.name)),
            preserve_cert_order: None,
            request_id: Some(op.request_id),
        }
    }
}

impl IssuerBundleWire {
    /// An issuer: its account without the password, its organization and attributes.
    pub fn new(base: &BaseUrl, i: IssuerBundle) -> Self {
        Self {
            id: base.issuer_id(&i.name),
            provider: Some(i.provider),
            credentials: i
                .account_id
                .map(|account_id| IssuerAccountWire { account_id }),
            org_details: i.organization,
            attributes: Some(IssuerAttributesWire {
                enabled: Some(i.enabled),
                created: Some(i.created),
                updated: Some(i.updated),
            }),
        }
    }
}

impl IssuerItemWire {
    /// An issuer in `GET /certificates/issuers`.
    pub fn new(base: &BaseUrl, i: IssuerBundle) -> Self {
        Self {
            id: base.issuer_id(&i.name),
            provider: Some(i.provider),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ListResult;
    use crate::model::certificates::{
        AdministratorDetails, CertificateKeyProperties, CertificateSecretProperties,
        PolicyAttributes, CONTENT_TYPE_PFX, ISSUER_SELF,
    };
    use crate::model::DeletionInfo;
    use serde_json::{json, Value};

    /// The DER of the certificate in Key Vault's examples (`cer`), standard base64.
    const CER: &str = "MIICODCCAeagAwIBAgIQqHmpBAv+CY9IJFoUhlbziTAJBgUrDgMCHQUAMBYxFDASBgNVBAMTC1Jvb3QgQWdlbmN5MB4XDTE1MDQyOTIxNTM0MVoXDTM5MTIzMTIzNTk1OVowFzEVMBMGA1UEAxMMS2V5VmF1bHRUZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5bVAT73zr4+N4WVv2+SvTunAw08ksS4BrJW/nNliz3S9XuzMBMXvmYzU5HJ8TtEgluBiZZYd5qsMJD+OXHSNbsLdmMhni0jYX09h3XlC2VJw2sGKeYF+xEaavXm337aZZaZyjrFBrrUl51UePaN+kVFXNlBb3N3TYpqa7KokXenJQuR+i9Gv9a77c0UsSsDSryxppYhKK7HvTZCpKrhVtulF5iPMswWe9np3uggfMamyIsK/0L7X9w9B2qN7993RR0A00nOk4H6CnkuwO77dSsD0KJsk6FyAoZBzRXDZh9+d9R76zCL506NcQy/jl0lCiQYwsUX73PG5pxOh02OwKwIDAQABo0swSTBHBgNVHQEEQDA+gBAS5AktBh0dTwCNYSHcFmRjoRgwFjEUMBIGA1UEAxMLUm9vdCBBZ2VuY3mCEAY3bACqAGSKEc+41KpcNfQwCQYFKw4DAh0FAANBAGqIjo2geVagzuzaZOe1ClGKhZeiCKfWAxklaGN+qlGUbVS4IN4V1lot3VKnzabasmkEHeNxPwLn1qvSD0cX9CE=";
    /// The CSR in Key Vault's `CreateCertificate` and `GetCertificateOperation` examples.
    const CSR: &str = "MIIC4zCCAcsCAQAwGjEYMBYGA1UEAwwPKi5taWNyb3NvZnQuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqe8aINnShK+wQC8QU7fwsviQc9+yiOnqU3adXA6qNjn21HTdRBa7cyQIk1STxHIBLTT/GaEJwqsUi6UvZaPEHokOWsr1bP9M7xOPTicBcRyMrr6bOxsmGczYtu1z2TzzXDD7q7IEignE7/LowGEaIADCIU9iuWk7TiJ+1Q/VLh/B3xPsgVjY+n7zEQ53gBiDHSl7XfELfwmslOQ28TVNogUyXsxHcVxQQYJeI7HqqY448LeleK69Ld86lkBixLEm1pD7HSbEx3WI2lyUQAGR6hD3YFaiIWVpQeEyI7p1jmtQlnfZdEL4q9wdlEEcwd3h3PAZpEBhCixahF54fci3pwIDAQABoIGDMIGABgkqhkiG9w0BCQ4xczBxMA4GA1UdDwEB/wQEAwIFoDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIwNQYDVR0RBC4wLIIWb25lZHJpdmUubWljcm9zb2Z0LmNvbYISeGJveC5taWNyb3NvZnQuY29tMAkGA1UdEwQCMAAwDQYJKoZIhvcNAQELBQADggEBACiLeghirF+yCuYGVUPDB3wKQJn2iLY1za9ncxCehIVqOkFK09AphzoxF6Yid90AKCaa/dT/Ohm7oTyVQ+YcZnT00LUNFVG48AOE8YDiw9tjAG9OORsAz80xnv2qaLw2TCVIQ6NjrI83LqAm1GJ8rAnpdD/ZTuWM7TvSO5g/jm/Q0oSuKpMgj3YxpwgB9Ac6YEfVzOnm76OkUcpvR5MS4BoTfRv4thdSnU+uwqxM+HtdSVTbHQeC2U/hM1cyzDMpl1rZRklmiEOoPUeDasEIBVTJhAxR8xAeKJJD7Wzj4mJPw4UMvF8zQZzW8EKYvB1hkVYY+HQ85L+XcXd8lco7hU4=";
    const VERSION: &str = "f60f2a4f8ae442cfb41ca2090bd4b769";

    /// Parses `json` as `T` and writes it back: a body Key Vault sends must survive both.
    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(json: &Value) -> T {
        let parsed: T = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&parsed).unwrap(), json);
        parsed
    }

    /// The policy of Key Vault's `GetCertificate` example, `id` included.
    fn example_policy(name: &str, issuer: &str) -> Value {
        json!({
            "id": format!("https://myvault.vault.azure.net/certificates/{name}/policy"),
            "key_props": {"exportable": true, "kty": "RSA", "key_size": 2048, "reuse_key": false},
            "secret_props": {"contentType": "application/x-pkcs12"},
            "x509_props": {"subject": "CN=KeyVaultTest", "ekus": [], "key_usage": [], "validity_months": 297},
            "lifetime_actions": [
                {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "EmailContacts"}}
            ],
            "issuer": {"name": issuer},
            "attributes": {"enabled": true, "created": 1493938289, "updated": 1493938291}
        })
    }

    #[test]
    fn certificate_bundles_round_trip_key_vault_examples() {
        // GetCertificate-example.json.
        let get = json!({
            "id": format!("https://myvault.vault.azure.net/certificates/selfSignedCert01/{VERSION}"),
            "kid": format!("https://myvault.vault.azure.net/keys/selfSignedCert01/{VERSION}"),
            "sid": format!("https://myvault.vault.azure.net/secrets/selfSignedCert01/{VERSION}"),
            "x5t": "fLi3U52HunIVNXubkEnf8tP6Wbo",
            "cer": CER,
            "attributes": {"enabled": true, "nbf": 1430344421, "exp": 2208988799_u64,
                "created": 1493938289, "updated": 1493938291, "recoveryLevel": "Recoverable+Purgeable"},
            "policy": example_policy("selfSignedCert01", "Unknown")
        });
        let b: CertificateBundleWire = round_trip(&get);
        assert!(b.deletion.is_none());
        assert_eq!(b.x5t.as_ref().unwrap().0.len(), 20, "x5t is a SHA-1");
        let der = &b.cer.as_ref().unwrap().0;
        assert_eq!(&der[..2], &[0x30, 0x82], "cer is DER");
        let policy = b.policy.unwrap();
        assert_eq!(
            policy.id.as_deref(),
            Some("https://myvault.vault.azure.net/certificates/selfSignedCert01/policy")
        );
        let key = policy.policy.key_props.unwrap();
        assert_eq!(key.key_size, Some(2048));
        assert_eq!(key.kty, Some(crate::crypto::KeyType::Rsa));
        assert_eq!(
            policy.policy.x509_props.unwrap().key_usage,
            Some(Vec::new())
        );

        // DeleteCertificate-example.json: the same bundle with the deletion fields.
        let mut deleted = get.clone();
        let fields = json!({
            "recoveryId": "https://myvault.vault.azure.net/deletedcertificates/selfSignedCert01",
            "deletedDate": 1493938558, "scheduledPurgeDate": 1501714558
        });
        for (k, v) in fields.as_object().unwrap() {
            deleted[k] = v.clone();
        }
        let d: CertificateBundleWire = round_trip(&deleted);
        assert_eq!(d.deletion.unwrap().scheduled_purge_date, 1501714558);

        // UpdateCertificate-example.json answers without a policy, and with tags.
        let mut updated = get;
        updated.as_object_mut().unwrap().remove("policy");
        updated["tags"] = json!({"department": "KeyVaultTest"});
        let u: CertificateBundleWire = round_trip(&updated);
        assert!(u.policy.is_none());
    }

    #[test]
    fn certificate_lists_round_trip_key_vault_examples() {
        // GetCertificates-example.json and GetCertificateVersions-example.json.
        let list = json!({
            "value": [
                {"id": "https://myvault.vault.azure.net/certificates/listCert01",
                 "x5t": "fLi3U52HunIVNXubkEnf8tP6Wbo",
                 "attributes": {"enabled": true, "nbf": 1430344421, "exp": 2208988799_u64,
                    "created": 1482188987, "updated": 1482188987}},
                {"id": "https://myvault.vault.azure.net/certificates/listVersionsCert01/002ade539442463aba45c0efb42e3e84",
                 "x5t": "fLi3U52HunIVNXubkEnf8tP6Wbo",
                 "attributes": {"enabled": true, "nbf": 1430344421, "exp": 2208988799_u64,
                    "created": 1482189534, "updated": 1482189534}}
            ],
            "nextLink": null
        });
        let l: ListResult<CertificateItemWire> = round_trip(&list);
        assert!(l.value.iter().all(|i| i.deletion.is_none()));
        // GetDeletedCertificates-example.json.
        let deleted = json!({
            "value": [{
                "recoveryId": "https://myvault.vault.azure.net/deletedcertificates/listdeletedcerttest0",
                "deletedDate": 1493937659, "scheduledPurgeDate": 1501713659,
                "id": "https://myvault.vault.azure.net/certificates/listdeletedcerttest0",
                "x5t": "fLi3U52HunIVNXubkEnf8tP6Wbo",
                "attributes": {"enabled": true, "nbf": 1430344421, "exp": 2208988799_u64,
                    "created": 1493937658, "updated": 1493937658, "recoveryLevel": "Recoverable+Purgeable"}
            }],
            "nextLink": "https://myvault.vault.azure.net:443/deletedcertificates?api-version=7.2&$skiptoken=eyJOZXh0TWFya2VyIjoiMiJ9&maxresults=1"
        });
        let l: ListResult<CertificateItemWire> = round_trip(&deleted);
        assert_eq!(
            l.value[0].deletion.as_ref().unwrap().deleted_date,
            1493937659
        );
    }

    #[test]
    fn operations_round_trip_key_vault_examples() {
        // CreateCertificate-example.json (202) and GetCertificateOperation-example.json.
        let pending = json!({
            "id": "https://myvault.vault.azure.net/certificates/selfSignedCert01/pending",
            "issuer": {"name": "Self"},
            "csr": CSR,
            "cancellation_requested": false,
            "status": "inProgress",
            "status_details": "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
            "request_id": "6faacd568ab049a2803861e8dd3ae21f"
        });
        let o: CertificateOperationWire = round_trip(&pending);
        assert_eq!(o.status, OperationStatus::InProgress);
        assert_eq!(&o.csr.unwrap().0[..2], &[0x30, 0x82], "csr is DER");
        // UpdateCertificateOperation-example.json: cancellation asked.
        let mut cancelled = pending.clone();
        cancelled["issuer"] = json!({"name": "issuer02"});
        cancelled["cancellation_requested"] = json!(true);
        let o: CertificateOperationWire = round_trip(&cancelled);
        assert!(o.cancellation_requested);
        // A completed operation names its target; a failed one its error.
        let done = json!({
            "id": "https://h/certificates/c/pending", "issuer": {"name": "Self"},
            "cancellation_requested": false, "status": "completed",
            "target": "https://h/certificates/c", "request_id": "r"
        });
        round_trip::<CertificateOperationWire>(&done);
        let failed = json!({
            "id": "https://h/certificates/c/pending", "issuer": {"name": "Unknown"},
            "cancellation_requested": false, "status": "failed",
            "error": {"code": "BadParameter", "message": "m"}, "request_id": "r"
        });
        round_trip::<CertificateOperationWire>(&failed);
        // UpdateCertificateOperation's body.
        let p: CertificateOperationUpdateParameter =
            serde_json::from_value(json!({"cancellation_requested": true})).unwrap();
        assert!(p.cancellation_requested);
        assert!(serde_json::from_value::<CertificateOperationUpdateParameter>(json!({})).is_err());
    }

    #[test]
    fn request_bodies_read_key_vault_examples() {
        // CreateCertificate-example.json's body.
        let p: CertificateCreateParameters = serde_json::from_value(json!({
            "policy": {
                "key_props": {"exportable": true, "kty": "RSA", "key_size": 2048, "reuse_key": false},
                "secret_props": {"contentType": "application/x-pkcs12"},
                "x509_props": {"subject": "CN=*.microsoft.com",
                    "sans": {"dns_names": ["onedrive.microsoft.com", "xbox.microsoft.com"]}},
                "issuer": {"name": "Self"}
            }
        }))
        .unwrap();
        let policy = p.policy.unwrap();
        assert_eq!(policy.issuer.unwrap().name.as_deref(), Some(ISSUER_SELF));
        let sans = policy.x509_props.unwrap().sans.unwrap();
        assert_eq!(sans.dns_names.unwrap().len(), 2);
        // A client may send every field, absent ones as null, and the policy's read-only id.
        let p: CertificateCreateParameters = serde_json::from_value(json!({
            "policy": {"id": "https://h/certificates/c/policy", "issuer": {"name": "Self"}},
            "attributes": null, "tags": null, "preserveCertOrder": null
        }))
        .unwrap();
        assert!(p.attributes.is_none() && p.tags.is_none() && p.policy.is_some());

        // ImportCertificate-example.json's body.
        let p: CertificateImportParameters = serde_json::from_value(json!({
            "value": "MIIJ...", "pwd": "123",
            "policy": {"key_props": {"exportable": true, "kty": "RSA", "key_size": 2048, "reuse_key": false},
                "secret_props": {"contentType": "application/x-pkcs12"}}
        }))
        .unwrap();
        assert_eq!(p.pwd.as_ref().unwrap().expose(), "123");
        assert!(!p.is_pem());
        let shown = format!("{p:?}");
        assert!(!shown.contains("MIIJ") && !shown.contains("123"), "{shown}");
        assert!(
            serde_json::from_value::<CertificateImportParameters>(json!({"pwd": "x"})).is_err()
        );

        // MergeCertificate-example.json's body: x5c is standard base64.
        let p: CertificateMergeParameters =
            serde_json::from_value(json!({"x5c": [CER, "AP8="], "tags": {"a": "b"}})).unwrap();
        assert_eq!(&p.x5c[0].0[..2], &[0x30, 0x82]);
        assert_eq!(p.x5c[1].0, vec![0, 255]);
        assert!(
            serde_json::from_value::<CertificateMergeParameters>(json!({"x5c": ["*"]})).is_err()
        );
        assert!(serde_json::from_value::<CertificateMergeParameters>(json!({})).is_err());

        // UpdateCertificate-example.json's body: attributes and tags.
        let p: CertificateUpdateParameters = serde_json::from_value(json!({
            "attributes": {"enabled": true, "nbf": 1430344421, "exp": 2208988799_u64},
            "tags": {"department": "KeyVaultTest"}
        }))
        .unwrap();
        assert_eq!(p.attributes.unwrap().enabled, Some(true));
        assert!(p.policy.is_none());
    }

    #[test]
    fn policies_round_trip_key_vault_examples() {
        // UpdateCertificatePolicy-example.json: the body is a policy without id, the answer
        // the same with its id and dates.
        let body = json!({
            "key_props": {"exportable": true, "kty": "RSA", "key_size": 2048, "reuse_key": false},
            "secret_props": {"contentType": "application/x-pkcs12"},
            "x509_props": {"subject": "CN=KeyVaultTest", "ekus": [], "key_usage": [], "validity_months": 297},
            "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "EmailContacts"}}],
            "issuer": {"name": "Self"},
            "attributes": {"enabled": true}
        });
        let policy: CertificatePolicy = round_trip(&body);
        let mut answer = body;
        answer["id"] = json!("https://myvault.vault.azure.net/certificates/updateCert01/policy");
        answer["attributes"] =
            json!({"enabled": true, "created": 1482188947, "updated": 1482188948});
        let wire: CertificatePolicyWire = round_trip(&answer);
        assert_eq!(wire.policy.key_props, policy.key_props);
        let base = BaseUrl("https://myvault.vault.azure.net".into());
        let mut stored = policy;
        stored.attributes = Some(PolicyAttributes {
            enabled: Some(true),
            created: Some(1482188947),
            updated: Some(1482188948),
        });
        let built = CertificatePolicyWire::new(&base, "updateCert01", stored);
        assert_eq!(serde_json::to_value(&built).unwrap(), answer);
        // Key usages and lifetime actions by Key Vault's names, and a merge's partial body.
        let p: CertificatePolicy = round_trip(&json!({
            "x509_props": {"key_usage": ["digitalSignature", "keyEncipherment", "cRLSign"],
                "ekus": ["1.3.6.1.5.5.7.3.1"], "sans": {"emails": ["a@b.c"], "upns": ["u@d"]}},
            "lifetime_actions": [{"trigger": {"days_before_expiry": 30}, "action": {"action_type": "AutoRenew"}}]
        }));
        assert!(p.key_props.is_none() && p.issuer.is_none());
        assert!(serde_json::from_value::<CertificatePolicy>(
            json!({"x509_props": {"key_usage": ["signEverything"]}})
        )
        .is_err());
    }

    #[test]
    fn contacts_and_issuers_round_trip_key_vault_examples() {
        // SetCertificateContacts-example.json: the body, then the answer with its id.
        let contacts = json!([
            {"email": "admin@contoso.com", "name": "John Doe", "phone": "1111111111"},
            {"email": "admin@contoso2.com", "name": "Johnathan Doeman", "phone": "2222222222"}
        ]);
        let body: ContactsWire = round_trip(&json!({ "contacts": contacts }));
        let base = BaseUrl("https://myvault.vault.azure.net".into());
        let answer = ContactsWire::new(&base, body.contacts.unwrap());
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"id": "https://myvault.vault.azure.net/certificates/contacts", "contacts": contacts})
        );

        // SetCertificateIssuer-example.json: the body carries a password...
        let body: IssuerParametersWire = serde_json::from_value(json!({
            "provider": "Test",
            "credentials": {"account_id": "keyvaultuser", "pwd": "password"},
            "org_details": {"admin_details": [{"first_name": "John", "last_name": "Doe",
                "email": "admin@microsoft.com", "phone": "4255555555"}]}
        }))
        .unwrap();
        assert!(!format!("{body:?}").contains("password"));
        let update = body.into_update();
        assert_eq!(update.provider.as_deref(), Some("Test"));
        assert_eq!(update.account_id.as_deref(), Some("keyvaultuser"));
        assert_eq!(update.enabled, None);
        // ...and the answer (GetCertificateIssuer-example.json) has none.
        let answer = json!({
            "id": "https://myvault.vault.azure.net/certificates/issuers/issuer01",
            "provider": "Test",
            "credentials": {"account_id": "keyvaultuser"},
            "org_details": {"admin_details": [{"first_name": "John", "last_name": "Doe",
                "email": "admin@microsoft.com", "phone": "4255555555"}]},
            "attributes": {"enabled": true, "created": 1482188806, "updated": 1482189526}
        });
        round_trip::<IssuerBundleWire>(&answer);
        let issuer = IssuerBundle {
            vault: "v".into(),
            name: "issuer01".into(),
            provider: "Test".into(),
            account_id: update.account_id,
            organization: update.organization,
            enabled: true,
            created: 1482188806,
            updated: 1482189526,
            ca_certificate: vec![0x30],
        };
        let built = IssuerBundleWire::new(&base, issuer.clone());
        assert_eq!(serde_json::to_value(&built).unwrap(), answer);
        // Read back from a body that had a password, the answer type drops it.
        let echoed: IssuerBundleWire = serde_json::from_value(json!({
            "id": "x", "credentials": {"account_id": "a", "pwd": "password"}
        }))
        .unwrap();
        assert!(!serde_json::to_string(&echoed).unwrap().contains("password"));

        // GetCertificateIssuers-example.json.
        let list = json!({
            "value": [{"id": "https://myvault.vault.azure.net/certificates/issuers/issuer01", "provider": "Test"}],
            "nextLink": null
        });
        round_trip::<ListResult<IssuerItemWire>>(&list);
        let item = IssuerItemWire::new(&base, issuer);
        assert_eq!(serde_json::to_value(&item).unwrap(), list["value"][0]);
        // Set needs no more than a provider; an admin's fields are Key Vault's names.
        let p: IssuerParametersWire = round_trip(&json!({"provider": "DigiCert",
            "org_details": {"id": "o", "admin_details": [{"email": "e@x"}]},
            "attributes": {"enabled": false}}));
        let org = p.into_update().organization.unwrap();
        assert_eq!(
            org.admin_details.unwrap()[0],
            AdministratorDetails {
                email: Some("e@x".into()),
                ..AdministratorDetails::default()
            }
        );
    }

    fn model_bundle(cer: Option<Vec<u8>>) -> CertificateBundle {
        CertificateBundle {
            vault: "v".into(),
            name: "c1".into(),
            version: VERSION.into(),
            x5t: cer.as_ref().map(|_| vec![0xfb; 20]),
            cer,
            policy: CertificatePolicy {
                key_props: Some(CertificateKeyProperties {
                    kty: Some(crate::crypto::KeyType::Ec),
                    crv: Some(crate::crypto::CurveName::P256),
                    ..CertificateKeyProperties::default()
                }),
                secret_props: Some(CertificateSecretProperties {
                    content_type: Some(CONTENT_TYPE_PFX.into()),
                }),
                ..CertificatePolicy::default()
            },
            attributes: CertificateAttributes {
                enabled: true,
                not_before: Some(10),
                expires: Some(20),
                created: 11,
                updated: 12,
                recovery_level: "Recoverable+Purgeable".into(),
                recoverable_days: 90,
            },
            tags: [("env".to_string(), "dev".to_string())].into(),
            content_type: CONTENT_TYPE_PFX.into(),
            is_current: true,
        }
    }

    #[test]
    fn bundles_from_the_core_carry_key_vault_ids_and_encodings() {
        let base = BaseUrl("https://dev.localhost:8443".into());
        let w = serde_json::to_value(CertificateBundleWire::version(
            &base,
            model_bundle(Some(vec![0x30, 0xfb, 0xff])),
        ))
        .unwrap();
        let v = VERSION;
        assert_eq!(
            w,
            json!({
                "id": format!("https://dev.localhost:8443/certificates/c1/{v}"),
                "kid": format!("https://dev.localhost:8443/keys/c1/{v}"),
                "sid": format!("https://dev.localhost:8443/secrets/c1/{v}"),
                "x5t": "-_v7-_v7-_v7-_v7-_v7-_v7-_s",
                "cer": "MPv/",
                "contentType": "application/x-pkcs12",
                "policy": {
                    "id": "https://dev.localhost:8443/certificates/c1/policy",
                    "key_props": {"kty": "EC", "crv": "P-256"},
                    "secret_props": {"contentType": "application/x-pkcs12"}
                },
                "attributes": {"enabled": true, "nbf": 10, "exp": 20, "created": 11, "updated": 12,
                    "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
                "tags": {"env": "dev"}
            })
        );
        // Pending: no certificate yet, so neither cer nor x5t.
        let w = serde_json::to_value(CertificateBundleWire::version(&base, model_bundle(None)))
            .unwrap();
        assert!(w.get("cer").is_none() && w.get("x5t").is_none(), "{w}");

        let deleted = DeletedCertificateBundle {
            certificate: model_bundle(Some(vec![0x30])),
            deletion: DeletionInfo {
                deleted_date: 100,
                scheduled_purge_date: 200,
            },
        };
        let w =
            serde_json::to_value(CertificateBundleWire::deleted(&base, deleted.clone())).unwrap();
        assert_eq!(
            w["id"],
            format!("https://dev.localhost:8443/certificates/c1/{v}")
        );
        assert_eq!(
            w["recoveryId"],
            "https://dev.localhost:8443/deletedcertificates/c1"
        );
        assert_eq!(
            (w["deletedDate"].clone(), w["scheduledPurgeDate"].clone()),
            (json!(100), json!(200))
        );

        // Items: no certificate, no policy, no key or secret ids.
        let item = serde_json::to_value(CertificateItemWire::deleted(&base, deleted)).unwrap();
        assert_eq!(item["id"], "https://dev.localhost:8443/certificates/c1");
        assert_eq!(
            item["recoveryId"],
            "https://dev.localhost:8443/deletedcertificates/c1"
        );
        for absent in ["cer", "policy", "kid", "sid", "contentType"] {
            assert!(item.get(absent).is_none(), "{absent} in {item}");
        }
        let item =
            serde_json::to_value(CertificateItemWire::certificate(&base, model_bundle(None)))
                .unwrap();
        assert_eq!(item["id"], "https://dev.localhost:8443/certificates/c1");
        assert!(item.get("recoveryId").is_none());
        let item = serde_json::to_value(CertificateItemWire::version(
            &base,
            model_bundle(Some(vec![1])),
        ))
        .unwrap();
        assert_eq!(
            item["id"],
            format!("https://dev.localhost:8443/certificates/c1/{v}")
        );
        assert_eq!(item["x5t"], "-_v7-_v7-_v7-_v7-_v7-_v7-_s");
    }

    #[test]
    fn operations_from_the_core_name_their_target_once_completed() {
        let base = BaseUrl("https://h".into());
        let mut op = CertificateOperation {
            name: "c1".into(),
            issuer: "Unknown".into(),
            csr: Some(vec![0x30, 0xfb]),
            cancellation_requested: false,
            status: OperationStatus::InProgress,
            status_details: Some("waiting for a merge".into()),
            error: None,
            request_id: "r1".into(),
        };
        let w = serde_json::to_value(CertificateOperationWire::new(&base, op.clone())).unwrap();
        assert_eq!(
            w,
            json!({"id": "https://h/certificates/c1/pending", "issuer": {"name": "Unknown"},
                "csr": "MPs=", "cancellation_requested": false, "status": "inProgress",
                "status_details": "waiting for a merge", "request_id": "r1"})
        );
        op.status = OperationStatus::Completed;
        let w = serde_json::to_value(CertificateOperationWire::new(&base, op.clone())).unwrap();
        assert_eq!(
            (w["status"].clone(), w["target"].clone()),
            (json!("completed"), json!("https://h/certificates/c1"))
        );
        op.status = OperationStatus::Failed;
        op.error = Some(("CertificateInvalid".into(), "no match".into()));
        let w = serde_json::to_value(CertificateOperationWire::new(&base, op.clone())).unwrap();
        assert!(w.get("target").is_none());
        assert_eq!(
            w["error"],
            json!({"code": "CertificateInvalid", "message": "no match"})
        );
        op.status = OperationStatus::Cancelled;
        op.cancellation_requested = true;
        let w = serde_json::to_value(CertificateOperationWire::new(&base, op)).unwrap();
        assert_eq!(w["status"], "cancelled");
        assert_eq!(w["cancellation_requested"], true);
    }

    fn import(value: &str, content_type: Option<&str>) -> CertificateImportParameters {
        let mut body = json!({ "value": value });
        if let Some(ct) = content_type {
            body["policy"] = json!({"secret_props": {"contentType": ct}});
        }
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn import_values_decode_by_content_type() {
        // A PFX: base64, line-wrapped or not.
        let pfx = import("MIIJ\nAP8=\n", None).decoded_value().unwrap();
        assert_eq!(pfx.expose(), &[0x30, 0x82, 0x09, 0x00, 0xff]);
        let pfx = import("MIIJAP8", Some("application/x-pkcs12"))
            .decoded_value()
            .unwrap();
        assert_eq!(pfx.expose(), &[0x30, 0x82, 0x09, 0x00, 0xff]);
        // PEM: the text as sent, whatever the case of the content type; or base64 of it.
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let got = import(pem, Some("Application/X-PEM-File"))
            .decoded_value()
            .unwrap();
        assert_eq!(got.expose(), pem.trim().as_bytes());
        let encoded = B64.encode(pem);
        let got = import(&encoded, Some(CONTENT_TYPE_PEM))
            .decoded_value()
            .unwrap();
        assert_eq!(got.expose(), pem.as_bytes());
        // Without a content type, PEM text is PEM (the JS SDK sends it so).
        assert_eq!(
            import(pem, None).decoded_value().unwrap().expose(),
            pem.trim().as_bytes()
        );
        // Wrong shapes are named, and the value never appears in the message.
        let e = import(pem, Some(CONTENT_TYPE_PFX))
            .decoded_value()
            .unwrap_err();
        assert!(
            e.contains("application/x-pem-file") && !e.contains("AAAA"),
            "{e}"
        );
        let e = import("not base64 at all!", None)
            .decoded_value()
            .unwrap_err();
        assert!(e.contains("base64") && !e.contains("at all"), "{e}");
        let e = import("", None).decoded_value().unwrap_err();
        assert!(e.contains("base64"), "{e}");
        let e = import("MIIJAP8=", Some(CONTENT_TYPE_PEM))
            .decoded_value()
            .unwrap_err();
        assert!(e.contains("PEM text"), "{e}");
    }

    #[test]
    fn ids_are_paths_of_the_table() {
        let base = BaseUrl("https://localhost:8443".into());
        let h = "https://localhost:8443";
        assert_eq!(
            base.certificate_id("c1", "ab"),
            format!("{h}/certificates/c1/ab")
        );
        assert_eq!(base.certificate_url("c1"), format!("{h}/certificates/c1"));
        assert_eq!(
            base.certificate_policy_id("c1"),
            format!("{h}/certificates/c1/policy")
        );
        assert_eq!(
            base.certificate_operation_id("c1"),
            format!("{h}/certificates/c1/pending")
        );
        assert_eq!(
            base.certificate_recovery_id("c1"),
            format!("{h}/deletedcertificates/c1")
        );
        assert_eq!(base.contacts_id(), format!("{h}/certificates/contacts"));
        assert_eq!(base.issuer_id("i1"), format!("{h}/certificates/issuers/i1"));
    }
}
