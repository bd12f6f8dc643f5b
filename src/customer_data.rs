//! Customer-data requests: export, or delete, everything the store holds about a principal
//! (object ID), a user principal name, an e-mail address, a device ID, or a tag, in every
//! vault.
//!
//! Layer: services. Imports [`crate::audit`] and [`crate::rbac`] (beside it, below it in
//! that order), the objects layer, the lifecycle (to soft-delete and purge in a
//! soft-deleted vault, which the objects' own calls refuse) and the base layer; nothing
//! imports it but the faces.
//!
//! What is tied to a subject: role assignments and access policies naming its object ID;
//! keys, secrets and their deleted counterparts whose tags carry it (device IDs live in
//! tags, as IoT Hub ties data to device IDs); certificates whose tags carry it or whose
//! X.509 subject or e-mail/UPN alternative names name it (a device's certificate names its
//! device ID, a user's its address); the vault's certificate contacts and its issuers'
//! organization administrators with the subject's e-mail address (for a UPN or e-mail
//! subject); and the access-log records of its calls.
//!
//! Export returns them (keys as metadata, public parts and tags, never private material;
//! secrets as metadata and tags, never their values; certificates as subject, alternative
//! names, attributes and tags, never the private key, PFX or PEM). Delete acts on every
//! vault, soft-deleted ones included, so that recovering a vault gives nothing back: it
//! removes the assignments, access policies, contacts and issuer administrator entries (an
//! issuer stays, without the entry), soft-deletes the tied keys, secrets and certificates
//! (a certificate with its key and secret) under their vault's retention and then purges
//! them, and redacts the subject's object ID, UPN and IP address in the access-log records.
//! Purge protection is never bypassed: under it a soft-deleted object waits for its
//! scheduled purge date (or its soft-deleted vault's, when that comes first), and the
//! report says so; a later export marks each such object `awaitingPurge` with that date
//! and, when nothing else is left, says so in its `note`.

use serde::Serialize;

use crate::audit::{AccessLogRecord, LogQuery};
use crate::clock::UnixTime;
use crate::crypto::x509::{self, ParsedCertificate};
use crate::error::{Error, ObjectKind, Result};
use crate::lifecycle::objects::purge_in;
use crate::model::certificates::{
    AdministratorDetails, CertificateAttributes, CertificateBundle, Contact,
    SubjectAlternativeNames,
};
use crate::model::{DeletionInfo, KeyBundle, SecretAttributes, SecretBundle, Tags, VaultInfo};
use crate::rbac::{AccessPolicyEntry, RoleAssignment};
use crate::vault::{Store, Vault};

/// Whom a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A principal's object ID.
    Principal(String),
    /// A user principal name.
    Upn(String),
    /// An e-mail address.
    Email(String),
    /// A device ID (as carried in tag values, or named by a device's certificate).
    DeviceId(String),
    /// A tag `key=value`.
    Tag {
        /// Tag name.
        key: String,
        /// Tag value.
        value: String,
    },
}

