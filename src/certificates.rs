//! Certificates: the certificate kind's policy over the lifecycle. Every certificate version
//! owns a key and a secret of the same name and version (`managed`), written, deleted,
//! recovered and purged with it in one transaction, as Key Vault keeps them.
//!
//! Layer: objects. Imports [`crate::keys`] and [`crate::secrets`] (for the versions it
//! owns), [`crate::vault`], the lifecycle, the storage seam (issuers) and the base layer
//! (X.509 and PKCS#12 are [`crate::crypto::x509`]'s).
//!
//! Issuance: issuer `Self` signs with the certificate's own key; `Unknown` leaves a CSR in
//! a pending operation until a merge brings a chain whose leaf holds the CSR's key; any
//! other name is an issuer of the vault, for which localhsm keeps its own local CA (a key
//! and certificate made when the issuer is created) and signs locally. The create answer
//! says `inProgress`, as Key Vault's does; the operation of an issued certificate already
//! says `completed`.
//!
//! A version is stored as a `CertificateVersion` record: the certificate (absent while
//! pending), the policy in force, attributes, tags and the pending operation. The private
//! key is the managed key's (sealed there); the managed secret holds the PFX (base64) or
//! PEM, or, when the key is not exportable, only the chain, and refuses reads.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::x509::{self, CertSpec, KeyUsage, ParsedCertificate};
use crate::crypto::{
    Base64Url, CurveName, KeyFamily, KeyMaterial, KeySpec, KeyType, SecretBytes, SecretString,
};
use crate::error::{Error, ObjectKind, Result};
use crate::keys::{same_public_key, KeyVersion};
use crate::lifecycle::objects::{
    new_version_id, purge_in, versions_page, AttributeUpdate, AttributesMut, Objects, VersionState,
    Versioned, BACKUP_MAGIC,
};
use crate::lifecycle::records::{vault_prefix, ObjectRecord, VaultRecord};
use crate::model::access::DataAction;
use crate::model::certificates::DeletedCertificateBundle;
use crate::model::certificates::{
    ActionType, CertificateAttributes, CertificateBundle, CertificateKeyProperties,
    CertificateOperation, CertificateOptions, CertificatePolicy, CertificateSecretProperties,
    CertificateUpdate, Contact, IssuerBundle, IssuerParameters, IssuerUpdate, LifetimeAction,
    LifetimeActionType, LifetimeTrigger, OperationStatus, PolicyAttributes,
    SubjectAlternativeNames, X509Properties, CONTENT_TYPE_PEM, CONTENT_TYPE_PFX, ISSUER_SELF,
    ISSUER_UNKNOWN,
};
use crate::model::{validate_name, validate_tags, Page, Tags, DAY};
use crate::secrets::SecretVersion;
use crate::store::seal::backup_aad;
use crate::store::{decode, KeyRange, Table, TxnExt};
use crate::vault::{Store, Vault};

const CERT: ObjectKind = ObjectKind::Certificate;

/// Longest validity a policy may ask for, in months.
const MAX_VALIDITY_MONTHS: u32 = 1200;
/// Most contacts a vault keeps.
const MAX_CONTACTS: usize = 64;

/// One certificate version as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CertificateVersion {
    /// The certificate, DER; absent while the version is pending.
    #[serde(default)]
    pub(crate) cer: Option<Base64Url>,
    /// The policy in force when the version was made (the current version's is the
    /// certificate's policy).
    pub(crate) policy: CertificatePolicy,
    pub(crate) enabled: bool,
    pub(crate) not_before: Option<UnixTime>,
    pub(crate) expires: Option<UnixTime>,
    pub(crate) created: UnixTime,
    pub(crate) updated: UnixTime,
    #[serde(default)]
    pub(crate) tags: Tags,
    /// The operation that made (or is making) this version.
    #[serde(default)]
    pub(crate) operation: Option<CertificateOperation>,
    /// Whether the EmailContacts lifetime action has run for this version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) notified: bool,
    /// An empty payload, sealed: the private key is sealed in the managed key. Kept for the
    /// lifecycle's backup envelope, which carries each version's sealed part.
    pub(crate) sealed: Base64Url,
}

impl Versioned for CertificateVersion {
    fn attributes_mut(&mut self) -> AttributesMut<'_> {
        AttributesMut {
            enabled: &mut self.enabled,
            not_before: &mut self.not_before,
            expires: &mut self.expires,
            updated: &mut self.updated,
            tags: &mut self.tags,
        }
    }

    fn sealed(&self) -> &[u8] {
        &self.sealed.0
    }

    fn set_sealed(&mut self, sealed: Vec<u8>) {
        self.sealed = Base64Url(sealed);
    }
}

/// An issuer as stored: what the caller set, and the local CA that signs for it.
#[derive(Debug, Serialize, Deserialize)]
struct IssuerRecord {
    name: String,
    provider: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    organization: Option<crate::model::certificates::OrganizationDetails>,
    enabled: bool,
    created: UnixTime,
    updated: UnixTime,
    ca_certificate: Base64Url,
    /// The CA's private key, sealed like key material.
    ca_key: Base64Url,
}

/// What a backup of a certificate carries: the backups of the certificate, its key and
/// its secret (each sealed for its kind), sealed together.
#[derive(Serialize, Deserialize)]
struct CertificateBackup {
    certificate: Base64Url,
    key: Base64Url,
    #[serde(default)]
    secret: Option<Base64Url>,
}

/// What [`Store::run_lifetime_actions`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LifetimeReport {
    /// Certificates renewed, as `vault/name/new-version`.
    pub renewed: Vec<String>,
    /// Certificates whose contacts were to be told, as `vault/name/version`, with the
    /// contacts' e-mail addresses.
    pub notified: Vec<(String, Vec<String>)>,
}

// ---- policies ----

fn is_pfx(content_type: &str) -> bool {
    content_type.eq_ignore_ascii_case(CONTENT_TYPE_PFX)
}

