//! Certificates as callers see them: the certificate policy, bundles, the pending operation,
//! contacts and issuers. The policy types serialize to exactly Key Vault's JSON (its mix of
//! snake_case and camelCase field names included), so the wire reuses them unchanged.
//!
//! Layer: base (part of [`crate::model`]). Imports [`crate::crypto`] for key types, curves
//! and key usages, and [`crate::clock`].

use serde::{Deserialize, Serialize};

use super::{DeletionInfo, Tags};
use crate::clock::UnixTime;
use crate::crypto::x509::KeyUsage;
use crate::crypto::{CurveName, KeyType};

/// The issuer name for certificates the vault signs with their own key.
pub const ISSUER_SELF: &str = "Self";
/// The issuer name for certificates signed outside the vault (a CSR, then a merge).
pub const ISSUER_UNKNOWN: &str = "Unknown";
/// `application/x-pkcs12`: the managed secret holds a PFX.
pub const CONTENT_TYPE_PFX: &str = "application/x-pkcs12";
/// `application/x-pem-file`: the managed secret holds PEM (key, then chain).
pub const CONTENT_TYPE_PEM: &str = "application/x-pem-file";

/// A certificate policy: how to make the certificate, its key and its secret. Every field is
/// optional on the wire (updates merge); a stored policy has every field Key Vault reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePolicy {
    /// The key's properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_props: Option<CertificateKeyProperties>,
    /// The secret's properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_props: Option<CertificateSecretProperties>,
    /// The certificate's X.509 properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x509_props: Option<X509Properties>,
    /// What to do as the certificate ages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_actions: Option<Vec<LifetimeAction>>,
    /// Who issues it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerParameters>,
    /// The policy's attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<PolicyAttributes>,
}

/// `key_props` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateKeyProperties {
    /// Whether the private key may leave the vault (in the secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// Key type: EC, EC-HSM, RSA, RSA-HSM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kty: Option<KeyType>,
    /// RSA size in bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<usize>,
    /// Whether a renewal keeps the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<bool>,
    /// EC curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<CurveName>,
}

/// `secret_props` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSecretProperties {
    /// [`CONTENT_TYPE_PFX`] or [`CONTENT_TYPE_PEM`].
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// `x509_props` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Properties {
    /// Subject, as an X.500 name (`CN=example.com, O=Contoso`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Extended key usages, as dotted OIDs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ekus: Option<Vec<String>>,
    /// Subject alternative names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sans: Option<SubjectAlternativeNames>,
    /// Key usages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<Vec<KeyUsage>>,
    /// Validity in months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_months: Option<u32>,
}

/// Subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectAlternativeNames {
    /// E-mail addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// DNS names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_names: Option<Vec<String>>,
    /// User principal names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upns: Option<Vec<String>>,
}

/// One lifetime action: when, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeAction {
    /// When it runs.
    pub trigger: LifetimeTrigger,
    /// What it does.
    pub action: LifetimeActionType,
}

/// When a lifetime action runs: at a percentage of the lifetime, or days before expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeTrigger {
    /// Percentage of the validity period (1 to 99).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_percentage: Option<u32>,
    /// Days before expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_before_expiry: Option<u32>,
}

/// What a lifetime action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeActionType {
    /// `EmailContacts` or `AutoRenew`.
    pub action_type: ActionType,
}

/// Key Vault's lifetime action types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionType {
    /// Tell the vault's certificate contacts.
    EmailContacts,
    /// Issue a new version.
    AutoRenew,
}

/// `issuer` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerParameters {
    /// [`ISSUER_SELF`], [`ISSUER_UNKNOWN`], or the name of an issuer of the vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Certificate type, as the issuer understands it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// Whether to ask for certificate transparency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_transparency: Option<bool>,
}

/// A policy's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAttributes {
    /// Whether certificates made from it are enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<UnixTime>,
    /// Last update time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<UnixTime>,
}