impl Subject {
    /// Parses `key=value` into a tag subject.
    pub fn tag(spec: &str) -> Result<Self> {
        match spec.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Subject::Tag {
                key: k.to_string(),
                value: v.to_string(),
            }),
            _ => Err(Error::bad_parameter(format!(
                "tag {spec:?} must be written key=value"
            ))),
        }
    }

    /// Whether a set of tags carries this subject: for a tag subject, that tag; otherwise
    /// any tag value equal to the subject (case-insensitive).
    pub fn in_tags(&self, tags: &Tags) -> bool {
        match self {
            Subject::Tag { key, value } => tags.get(key) == Some(value),
            Subject::Principal(s) | Subject::Upn(s) | Subject::Email(s) | Subject::DeviceId(s) => {
                tags.values().any(|v| v.eq_ignore_ascii_case(s))
            }
        }
    }

    /// The identifier this subject is, unless it is a tag.
    fn identifier(&self) -> Option<&str> {
        match self {
            Subject::Principal(s) | Subject::Upn(s) | Subject::Email(s) | Subject::DeviceId(s) => {
                Some(s)
            }
            Subject::Tag { .. } => None,
        }
    }

    /// Whether an e-mail address field (a contact's, an issuer administrator's) is this
    /// subject's: for a UPN or e-mail subject, the same address (case-insensitive). A UPN
    /// is an address in e-mail form, and is usually the person's mail address too.
    pub fn has_address(&self, email: Option<&str>) -> bool {
        match self {
            Subject::Upn(s) | Subject::Email(s) => {
                email.is_some_and(|e| e.trim().eq_ignore_ascii_case(s.trim()))
            }
            Subject::Principal(_) | Subject::DeviceId(_) | Subject::Tag { .. } => false,
        }
    }

    /// Whether an X.509 subject (`CN=a, O=b`) or alternative names name this subject: an
    /// attribute value, an e-mail or a UPN equal to it (case-insensitive). DNS names name
    /// hosts, not people or devices.
    fn named_by(&self, subject: Option<&str>, sans: Option<&SubjectAlternativeNames>) -> bool {
        let Some(id) = self.identifier() else {
            return false;
        };
        let same = |v: &str| v.trim().eq_ignore_ascii_case(id.trim());
        let in_subject = subject.is_some_and(|s| name_values(s).any(same));
        let in_sans = sans.is_some_and(|n| {
            [&n.emails, &n.upns]
                .into_iter()
                .flatten()
                .flatten()
                .any(|v| same(v))
        });
        in_subject || in_sans
    }

    /// Whether an access-log record is of a call this subject made (by object ID or UPN).
    pub fn made(&self, record: &AccessLogRecord) -> bool {
        let c = &record.identity.claim;
        let same = |claim: &Option<String>, s: &str| {
            claim.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(s))
        };
        match self {
            Subject::Principal(oid) => same(&c.oid, oid),
            // A token's UPN is the address the caller signed in with.
            Subject::Upn(upn) | Subject::Email(upn) => same(&c.upn, upn),
            Subject::DeviceId(_) | Subject::Tag { .. } => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Subject::Principal(s) => format!("principal {s}"),
            Subject::Upn(s) => format!("upn {s}"),
            Subject::Email(s) => format!("email {s}"),
            Subject::DeviceId(s) => format!("device {s}"),
            Subject::Tag { key, value } => format!("tag {key}={value}"),
        }
    }
}

/// A key version in an export: metadata, public JWK and tags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedKeyVersion {
    /// Version id.
    pub version: String,
    /// Key type.
    pub kty: String,
    /// Public JWK (no private members).
    pub key: crate::crypto::Jwk,
    /// Attributes.
    pub attributes: crate::model::KeyAttributes,
    /// Tags.
    pub tags: Tags,
}

/// A key in an export, with the versions whose tags carry the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedKey {
    /// Key name.
    pub name: String,
    /// Soft-deleted: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<UnixTime>,
    /// Soft-deleted: when it will be purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<UnixTime>,
    /// Why it is still held and until when, when it only waits to be purged (soft-deleted
    /// under purge protection): what a customer-data delete leaves behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_purge: Option<String>,
    /// The matching versions.
    pub versions: Vec<ExportedKeyVersion>,
}

/// A secret version in an export: metadata and tags, never the value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedSecretVersion {
    /// Version id.
    pub version: String,
    /// Content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Attributes.
    pub attributes: SecretAttributes,
    /// Tags.
    pub tags: Tags,
}

/// A secret in an export, with the versions whose tags carry the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedSecret {
    /// Secret name.
    pub name: String,
    /// Soft-deleted: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<UnixTime>,
    /// Soft-deleted: when it will be purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<UnixTime>,
    /// Why it is still held and until when, when it only waits to be purged (soft-deleted
    /// under purge protection): what a customer-data delete leaves behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_purge: Option<String>,
    /// The matching versions.
    pub versions: Vec<ExportedSecretVersion>,
}

/// The attribute values of an X.509 subject as Key Vault writes it (`CN=a, O=b + OU=c`),
/// quotes removed.
fn name_values(subject: &str) -> impl Iterator<Item = &str> {
    subject
        .split([',', '+'])
        .filter_map(|rdn| rdn.split_once('='))
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// A certificate version in an export: the names it carries and its tags, never its
/// private key, PFX or PEM.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedCertificateVersion {
    /// Version id.
    pub version: String,
    /// The issued certificate's subject (absent while its creation is pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The issued certificate's alternative names (e-mails, DNS names, UPNs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_alternative_names: Option<SubjectAlternativeNames>,
    /// The subject the version's policy asks for (what a renewal issues).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_subject: Option<String>,
    /// The alternative names the version's policy asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_subject_alternative_names: Option<SubjectAlternativeNames>,
    /// Attributes.
    pub attributes: CertificateAttributes,
    /// Tags.
    pub tags: Tags,
}