/// A policy with every field Key Vault reports, defaults filled as Key Vault fills them,
/// and checked.
pub(crate) fn normalize(mut p: CertificatePolicy, now: UnixTime) -> Result<CertificatePolicy> {
    let kp = p.key_props.get_or_insert_with(Default::default);
    let kty = kp.kty.unwrap_or(if kp.crv.is_some() {
        KeyType::Ec
    } else {
        KeyType::Rsa
    });
    match kty.family() {
        KeyFamily::Oct => {
            return Err(Error::bad_parameter(
                "key_props.kty must be EC, EC-HSM, RSA or RSA-HSM for a certificate",
            ))
        }
        KeyFamily::Ec => {
            if kp.key_size.is_some_and(|s| ![256, 384, 521].contains(&s)) {
                return Err(Error::bad_parameter(
                    "key_props.key_size does not apply to EC keys; use crv",
                ));
            }
            let crv = kp.crv.unwrap_or(CurveName::P256);
            if crv == CurveName::P256K {
                return Err(Error::bad_parameter(
                    "certificates support the curves P-256, P-384 and P-521, not P-256K",
                ));
            }
            kp.crv = Some(crv);
            kp.key_size = None;
        }
        KeyFamily::Rsa => {
            if kp.crv.is_some() {
                return Err(Error::bad_parameter(
                    "key_props.crv does not apply to RSA keys",
                ));
            }
            let size = kp.key_size.unwrap_or(2048);
            if !crate::crypto::rsa::SUPPORTED_BITS.contains(&size) {
                return Err(Error::bad_parameter(format!(
                    "key_props.key_size must be 2048, 3072 or 4096 for RSA, not {size}"
                )));
            }
            kp.key_size = Some(size);
        }
    }
    kp.kty = Some(kty);
    kp.exportable.get_or_insert(true);
    kp.reuse_key.get_or_insert(false);

    let sp = p.secret_props.get_or_insert_with(Default::default);
    let ct = sp
        .content_type
        .get_or_insert_with(|| CONTENT_TYPE_PFX.to_string());
    if !is_pfx(ct) && !ct.eq_ignore_ascii_case(CONTENT_TYPE_PEM) {
        return Err(Error::bad_parameter(format!(
            "secret_props.contentType must be {CONTENT_TYPE_PFX} or {CONTENT_TYPE_PEM}"
        )));
    }

    let xp = p.x509_props.get_or_insert_with(Default::default);
    let months = *xp.validity_months.get_or_insert(12);
    if !(1..=MAX_VALIDITY_MONTHS).contains(&months) {
        return Err(Error::bad_parameter(format!(
            "x509_props.validity_months must be 1 to {MAX_VALIDITY_MONTHS}, not {months}"
        )));
    }
    let has_sans = xp.sans.as_ref().is_some_and(|s| {
        [&s.dns_names, &s.emails, &s.upns]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
    });
    if xp.subject.as_deref().unwrap_or("").trim().is_empty() && !has_sans {
        return Err(Error::bad_parameter(
            "x509_props needs a subject (e.g. CN=example.com) or subject alternative names",
        ));
    }
    xp.key_usage.get_or_insert_with(|| match kty.family() {
        KeyFamily::Rsa => vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment],
        _ => vec![KeyUsage::DigitalSignature],
    });
    xp.ekus.get_or_insert_with(|| {
        vec![
            "1.3.6.1.5.5.7.3.1".to_string(),
            "1.3.6.1.5.5.7.3.2".to_string(),
        ]
    });
    for eku in xp.ekus.iter().flatten() {
        let ok = eku.split('.').count() >= 2
            && eku
                .split('.')
                .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(Error::bad_parameter(format!(
                "x509_props.ekus: {eku:?} is not a dotted OID (e.g. 1.3.6.1.5.5.7.3.1)"
            )));
        }
    }

    let actions = p.lifetime_actions.get_or_insert_with(|| {
        vec![LifetimeAction {
            trigger: LifetimeTrigger {
                lifetime_percentage: Some(80),
                days_before_expiry: None,
            },
            action: LifetimeActionType {
                action_type: ActionType::AutoRenew,
            },
        }]
    });
    for a in actions.iter() {
        match (a.trigger.lifetime_percentage, a.trigger.days_before_expiry) {
            (Some(p), None) if (1..=99).contains(&p) => {}
            // Key Vault's bound: 1 to 27 days per month of validity.
            (None, Some(d)) if d >= 1 && d <= months.saturating_mul(27) => {}
            _ => {
                return Err(Error::bad_parameter(
                    "each lifetime action's trigger needs exactly one of lifetime_percentage \
                     (1 to 99) or days_before_expiry (1 to 27 times validity_months)",
                ))
            }
        }
    }
    if actions.len() > 2
        || actions
            .iter()
            .filter(|a| a.action.action_type == ActionType::AutoRenew)
            .count()
            > 1
    {
        return Err(Error::bad_parameter(
            "at most one AutoRenew and one EmailContacts lifetime action",
        ));
    }

    let issuer = p.issuer.get_or_insert_with(Default::default);
    let name = issuer.name.get_or_insert_with(|| ISSUER_SELF.to_string());
    if name.is_empty() {
        *name = ISSUER_SELF.to_string();
    }
    let attrs = p.attributes.get_or_insert_with(Default::default);
    attrs.enabled.get_or_insert(true);
    attrs.created.get_or_insert(now);
    attrs.updated = Some(now);
    Ok(p)
}

/// `update` merged into `base`, field by field, as Key Vault's policy PATCH does.
fn merge_policy(base: &CertificatePolicy, update: CertificatePolicy) -> CertificatePolicy {
    fn pick<T>(new: Option<T>, old: &Option<T>) -> Option<T>
    where
        T: Clone,
    {
        new.or_else(|| old.clone())
    }
    let kp = match (update.key_props, &base.key_props) {
        (Some(n), Some(o)) => Some(CertificateKeyProperties {
            exportable: pick(n.exportable, &o.exportable),
            kty: pick(n.kty, &o.kty),
            key_size: if n.kty.is_some_and(|k| k.family() == KeyFamily::Ec) {
                n.key_size
            } else {
                pick(n.key_size, &o.key_size)
            },
            reuse_key: pick(n.reuse_key, &o.reuse_key),
            crv: if n.kty.is_some_and(|k| k.family() == KeyFamily::Rsa) {
                n.crv
            } else {
                pick(n.crv, &o.crv)
            },
        }),
        (n, o) => n.or_else(|| o.clone()),
    };
    let sp = match (update.secret_props, &base.secret_props) {
        (Some(n), Some(o)) => Some(CertificateSecretProperties {
            content_type: pick(n.content_type, &o.content_type),
        }),
        (n, o) => n.or_else(|| o.clone()),
    };
    let xp = match (update.x509_props, &base.x509_props) {
        (Some(n), Some(o)) => Some(X509Properties {
            subject: pick(n.subject, &o.subject),
            ekus: pick(n.ekus, &o.ekus),
            sans: pick(n.sans, &o.sans),
            key_usage: pick(n.key_usage, &o.key_usage),
            validity_months: pick(n.validity_months, &o.validity_months),
        }),
        (n, o) => n.or_else(|| o.clone()),
    };
    let issuer = match (update.issuer, &base.issuer) {
        (Some(n), Some(o)) => Some(IssuerParameters {
            name: pick(n.name, &o.name),
            cty: pick(n.cty, &o.cty),
            cert_transparency: pick(n.cert_transparency, &o.cert_transparency),
        }),
        (n, o) => n.or_else(|| o.clone()),
    };
    let attributes = match (update.attributes, &base.attributes) {
        (Some(n), Some(o)) => Some(PolicyAttributes {
            enabled: pick(n.enabled, &o.enabled),
            created: o.created,
            updated: o.updated,
        }),
        (n, o) => n.or_else(|| o.clone()),
    };
    CertificatePolicy {
        key_props: kp,
        secret_props: sp,
        x509_props: xp,
        lifetime_actions: pick(update.lifetime_actions, &base.lifetime_actions),
        issuer,
        attributes,
    }
}

fn key_props(p: &CertificatePolicy) -> CertificateKeyProperties {
    p.key_props.clone().unwrap_or_default()
}

fn content_type(p: &CertificatePolicy) -> String {
    p.secret_props
        .as_ref()
        .and_then(|s| s.content_type.clone())
        .unwrap_or_else(|| CONTENT_TYPE_PFX.to_string())
}

fn issuer_name(p: &CertificatePolicy) -> String {
    p.issuer
        .as_ref()
        .and_then(|i| i.name.clone())
        .unwrap_or_else(|| ISSUER_SELF.to_string())
}

fn key_spec(p: &CertificatePolicy) -> Result<(KeyType, KeySpec)> {
    let kp = key_props(p);
    let kty = kp.kty.unwrap_or(KeyType::Rsa);
    let spec = match kty.family() {
        KeyFamily::Ec => KeySpec::Ec(kp.crv.unwrap_or(CurveName::P256)),
        KeyFamily::Rsa => KeySpec::Rsa(kp.key_size.unwrap_or(2048)),
        KeyFamily::Oct => return Err(Error::bad_parameter("certificates need EC or RSA keys")),
    };
    Ok((kty, spec))
}

fn cert_spec(p: &CertificatePolicy, now: UnixTime) -> CertSpec {
    let xp = p.x509_props.clone().unwrap_or_default();
    let sans = xp.sans.unwrap_or_default();
    CertSpec {
        subject: xp.subject.unwrap_or_default(),
        dns_names: sans.dns_names.unwrap_or_default(),
        emails: sans.emails.unwrap_or_default(),
        upns: sans.upns.unwrap_or_default(),
        key_usage: xp.key_usage.unwrap_or_default(),
        ekus: xp.ekus.unwrap_or_default(),
        not_before: now,
        validity_months: xp.validity_months.unwrap_or(12),
    }
}