/// Attributes of a certificate version, as Key Vault reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAttributes {
    /// Whether the version is enabled (its key and secret follow).
    pub enabled: bool,
    /// The certificate's notBefore.
    pub not_before: Option<UnixTime>,
    /// The certificate's notAfter.
    pub expires: Option<UnixTime>,
    /// Creation time.
    pub created: UnixTime,
    /// Last update time.
    pub updated: UnixTime,
    /// Key Vault's recovery level string, from the vault's settings.
    pub recovery_level: String,
    /// Soft-delete retention in days.
    pub recoverable_days: u32,
}

/// A certificate version: the certificate (absent while its creation is pending), its
/// policy, attributes and tags, and the key and secret it owns (same name and version).
#[derive(Debug, Clone)]
pub struct CertificateBundle {
    /// Vault name.
    pub vault: String,
    /// Certificate name as created.
    pub name: String,
    /// Version id (32 lowercase hex), shared with its key and secret.
    pub version: String,
    /// The certificate, DER; `None` while pending.
    pub cer: Option<Vec<u8>>,
    /// SHA-1 thumbprint of `cer`.
    pub x5t: Option<Vec<u8>>,
    /// The certificate's policy (the current one).
    pub policy: CertificatePolicy,
    /// Attributes.
    pub attributes: CertificateAttributes,
    /// Tags.
    pub tags: Tags,
    /// The content type of its secret.
    pub content_type: String,
    /// Whether this is the current (newest) version.
    pub is_current: bool,
}

/// A deleted certificate: its current version's bundle plus deletion info.
#[derive(Debug, Clone)]
pub struct DeletedCertificateBundle {
    /// The current version at deletion.
    pub certificate: CertificateBundle,
    /// Deletion dates.
    pub deletion: DeletionInfo,
}

/// Options for creating, importing or merging a certificate version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateOptions {
    /// Enabled; default true.
    pub enabled: Option<bool>,
    /// Tags.
    pub tags: Tags,
}

/// Changes to a certificate version; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateUpdate {
    /// Enable or disable (the key and secret follow).
    pub enabled: Option<bool>,
    /// Replace the tags.
    pub tags: Option<Tags>,
    /// Merge into the certificate's policy.
    pub policy: Option<CertificatePolicy>,
}

/// Key Vault's states of a certificate operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OperationStatus {
    /// Waiting (for a merge, with issuer `Unknown`).
    InProgress,
    /// The certificate is issued.
    Completed,
    /// Cancelled before completion.
    Cancelled,
    /// Failed.
    Failed,
}

/// A certificate's creation operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateOperation {
    /// Certificate name as created.
    pub name: String,
    /// The issuer it was made for.
    pub issuer: String,
    /// The CSR (DER), for issuers outside the vault.
    pub csr: Option<Vec<u8>>,
    /// Whether cancellation was asked.
    pub cancellation_requested: bool,
    /// Where it stands.
    pub status: OperationStatus,
    /// Details, for people.
    pub status_details: Option<String>,
    /// The error of a failed operation: code and message.
    pub error: Option<(String, String)>,
    /// A request id, as Key Vault reports one.
    pub request_id: String,
}

/// A certificate contact of a vault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// An administrator of an issuer's organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdministratorDetails {
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// An issuer's organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationDetails {
    /// Organization id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_details: Option<Vec<AdministratorDetails>>,
}

/// An issuer of a vault. localhsm acts as a local CA for each one: it has its own CA key and
/// certificate, and signs the certificates whose policy names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerBundle {
    /// Vault name.
    pub vault: String,
    /// Issuer name as set.
    pub name: String,
    /// The provider name the caller gave (`Test`, `DigiCert`, ...); localhsm signs locally
    /// whatever it says.
    pub provider: String,
    /// The account id of the credentials, if given (the password is never returned).
    pub account_id: Option<String>,
    /// The organization.
    pub organization: Option<OrganizationDetails>,
    /// Enabled.
    pub enabled: bool,
    /// Creation time.
    pub created: UnixTime,
    /// Last update time.
    pub updated: UnixTime,
    /// The issuer's CA certificate (DER).
    pub ca_certificate: Vec<u8>,
}

/// What to set on an issuer; `None` leaves a field as it is (on create: absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerUpdate {
    /// Provider name (required on create).
    pub provider: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// Organization.
    pub organization: Option<OrganizationDetails>,
    /// Enabled.
    pub enabled: Option<bool>,
}