/// A certificate in an export, with the versions tied to the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedCertificate {
    /// Certificate name.
    pub name: String,
    /// Soft-deleted: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<UnixTime>,
    /// Soft-deleted: when it will be purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<UnixTime>,
    /// Why it is still held and until when, when it only waits to be purged (soft-deleted
    /// under purge protection): what a customer-data delete leaves behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_purge: Option<String>,
    /// The matching versions.
    pub versions: Vec<ExportedCertificateVersion>,
}

/// An issuer in an export: its organization's administrators with the subject's address.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedIssuer {
    /// Issuer name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// The organization's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The matching administrators (name, e-mail, phone).
    pub admin_details: Vec<AdministratorDetails>,
}

/// What one vault holds about the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultExport {
    /// Vault name.
    pub vault: String,
    /// Whether the vault itself is soft-deleted.
    pub vault_deleted: bool,
    /// Role assignments naming the subject.
    pub role_assignments: Vec<RoleAssignment>,
    /// Access policies naming the subject's object ID.
    pub access_policies: Vec<AccessPolicyEntry>,
    /// Live keys whose tags carry the subject.
    pub keys: Vec<ExportedKey>,
    /// Soft-deleted keys whose tags carry the subject.
    pub deleted_keys: Vec<ExportedKey>,
    /// Live secrets whose tags carry the subject (never their values).
    pub secrets: Vec<ExportedSecret>,
    /// Soft-deleted secrets whose tags carry the subject (never their values).
    pub deleted_secrets: Vec<ExportedSecret>,
    /// Live certificates tied to the subject (names and tags, never private keys).
    pub certificates: Vec<ExportedCertificate>,
    /// Soft-deleted certificates tied to the subject.
    pub deleted_certificates: Vec<ExportedCertificate>,
    /// The vault's certificate contacts with the subject's e-mail address.
    pub certificate_contacts: Vec<Contact>,
    /// The vault's issuers with an administrator with the subject's e-mail address.
    pub certificate_issuers: Vec<ExportedIssuer>,
    /// Access-log records of the subject's calls.
    pub access_log: Vec<AccessLogRecord>,
}

/// Everything held about a subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDataExport {
    /// The subject, described.
    pub subject: String,
    /// When the export was made (Unix seconds).
    pub generated: UnixTime,
    /// Per vault, only vaults that hold something.
    pub vaults: Vec<VaultExport>,
    /// Set when everything listed only waits for its scheduled purge date (as after a
    /// customer-data delete): says so, and why it cannot go sooner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a customer-data delete cannot remove at once, and says so in a later export.
const ONLY_AWAITING_PURGE: &str = "everything listed waits for its scheduled purge date \
    (soft-deleted under purge protection) and is purged automatically then; nothing can \
    purge it sooner, a customer-data delete included";

/// When an object soft-deleted under purge protection in the vault `info` goes, and why
/// not sooner: at its own scheduled purge date `own`, or with its soft-deleted vault when
/// the vault's comes first.
fn held_until(info: &VaultInfo, own: UnixTime) -> (UnixTime, String) {
    let date = crate::clock::rfc3339;
    match info.scheduled_purge_date.filter(|vault| *vault < own) {
        Some(vault) => (
            vault,
            format!(
                "soft-deleted under purge protection in a soft-deleted vault: purged with the \
                 vault at {} (at {}, its own scheduled purge date, if the vault is recovered \
                 first); nothing can purge it sooner",
                date(vault),
                date(own)
            ),
        ),
        None => (
            own,
            format!(
                "soft-deleted under purge protection: purged automatically at {}, its \
                 scheduled purge date; nothing can purge it sooner",
                date(own)
            ),
        ),
    }
}

/// Why an object in the vault `info` is still held, when it only waits to be purged: it is
/// soft-deleted (`scheduled_purge_date` is its own) and purge protection holds it. A live
/// object, or one that may be purged, is what a customer-data delete would remove.
fn awaiting_purge(info: &VaultInfo, scheduled_purge_date: Option<UnixTime>) -> Option<String> {
    let own = scheduled_purge_date.filter(|_| info.purge_protection)?;
    Some(held_until(info, own).1)
}