/// The policy Key Vault reports for an imported certificate without one: the certificate's
/// own subject, names and validity, its key's type, issuer `Unknown`.
fn policy_of_import(
    parsed: &ParsedCertificate,
    material: &KeyMaterial,
    content_type: &str,
    now: UnixTime,
) -> Result<CertificatePolicy> {
    let spec = material.spec();
    let (kty, key_size, crv) = match spec {
        KeySpec::Ec(c) => (KeyType::Ec, None, Some(c)),
        KeySpec::Rsa(bits) => (KeyType::Rsa, Some(bits), None),
        KeySpec::Oct(_) => return Err(Error::bad_parameter("certificates need EC or RSA keys")),
    };
    let months = (parsed.not_after.saturating_sub(parsed.not_before) / (30 * DAY)).max(1);
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let policy = CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            exportable: Some(true),
            kty: Some(kty),
            key_size,
            reuse_key: Some(false),
            crv,
        }),
        secret_props: Some(CertificateSecretProperties {
            content_type: Some(content_type.to_string()),
        }),
        x509_props: Some(X509Properties {
            subject: Some(parsed.subject.clone()),
            ekus: None,
            sans: Some(SubjectAlternativeNames {
                emails: non_empty(&parsed.emails),
                dns_names: non_empty(&parsed.dns_names),
                upns: non_empty(&parsed.upns),
            }),
            key_usage: None,
            validity_months: Some(u32::try_from(months.min(1200)).unwrap_or(1200)),
        }),
        lifetime_actions: Some(vec![LifetimeAction {
            trigger: LifetimeTrigger {
                lifetime_percentage: Some(80),
                days_before_expiry: None,
            },
            action: LifetimeActionType {
                action_type: ActionType::EmailContacts,
            },
        }]),
        issuer: Some(IssuerParameters {
            name: Some(ISSUER_UNKNOWN.to_string()),
            cty: None,
            cert_transparency: None,
        }),
        attributes: None,
    };
    normalize_imported(policy, now)
}

/// Imported policies may lack a subject (SAN-only certificates); everything else is checked
/// as for issued ones.
fn normalize_imported(mut p: CertificatePolicy, now: UnixTime) -> Result<CertificatePolicy> {
    let xp = p.x509_props.get_or_insert_with(Default::default);
    if xp.subject.as_deref().unwrap_or("").is_empty() {
        xp.subject = Some("CN=imported".to_string());
    }
    normalize(p, now)
}

/// The secret value of a certificate version: PFX (base64, no password) or PEM, or with a
/// key that may not leave the vault, the chain alone.
fn secret_value(
    material: &KeyMaterial,
    chain: &[Vec<u8>],
    content_type: &str,
    exportable: bool,
) -> Result<SecretString> {
    if !exportable {
        let mut pem = String::new();
        for der in chain {
            pem.push_str(&certificate_pem(der));
        }
        return Ok(SecretString::new(pem));
    }
    if is_pfx(content_type) {
        let pfx = x509::to_pfx(material, chain, None)?;
        Ok(SecretString::new(
            base64::engine::general_purpose::STANDARD.encode(pfx.expose()),
        ))
    } else {
        x509::to_pem(material, chain)
    }
}

/// Key Vault's `x5t`: the SHA-1 of the certificate's DER.
fn thumbprint(der: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .to_vec()
}

/// A certificate as a PEM block.
fn certificate_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

// ---- the vault's certificate operations ----

/// A version about to be written: the certificate's record and, when issued, its chain.
struct Issued {
    material: KeyMaterial,
    kty: KeyType,
    chain: Vec<Vec<u8>>,
    parsed: Option<ParsedCertificate>,
}

impl Vault {
    fn certs(&self) -> Objects<'_> {
        self.objects(CERT)
    }

    fn require_on_cert(&self, action: DataAction, name: &str) -> Result<()> {
        self.require_on(action, CERT, name)
    }

    /// The vault's record, when it holds certificates; a Managed HSM does not.
    fn certificates_vault(&self) -> Result<std::sync::Arc<VaultRecord>> {
        let vault = self.record()?;
        if !vault.info().holds(CERT) {
            return Err(Error::NotSupportedByVaultKind {
                what: "certificates (Managed HSM has no certificates API)".into(),
                kind: vault.kind.as_str(),
            });
        }
        Ok(vault)
    }

    fn cert_bundle(
        &self,
        vault: &VaultRecord,
        record: &ObjectRecord,
        version: &str,
        v: CertificateVersion,
    ) -> CertificateBundle {
        let cer = v.cer.map(|b| b.0);
        let x5t = cer.as_deref().map(thumbprint);
        CertificateBundle {
            vault: vault.name.clone(),
            name: record.name.clone(),
            version: version.to_string(),
            x5t,
            cer,
            content_type: content_type(&v.policy),
            policy: v.policy,
            attributes: CertificateAttributes {
                enabled: v.enabled,
                not_before: v.not_before,
                expires: v.expires,
                created: v.created,
                updated: v.updated,
                recovery_level: vault.info().recovery_level().to_string(),
                recoverable_days: vault.retention_days,
            },
            tags: v.tags,
            is_current: record.current() == Some(version),
        }
    }

    fn cert_bundle_of(
        &self,
        vault: &VaultRecord,
        record: &ObjectRecord,
        version: Option<&str>,
    ) -> Result<CertificateBundle> {
        let version = self.certs().pick_version(record, version)?;
        let v = self.certs().version(&record.name, &version)?;
        Ok(self.cert_bundle(vault, record, &version, v))
    }

    fn current_version(&self, name: &str) -> Result<(ObjectRecord, String, CertificateVersion)> {
        let record = self.certs().live(name)?;
        let version = self.certs().pick_version(&record, None)?;
        let v = self.certs().version(&record.name, &version)?;
        Ok((record, version, v))
    }

    /// Makes the key (or reuses the current one) and, unless the issuer is `Unknown`, the
    /// certificate.
    fn issue(
        &self,
        vault: &VaultRecord,
        name: &str,
        policy: &CertificatePolicy,
        now: UnixTime,
    ) -> Result<Issued> {
        let (kty, spec) = key_spec(policy)?;
        let reuse = key_props(policy).reuse_key.unwrap_or(false);
        let existing = match self.certs().live(name) {
            Ok(r) => r.current().map(str::to_string),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let material = match existing {
            Some(current) if reuse => {
                let m = self.managed_key_material(name, &current)?;
                if m.spec() == spec {
                    m
                } else {
                    KeyMaterial::generate(spec)?
                }
            }
            _ => KeyMaterial::generate(spec)?,
        };
        let spec_x = cert_spec(policy, now);
        let issuer = issuer_name(policy);
        let chain = if issuer.eq_ignore_ascii_case(ISSUER_UNKNOWN) {
            Vec::new()
        } else if issuer.eq_ignore_ascii_case(ISSUER_SELF) {
            vec![x509::self_signed(&material, &spec_x)?]
        } else {
            let (ca_key, ca_der) = self.issuer_ca(vault, &issuer)?;
            let leaf = x509::ca_signed(&material, &spec_x, &ca_key, &ca_der)?;
            vec![leaf, ca_der]
        };
        let parsed = chain
            .first()
            .map(|der| x509::parse_certificate(der))
            .transpose()?;
        Ok(Issued {
            material,
            kty,
            chain,
            parsed,
        })
    }

    /// Writes a new version of `name` with its key (and, when issued, its secret) in one
    /// transaction.
    fn write_version(
        &self,
        name: &str,
        policy: CertificatePolicy,
        issued: Issued,
        options: &CertificateOptions,
        operation: Option<CertificateOperation>,
    ) -> Result<(ObjectRecord, String, CertificateVersion)> {
        let version = new_version_id()?;
        let now = self.core().now();
        let enabled = options.enabled.unwrap_or(true);
        let validity = issued
            .parsed
            .as_ref()
            .map_or((None, None), |p| (Some(p.not_before), Some(p.not_after)));
        let state = VersionState {
            enabled,
            not_before: validity.0,
            expires: validity.1,
        };
        let kp = key_props(&policy);
        let exportable = kp.exportable.unwrap_or(true);
        let key = self.managed_key_version(
            name,
            &version,
            &issued.material,
            issued.kty,
            exportable,
            state,
        )?;
        let secret = match issued.chain.is_empty() {
            true => None,
            false => {
                let ct = content_type(&policy);
                let value = secret_value(&issued.material, &issued.chain, &ct, exportable)?;
                Some(self.managed_secret_version(
                    name,
                    &version,
                    &value,
                    &ct,
                    !exportable,
                    state,
                )?)
            }
        };
        let record = CertificateVersion {
            cer: issued.chain.first().cloned().map(Base64Url),
            policy,
            enabled,
            not_before: validity.0,
            expires: validity.1,
            created: now,
            updated: now,
            tags: options.tags.clone(),
            operation,
            notified: false,
            // Sealed like every kind's version, so backups and restores treat all alike.
            sealed: Base64Url(self.certs().seal(name, &version, b"")?),
        };
        let certs = self.certs();
        let keys = self.objects(ObjectKind::Key);
        let secrets = self.objects(ObjectKind::Secret);
        let object = self.core().transact(|tx| {
            let object = certs.add_version_in(tx, name, &version, &record, false)?;
            keys.add_version_in(tx, name, &version, &key, true)?;
            if let Some(s) = &secret {
                secrets.add_version_in(tx, name, &version, s, true)?;
            }
            Ok(object)
        })?;
        self.core().commit()?;
        self.reconcile(name)?;
        Ok((object, version, record))
    }

    fn new_operation(
        name: &str,
        issuer: &str,
        csr: Option<Vec<u8>>,
    ) -> Result<CertificateOperation> {
        let pending = csr.is_some();
        Ok(CertificateOperation {
            name: name.to_string(),
            issuer: issuer.to_string(),
            csr,
            cancellation_requested: false,
            status: if pending {
                OperationStatus::InProgress
            } else {
                OperationStatus::Completed
            },
            status_details: Some(if pending {
                "Pending certificate created. Please perform merge to complete the request."
                    .to_string()
            } else {
                "The certificate was issued.".to_string()
            }),
            error: None,
            request_id: crate::crypto::random_guid()?,
        })
    }

    /// Creates a certificate (a new version if the name exists) from `policy`. The answer
    /// says `inProgress`, as Key Vault's 202 does; for issuers that sign in the vault the
    /// certificate is already issued and its operation says `completed`.
    pub fn create_certificate(
        &self,
        name: &str,
        policy: CertificatePolicy,
        options: CertificateOptions,
    ) -> Result<CertificateOperation> {
        validate_name("certificate", name)?;
        self.require_on_cert(DataAction::CertificatesCreate, name)?;
        let vault = self.certificates_vault()?;
        validate_tags(&options.tags)?;
        let now = self.core().now();
        // A new version with no policy given keeps the certificate's.
        let base = match self.current_version(name) {
            Ok((_, _, v)) => Some(v.policy),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let policy = match base {
            Some(b) if policy == CertificatePolicy::default() => b,
            _ => normalize(policy, now)?,
        };
        let issuer = issuer_name(&policy);
        let issued = self.issue(&vault, name, &policy, now)?;
        let csr = match issued.chain.is_empty() {
            true => Some(x509::csr(&issued.material, &cert_spec(&policy, now))?),
            false => None,
        };
        let operation = Self::new_operation(name, &issuer, csr)?;
        let (_, _, record) = self.write_version(name, policy, issued, &options, Some(operation))?;
        let mut op = record.operation.ok_or_else(|| Error::Corrupt {
            what: "certificate operation".into(),
        })?;
        op.status = OperationStatus::InProgress;
        Ok(op)
    }

    /// The operation of the certificate's newest version.
    pub fn get_certificate_operation(&self, name: &str) -> Result<CertificateOperation> {
        self.require_on_cert(DataAction::CertificatesRead, name)?;
        self.certificates_vault()?;
        let (_, _, v) = self.current_version(name)?;
        v.operation.ok_or_else(|| Error::OperationNotFound {
            name: name.to_string(),
        })
    }

    fn change_operation(
        &self,
        name: &str,
        change: impl Fn(&mut Option<CertificateOperation>) -> Result<CertificateOperation>,
    ) -> Result<CertificateOperation> {
        let now = self.core().now();
        let certs = self.certs();
        let out = self.core().transact(|tx| {
            let mut op = None;
            certs.update_version_in(
                tx,
                name,
                None,
                &AttributeUpdate::default(),
                now,
                |v: &mut CertificateVersion| {
                    op = Some(change(&mut v.operation)?);
                    Ok(())
                },
            )?;
            op.ok_or_else(|| Error::OperationNotFound {
                name: name.to_string(),
            })
        })?;
        self.core().commit()?;
        Ok(out)
    }

    /// Asks the pending operation to stop: an operation still in progress is cancelled; a
    /// completed one only records the request.
    pub fn cancel_certificate_operation(&self, name: &str) -> Result<CertificateOperation> {
        self.require_on_cert(DataAction::CertificatesUpdate, name)?;
        self.certificates_vault()?;
        self.change_operation(name, |op| {
            let op = op.as_mut().ok_or_else(|| Error::OperationNotFound {
                name: name.to_string(),
            })?;
            op.cancellation_requested = true;
            if op.status == OperationStatus::InProgress {
                op.status = OperationStatus::Cancelled;
                op.status_details = Some("The operation was cancelled.".into());
            }
            Ok(op.clone())
        })
    }

    /// Deletes the certificate's operation record and returns it. A version still pending
    /// stays pending (without an operation, it can no longer be merged).
    pub fn delete_certificate_operation(&self, name: &str) -> Result<CertificateOperation> {
        self.require_on_cert(DataAction::CertificatesDelete, name)?;
        self.certificates_vault()?;
        self.change_operation(name, |op| {
            op.take().ok_or_else(|| Error::OperationNotFound {
                name: name.to_string(),
            })
        })
    }

    /// Completes a pending certificate (issuer `Unknown`) with the chain its CA issued:
    /// `x5c[0]` must hold the key of the pending CSR.
    pub fn merge_certificate(
        &self,
        name: &str,
        x5c: Vec<Vec<u8>>,
        options: CertificateOptions,
    ) -> Result<CertificateBundle> {
        self.require_on_cert(DataAction::CertificatesCreate, name)?;
        let vault = self.certificates_vault()?;
        validate_tags(&options.tags)?;
        let (record, version, v) = self.current_version(name)?;
        let pending = v
            .operation
            .as_ref()
            .is_some_and(|op| op.status == OperationStatus::InProgress && v.cer.is_none());
        if !pending {
            return Err(Error::bad_parameter(format!(
                "certificate {name:?} has no pending operation to merge (create it with issuer Unknown first)"
            )));
        }
        let leaf = x5c
            .first()
            .ok_or_else(|| Error::bad_parameter("x5c must hold at least the certificate"))?;
        let parsed = x509::parse_certificate(leaf)?;
        for der in &x5c[1..] {
            x509::parse_certificate(der)?;
        }
        let material = self.managed_key_material(&record.name, &version)?;
        if !same_public_key(&parsed.public, &material.public_jwk()) {
            return Err(Error::bad_parameter(
                "the certificate's public key does not match the pending request's key",
            ));
        }
        let now = self.core().now();
        let ct = content_type(&v.policy);
        let exportable = key_props(&v.policy).exportable.unwrap_or(true);
        let enabled = options.enabled.unwrap_or(v.enabled);
        let validity = (Some(parsed.not_before), Some(parsed.not_after));
        let value = secret_value(&material, &x5c, &ct, exportable)?;
        let state = VersionState {
            enabled,
            not_before: validity.0,
            expires: validity.1,
        };
        let secret =
            self.managed_secret_version(name, &version, &value, &ct, !exportable, state)?;
        let certs = self.certs();
        let keys = self.objects(ObjectKind::Key);
        let secrets = self.objects(ObjectKind::Secret);
        let tags = (!options.tags.is_empty()).then(|| options.tags.clone());
        let update = AttributeUpdate {
            enabled: Some(enabled),
            not_before: Some(validity.0),
            expires: Some(validity.1),
            tags,
        };
        let leaf = leaf.clone();
        let (object, _, record) = self.core().transact(|tx| {
            let out = certs.update_version_in(
                tx,
                name,
                Some(&version),
                &update,
                now,
                |c: &mut CertificateVersion| {
                    c.cer = Some(Base64Url(leaf.clone()));
                    if let Some(op) = c.operation.as_mut() {
                        op.status = OperationStatus::Completed;
                        op.status_details = Some("The certificate was merged.".into());
                    }
                    Ok(())
                },
            )?;
            keys.update_version_in(
                tx,
                name,
                Some(&version),
                &AttributeUpdate {
                    enabled: Some(enabled),
                    not_before: Some(validity.0),
                    expires: Some(validity.1),
                    tags: None,
                },
                now,
                |_: &mut KeyVersion| Ok(()),
            )?;
            secrets.add_version_in(tx, name, &version, &secret, true)?;
            Ok(out)
        })?;
        self.core().commit()?;
        self.reconcile(name)?;
        Ok(self.cert_bundle(&vault, &object, &version, record))
    }

    /// Imports a certificate with its private key: `value` is a PFX (with or without
    /// `password`) or PEM text (PKCS#8 key, then the chain), as the policy's content type
    /// says (PFX when absent). Without a policy, the certificate's own subject, names and
    /// key make one, with issuer `Unknown`.
    pub fn import_certificate(
        &self,
        name: &str,
        value: SecretBytes,
        password: Option<SecretString>,
        policy: Option<CertificatePolicy>,
        options: CertificateOptions,
    ) -> Result<CertificateBundle> {
        validate_name("certificate", name)?;
        self.require_on_cert(DataAction::CertificatesImport, name)?;
        let vault = self.certificates_vault()?;
        validate_tags(&options.tags)?;
        let now = self.core().now();
        let ct = policy
            .as_ref()
            .and_then(|p| p.secret_props.as_ref())
            .and_then(|s| s.content_type.clone());
        let pem = ct
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(CONTENT_TYPE_PEM))
            || (ct.is_none() && value.expose().starts_with(b"-----BEGIN"));
        let (material, chain) = if pem {
            let text = std::str::from_utf8(value.expose())
                .map_err(|_| Error::bad_parameter("the PEM value is not text"))?;
            x509::from_pem(text)?
        } else {
            x509::from_pfx(value.expose(), password.as_ref().map(SecretString::expose))?
        };
        let leaf = chain
            .first()
            .ok_or_else(|| Error::bad_parameter("the value holds no certificate"))?;
        let parsed = x509::parse_certificate(leaf)?;
        if !same_public_key(&parsed.public, &material.public_jwk()) {
            return Err(Error::bad_parameter(
                "the private key does not match the certificate",
            ));
        }
        let content_type = if pem {
            CONTENT_TYPE_PEM
        } else {
            CONTENT_TYPE_PFX
        };
        let policy = match policy {
            Some(p) => {
                let mut p =
                    merge_policy(&policy_of_import(&parsed, &material, content_type, now)?, p);
                // The key is the one imported, whatever the policy asked.
                let derived = policy_of_import(&parsed, &material, content_type, now)?;
                if let (Some(kp), Some(dk)) = (p.key_props.as_mut(), derived.key_props) {
                    kp.kty = dk.kty;
                    kp.key_size = dk.key_size;
                    kp.crv = dk.crv;
                }
                normalize_imported(p, now)?
            }
            None => policy_of_import(&parsed, &material, content_type, now)?,
        };
        let kty = key_spec(&policy)?.0;
        let issued = Issued {
            material,
            kty,
            chain,
            parsed: Some(parsed),
        };
        let (object, version, record) = self.write_version(name, policy, issued, &options, None)?;
        Ok(self.cert_bundle(&vault, &object, &version, record))
    }

    /// A certificate version (the current one when `version` is `None`).
    pub fn get_certificate(&self, name: &str, version: Option<&str>) -> Result<CertificateBundle> {
        self.require_on_cert(DataAction::CertificatesRead, name)?;
        let vault = self.certificates_vault()?;
        let record = self.certs().live(name)?;
        self.cert_bundle_of(&vault, &record, version)
    }

    /// Updates a version's `enabled` and tags (its key and secret follow `enabled`), and
    /// merges `policy` into the certificate's policy.
    pub fn update_certificate(
        &self,
        name: &str,
        version: Option<&str>,
        update: CertificateUpdate,
    ) -> Result<CertificateBundle> {
        self.require_on_cert(DataAction::CertificatesUpdate, name)?;
        let vault = self.certificates_vault()?;
        if let Some(tags) = &update.tags {
            validate_tags(tags)?;
        }
        self.certs()
            .pick_version(&self.certs().live(name)?, version)?;
        if let Some(p) = update.policy.clone() {
            self.update_certificate_policy(name, p)?;
        }
        let now = self.core().now();
        let certs = self.certs();
        let keys = self.objects(ObjectKind::Key);
        let secrets = self.objects(ObjectKind::Secret);
        let attributes = AttributeUpdate {
            enabled: update.enabled,
            not_before: None,
            expires: None,
            tags: update.tags.clone(),
        };
        let follow = AttributeUpdate {
            enabled: update.enabled,
            ..AttributeUpdate::default()
        };
        let (object, version, record) = self.core().transact(|tx| {
            let out = certs.update_version_in(
                tx,
                name,
                version,
                &attributes,
                now,
                |_: &mut CertificateVersion| Ok(()),
            )?;
            if update.enabled.is_some() {
                keys.update_version_in(
                    tx,
                    name,
                    Some(&out.1),
                    &follow,
                    now,
                    |_: &mut KeyVersion| Ok(()),
                )?;
                match secrets.update_version_in(
                    tx,
                    name,
                    Some(&out.1),
                    &follow,
                    now,
                    |_: &mut SecretVersion| Ok(()),
                ) {
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })?;
        self.core().commit()?;
        self.reconcile(name)?;
        Ok(self.cert_bundle(&vault, &object, &version, record))
    }

    /// The certificate's policy.
    pub fn get_certificate_policy(&self, name: &str) -> Result<CertificatePolicy> {
        self.require_on_cert(DataAction::CertificatesRead, name)?;
        self.certificates_vault()?;
        Ok(self.current_version(name)?.2.policy)
    }

    /// Merges `policy` into the certificate's policy (for the versions to come).
    pub fn update_certificate_policy(
        &self,
        name: &str,
        policy: CertificatePolicy,
    ) -> Result<CertificatePolicy> {
        self.require_on_cert(DataAction::CertificatesUpdate, name)?;
        self.certificates_vault()?;
        let now = self.core().now();
        let (_, _, current) = self.current_version(name)?;
        let merged = normalize(merge_policy(&current.policy, policy), now)?;
        let issuer = issuer_name(&merged);
        if !issuer.eq_ignore_ascii_case(ISSUER_SELF) && !issuer.eq_ignore_ascii_case(ISSUER_UNKNOWN)
        {
            self.issuer_record(&issuer)?;
        }
        let certs = self.certs();
        let out = self.core().transact(|tx| {
            certs
                .update_version_in(
                    tx,
                    name,
                    None,
                    &AttributeUpdate::default(),
                    now,
                    |v: &mut CertificateVersion| {
                        v.policy = merged.clone();
                        Ok(())
                    },
                )
                .map(|(_, _, v)| v.policy)
        })?;
        self.core().commit()?;
        Ok(out)
    }

    /// Live certificates (their current versions), `max` at a time; with `include_pending`,
    /// also those whose newest version is not issued yet.
    pub fn list_certificates(
        &self,
        max: usize,
        continuation: Option<&str>,
        include_pending: bool,
    ) -> Result<Page<CertificateBundle>> {
        self.require(DataAction::CertificatesRead, "/certificates")?;
        let vault = self.certificates_vault()?;
        let page = self
            .certs()
            .page(false, max, continuation)?
            .try_map(|record| self.cert_bundle_of(&vault, &record, None))?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .filter(|b| include_pending || b.cer.is_some())
                .collect(),
            next: page.next,
        })
    }

    /// The versions of a certificate, oldest first, `max` at a time.
    pub fn list_certificate_versions(
        &self,
        name: &str,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<CertificateBundle>> {
        self.require_on_cert(DataAction::CertificatesRead, name)?;
        let vault = self.certificates_vault()?;
        let record = self.certs().live(name)?;
        let (versions, next) = versions_page(&record, max, continuation)?;
        let items = versions
            .iter()
            .map(|v| self.cert_bundle_of(&vault, &record, Some(v)))
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    fn deleted_cert_bundle(
        &self,
        vault: &VaultRecord,
        record: ObjectRecord,
    ) -> Result<DeletedCertificateBundle> {
        let deletion = record.deletion.ok_or_else(|| Error::Corrupt {
            what: "deleted certificate".into(),
        })?;
        Ok(DeletedCertificateBundle {
            certificate: self.cert_bundle_of(vault, &record, None)?,
            deletion,
        })
    }

    /// Soft-deletes a certificate with every version, its key and its secret, in one
    /// transaction.
    pub fn delete_certificate(&self, name: &str) -> Result<DeletedCertificateBundle> {
        self.require_on_cert(DataAction::CertificatesDelete, name)?;
        let vault = self.certificates_vault()?;
        let now = self.core().now();
        let (certs, keys, secrets) = self.three();
        let record = self.core().transact(|tx| {
            let record = certs.delete_in(tx, name, now)?;
            keys.delete_in(tx, name, now)?;
            match secrets.delete_in(tx, name, now) {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            Ok(record)
        })?;
        self.core().commit()?;
        if let Some(d) = record.deletion {
            self.core().queued(d.scheduled_purge_date);
        }
        self.reconcile(name)?;
        self.deleted_cert_bundle(&vault, record)
    }

    fn three(&self) -> (Objects<'_>, Objects<'_>, Objects<'_>) {
        (
            self.certs(),
            self.objects(ObjectKind::Key),
            self.objects(ObjectKind::Secret),
        )
    }

    /// A soft-deleted certificate.
    pub fn get_deleted_certificate(&self, name: &str) -> Result<DeletedCertificateBundle> {
        self.require_on_cert(DataAction::CertificatesRead, name)?;
        let vault = self.certificates_vault()?;
        let record = self.certs().deleted(name)?;
        self.deleted_cert_bundle(&vault, record)
    }

    /// Soft-deleted certificates, `max` at a time.
    pub fn list_deleted_certificates(
        &self,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<DeletedCertificateBundle>> {
        self.require(DataAction::CertificatesRead, "/certificates")?;
        let vault = self.certificates_vault()?;
        self.certs()
            .page(true, max, continuation)?
            .try_map(|record| self.deleted_cert_bundle(&vault, record))
    }

    /// Recovers a soft-deleted certificate with every version, its key and its secret.
    pub fn recover_deleted_certificate(&self, name: &str) -> Result<CertificateBundle> {
        self.require_on_cert(DataAction::CertificatesRecover, name)?;
        let vault = self.certificates_vault()?;
        let (certs, keys, secrets) = self.three();
        let record = self.core().transact(|tx| {
            let record = certs.recover_in(tx, name)?;
            keys.recover_in(tx, name)?;
            match secrets.recover_in(tx, name) {
                Ok(_) | Err(Error::DeletedNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            Ok(record)
        })?;
        self.core().commit()?;
        self.reconcile(name)?;
        self.cert_bundle_of(&vault, &record, None)
    }

    /// Purges a soft-deleted certificate with its key and secret, for good. Refused with
    /// [`Error::PurgeProtected`] before its scheduled purge date when the vault has purge
    /// protection.
    pub fn purge_deleted_certificate(&self, name: &str) -> Result<()> {
        self.require_on_cert(DataAction::CertificatesPurge, name)?;
        self.certificates_vault()?;
        let now = self.core().now();
        let id = self.certs().id(name);
        let found = self.core().transact(|tx| {
            if !purge_in(tx, CERT, &id, false, now)? {
                return Ok(false);
            }
            purge_in(tx, ObjectKind::Key, &id, false, now)?;
            purge_in(tx, ObjectKind::Secret, &id, false, now)?;
            Ok(true)
        })?;
        if !found {
            return Err(Error::DeletedNotFound {
                kind: CERT,
                name: name.to_string(),
            });
        }
        self.core().commit()
    }

    /// A backup of a certificate with every version, its key and its secret: an opaque
    /// blob, encrypted and authenticated under this store's master key.
    pub fn backup_certificate(&self, name: &str) -> Result<Vec<u8>> {
        self.require_on_cert(DataAction::CertificatesBackup, name)?;
        self.certificates_vault()?;
        let (certs, keys, secrets) = self.three();
        let payload = CertificateBackup {
            certificate: Base64Url(certs.backup::<CertificateVersion>(name)?),
            key: Base64Url(keys.backup::<KeyVersion>(name)?),
            secret: match secrets.backup::<SecretVersion>(name) {
                Ok(b) => Some(Base64Url(b)),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        let plain = SecretBytes::new(
            serde_json::to_vec(&payload).map_err(|e| Error::Storage(e.to_string()))?,
        );
        let mut blob = BACKUP_MAGIC.to_vec();
        blob.extend(
            self.core()
                .storage
                .seal_backup(&backup_aad(CERT), plain.expose())?,
        );
        Ok(blob)
    }

    /// Restores a certificate from [`Vault::backup_certificate`]'s blob, with its key and
    /// secret, under the original name and version ids, in one transaction.
    pub fn restore_certificate(&self, blob: &[u8]) -> Result<CertificateBundle> {
        let vault = self.certificates_vault()?;
        let sealed = blob
            .strip_prefix(BACKUP_MAGIC)
            .ok_or(Error::InvalidBackup)?;
        let plain = self
            .core()
            .storage
            .unseal_backup(&backup_aad(CERT), sealed)
            .ok_or(Error::InvalidBackup)?;
        let payload: CertificateBackup =
            serde_json::from_slice(plain.expose()).map_err(|_| Error::InvalidBackup)?;
        let (certs, keys, secrets) = self.three();
        let cert = certs.open_backup::<CertificateVersion>(&payload.certificate.0)?;
        let name = cert.name.clone();
        self.require_on_cert(DataAction::CertificatesRestore, &name)?;
        let key = keys.open_backup::<KeyVersion>(&payload.key.0)?;
        let secret = payload
            .secret
            .as_ref()
            .map(|b| secrets.open_backup::<SecretVersion>(&b.0))
            .transpose()?;
        if !key.name.eq_ignore_ascii_case(&name)
            || secret
                .as_ref()
                .is_some_and(|s| !s.name.eq_ignore_ascii_case(&name))
        {
            return Err(Error::InvalidBackup);
        }
        let (_, cert_rows) = certs.reseal(cert, |_, _| Ok(()))?;
        let (_, key_rows) = keys.reseal(key, |v, material| {
            let m =
                KeyMaterial::from_sealable(material.expose()).map_err(|_| Error::InvalidBackup)?;
            if same_public_key(&m.public_jwk(), &v.public) {
                Ok(())
            } else {
                Err(Error::InvalidBackup)
            }
        })?;
        let secret_rows = secret
            .map(|s| secrets.reseal(s, |_, _| Ok(())).map(|(_, rows)| rows))
            .transpose()?;
        let record = self.core().transact(|tx| {
            let record = certs.insert_restored_in(tx, &name, &cert_rows, false)?;
            keys.insert_restored_in(tx, &name, &key_rows, true)?;
            if let Some(rows) = &secret_rows {
                secrets.insert_restored_in(tx, &name, rows, true)?;
            }
            Ok(record)
        })?;
        self.core().commit()?;
        self.reconcile(&name)?;
        self.cert_bundle_of(&vault, &record, None)
    }

    // ---- contacts ----

    /// Replaces the vault's certificate contacts.
    pub fn set_certificate_contacts(&self, contacts: Vec<Contact>) -> Result<Vec<Contact>> {
        self.require(DataAction::CertificateContactsWrite, "/certificates")?;
        self.certificates_vault()?;
        if contacts.len() > MAX_CONTACTS {
            return Err(Error::bad_parameter(format!(
                "at most {MAX_CONTACTS} contacts are allowed"
            )));
        }
        if contacts
            .iter()
            .any(|c| c.email.as_deref().unwrap_or("").is_empty())
        {
            return Err(Error::bad_parameter("every contact needs an email address"));
        }
        let set = contacts.clone();
        self.core().update_vault(self.name(), move |r| {
            r.certificate_contacts = set.clone();
            Ok(())
        })?;
        Ok(contacts)
    }

    /// The vault's certificate contacts; `ContactsNotFound` when none are set.
    pub fn get_certificate_contacts(&self) -> Result<Vec<Contact>> {
        self.require(DataAction::CertificateContactsWrite, "/certificates")?;
        let vault = self.certificates_vault()?;
        if vault.certificate_contacts.is_empty() {
            return Err(Error::ContactsNotFound);
        }
        Ok(vault.certificate_contacts.clone())
    }

    /// Deletes the vault's certificate contacts and returns them.
    pub fn delete_certificate_contacts(&self) -> Result<Vec<Contact>> {
        let contacts = self.get_certificate_contacts()?;
        self.core().update_vault(self.name(), |r| {
            r.certificate_contacts.clear();
            Ok(())
        })?;
        Ok(contacts)
    }

    // ---- issuers ----

    fn issuer_id(&self, name: &str) -> Vec<u8> {
        let mut k = vault_prefix(self.name());
        k.extend_from_slice(name.to_ascii_lowercase().as_bytes());
        k
    }

    fn issuer_record(&self, name: &str) -> Result<IssuerRecord> {
        self.core()
            .storage
            .get_as(Table::Issuers, &self.issuer_id(name), "certificate issuer")?
            .ok_or_else(|| Error::IssuerNotFound {
                name: name.to_string(),
            })
    }

    fn issuer_aad(&self, name: &str) -> Vec<u8> {
        format!(
            "localhsm/v1/issuer/{}/{}",
            self.name().to_ascii_lowercase(),
            name.to_ascii_lowercase()
        )
        .into_bytes()
    }

    /// The local CA of an issuer: its key and certificate.
    fn issuer_ca(&self, _vault: &VaultRecord, name: &str) -> Result<(KeyMaterial, Vec<u8>)> {
        let r = self.issuer_record(name)?;
        if !r.enabled {
            return Err(Error::bad_parameter(format!(
                "issuer {name:?} is disabled; enable it to issue certificates"
            )));
        }
        let plain = self
            .core()
            .storage
            .unseal(&self.issuer_aad(&r.name), &r.ca_key.0)
            .ok_or_else(|| Error::Corrupt {
                what: format!("issuer {name}"),
            })?;
        Ok((
            KeyMaterial::from_sealable(plain.expose())?,
            r.ca_certificate.0,
        ))
    }

    fn issuer_bundle(&self, r: IssuerRecord) -> IssuerBundle {
        IssuerBundle {
            vault: self.name().to_string(),
            name: r.name,
            provider: r.provider,
            account_id: r.account_id,
            organization: r.organization,
            enabled: r.enabled,
            created: r.created,
            updated: r.updated,
            ca_certificate: r.ca_certificate.0,
        }
    }

    fn put_issuer(&self, r: &IssuerRecord) -> Result<()> {
        let id = self.issuer_id(&r.name);
        let vault = self.name().to_string();
        self.core().transact(|tx| {
            crate::lifecycle::Core::live_vault_tx(tx, &vault)?;
            tx.put_as(Table::Issuers, &id, r)
        })?;
        self.core().commit()
    }

    /// Creates or replaces an issuer. A new issuer gets its own local CA; replacing one
    /// keeps it, so certificates it signed stay verifiable.
    pub fn set_certificate_issuer(&self, name: &str, issuer: IssuerUpdate) -> Result<IssuerBundle> {
        validate_name("issuer", name)?;
        self.require(DataAction::CertificateIssuersWrite, "/certificates")?;
        self.certificates_vault()?;
        if [ISSUER_SELF, ISSUER_UNKNOWN]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            return Err(Error::bad_parameter(format!(
                "{name:?} is a reserved issuer name"
            )));
        }
        let provider = issuer
            .provider
            .clone()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| Error::bad_parameter("provider is required (e.g. Test)"))?;
        let now = self.core().now();
        let record = match self.issuer_record(name) {
            Ok(old) => IssuerRecord {
                provider,
                account_id: issuer.account_id,
                organization: issuer.organization,
                enabled: issuer.enabled.unwrap_or(true),
                updated: now,
                ..old
            },
            Err(Error::IssuerNotFound { .. }) => {
                let (ca_key, ca_der) =
                    x509::new_ca(&format!("localhsm issuer {name} ({})", self.name()), now)?;
                let sealed = self
                    .core()
                    .storage
                    .seal(&self.issuer_aad(name), ca_key.to_sealable().expose())?;
                IssuerRecord {
                    name: name.to_string(),
                    provider,
                    account_id: issuer.account_id,
                    organization: issuer.organization,
                    enabled: issuer.enabled.unwrap_or(true),
                    created: now,
                    updated: now,
                    ca_certificate: Base64Url(ca_der),
                    ca_key: Base64Url(sealed),
                }
            }
            Err(e) => return Err(e),
        };
        self.put_issuer(&record)?;
        Ok(self.issuer_bundle(record))
    }

    /// Updates an issuer's fields that are given.
    pub fn update_certificate_issuer(
        &self,
        name: &str,
        issuer: IssuerUpdate,
    ) -> Result<IssuerBundle> {
        self.require(DataAction::CertificateIssuersWrite, "/certificates")?;
        self.certificates_vault()?;
        let mut r = self.issuer_record(name)?;
        if let Some(p) = issuer.provider.filter(|p| !p.trim().is_empty()) {
            r.provider = p;
        }
        if issuer.account_id.is_some() {
            r.account_id = issuer.account_id;
        }
        if issuer.organization.is_some() {
            r.organization = issuer.organization;
        }
        if let Some(e) = issuer.enabled {
            r.enabled = e;
        }
        r.updated = self.core().now();
        self.put_issuer(&r)?;
        Ok(self.issuer_bundle(r))
    }

    /// An issuer.
    pub fn get_certificate_issuer(&self, name: &str) -> Result<IssuerBundle> {
        self.require(DataAction::CertificateIssuersRead, "/certificates")?;
        self.certificates_vault()?;
        Ok(self.issuer_bundle(self.issuer_record(name)?))
    }

    /// The vault's issuers, by lowercase name, `max` at a time.
    pub fn list_certificate_issuers(
        &self,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<IssuerBundle>> {
        self.require(DataAction::CertificateIssuersRead, "/certificates")?;
        self.certificates_vault()?;
        let max = max.max(1);
        let prefix = vault_prefix(self.name());
        let range = match continuation {
            Some(after) => KeyRange::prefix_after(&prefix, &self.issuer_id(after)),
            None => KeyRange::prefix(&prefix),
        };
        let rows = self
            .core()
            .storage
            .backend()
            .scan(Table::Issuers, &range, max + 1)?;
        let next = (rows.len() > max)
            .then(|| rows.get(max - 1))
            .flatten()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        let items = rows
            .iter()
            .take(max)
            .map(|(_, v)| {
                decode::<IssuerRecord>("certificate issuer", v).map(|r| self.issuer_bundle(r))
            })
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    /// Deletes an issuer (and its local CA) and returns it. Certificates it signed stay.
    pub fn delete_certificate_issuer(&self, name: &str) -> Result<IssuerBundle> {
        self.require(DataAction::CertificateIssuersDelete, "/certificates")?;
        self.certificates_vault()?;
        let r = self.issuer_record(name)?;
        self.core()
            .storage
            .backend()
            .apply(&[crate::store::Write::Delete(
                Table::Issuers,
                self.issuer_id(name),
            )])?;
        self.core().commit()?;
        Ok(self.issuer_bundle(r))
    }

    // ---- lifetime actions ----

    /// Runs the current version's due lifetime actions for every certificate in the vault.
    fn run_lifetime_actions(&self, report: &mut LifetimeReport) -> Result<()> {
        let vault = self.certificates_vault()?;
        let now = self.core().now();
        for name in self.certs().names(false)? {
            let (_, version, v) = match self.current_version(&name) {
                Ok(x) => x,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let (Some(nbf), Some(exp)) = (v.not_before, v.expires) else {
                continue;
            };
            for action in v.policy.lifetime_actions.iter().flatten() {
                let due = match (
                    action.trigger.lifetime_percentage,
                    action.trigger.days_before_expiry,
                ) {
                    (Some(p), _) => nbf + (exp.saturating_sub(nbf)) * u64::from(p) / 100,
                    (None, Some(d)) => exp.saturating_sub(u64::from(d) * DAY),
                    (None, None) => continue,
                };
                if now < due {
                    continue;
                }
                match action.action.action_type {
                    ActionType::AutoRenew => {
                        if issuer_name(&v.policy).eq_ignore_ascii_case(ISSUER_UNKNOWN) {
                            continue;
                        }
                        let options = CertificateOptions {
                            enabled: Some(true),
                            tags: v.tags.clone(),
                        };
                        let issued = self.issue(&vault, &name, &v.policy, now)?;
                        let op = Self::new_operation(&name, &issuer_name(&v.policy), None)?;
                        let (_, new_version, _) = self.write_version(
                            &name,
                            v.policy.clone(),
                            issued,
                            &options,
                            Some(op),
                        )?;
                        report
                            .renewed
                            .push(format!("{}/{name}/{new_version}", vault.name));
                    }
                    ActionType::EmailContacts if !v.notified => {
                        let certs = self.certs();
                        self.core().transact(|tx| {
                            certs.update_version_in(
                                tx,
                                &name,
                                Some(&version),
                                &AttributeUpdate::default(),
                                now,
                                |c: &mut CertificateVersion| {
                                    c.notified = true;
                                    Ok(())
                                },
                            )
                        })?;
                        self.core().commit()?;
                        let emails = vault
                            .certificate_contacts
                            .iter()
                            .filter_map(|c| c.email.clone())
                            .collect();
                        report
                            .notified
                            .push((format!("{}/{name}/{version}", vault.name), emails));
                    }
                    ActionType::EmailContacts => {}
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// Runs the certificates' lifetime actions that are due on the store's clock: AutoRenew
    /// makes a new version; EmailContacts is reported once per version (the server records
    /// it in the access log). Costs in proportion to the certificates held.
    pub fn run_lifetime_actions(&self) -> Result<LifetimeReport> {
        self.housekeeping(|| {
            let mut report = LifetimeReport::default();
            for info in self.list_vaults()? {
                if !info.holds(CERT) {
                    continue;
                }
                self.vault(&info.name)?.run_lifetime_actions(&mut report)?;
            }
            Ok(report)
        })
    }
}

// ---- for customer-data requests (crate::customer_data): no access checks ----

impl Vault {
    /// Names of the certificates in this vault, live or soft-deleted. No access check.
    pub(crate) fn certificate_names(&self, deleted: bool) -> Result<Vec<String>> {
        self.certs().names(deleted)
    }

    /// Every version of a live or soft-deleted certificate (public parts, policy, attributes
    /// and tags), and its deletion, whatever the vault's state. No access check.
    pub(crate) fn all_certificate_versions(
        &self,
        name: &str,
        deleted: bool,
    ) -> Result<(Vec<CertificateBundle>, Option<crate::model::DeletionInfo>)> {
        let vault = self.certs().vault()?;
        let record = self.certs().record(name, deleted)?;
        let versions = record
            .versions
            .iter()
            .map(|v| {
                let stored = self.certs().version(&record.name, v)?;
                Ok(self.cert_bundle(&vault, &record, v, stored))
            })
            .collect::<Result<_>>()?;
        Ok((versions, record.deletion))
    }

    /// The vault's certificate contacts, whatever its state. No access check.
    pub(crate) fn certificate_contacts_raw(&self) -> Result<Vec<Contact>> {
        Ok(self
            .core()
            .any_vault(self.name())?
            .certificate_contacts
            .clone())
    }

    /// Removes the contacts `remove` picks, whatever the vault's state, and returns them.
    /// No access check.
    pub(crate) fn remove_certificate_contacts_raw(
        &self,
        remove: impl Fn(&Contact) -> bool,
    ) -> Result<Vec<Contact>> {
        let removed: Vec<Contact> = self
            .certificate_contacts_raw()?
            .into_iter()
            .filter(|c| remove(c))
            .collect();
        if !removed.is_empty() {
            self.core().update_any_vault(self.name(), |r| {
                r.certificate_contacts.retain(|c| !remove(c));
                Ok(())
            })?;
        }
        Ok(removed)
    }

    /// The vault's issuers, whatever its state. No access check.
    pub(crate) fn certificate_issuers_raw(&self) -> Result<Vec<IssuerBundle>> {
        self.core()
            .storage
            .backend()
            .scan(
                Table::Issuers,
                &KeyRange::prefix(&vault_prefix(self.name())),
                usize::MAX,
            )?
            .iter()
            .map(|(_, v)| {
                decode::<IssuerRecord>("certificate issuer", v).map(|r| self.issuer_bundle(r))
            })
            .collect()
    }

    /// Removes the administrator entries `remove` picks from issuer `name`'s organization
    /// details, whatever the vault's state, and returns them; the issuer and its local CA
    /// stay. No access check.
    pub(crate) fn remove_issuer_admins_raw(
        &self,
        name: &str,
        remove: impl Fn(&crate::model::certificates::AdministratorDetails) -> bool,
    ) -> Result<Vec<crate::model::certificates::AdministratorDetails>> {
        let id = self.issuer_id(name);
        let now = self.core().now();
        let removed = self.core().transact(|tx| {
            let Some(mut r) =
                tx.get_as::<IssuerRecord>(Table::Issuers, &id, "certificate issuer")?
            else {
                return Ok(Vec::new());
            };
            let Some(admins) = r
                .organization
                .as_mut()
                .and_then(|o| o.admin_details.as_mut())
            else {
                return Ok(Vec::new());
            };
            let (gone, kept): (Vec<_>, Vec<_>) =
                std::mem::take(admins).into_iter().partition(|a| remove(a));
            *admins = kept;
            if !gone.is_empty() {
                r.updated = now;
                tx.put_as(Table::Issuers, &id, &r)?;
            }
            Ok(gone)
        })?;
        if !removed.is_empty() {
            self.core().commit()?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_follows_key_vault() {
        let p = normalize(
            CertificatePolicy {
                x509_props: Some(X509Properties {
                    subject: Some("CN=a".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            7,
        )
        .unwrap();
        let kp = p.key_props.as_ref().unwrap();
        assert_eq!(kp.kty, Some(KeyType::Rsa));
        assert_eq!(kp.key_size, Some(2048));
        assert_eq!(kp.exportable, Some(true));
        assert_eq!(content_type(&p), CONTENT_TYPE_PFX);
        assert_eq!(issuer_name(&p), ISSUER_SELF);
        assert_eq!(p.x509_props.as_ref().unwrap().validity_months, Some(12));
        assert!(
            normalize(CertificatePolicy::default(), 7).is_err(),
            "no subject, no SANs"
        );
        let bad = |kp: CertificateKeyProperties| {
            normalize(
                CertificatePolicy {
                    key_props: Some(kp),
                    x509_props: Some(X509Properties {
                        subject: Some("CN=a".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                7,
            )
            .is_err()
        };
        assert!(bad(CertificateKeyProperties {
            kty: Some(KeyType::Oct),
            ..Default::default()
        }));
        assert!(bad(CertificateKeyProperties {
            kty: Some(KeyType::Rsa),
            key_size: Some(1024),
            ..Default::default()
        }));
        assert!(bad(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            crv: Some(CurveName::P256K),
            ..Default::default()
        }));
    }

    #[test]
    fn policy_updates_merge_field_by_field() {
        let base = normalize(
            CertificatePolicy {
                x509_props: Some(X509Properties {
                    subject: Some("CN=a".into()),
                    validity_months: Some(24),
                    ..Default::default()
                }),
                ..Default::default()
            },
            7,
        )
        .unwrap();
        let merged = merge_policy(
            &base,
            CertificatePolicy {
                x509_props: Some(X509Properties {
                    subject: Some("CN=b".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let xp = merged.x509_props.unwrap();
        assert_eq!(xp.subject.as_deref(), Some("CN=b"));
        assert_eq!(xp.validity_months, Some(24));
        assert_eq!(merged.key_props, base.key_props);
    }

    #[test]
    fn a_backup_envelope_is_json_of_three_blobs() {
        let b = CertificateBackup {
            certificate: Base64Url(vec![1]),
            key: Base64Url(vec![2]),
            secret: None,
        };
        let s = String::from_utf8(crate::store::encode(&b)).unwrap();
        assert!(s.contains("\"certificate\"") && s.contains("\"key\""));
    }
}