impl VaultExport {
    /// Marks what only waits to be purged; true when that is everything this vault holds
    /// about the subject.
    fn mark_awaiting_purge(&mut self, info: &VaultInfo) -> bool {
        let mut only_awaiting = self.role_assignments.is_empty()
            && self.access_policies.is_empty()
            && self.certificate_contacts.is_empty()
            && self.certificate_issuers.is_empty()
            && self.access_log.is_empty();
        macro_rules! mark {
            ($($list:expr),*) => {$(
                for item in &mut $list {
                    item.awaiting_purge = awaiting_purge(info, item.scheduled_purge_date);
                    only_awaiting &= item.awaiting_purge.is_some();
                }
            )*};
        }
        mark!(
            self.keys,
            self.deleted_keys,
            self.secrets,
            self.deleted_secrets,
            self.certificates,
            self.deleted_certificates
        );
        only_awaiting
    }
}

/// A key, secret or certificate that could not be purged yet.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwaitingPurge {
    /// Vault.
    pub vault: String,
    /// Key, secret or certificate name.
    pub name: String,
    /// When it will be purged: its own scheduled purge date, or its soft-deleted vault's
    /// when that comes first.
    pub scheduled_purge_date: Option<UnixTime>,
    /// Why it waits.
    pub reason: String,
}

/// What a customer-data deletion did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionReport {
    /// The subject, described.
    pub subject: String,
    /// Role assignments removed, as `vault/name`.
    pub role_assignments_removed: Vec<String>,
    /// Access policies removed, as `vault/objectId`.
    pub access_policies_removed: Vec<String>,
    /// Keys soft-deleted, as `vault/name`.
    pub keys_deleted: Vec<String>,
    /// Keys purged, as `vault/name`.
    pub keys_purged: Vec<String>,
    /// Keys that must wait (purge protection).
    pub keys_awaiting_purge: Vec<AwaitingPurge>,
    /// Secrets soft-deleted, as `vault/name`.
    pub secrets_deleted: Vec<String>,
    /// Secrets purged, as `vault/name`.
    pub secrets_purged: Vec<String>,
    /// Secrets that must wait (purge protection).
    pub secrets_awaiting_purge: Vec<AwaitingPurge>,
    /// Certificates soft-deleted (with their keys and secrets), as `vault/name`.
    pub certificates_deleted: Vec<String>,
    /// Certificates purged (with their keys and secrets), as `vault/name`.
    pub certificates_purged: Vec<String>,
    /// Certificates that must wait (purge protection).
    pub certificates_awaiting_purge: Vec<AwaitingPurge>,
    /// Certificate contacts removed, as `vault/email`.
    pub certificate_contacts_removed: Vec<String>,
    /// Issuer administrator entries removed (the issuers stay), as `vault/issuer/email`.
    pub issuer_admins_removed: Vec<String>,
    /// Access-log records redacted.
    pub access_log_records_redacted: usize,
}

fn exported(
    name: &str,
    versions: Vec<KeyBundle>,
    deletion: Option<DeletionInfo>,
    subject: &Subject,
) -> Option<ExportedKey> {
    let matching: Vec<ExportedKeyVersion> = versions
        .into_iter()
        .filter(|b| subject.in_tags(&b.tags))
        .map(|b| ExportedKeyVersion {
            version: b.version,
            kty: b.kty.to_string(),
            key: b.key.public_only(),
            attributes: b.attributes,
            tags: b.tags,
        })
        .collect();
    (!matching.is_empty()).then(|| ExportedKey {
        name: name.to_string(),
        deleted_date: deletion.map(|d| d.deleted_date),
        scheduled_purge_date: deletion.map(|d| d.scheduled_purge_date),
        awaiting_purge: None,
        versions: matching,
    })
}

fn exported_secret(
    name: &str,
    versions: Vec<SecretBundle>,
    deletion: Option<DeletionInfo>,
    subject: &Subject,
) -> Option<ExportedSecret> {
    let matching: Vec<ExportedSecretVersion> = versions
        .into_iter()
        .filter(|b| subject.in_tags(&b.tags))
        .map(|b| ExportedSecretVersion {
            version: b.version,
            content_type: b.content_type,
            attributes: b.attributes,
            tags: b.tags,
        })
        .collect();
    (!matching.is_empty()).then(|| ExportedSecret {
        name: name.to_string(),
        deleted_date: deletion.map(|d| d.deleted_date),
        scheduled_purge_date: deletion.map(|d| d.scheduled_purge_date),
        awaiting_purge: None,
        versions: matching,
    })
}

/// A certificate version's export, when it is tied to the subject: its tags carry it, or
/// the issued certificate or its policy name it.
fn exported_certificate_version(
    b: CertificateBundle,
    subject: &Subject,
) -> Option<ExportedCertificateVersion> {
    // A certificate that does not parse (it never should) is still matched by its policy and
    // tags, rather than failing the whole request.
    let parsed: Option<ParsedCertificate> = b
        .cer
        .as_deref()
        .and_then(|der| x509::parse_certificate(der).ok());
    let sans = parsed.as_ref().map(|p| {
        let some = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
        SubjectAlternativeNames {
            emails: some(&p.emails),
            dns_names: some(&p.dns_names),
            upns: some(&p.upns),
        }
    });
    let x509 = b.policy.x509_props.as_ref();
    let policy_subject = x509
        .and_then(|x| x.subject.clone())
        .filter(|s| !s.is_empty());
    let policy_sans = x509.and_then(|x| x.sans.clone());
    let tied = subject.in_tags(&b.tags)
        || subject.named_by(parsed.as_ref().map(|p| p.subject.as_str()), sans.as_ref())
        || subject.named_by(policy_subject.as_deref(), policy_sans.as_ref());
    tied.then(|| ExportedCertificateVersion {
        version: b.version,
        subject: parsed.map(|p| p.subject),
        subject_alternative_names: sans,
        policy_subject,
        policy_subject_alternative_names: policy_sans,
        attributes: b.attributes,
        tags: b.tags,
    })
}

/// What an object of `kind` is deleted and purged with, in one transaction, as the
/// certificate API does: a certificate's key and secret of the same name.
fn parts(kind: ObjectKind) -> &'static [ObjectKind] {
    match kind {
        ObjectKind::Certificate => &[ObjectKind::Key, ObjectKind::Secret],
        ObjectKind::Key | ObjectKind::Secret => &[],
    }
}

/// Soft-deletes the live object `name` of `kind` (with its parts), whether its vault is live
/// or soft-deleted, under the vault's retention: the vault's own delete calls refuse a
/// vault that is not live, and an object left live there would come back with the vault.
/// Gone already (deleted meanwhile by someone else) is fine: the purge that follows finds it.
fn soft_delete(vault: &Vault, kind: ObjectKind, name: &str) -> Result<()> {
    let core = vault.core();
    let now = core.now();
    let deleted = core.transact(|tx| {
        let deleted = match vault.objects(kind).delete_in_any_vault(tx, name, now) {
            Ok(record) => record.deletion,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        for part in parts(kind) {
            match vault.objects(*part).delete_in_any_vault(tx, name, now) {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    })?;
    core.commit()?;
    if let Some(d) = deleted {
        core.queued(d.scheduled_purge_date);
    }
    if kind != ObjectKind::Secret {
        // A handle resolved on the key (a recovered vault's, say) must not outlive it.
        vault.reconcile(name)?;
    }
    Ok(())
}

/// Purges the soft-deleted object `name` of `kind` (with its parts) in a live or
/// soft-deleted vault, unless purge protection holds it ([`Error::PurgeProtected`]).
fn purge(vault: &Vault, kind: ObjectKind, name: &str) -> Result<()> {
    let core = vault.core();
    let now = core.now();
    let id = vault.objects(kind).id(name);
    core.transact(|tx| {
        if purge_in(tx, kind, &id, false, now)? {
            for part in parts(kind) {
                purge_in(tx, *part, &id, false, now)?;
            }
        }
        Ok(())
    })?;
    core.commit()
}

/// What deleting one kind of tied object in one vault did, and where it goes in the report.
struct Erased<'r> {
    deleted: &'r mut Vec<String>,
    purged: &'r mut Vec<String>,
    awaiting: &'r mut Vec<AwaitingPurge>,
}

impl Erased<'_> {
    /// Soft-deletes the `live` objects of `kind` in `vault` (live or soft-deleted), then
    /// purges them and the `deleted` ones where purge protection allows; the rest waits,
    /// listed with the date it goes and why not sooner.
    fn erase(
        &mut self,
        vault: &Vault,
        info: &VaultInfo,
        kind: ObjectKind,
        (live, deleted): (Vec<String>, Vec<String>),
    ) -> Result<()> {
        for name in &live {
            soft_delete(vault, kind, name)?;
            self.deleted.push(format!("{}/{name}", info.name));
        }
        for name in live.into_iter().chain(deleted) {
            match purge(vault, kind, &name) {
                Ok(()) => self.purged.push(format!("{}/{name}", info.name)),
                Err(Error::PurgeProtected {
                    scheduled_purge_date,
                    ..
                }) => {
                    let (date, reason) = held_until(info, scheduled_purge_date);
                    self.awaiting.push(AwaitingPurge {
                        vault: info.name.clone(),
                        name,
                        scheduled_purge_date: Some(date),
                        reason,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

impl Store {
    fn every_vault(&self) -> Result<Vec<(Vault, VaultInfo)>> {
        let mut all = self.list_vaults()?;
        all.extend(self.list_deleted_vaults()?);
        Ok(all
            .into_iter()
            .map(|info| (self.vault_unchecked(&info.name), info))
            .collect())
    }

    fn tagged_keys(
        &self,
        vault: &Vault,
        subject: &Subject,
        deleted: bool,
    ) -> Result<Vec<ExportedKey>> {
        let mut out = Vec::new();
        for name in vault.key_names(deleted)? {
            let (versions, deletion) = vault.all_key_versions(&name, deleted)?;
            out.extend(exported(&name, versions, deletion, subject));
        }
        Ok(out)
    }

    fn tagged_secrets(
        &self,
        vault: &Vault,
        info: &VaultInfo,
        subject: &Subject,
        deleted: bool,
    ) -> Result<Vec<ExportedSecret>> {
        let mut out = Vec::new();
        if !info.holds(ObjectKind::Secret) {
            return Ok(out);
        }
        for name in vault.secret_names(deleted)? {
            let (versions, deletion) = vault.all_secret_versions(&name, deleted)?;
            out.extend(exported_secret(&name, versions, deletion, subject));
        }
        Ok(out)
    }

    fn tied_certificates(
        &self,
        vault: &Vault,
        info: &VaultInfo,
        subject: &Subject,
        deleted: bool,
    ) -> Result<Vec<ExportedCertificate>> {
        let mut out = Vec::new();
        if !info.holds(ObjectKind::Certificate) {
            return Ok(out);
        }
        for name in vault.certificate_names(deleted)? {
            let (versions, deletion) = vault.all_certificate_versions(&name, deleted)?;
            let matching: Vec<ExportedCertificateVersion> = versions
                .into_iter()
                .filter_map(|b| exported_certificate_version(b, subject))
                .collect();
            if !matching.is_empty() {
                out.push(ExportedCertificate {
                    name,
                    deleted_date: deletion.map(|d| d.deleted_date),
                    scheduled_purge_date: deletion.map(|d| d.scheduled_purge_date),
                    awaiting_purge: None,
                    versions: matching,
                });
            }
        }
        Ok(out)
    }

    fn issuers_with_admin(&self, vault: &Vault, subject: &Subject) -> Result<Vec<ExportedIssuer>> {
        let mut out = Vec::new();
        for issuer in vault.certificate_issuers_raw()? {
            let organization = issuer.organization.unwrap_or_default();
            let admins: Vec<AdministratorDetails> = organization
                .admin_details
                .unwrap_or_default()
                .into_iter()
                .filter(|a| subject.has_address(a.email.as_deref()))
                .collect();
            if !admins.is_empty() {
                out.push(ExportedIssuer {
                    name: issuer.name,
                    provider: issuer.provider,
                    organization_id: organization.id,
                    admin_details: admins,
                });
            }
        }
        Ok(out)
    }

    /// Everything tied to `subject`, in every vault (live and soft-deleted).
    pub fn export_customer_data(&self, subject: &Subject) -> Result<CustomerDataExport> {
        let mut vaults = Vec::new();
        let mut only_awaiting = true;
        for (vault, info) in self.every_vault()? {
            let (role_assignments, access_policies) = match subject {
                Subject::Principal(oid) => (
                    vault
                        .role_assignments_raw()?
                        .into_iter()
                        .filter(|a| a.principal_id.eq_ignore_ascii_case(oid))
                        .collect(),
                    vault
                        .access_policies_raw()?
                        .into_iter()
                        .filter(|p| p.object_id.eq_ignore_ascii_case(oid))
                        .collect(),
                ),
                _ => (Vec::new(), Vec::new()),
            };
            let access_log = self
                .access_log(&info.name, &LogQuery::default())?
                .into_iter()
                .filter(|r| subject.made(r))
                .collect::<Vec<_>>();
            let mut export = VaultExport {
                vault: info.name.clone(),
                vault_deleted: info.deleted_date.is_some(),
                role_assignments,
                access_policies,
                keys: self.tagged_keys(&vault, subject, false)?,
                deleted_keys: self.tagged_keys(&vault, subject, true)?,
                secrets: self.tagged_secrets(&vault, &info, subject, false)?,
                deleted_secrets: self.tagged_secrets(&vault, &info, subject, true)?,
                certificates: self.tied_certificates(&vault, &info, subject, false)?,
                deleted_certificates: self.tied_certificates(&vault, &info, subject, true)?,
                certificate_contacts: vault
                    .certificate_contacts_raw()?
                    .into_iter()
                    .filter(|c| subject.has_address(c.email.as_deref()))
                    .collect(),
                certificate_issuers: self.issuers_with_admin(&vault, subject)?,
                access_log,
            };
            let empty = export.role_assignments.is_empty()
                && export.access_policies.is_empty()
                && export.keys.is_empty()
                && export.deleted_keys.is_empty()
                && export.secrets.is_empty()
                && export.deleted_secrets.is_empty()
                && export.certificates.is_empty()
                && export.deleted_certificates.is_empty()
                && export.certificate_contacts.is_empty()
                && export.certificate_issuers.is_empty()
                && export.access_log.is_empty();
            if !empty {
                only_awaiting &= export.mark_awaiting_purge(&info);
                vaults.push(export);
            }
        }
        Ok(CustomerDataExport {
            subject: subject.describe(),
            generated: self.now(),
            note: (only_awaiting && !vaults.is_empty()).then(|| ONLY_AWAITING_PURGE.to_string()),
            vaults,
        })
    }

    /// Removes what is tied to `subject`, in every vault, soft-deleted ones too: its role
    /// assignments, access policies, certificate contacts and issuer administrator entries;
    /// its tagged keys and secrets and its certificates (soft-delete, then purge unless
    /// purge protection holds them); and its identity in access-log records.
    pub fn delete_customer_data(&self, subject: &Subject) -> Result<DeletionReport> {
        let mut report = DeletionReport {
            subject: subject.describe(),
            ..DeletionReport::default()
        };
        for (vault, info) in self.every_vault()? {
            if let Subject::Principal(oid) = subject {
                for a in vault.role_assignments_raw()? {
                    if a.principal_id.eq_ignore_ascii_case(oid) {
                        vault.remove_role_assignment_raw(&a.name)?;
                        report
                            .role_assignments_removed
                            .push(format!("{}/{}", info.name, a.name));
                    }
                }
                for p in vault.remove_access_policies_raw(oid)? {
                    report
                        .access_policies_removed
                        .push(format!("{}/{}", info.name, p.object_id));
                }
            }
            let keys = (
                names(&self.tagged_keys(&vault, subject, false)?, |k| &k.name),
                names(&self.tagged_keys(&vault, subject, true)?, |k| &k.name),
            );
            Erased {
                deleted: &mut report.keys_deleted,
                purged: &mut report.keys_purged,
                awaiting: &mut report.keys_awaiting_purge,
            }
            .erase(&vault, &info, ObjectKind::Key, keys)?;
            let secrets = (
                names(&self.tagged_secrets(&vault, &info, subject, false)?, |s| {
                    &s.name
                }),
                names(&self.tagged_secrets(&vault, &info, subject, true)?, |s| {
                    &s.name
                }),
            );
            Erased {
                deleted: &mut report.secrets_deleted,
                purged: &mut report.secrets_purged,
                awaiting: &mut report.secrets_awaiting_purge,
            }
            .erase(&vault, &info, ObjectKind::Secret, secrets)?;
            let certificates = (
                names(
                    &self.tied_certificates(&vault, &info, subject, false)?,
                    |c| &c.name,
                ),
                names(
                    &self.tied_certificates(&vault, &info, subject, true)?,
                    |c| &c.name,
                ),
            );
            Erased {
                deleted: &mut report.certificates_deleted,
                purged: &mut report.certificates_purged,
                awaiting: &mut report.certificates_awaiting_purge,
            }
            .erase(&vault, &info, ObjectKind::Certificate, certificates)?;
            if info.holds(ObjectKind::Certificate) {
                for c in vault
                    .remove_certificate_contacts_raw(|c| subject.has_address(c.email.as_deref()))?
                {
                    report.certificate_contacts_removed.push(format!(
                        "{}/{}",
                        info.name,
                        c.email.unwrap_or_default()
                    ));
                }
                for issuer in self.issuers_with_admin(&vault, subject)? {
                    for a in vault.remove_issuer_admins_raw(&issuer.name, |a| {
                        subject.has_address(a.email.as_deref())
                    })? {
                        report.issuer_admins_removed.push(format!(
                            "{}/{}/{}",
                            info.name,
                            issuer.name,
                            a.email.unwrap_or_default()
                        ));
                    }
                }
            }
        }
        report.access_log_records_redacted = self.redact_access_logs(|r| subject.made(r))?;
        self.flush()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_tags() {
        let tags: Tags = [("deviceId".to_string(), "Dev-42".to_string())].into();
        assert!(Subject::DeviceId("dev-42".into()).in_tags(&tags));
        assert!(Subject::tag("deviceId=Dev-42").unwrap().in_tags(&tags));
        assert!(!Subject::tag("deviceId=dev-42").unwrap().in_tags(&tags));
        assert!(!Subject::Principal("other".into()).in_tags(&tags));
        assert!(Subject::tag("novalue").is_err());
        let mailed: Tags = [("owner".to_string(), "Ann@Example.com".to_string())].into();
        assert!(Subject::Email("ann@example.com".into()).in_tags(&mailed));
    }

    #[test]
    fn subjects_match_addresses_and_certificate_names() {
        let email = Subject::Email("Ann@Example.com".into());
        let upn = Subject::Upn("ann@example.com".into());
        for s in [&email, &upn] {
            assert!(s.has_address(Some("ann@example.COM")));
            assert!(s.has_address(Some(" ann@example.com ")));
            assert!(!s.has_address(Some("ann@example.com.evil")));
            assert!(!s.has_address(None));
        }
        assert!(!Subject::Principal("ann@example.com".into()).has_address(Some("ann@example.com")));
        assert!(!Subject::DeviceId("ann@example.com".into()).has_address(Some("ann@example.com")));
        assert!(!Subject::tag("mail=ann@example.com")
            .unwrap()
            .has_address(Some("ann@example.com")));

        // The subject's attribute values, whole: not a part of one.
        let subject = Some("CN=ann@example.com, O=Contoso + OU=\"Ops\"");
        assert!(email.named_by(subject, None));
        assert!(!Subject::Email("example.com".into()).named_by(subject, None));
        assert!(Subject::DeviceId("ops".into()).named_by(subject, None));
        assert_eq!(
            name_values("CN=a, O=b + OU=\"c\"").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        // E-mail and UPN alternative names count; DNS names do not.
        let sans = |emails: &[&str], dns: &[&str], upns: &[&str]| SubjectAlternativeNames {
            emails: Some(emails.iter().map(|s| s.to_string()).collect()),
            dns_names: Some(dns.iter().map(|s| s.to_string()).collect()),
            upns: Some(upns.iter().map(|s| s.to_string()).collect()),
        };
        assert!(email.named_by(None, Some(&sans(&["ANN@example.com"], &[], &[]))));
        assert!(upn.named_by(None, Some(&sans(&[], &[], &["ann@example.com"]))));
        assert!(!Subject::DeviceId("host.example.com".into())
            .named_by(None, Some(&sans(&[], &["host.example.com"], &[]))));
        assert!(!Subject::tag("k=v").unwrap().named_by(Some("CN=v"), None));
        assert!(!email.named_by(None, None));
    }
}
