//! X.509 certificates, CSRs, and the PFX and PEM files that carry a certificate's key: what
//! Key Vault's certificates are made of.
//!
//! Layer: base (crypto). Imports only [`crate::error`], [`crate::clock`] and its crypto
//! siblings.
//!
//! # The signatures others code against
//!
//! ```text
//! pub(crate) fn self_signed(key: &KeyMaterial, spec: &CertSpec) -> Result<Vec<u8>>
//! pub(crate) fn ca_signed(key: &KeyMaterial, spec: &CertSpec, ca_key: &KeyMaterial, ca_der: &[u8]) -> Result<Vec<u8>>
//! pub(crate) fn new_ca(common_name: &str, now: UnixTime) -> Result<(KeyMaterial, Vec<u8>)>
//! pub(crate) fn csr(key: &KeyMaterial, spec: &CertSpec) -> Result<Vec<u8>>
//! pub(crate) fn to_pfx(key: &KeyMaterial, chain: &[Vec<u8>], password: Option<&str>) -> Result<SecretBytes>
//! pub(crate) fn from_pfx(pfx: &[u8], password: Option<&str>) -> Result<(KeyMaterial, Vec<Vec<u8>>)>
//! pub(crate) fn to_pem(key: &KeyMaterial, chain: &[Vec<u8>]) -> Result<SecretString>
//! pub(crate) fn from_pem(pem: &str) -> Result<(KeyMaterial, Vec<Vec<u8>>)>
//! pub(crate) fn certificate_matches_key(der: &[u8], key: &KeyMaterial) -> Result<bool>
//! pub fn parse_certificate(der: &[u8]) -> Result<ParsedCertificate>
//! pub fn chain_from_pem_or_der(input: &[u8]) -> Result<Vec<Vec<u8>>>
//! pub fn csr_public_key(der: &[u8]) -> Result<Jwk>
//! ```
//!
//! The functions that take a `KeyMaterial` are `pub(crate)`, as `KeyMaterial` is: private
//! keys stay inside the crate. [`CertificateKey`] is the public face of the same functions
//! for a key that lives outside any vault (tests, tools).
//!
//! # Subjects
//!
//! Key Vault writes a subject as an X.500 string: `CN=name, O=org, OU=unit, L=city, ST=state,
//! C=US`. Components are separated by `,` or `;`; a value may be quoted (`O="Contoso, Ltd"`,
//! with `""` for a quote inside) or use backslash escapes (`O=Contoso\, Ltd`, `\C3\A9`).
//! Attribute names: `CN`, `O`, `OU`, `L`, `ST` (or `S`), `C`, `E` (or `EMAIL`), `STREET`,
//! `DC`, `SERIALNUMBER`, `T` (`TITLE`), `G` (`GN`), `SN`, `POSTALCODE`, `UID`, or
//! `OID.2.5.4.3`. As in RFC 4514 (and .NET, which Key Vault runs on), the string names the
//! most specific component first, so `CN=a, O=b` is encoded with `O=b` first. Each attribute
//! may appear once. [`parse_certificate`] writes subjects back the same way, so they
//! round-trip.
//!
//! # Validity
//!
//! A certificate is valid from `not_before` for `validity_months` calendar months: until the
//! same day and time of day that many months later, the day clamped to the end of a shorter
//! month (31 January plus one month is 28 or 29 February).
//!
//! # What goes into a certificate
//!
//! A random positive 16-byte serial number; the subject; SANs (DNS names, e-mail addresses as
//! rfc822Name, UPNs as otherName 1.3.6.1.4.1.311.20.2.3 holding a UTF8String); key usage
//! (critical) and EKUs as asked; basicConstraints (critical) `CA:false`, or `CA:true` when
//! `keyCertSign` is asked; a subject key identifier; for CA-signed certificates, the CA's key
//! identifier as authority key identifier. Signatures: ECDSA with SHA-256/384/512 for P-256,
//! P-384 and P-521 keys (DER-encoded, as X.509 wants), RSA PKCS#1 v1.5 with SHA-256 for RSA
//! keys. secp256k1 keys are refused: X.509 tooling (and rcgen) have no signature algorithm
//! for them.

use std::cell::RefCell;
use std::fmt;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, OtherNameValue,
    PublicKeyData, SanType, SerialNumber, SigningKey,
};
use serde::{Deserialize, Serialize};
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};
use zeroize::Zeroizing;

use super::alg::{CurveName, KeyType, SignatureAlgorithm};
use super::jwk::{Base64Url, Jwk};
use super::random::random_bytes;
use super::secret::{SecretBytes, SecretString};
use super::{ec::EcPublicKey, pkcs12, KeyMaterial, KeySpec};
use crate::clock::UnixTime;
use crate::error::{Error, Result};

/// The UPN otherName type (Microsoft's `szOID_NT_PRINCIPAL_NAME`).
const UPN_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 20, 2, 3];

/// The longest validity Key Vault-style policies may ask for: 100 years.
const MAX_VALIDITY_MONTHS: u32 = 1200;

/// The last second X.509 can express (GeneralizedTime, four-digit years): 9999-12-31T23:59:59Z.
const MAX_TIME: UnixTime = 253_402_300_799;

// ---------------------------------------------------------------------------------------
// Types

/// A key usage bit, by Key Vault's name for it (`digitalSignature`, ..., `cRLSign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyUsage {
    /// `digitalSignature`.
    #[serde(rename = "digitalSignature")]
    DigitalSignature,
    /// `nonRepudiation` (contentCommitment).
    #[serde(rename = "nonRepudiation")]
    NonRepudiation,
    /// `keyEncipherment`.
    #[serde(rename = "keyEncipherment")]
    KeyEncipherment,
    /// `dataEncipherment`.
    #[serde(rename = "dataEncipherment")]
    DataEncipherment,
    /// `keyAgreement`.
    #[serde(rename = "keyAgreement")]
    KeyAgreement,
    /// `keyCertSign`.
    #[serde(rename = "keyCertSign")]
    KeyCertSign,
    /// `cRLSign`.
    #[serde(rename = "cRLSign")]
    CrlSign,
    /// `encipherOnly`.
    #[serde(rename = "encipherOnly")]
    EncipherOnly,
    /// `decipherOnly`.
    #[serde(rename = "decipherOnly")]
    DecipherOnly,
}

impl KeyUsage {
    /// Every usage, in bit order (bit 0 is `digitalSignature`).
    pub const ALL: [KeyUsage; 9] = [
        KeyUsage::DigitalSignature,
        KeyUsage::NonRepudiation,
        KeyUsage::KeyEncipherment,
        KeyUsage::DataEncipherment,
        KeyUsage::KeyAgreement,
        KeyUsage::KeyCertSign,
        KeyUsage::CrlSign,
        KeyUsage::EncipherOnly,
        KeyUsage::DecipherOnly,
    ];

    fn to_rcgen(self) -> KeyUsagePurpose {
        match self {
            KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            KeyUsage::NonRepudiation => KeyUsagePurpose::ContentCommitment,
            KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            KeyUsage::DataEncipherment => KeyUsagePurpose::DataEncipherment,
            KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
            KeyUsage::KeyCertSign => KeyUsagePurpose::KeyCertSign,
            KeyUsage::CrlSign => KeyUsagePurpose::CrlSign,
            KeyUsage::EncipherOnly => KeyUsagePurpose::EncipherOnly,
            KeyUsage::DecipherOnly => KeyUsagePurpose::DecipherOnly,
        }
    }
}

/// What to put in a certificate or a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// Key Vault's X.500 string, `CN=a, O=b` (see the module docs).
    pub subject: String,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// SAN e-mail addresses (rfc822Name).
    pub emails: Vec<String>,
    /// SAN user principal names (otherName 1.3.6.1.4.1.311.20.2.3).
    pub upns: Vec<String>,
    /// Key usage bits; none means no keyUsage extension.
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages, as dotted OIDs (`1.3.6.1.5.5.7.3.1`).
    pub ekus: Vec<String>,
    /// Start of validity.
    pub not_before: UnixTime,
    /// Length of validity in calendar months, 1 to 1200.
    pub validity_months: u32,
}

impl Default for CertSpec {
    /// Key Vault's defaults where it has them (12 months); the rest empty.
    fn default() -> Self {
        Self {
            subject: String::new(),
            dns_names: Vec::new(),
            emails: Vec::new(),
            upns: Vec::new(),
            key_usage: Vec::new(),
            ekus: Vec::new(),
            not_before: 0,
            validity_months: 12,
        }
    }
}

/// What [`parse_certificate`] reads from a certificate.
#[derive(Debug)]
pub struct ParsedCertificate {
    /// The subject as Key Vault writes it (`CN=a, O=b`).
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// SAN e-mail addresses.
    pub emails: Vec<String>,
    /// SAN user principal names.
    pub upns: Vec<String>,
    /// Start of validity (Unix seconds; 0 for dates before 1970).
    pub not_before: UnixTime,
    /// End of validity (Unix seconds).
    pub not_after: UnixTime,
    /// The serial number's bytes as DER holds them, in upper-case hex.
    pub serial_hex: String,
    /// The subject public key as a public JWK (`kty` `EC` or `RSA`).
    pub public: Jwk,
    /// Key Vault's thumbprint: SHA-1 of the DER.
    pub x5t: Vec<u8>,
    /// Key usage bits (empty when the extension is absent).
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages as dotted OIDs.
    pub ekus: Vec<String>,
    /// Whether basicConstraints says `CA:true`.
    pub is_ca: bool,
}

// ---------------------------------------------------------------------------------------
// Subjects

#[derive(Clone, Copy, PartialEq, Eq)]
enum StrKind {
    Utf8,
    Printable,
    Ia5,
}

/// Attribute names Key Vault's subjects use; the first name is the one written back.
const ATTRIBUTES: &[(&[&str], &[u64], StrKind)] = &[
    (&["CN"], &[2, 5, 4, 3], StrKind::Utf8),
    (&["O"], &[2, 5, 4, 10], StrKind::Utf8),
    (&["OU"], &[2, 5, 4, 11], StrKind::Utf8),
    (&["L"], &[2, 5, 4, 7], StrKind::Utf8),
    (&["ST", "S"], &[2, 5, 4, 8], StrKind::Utf8),
    (&["C"], &[2, 5, 4, 6], StrKind::Printable),
    (
        &["E", "EMAIL", "EMAILADDRESS"],
        &[1, 2, 840, 113549, 1, 9, 1],
        StrKind::Ia5,
    ),
    (&["STREET"], &[2, 5, 4, 9], StrKind::Utf8),
    (&["DC"], &[0, 9, 2342, 19200300, 100, 1, 25], StrKind::Ia5),
    (&["SERIALNUMBER"], &[2, 5, 4, 5], StrKind::Printable),
    (&["T", "TITLE"], &[2, 5, 4, 12], StrKind::Utf8),
    (&["G", "GN", "GIVENNAME"], &[2, 5, 4, 42], StrKind::Utf8),
    (&["SN", "SURNAME"], &[2, 5, 4, 4], StrKind::Utf8),
    (&["POSTALCODE"], &[2, 5, 4, 17], StrKind::Utf8),
    (&["UID"], &[0, 9, 2342, 19200300, 100, 1, 1], StrKind::Utf8),
];

fn bad_subject(subject: &str, why: impl fmt::Display) -> Error {
    Error::bad_parameter(format!("subject {subject:?} is not valid: {why}"))
}

/// Splits a subject at unquoted, unescaped `,` and `;`.
fn split_components(subject: &str) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in subject.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' | ';' if !quoted => {
                parts.push(&subject[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(bad_subject(subject, "a quote is not closed"));
    }
    if escaped {
        return Err(bad_subject(subject, "it ends with a backslash"));
    }
    parts.push(&subject[start..]);
    Ok(parts)
}

/// A component's value without its quotes or escapes.
fn unquote(subject: &str, raw: &str) -> Result<String> {
    if let Some(inner) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        loop {
            match chars.next() {
                None => return Err(bad_subject(subject, "a quote is not closed")),
                Some('"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    out.push('"');
                }
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some(c) => out.push(c),
                    None => return Err(bad_subject(subject, "a quote is not closed")),
                },
                Some(c) => out.push(c),
            }
        }
        if chars.any(|c| !c.is_whitespace()) {
            return Err(bad_subject(subject, "text follows a closing quote"));
        }
        return Ok(out);
    }
    // RFC 4514 escapes: `\,` for the character, `\C3\A9` for bytes of UTF-8.
    let mut bytes = Vec::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(next) = chars.next() else {
            return Err(bad_subject(subject, "it ends with a backslash"));
        };
        match (next.to_digit(16), chars.peek().and_then(|c| c.to_digit(16))) {
            (Some(hi), Some(lo)) => {
                chars.next();
                bytes.push((hi * 16 + lo) as u8);
            }
            _ => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| bad_subject(subject, "an escape is not UTF-8"))
}

fn parse_oid(s: &str) -> Option<Vec<u64>> {
    let arcs: Vec<u64> = s
        .split('.')
        .map(|a| {
            (!a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                .then(|| a.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    let ok = arcs.len() >= 2 && arcs[0] <= 2 && (arcs[0] == 2 || arcs[1] < 40);
    ok.then_some(arcs)
}

/// One attribute of a subject: OID, display name, string type, value.
struct SubjectAttr {
    oid: Vec<u64>,
    kind: StrKind,
    value: String,
}

/// Parses Key Vault's subject string, in the order written (most specific first).
fn parse_subject(subject: &str) -> Result<Vec<SubjectAttr>> {
    if subject.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<SubjectAttr> = Vec::new();
    for part in split_components(subject)? {
        let part = part.trim();
        if part.is_empty() {
            return Err(bad_subject(subject, "it has an empty component"));
        }
        let (key, raw) = part
            .split_once('=')
            .ok_or_else(|| bad_subject(subject, format!("{part:?} has no '='")))?;
        let key = key.trim().to_ascii_uppercase();
        let (oid, kind) = if let Some(dotted) = key.strip_prefix("OID.") {
            let oid = parse_oid(dotted)
                .ok_or_else(|| bad_subject(subject, format!("{dotted:?} is not an OID")))?;
            (oid, StrKind::Utf8)
        } else {
            let (_, oid, kind) = ATTRIBUTES
                .iter()
                .find(|(names, _, _)| names.contains(&key.as_str()))
                .ok_or_else(|| {
                    bad_subject(
                        subject,
                        format!(
                            "unknown attribute {key:?} (use CN, O, OU, L, ST, C, E, STREET, DC, \
                             SERIALNUMBER, T, G, SN, POSTALCODE, UID or OID.n.n.n)"
                        ),
                    )
                })?;
            (oid.to_vec(), *kind)
        };
        let value = unquote(subject, raw.trim())?;
        if value.is_empty() {
            return Err(bad_subject(subject, format!("{key} has no value")));
        }
        if out.iter().any(|a| a.oid == oid) {
            return Err(bad_subject(
                subject,
                format!("{key} appears twice; each attribute may appear once"),
            ));
        }
        if kind == StrKind::Printable && oid == [2, 5, 4, 6] && !is_country_code(&value) {
            return Err(bad_subject(
                subject,
                "C must be a two-letter country code such as US",
            ));
        }
        out.push(SubjectAttr { oid, kind, value });
    }
    Ok(out)
}

fn is_country_code(v: &str) -> bool {
    v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic())
}

/// rcgen's distinguished name for a subject, least specific first (the DER order).
fn distinguished_name(subject: &str) -> Result<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    for attr in parse_subject(subject)?.into_iter().rev() {
        let value = match attr.kind {
            StrKind::Utf8 => DnValue::Utf8String(attr.value),
            StrKind::Printable => {
                match rcgen::string::PrintableString::try_from(attr.value.as_str()) {
                    Ok(p) => DnValue::PrintableString(p),
                    Err(_) => DnValue::Utf8String(attr.value),
                }
            }
            StrKind::Ia5 => DnValue::Ia5String(
                rcgen::string::Ia5String::try_from(attr.value.as_str())
                    .map_err(|_| bad_subject(subject, format!("{:?} must be ASCII", attr.value)))?,
            ),
        };
        dn.push(DnType::from_oid(&attr.oid), value);
    }
    Ok(dn)
}

fn attribute_name(oid: &str) -> String {
    ATTRIBUTES
        .iter()
        .find(|(_, arcs, _)| {
            arcs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
                == oid
        })
        .map_or_else(
            || format!("OID.{oid}"),
            |(names, _, _)| names[0].to_string(),
        )
}

/// A value as a subject string shows it: quoted (with `""` for a quote) when it holds a
/// separator or other special character, or leading or trailing space.
fn quote_value(v: &str) -> String {
    let special = v.is_empty()
        || v.starts_with(' ')
        || v.ends_with(' ')
        || v.chars().any(|c| ",;+=\"\\<>#\r\n".contains(c));
    if special {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The text of an attribute value, whatever its string type; `#hex` of the DER otherwise.
fn attribute_text(value: &x509_parser::asn1_rs::Any<'_>) -> String {
    let data = value.data;
    let text = match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_string),
        Tag::BmpString if data.len() % 2 == 0 => char::decode_utf16(
            data.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .collect::<std::result::Result<String, _>>()
        .ok(),
        Tag::UniversalString if data.len() % 4 == 0 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    };
    text.unwrap_or_else(|| format!("#{}", hex::encode(data)))
}

/// A name as Key Vault writes it: most specific component first, `, ` between components,
/// ` + ` inside a multi-valued one.
fn format_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    format!(
                        "{}={}",
                        attribute_name(&atv.attr_type().to_id_string()),
                        quote_value(&attribute_text(atv.attr_value()))
                    )
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

/// rcgen's distinguished name for a name read from a certificate, with each value's string
/// type kept, so the issuer of a CA-signed certificate matches the CA's subject byte for byte.
fn distinguished_name_of(name: &X509Name<'_>) -> Result<DistinguishedName> {
    let unsupported = || {
        Error::bad_parameter(
            "the CA certificate's subject cannot be used as an issuer name \
             (multi-valued or repeated attributes)",
        )
    };
    let mut dn = DistinguishedName::new();
    let mut seen: Vec<Vec<u64>> = Vec::new();
    for rdn in name.iter_rdn() {
        let mut atvs = rdn.iter();
        let (Some(atv), None) = (atvs.next(), atvs.next()) else {
            return Err(unsupported());
        };
        let oid: Vec<u64> = atv.attr_type().iter().ok_or_else(unsupported)?.collect();
        if seen.contains(&oid) {
            return Err(unsupported());
        }
        let value = atv.attr_value();
        let text = attribute_text(value);
        let value = match value.tag() {
            Tag::PrintableString => rcgen::string::PrintableString::try_from(text.as_str())
                .map(DnValue::PrintableString)
                .map_err(|_| unsupported())?,
            Tag::Ia5String => rcgen::string::Ia5String::try_from(text.as_str())
                .map(DnValue::Ia5String)
                .map_err(|_| unsupported())?,
            Tag::BmpString => rcgen::string::BmpString::try_from(text.as_str())
                .map(DnValue::BmpString)
                .map_err(|_| unsupported())?,
            _ => DnValue::Utf8String(text),
        };
        dn.push(DnType::from_oid(&oid), value);
        seen.push(oid);
    }
    Ok(dn)
}

// ---------------------------------------------------------------------------------------
// Dates

const DAY_SECS: u64 = 86_400;

/// `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `t` plus `months` calendar months, the day clamped to the end of a shorter month.
pub fn add_months(t: UnixTime, months: u32) -> Result<UnixTime> {
    let too_late = || Error::bad_parameter("the validity ends after the year 9999");
    if t > MAX_TIME {
        return Err(too_late());
    }
    let days = (t / DAY_SECS) as i64;
    let secs = t % DAY_SECS;
    let (y, m, d) = civil_from_days(days);
    let index = y * 12 + i64::from(m - 1) + i64::from(months);
    let (y, m) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let d = d.min(days_in_month(y, m));
    let out = days_from_civil(y, m, d) as u64 * DAY_SECS + secs;
    if out > MAX_TIME {
        return Err(too_late());
    }
    Ok(out)
}

/// The number of whole calendar months from `from` to `to` (at least 1): how Key Vault's
/// `validity_months` reads for a certificate made elsewhere.
pub fn months_between(from: UnixTime, to: UnixTime) -> u32 {
    let mut months = 0u32;
    while months < MAX_VALIDITY_MONTHS && add_months(from, months + 1).is_ok_and(|t| t <= to) {
        months += 1;
    }
    months.max(1)
}

/// Sets a certificate's validity. rcgen's date type is the `time` crate's, which this crate
/// does not name: the dates are built through `rcgen::date_time_ymd` inside one closure.
fn set_validity(params: &mut CertificateParams, from: UnixTime, to: UnixTime) -> Result<()> {
    if from > MAX_TIME || to > MAX_TIME {
        return Err(Error::bad_parameter(
            "dates after the year 9999 cannot be written",
        ));
    }
    let date = |t: UnixTime| {
        let (y, m, d) = civil_from_days((t / DAY_SECS) as i64);
        rcgen::date_time_ymd(y as i32, m as u8, d as u8)
            + std::time::Duration::from_secs(t % DAY_SECS)
    };
    params.not_before = date(from);
    params.not_after = date(to);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// DER bits: the few encodings rcgen and x509-parser leave to us

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn der_uint(magnitude: &[u8], out: &mut Vec<u8>) {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let m = &magnitude[start..];
    let pad = m.first().is_none_or(|&b| b & 0x80 != 0);
    out.push(0x02);
    der_len(m.len() + usize::from(pad), out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(m);
}

fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(0x30);
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// ECDSA's raw `r||s` (Key Vault's form) as the DER `SEQUENCE { r, s }` X.509 wants.
fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut content = Vec::with_capacity(raw.len() + 8);
    der_uint(r, &mut content);
    der_uint(s, &mut content);
    der_sequence(&content)
}

/// PKCS#1 `RSAPublicKey`.
fn rsa_public_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(n.len() + e.len() + 12);
    der_uint(n, &mut content);
    der_uint(e, &mut content);
    der_sequence(&content)
}

/// One TLV with a single-byte tag: `(tag, content, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

// ---------------------------------------------------------------------------------------
// Signing through KeyMaterial

/// rcgen's view of one of our keys: the public key it writes, and a signer that hashes what
/// rcgen hands it and signs the digest with the key's backend.
struct Signer<'a> {
    key: &'a KeyMaterial,
    rcgen_alg: &'static rcgen::SignatureAlgorithm,
    alg: SignatureAlgorithm,
    public: Vec<u8>,
    /// Our error from inside `sign`, which rcgen's error type cannot carry.
    failure: RefCell<Option<Error>>,
}

impl<'a> Signer<'a> {
    fn new(key: &'a KeyMaterial) -> Result<Self> {
        let (rcgen_alg, alg, public) = match key {
            KeyMaterial::Ec(k) => {
                let (rcgen_alg, alg) = match k.curve() {
                    CurveName::P256 => (&rcgen::PKCS_ECDSA_P256_SHA256, SignatureAlgorithm::ES256),
                    CurveName::P384 => (&rcgen::PKCS_ECDSA_P384_SHA384, SignatureAlgorithm::ES384),
                    CurveName::P521 => (&rcgen::PKCS_ECDSA_P521_SHA512, SignatureAlgorithm::ES512),
                    CurveName::P256K => {
                        return Err(Error::bad_parameter(
                            "certificates for secp256k1 (P-256K) keys are not supported: X.509 \
                             has no signature algorithm for them that common tools accept; use \
                             P-256, P-384, P-521 or RSA",
                        ))
                    }
                };
                let p = k.public();
                let mut point = Vec::with_capacity(1 + p.x().len() + p.y().len());
                point.push(4);
                point.extend_from_slice(p.x());
                point.extend_from_slice(p.y());
                (rcgen_alg, alg, point)
            }
            KeyMaterial::Rsa(k) => (
                &rcgen::PKCS_RSA_SHA256,
                SignatureAlgorithm::RS256,
                rsa_public_der(k.public().n(), k.public().e()),
            ),
            KeyMaterial::Oct(_) => {
                return Err(Error::bad_parameter(
                    "an oct (symmetric) key cannot hold a certificate; use an RSA or EC key",
                ))
            }
        };
        Ok(Self {
            key,
            rcgen_alg,
            alg,
            public,
            failure: RefCell::new(None),
        })
    }

    /// Our error for an rcgen failure: the signing error if there was one.
    fn error(&self, e: rcgen::Error) -> Error {
        self.failure.borrow_mut().take().unwrap_or_else(|| {
            Error::bad_parameter(format!("the certificate cannot be built: {e}"))
        })
    }
}

impl PublicKeyData for Signer<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.rcgen_alg
    }
}

impl SigningKey for Signer<'_> {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        let digest = self.alg.hash().digest(msg);
        match self.key.sign_digest(self.alg, &digest) {
            Ok(sig) if matches!(self.key, KeyMaterial::Ec(_)) => Ok(ecdsa_raw_to_der(&sig)),
            Ok(sig) => Ok(sig),
            Err(e) => {
                *self.failure.borrow_mut() = Some(e);
                Err(rcgen::Error::RemoteKeyError)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building certificates and CSRs

fn san_error(kind: &str, value: &str, why: &str) -> Error {
    Error::bad_parameter(format!("SAN {kind} {value:?} is not valid: {why}"))
}

/// rcgen's parameters for a spec (validity and serial included; the caller sets the rest).
fn params_for(spec: &CertSpec) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&spec.subject)?;
    for name in &spec.dns_names {
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b'@');
        if !ok {
            return Err(san_error(
                "DNS name",
                name,
                "use ASCII host names such as www.contoso.com",
            ));
        }
        let ia5 = rcgen::string::Ia5String::try_from(name.as_str())
            .map_err(|_| san_error("DNS name", name, "it must be ASCII"))?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    for email in &spec.emails {
        let ok = email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && email.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(san_error(
                "email",
                email,
                "use an address such as admin@contoso.com",
            ));
        }
        let ia5 = rcgen::string::Ia5String::try_from(email.as_str())
            .map_err(|_| san_error("email", email, "it must be ASCII"))?;
        params.subject_alt_names.push(SanType::Rfc822Name(ia5));
    }
    for upn in &spec.upns {
        if upn.trim().is_empty() || upn.chars().any(char::is_control) {
            return Err(san_error(
                "UPN",
                upn,
                "use a principal name such as user@contoso.com",
            ));
        }
        params.subject_alt_names.push(SanType::OtherName((
            UPN_OID.to_vec(),
            OtherNameValue::Utf8String(upn.clone()),
        )));
    }
    if params.distinguished_name.iter().next().is_none() && params.subject_alt_names.is_empty() {
        return Err(Error::bad_parameter(
            "a certificate needs a subject or at least one subject alternative name",
        ));
    }
    params.key_usages = spec.key_usage.iter().map(|u| u.to_rcgen()).collect();
    for eku in &spec.ekus {
        let oid = parse_oid(eku.trim()).ok_or_else(|| {
            Error::bad_parameter(format!(
                "EKU {eku:?} is not a dotted OID such as 1.3.6.1.5.5.7.3.1"
            ))
        })?;
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::Other(oid));
    }
    params.is_ca = if spec.key_usage.contains(&KeyUsage::KeyCertSign) {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    if !(1..=MAX_VALIDITY_MONTHS).contains(&spec.validity_months) {
        return Err(Error::bad_parameter(format!(
            "validity_months must be 1 to {MAX_VALIDITY_MONTHS}, not {}",
            spec.validity_months
        )));
    }
    let not_after = add_months(spec.not_before, spec.validity_months)?;
    set_validity(&mut params, spec.not_before, not_after)?;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// 16 random bytes, top bit clear (positive) and the next set (always 16 bytes long).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = random_bytes(16)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// A self-signed certificate (DER) for `key`.
pub(crate) fn self_signed(key: &KeyMaterial, spec: &CertSpec) -> Result<Vec<u8>> {
    let signer = Signer::new(key)?;
    let params = params_for(spec)?;
    let cert = params.self_signed(&signer).map_err(|e| signer.error(e))?;
    Ok(cert.der().to_vec())
}

/// A certificate (DER) for `key`, issued by the CA whose key is `ca_key` and certificate
/// `ca_der`: the CA's subject as issuer, its key identifier as authority key identifier.
pub(crate) fn ca_signed(
    key: &KeyMaterial,
    spec: &CertSpec,
    ca_key: &KeyMaterial,
    ca_der: &[u8],
) -> Result<Vec<u8>> {
    let subject = Signer::new(key)?;
    let ca_signer = Signer::new(ca_key)?;
    let ca = parse_x509(ca_der)?;
    if !same_public_key(&spki_jwk(ca.public_key())?, &ca_key.public_jwk()) {
        return Err(Error::bad_parameter(
            "the CA key does not match the CA certificate",
        ));
    }
    let ca_ski = ca
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        });
    let mut issuer_params = CertificateParams::default();
    issuer_params.distinguished_name = distinguished_name_of(ca.subject())?;
    issuer_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    if let Some(ski) = &ca_ski {
        issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(ski.clone());
    }
    let issuer = Issuer::new(issuer_params, &ca_signer);
    let mut params = params_for(spec)?;
    params.use_authority_key_identifier_extension = ca_ski.is_some();
    let cert = params
        .signed_by(&subject, &issuer)
        .map_err(|e| ca_signer.error(e))?;
    Ok(cert.der().to_vec())
}

/// A new CA: an EC P-256 key and its self-signed certificate (`CN=common_name`, valid ten
/// years from `now`, basicConstraints `CA:true`, keyCertSign and cRLSign, subject and
/// authority key identifiers).
pub(crate) fn new_ca(common_name: &str, now: UnixTime) -> Result<(KeyMaterial, Vec<u8>)> {
    if common_name.trim().is_empty() {
        return Err(Error::bad_parameter("a CA needs a common name"));
    }
    let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256))?;
    let signer = Signer::new(&key)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(common_name.to_string()),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, add_months(now, 120)?)?;
    params.serial_number = Some(random_serial()?);
    let der = params
        .self_signed(&signer)
        .map_err(|e| signer.error(e))?
        .der()
        .to_vec();
    Ok((key, der))
}

/// A PKCS#10 certificate signing request (DER) for `key`, asking for the spec's subject,
/// SANs, key usages and EKUs (validity is the CA's to choose).
pub(crate) fn csr(key: &KeyMaterial, spec: &CertSpec) -> Result<Vec<u8>> {
    let signer = Signer::new(key)?;
    // A CSR carries neither serial number nor validity: the CA chooses them.
    let undated = CertSpec {
        not_before: 0,
        validity_months: 1,
        ..spec.clone()
    };
    let mut params = params_for(&undated)?;
    params.serial_number = None;
    let request = params
        .serialize_request(&signer)
        .map_err(|e| signer.error(e))?;
    Ok(request.der().to_vec())
}

// ---------------------------------------------------------------------------------------
// Reading certificates

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| Error::bad_parameter("the value is not an X.509 certificate (DER)"))?;
    if !rest.is_empty() {
        return Err(Error::bad_parameter(
            "the certificate has trailing bytes after its DER",
        ));
    }
    Ok(cert)
}

/// The public JWK of a SubjectPublicKeyInfo (RSA, or EC on a curve Key Vault knows).
fn spki_jwk(spki: &SubjectPublicKeyInfo<'_>) -> Result<Jwk> {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.10045.2.1" => {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let curve = match curve_oid.as_deref() {
                Some("1.2.840.10045.3.1.7") => CurveName::P256,
                Some("1.3.132.0.34") => CurveName::P384,
                Some("1.3.132.0.35") => CurveName::P521,
                Some("1.3.132.0.10") => CurveName::P256K,
                _ => {
                    return Err(Error::bad_parameter(
                        "the certificate's EC key is not on P-256, P-384, P-521 or secp256k1",
                    ))
                }
            };
            let key = EcPublicKey::from_sec1(curve, spki.subject_public_key.data.to_vec())?;
            Ok(Jwk {
                kty: Some(KeyType::Ec),
                crv: Some(curve),
                x: Some(Base64Url(key.x().to_vec())),
                y: Some(Base64Url(key.y().to_vec())),
                ..Jwk::default()
            })
        }
        "1.2.840.113549.1.1.1" => {
            let bad = || Error::bad_parameter("the certificate's RSA public key is malformed");
            let (_, seq, _) = read_tlv(&spki.subject_public_key.data)
                .filter(|(t, _, _)| *t == 0x30)
                .ok_or_else(bad)?;
            let (t1, n, rest) = read_tlv(seq).ok_or_else(bad)?;
            let (t2, e, _) = read_tlv(rest).ok_or_else(bad)?;
            if t1 != 0x02 || t2 != 0x02 {
                return Err(bad());
            }
            let strip = |b: &[u8]| b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..].to_vec();
            Ok(Jwk {
                kty: Some(KeyType::Rsa),
                n: Some(Base64Url(strip(n))),
                e: Some(Base64Url(strip(e))),
                ..Jwk::default()
            })
        }
        other => Err(Error::bad_parameter(format!(
            "the certificate's key (algorithm {other}) is not supported; Key Vault certificates \
             hold RSA or EC keys"
        ))),
    }
}

/// Whether two public JWKs name the same key.
fn same_public_key(a: &Jwk, b: &Jwk) -> bool {
    let family = |j: &Jwk| j.kty.map(KeyType::family);
    let bytes = |m: &Option<Base64Url>| m.as_ref().map(|v| v.0.clone());
    family(a).is_some()
        && family(a) == family(b)
        && a.crv == b.crv
        && bytes(&a.x) == bytes(&b.x)
        && bytes(&a.y) == bytes(&b.y)
        && bytes(&a.n) == bytes(&b.n)
        && bytes(&a.e) == bytes(&b.e)
}

/// Reads what Key Vault shows of a certificate. Anything that is not one DER certificate
/// with an RSA or EC key is [`Error::BadParameter`].
pub fn parse_certificate(der: &[u8]) -> Result<ParsedCertificate> {
    let cert = parse_x509(der)?;
    let mut parsed = ParsedCertificate {
        subject: format_name(cert.subject()),
        issuer: format_name(cert.issuer()),
        dns_names: Vec::new(),
        emails: Vec::new(),
        upns: Vec::new(),
        not_before: u64::try_from(cert.validity().not_before.timestamp()).unwrap_or(0),
        not_after: u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0),
        serial_hex: hex::encode_upper(cert.raw_serial()),
        public: spki_jwk(cert.public_key())?,
        x5t: sha1(der),
        key_usage: Vec::new(),
        ekus: Vec::new(),
        is_ca: cert.is_ca(),
    };
    let bad_ext =
        |what: &str| Error::bad_parameter(format!("the certificate's {what} is malformed"));
    if let Some(san) = cert
        .subject_alternative_name()
        .map_err(|_| bad_ext("subject alternative name"))?
    {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => parsed.dns_names.push(n.to_string()),
                GeneralName::RFC822Name(n) => parsed.emails.push(n.to_string()),
                GeneralName::OtherName(oid, value)
                    if oid
                        .iter()
                        .is_some_and(|arcs| arcs.eq(UPN_OID.iter().copied())) =>
                {
                    // [0] EXPLICIT UTF8String
                    let upn = read_tlv(value)
                        .filter(|(t, _, _)| *t == 0xa0)
                        .and_then(|(_, inner, _)| read_tlv(inner))
                        .filter(|(t, _, _)| *t == 0x0c)
                        .and_then(|(_, s, _)| std::str::from_utf8(s).ok())
                        .ok_or_else(|| bad_ext("UPN"))?;
                    parsed.upns.push(upn.to_string());
                }
                _ => {}
            }
        }
    }
    if let Some(ku) = cert.key_usage().map_err(|_| bad_ext("key usage"))? {
        parsed.key_usage = KeyUsage::ALL
            .into_iter()
            .enumerate()
            .filter(|(bit, _)| ku.value.flags & (1 << bit) != 0)
            .map(|(_, u)| u)
            .collect();
    }
    if let Some(eku) = cert
        .extended_key_usage()
        .map_err(|_| bad_ext("extended key usage"))?
    {
        let v = eku.value;
        let known = [
            (v.any, "2.5.29.37.0"),
            (v.server_auth, "1.3.6.1.5.5.7.3.1"),
            (v.client_auth, "1.3.6.1.5.5.7.3.2"),
            (v.code_signing, "1.3.6.1.5.5.7.3.3"),
            (v.email_protection, "1.3.6.1.5.5.7.3.4"),
            (v.time_stamping, "1.3.6.1.5.5.7.3.8"),
            (v.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
        ];
        parsed.ekus = known
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, oid)| oid.to_string())
            .chain(v.other.iter().map(|o| o.to_id_string()))
            .collect();
    }
    Ok(parsed)
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

/// Whether the certificate `der` is for `key` (its public key is the key's).
pub(crate) fn certificate_matches_key(der: &[u8], key: &KeyMaterial) -> Result<bool> {
    let cert = parse_x509(der)?;
    Ok(same_public_key(
        &spki_jwk(cert.public_key())?,
        &key.public_jwk(),
    ))
}

/// The public key a PKCS#10 CSR asks a certificate for, as a public JWK; for checking what
/// a CA returned against the request.
pub fn csr_public_key(der: &[u8]) -> Result<Jwk> {
    let bad = || Error::bad_parameter("the value is not a PKCS#10 certificate request (DER)");
    let (tag, request, _) = read_tlv(der).ok_or_else(bad)?;
    let (info_tag, info, _) = read_tlv(request).ok_or_else(bad)?;
    if tag != 0x30 || info_tag != 0x30 {
        return Err(bad());
    }
    // CertificationRequestInfo: version, subject, subjectPKInfo, attributes.
    let (_, _, rest) = read_tlv(info).ok_or_else(bad)?;
    let (_, _, rest) = read_tlv(rest).ok_or_else(bad)?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(rest).map_err(|_| bad())?;
    spki_jwk(&spki)
}

/// Puts a key's certificates in chain order: the one for `key` first, then each one's
/// issuer as far as the set goes, then any others in the order given. No certificate for
/// the key is [`Error::BadParameter`].
fn order_chain(key: &KeyMaterial, certs: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>> {
    let public = key.public_jwk();
    let mut rest: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = Vec::with_capacity(certs.len());
    let mut leaf = None;
    for der in certs {
        let cert = parse_x509(&der)?;
        let (subject, issuer) = (
            cert.subject().as_raw().to_vec(),
            cert.issuer().as_raw().to_vec(),
        );
        let matches = leaf.is_none() && same_public_key(&spki_jwk(cert.public_key())?, &public);
        drop(cert);
        if matches {
            leaf = Some((der, subject, issuer));
        } else {
            rest.push((der, subject, issuer));
        }
    }
    let Some((leaf_der, mut subject, mut issuer)) = leaf else {
        return Err(Error::bad_parameter(
            "none of the certificates is for the private key",
        ));
    };
    let mut chain = vec![leaf_der];
    while subject != issuer {
        let Some(i) = rest.iter().position(|(_, s, _)| *s == issuer) else {
            break;
        };
        let (der, s, iss) = rest.remove(i);
        chain.push(der);
        (subject, issuer) = (s, iss);
    }
    chain.extend(rest.into_iter().map(|(der, _, _)| der));
    Ok(chain)
}

/// Certificates from PEM text (`CERTIFICATE` blocks) or one DER certificate, in the order
/// given, each checked to be an X.509 certificate; for merging a CA's answer.
pub fn chain_from_pem_or_der(input: &[u8]) -> Result<Vec<Vec<u8>>> {
    let certs = match std::str::from_utf8(input) {
        Ok(text) if text.contains("-----BEGIN") => pem_blocks(text)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der.to_vec())
            .collect(),
        _ => vec![input.to_vec()],
    };
    if certs.is_empty() {
        return Err(Error::bad_parameter("the PEM holds no CERTIFICATE block"));
    }
    for der in &certs {
        parse_x509(der)?;
    }
    Ok(certs)
}

// ---------------------------------------------------------------------------------------
// PFX

/// A PFX (PKCS#12) with `key` and `chain` (leaf first). No password means the empty one,
/// which Key Vault's managed secrets use.
pub(crate) fn to_pfx(
    key: &KeyMaterial,
    chain: &[Vec<u8>],
    password: Option<&str>,
) -> Result<SecretBytes> {
    let leaf = chain
        .first()
        .ok_or_else(|| Error::bad_parameter("a PFX needs at least one certificate"))?;
    if !certificate_matches_key(leaf, key)? {
        return Err(Error::bad_parameter(
            "the first certificate of the chain is not for the key",
        ));
    }
    let pkcs8 = key.to_pkcs8_der()?;
    // OpenSSL's localKeyId: the leaf's SHA-1.
    pkcs12::write(&pkcs8, chain, &sha1(leaf), password.unwrap_or(""))
}

/// The key and certificates (leaf first) of a PFX. A wrong or missing password is
/// [`Error::BadParameter`], as is a file without exactly one private key.
pub(crate) fn from_pfx(pfx: &[u8], password: Option<&str>) -> Result<(KeyMaterial, Vec<Vec<u8>>)> {
    let mut contents = pkcs12::read(pfx, password)?;
    let key = match contents.keys.len() {
        1 => contents.keys.remove(0),
        0 => return Err(Error::bad_parameter("the PFX has no private key")),
        n => {
            return Err(Error::bad_parameter(format!(
                "the PFX has {n} private keys; a certificate takes one"
            )))
        }
    };
    let key = KeyMaterial::from_pkcs8_der(key.expose()).map_err(|e| match e {
        Error::BadParameter(m) => Error::bad_parameter(format!("the PFX's private key: {m}")),
        e => e,
    })?;
    if contents.certs.is_empty() {
        return Err(Error::bad_parameter("the PFX has no certificate"));
    }
    let chain = order_chain(&key, contents.certs)?;
    Ok((key, chain))
}

// ---------------------------------------------------------------------------------------
// PEM

/// base64 as PEM bodies carry it: padded when written, read with or without padding.
const PEM_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

struct PemBlock {
    label: String,
    encrypted: bool,
    der: Zeroizing<Vec<u8>>,
}

/// The blocks of PEM text, in order.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::with_capacity(text.len()));
        let (mut encrypted, mut closed, mut in_headers) = (false, false, true);
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if in_headers && line.contains(':') {
                encrypted |= line.to_ascii_uppercase().contains("ENCRYPTED");
                continue;
            }
            in_headers = false;
            body.push_str(line);
        }
        if !closed {
            return Err(Error::bad_parameter(format!(
                "the PEM block {label} has no END line"
            )));
        }
        let mut der = Zeroizing::new(Vec::with_capacity(body.len()));
        PEM_B64
            .decode_vec(body.as_bytes(), &mut der)
            .map_err(|_| Error::bad_parameter(format!("the PEM block {label} is not base64")))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            encrypted: encrypted || label == "ENCRYPTED PRIVATE KEY",
            der,
        });
    }
    Ok(blocks)
}

/// PEM text: the key as PKCS#8 (`PRIVATE KEY`), then the certificates, leaf first, as Key
/// Vault's `application/x-pem-file` secrets hold them.
pub(crate) fn to_pem(key: &KeyMaterial, chain: &[Vec<u8>]) -> Result<SecretString> {
    let pkcs8 = key.to_pkcs8_der()?;
    let blocks: Vec<(&str, &[u8])> = std::iter::once(("PRIVATE KEY", pkcs8.expose()))
        .chain(chain.iter().map(|c| ("CERTIFICATE", c.as_slice())))
        .collect();
    // Sized up front: a growing String would leave copies of the key behind.
    let size: usize = blocks
        .iter()
        .map(|(label, der)| {
            let b64 = der.len().div_ceil(3) * 4;
            b64 + b64 / 64 + 2 * label.len() + 40
        })
        .sum();
    let mut out = Zeroizing::new(String::with_capacity(size));
    let mut b64 = Zeroizing::new(String::with_capacity(size));
    for (label, der) in blocks {
        b64.clear();
        base64::engine::general_purpose::STANDARD.encode_string(der, &mut b64);
        out.push_str("-----BEGIN ");
        out.push_str(label);
        out.push_str("-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).map_err(|_| Error::CryptoFailure)?);
            out.push('\n');
        }
        out.push_str("-----END ");
        out.push_str(label);
        out.push_str("-----\n");
    }
    Ok(SecretString::new(std::mem::take(&mut *out)))
}

/// The key and certificates (leaf first) of PEM text. The key may be PKCS#8 (`PRIVATE
/// KEY`, what Key Vault writes), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`);
/// encrypted keys are refused.
pub(crate) fn from_pem(pem: &str) -> Result<(KeyMaterial, Vec<Vec<u8>>)> {
    let mut key = None;
    let mut certs = Vec::new();
    for block in pem_blocks(pem)? {
        let read = match block.label.as_str() {
            "CERTIFICATE" => {
                certs.push(block.der.to_vec());
                continue;
            }
            _ if block.encrypted && block.label.ends_with("PRIVATE KEY") => {
                return Err(Error::bad_parameter(
                    "the PEM's private key is encrypted; import it unencrypted as PKCS#8 \
                     (PRIVATE KEY), or as a PFX with its password",
                ))
            }
            "PRIVATE KEY" => KeyMaterial::from_pkcs8_der(&block.der),
            "EC PRIVATE KEY" => {
                super::ec::EcPrivateKey::from_sec1_der(&block.der).map(KeyMaterial::Ec)
            }
            "RSA PRIVATE KEY" => {
                super::rsa::RsaPrivateKey::from_pkcs1_der(&block.der).map(KeyMaterial::Rsa)
            }
            _ => continue,
        };
        if key.is_some() {
            return Err(Error::bad_parameter(
                "the PEM has more than one private key; a certificate takes one",
            ));
        }
        key = Some(read?);
    }
    let key = key.ok_or_else(|| {
        Error::bad_parameter("the PEM has no private key (PRIVATE KEY block, PKCS#8)")
    })?;
    if certs.is_empty() {
        return Err(Error::bad_parameter("the PEM has no CERTIFICATE block"));
    }
    let chain = order_chain(&key, certs)?;
    Ok((key, chain))
}

// ---------------------------------------------------------------------------------------
// The public face

/// A private key for certificate work outside any vault: generate or import one, issue
/// certificates and CSRs with it, write and read PFX and PEM files. Keys in a vault never
/// take this form. Zeroized on drop; `Debug` shows only its type.
pub struct CertificateKey(KeyMaterial);

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateKey({:?}, [REDACTED])", self.0.spec())
    }
}

impl CertificateKey {
    /// A new EC or RSA key.
    pub fn generate(spec: KeySpec) -> Result<Self> {
        if let KeySpec::Oct(_) = spec {
            return Err(Error::bad_parameter(
                "an oct (symmetric) key cannot hold a certificate",
            ));
        }
        KeyMaterial::generate(spec).map(Self)
    }

    /// Reads an unencrypted PKCS#8 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        KeyMaterial::from_pkcs8_der(der).map(Self)
    }

    /// The key as PKCS#8 DER.
    pub fn to_pkcs8_der(&self) -> Result<SecretBytes> {
        self.0.to_pkcs8_der()
    }

    /// The public JWK.
    pub fn public_jwk(&self) -> Jwk {
        self.0.public_jwk()
    }

    /// A self-signed certificate (DER).
    pub fn self_signed(&self, spec: &CertSpec) -> Result<Vec<u8>> {
        self_signed(&self.0, spec)
    }

    /// A certificate (DER) issued by `ca` with certificate `ca_der`.
    pub fn ca_signed(
        &self,
        spec: &CertSpec,
        ca: &CertificateKey,
        ca_der: &[u8],
    ) -> Result<Vec<u8>> {
        ca_signed(&self.0, spec, &ca.0, ca_der)
    }

    /// A new EC P-256 CA and its certificate, valid ten years from `now`.
    pub fn new_ca(common_name: &str, now: UnixTime) -> Result<(Self, Vec<u8>)> {
        new_ca(common_name, now).map(|(k, der)| (Self(k), der))
    }

    /// A PKCS#10 CSR (DER).
    pub fn csr(&self, spec: &CertSpec) -> Result<Vec<u8>> {
        csr(&self.0, spec)
    }

    /// A PFX with this key and `chain` (leaf first).
    pub fn to_pfx(&self, chain: &[Vec<u8>], password: Option<&str>) -> Result<SecretBytes> {
        to_pfx(&self.0, chain, password)
    }

    /// The key and chain (leaf first) of a PFX.
    pub fn from_pfx(pfx: &[u8], password: Option<&str>) -> Result<(Self, Vec<Vec<u8>>)> {
        from_pfx(pfx, password).map(|(k, c)| (Self(k), c))
    }

    /// PEM text: PKCS#8 key, then `chain`.
    pub fn to_pem(&self, chain: &[Vec<u8>]) -> Result<SecretString> {
        to_pem(&self.0, chain)
    }

    /// The key and chain (leaf first) of PEM text.
    pub fn from_pem(pem: &str) -> Result<(Self, Vec<Vec<u8>>)> {
        from_pem(pem).map(|(k, c)| (Self(k), c))
    }

    /// Whether the certificate `der` is for this key.
    pub fn matches(&self, der: &[u8]) -> Result<bool> {
        certificate_matches_key(der, &self.0)
    }

    /// Signs a digest with the key, as Key Vault's sign operation does (raw `r||s` for
    /// ECDSA).
    pub fn sign_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        self.0.sign_digest(alg, digest)
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Verifier as _;
    use x509_parser::prelude::FromDer as _;

    use super::*;
    use crate::clock::parse_time;

    fn t(s: &str) -> UnixTime {
        parse_time(s).unwrap()
    }

    fn spec(subject: &str) -> CertSpec {
        CertSpec {
            subject: subject.into(),
            dns_names: vec!["www.contoso.com".into(), "*.contoso.com".into()],
            emails: vec!["admin@contoso.com".into()],
            upns: vec!["user@contoso.com".into()],
            key_usage: vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment],
            ekus: vec!["1.3.6.1.5.5.7.3.1".into(), "1.3.6.1.5.5.7.3.2".into()],
            not_before: t("2026-01-31T10:20:30Z"),
            validity_months: 13,
        }
    }

    fn bad(r: Result<impl fmt::Debug>) -> String {
        match r {
            Err(Error::BadParameter(m)) => m,
            other => panic!("expected BadParameter, got {other:?}"),
        }
    }

    /// (tbs, signature algorithm OID, signature bytes) of a certificate.
    fn signed_parts(der: &[u8]) -> (Vec<u8>, String, Vec<u8>) {
        let (_, cert) = X509Certificate::from_der(der).unwrap();
        (
            cert.tbs_certificate.as_ref().to_vec(),
            cert.signature_algorithm.algorithm.to_id_string(),
            cert.signature_value.data.to_vec(),
        )
    }

    fn verify_p256(signer_jwk: &Jwk, der: &[u8]) {
        let (tbs, alg, sig) = signed_parts(der);
        assert_eq!(alg, "1.2.840.10045.4.3.2", "ecdsa-with-SHA256");
        let mut point = vec![4];
        point.extend_from_slice(&signer_jwk.x.as_ref().unwrap().0);
        point.extend_from_slice(&signer_jwk.y.as_ref().unwrap().0);
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
        let sig = p256::ecdsa::Signature::from_der(&sig).expect("DER-encoded ECDSA signature");
        key.verify(&tbs, &sig).expect("signature verifies");
        let mut other = tbs.clone();
        other[10] ^= 1;
        assert!(key.verify(&other, &sig).is_err());
    }

    #[test]
    fn subjects_parse_in_key_vault_form_and_round_trip() {
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let subject = r#"CN=web; O="Contoso, Ltd", OU=Ops\, Core, L=Redmond, S=WA, C=US, E=a@b.c"#;
        let der = self_signed(&key, &spec(subject)).unwrap();
        let parsed = parse_certificate(&der).unwrap();
        assert_eq!(
            parsed.subject,
            r#"CN=web, O="Contoso, Ltd", OU="Ops, Core", L=Redmond, ST=WA, C=US, E=a@b.c"#
        );
        assert_eq!(parsed.issuer, parsed.subject);
        // Most specific first in the string, least specific first in the DER (RFC 4514).
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let first = cert.subject().iter_attributes().next().unwrap();
        assert_eq!(first.attr_type().to_id_string(), "1.2.840.113549.1.9.1");
        let cn = cert.subject().iter_attributes().last().unwrap();
        assert_eq!(cn.attr_type().to_id_string(), "2.5.4.3");
        assert_eq!(cn.attr_value().tag(), Tag::Utf8String);
        let c = cert.subject().iter_country().next().unwrap();
        assert_eq!(c.attr_value().tag(), Tag::PrintableString);
        // What parse_certificate writes, parse_subject reads back to the same attributes.
        let again = self_signed(&key, &spec(&parsed.subject)).unwrap();
        assert_eq!(parse_certificate(&again).unwrap().subject, parsed.subject);
        // Escaped bytes and quoted quotes.
        let der = self_signed(&key, &spec(r#"CN=caf\C3\A9 "x", O="say ""hi""""#)).unwrap();
        assert_eq!(
            parse_certificate(&der).unwrap().subject,
            r#"CN="café ""x""", O="say ""hi""""#
        );
    }

    #[test]
    fn bad_subjects_are_bad_parameter() {
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        for (subject, says) in [
            ("CN", "no '='"),
            ("XYZ=a", "unknown attribute"),
            ("CN=a, CN=b", "twice"),
            ("CN=a, C=USA", "country"),
            ("CN=\"open", "quote"),
            ("CN=a,,O=b", "empty component"),
            ("CN=", "no value"),
            ("OID.1.x=a", "not an OID"),
            ("CN=\"a\" b", "follows a closing quote"),
            ("E=ü@x", "ASCII"),
        ] {
            let m = bad(self_signed(&key, &spec(subject)));
            assert!(m.contains(says), "{subject}: {m}");
        }
        let mut empty = spec("");
        empty.dns_names.clear();
        empty.emails.clear();
        empty.upns.clear();
        assert!(bad(self_signed(&key, &empty)).contains("subject"));
        // An empty subject is fine when SANs name the certificate.
        let der = self_signed(&key, &spec("")).unwrap();
        assert_eq!(parse_certificate(&der).unwrap().subject, "");
        let der = self_signed(&key, &spec("OID.2.5.4.3=x")).unwrap();
        assert_eq!(parse_certificate(&der).unwrap().subject, "CN=x");
    }

    #[test]
    fn validity_is_calendar_months_with_the_day_clamped() {
        let cases = [
            ("2024-01-31T10:00:00Z", 1, "2024-02-29T10:00:00Z"),
            ("2023-01-31T10:00:00Z", 1, "2023-02-28T10:00:00Z"),
            ("2024-02-29T00:00:00Z", 12, "2025-02-28T00:00:00Z"),
            ("2025-12-15T23:59:59Z", 1, "2026-01-15T23:59:59Z"),
            ("2026-03-31T01:02:03Z", 13, "2027-04-30T01:02:03Z"),
            ("1970-01-01T00:00:00Z", 1200, "2070-01-01T00:00:00Z"),
        ];
        for (from, months, to) in cases {
            assert_eq!(
                add_months(t(from), months).unwrap(),
                t(to),
                "{from} + {months}"
            );
        }
        assert!(add_months(t("9999-12-01T00:00:00Z"), 1).is_err());
        assert_eq!(
            months_between(t("2024-01-31T00:00:00Z"), t("2025-01-31T00:00:00Z")),
            12
        );
        assert_eq!(
            months_between(t("2024-01-31T00:00:00Z"), t("2024-02-28T00:00:00Z")),
            1
        );
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let parsed = parse_certificate(&self_signed(&key, &spec("CN=v")).unwrap()).unwrap();
        assert_eq!(parsed.not_before, t("2026-01-31T10:20:30Z"));
        assert_eq!(parsed.not_after, t("2027-02-28T10:20:30Z"));
        let mut s = spec("CN=v");
        for months in [0, 1201] {
            s.validity_months = months;
            assert!(bad(self_signed(&key, &s)).contains("validity_months"));
        }
    }

    #[test]
    fn self_signed_certificates_carry_what_was_asked() {
        for spec_ in [
            KeySpec::Ec(CurveName::P256),
            KeySpec::Ec(CurveName::P384),
            KeySpec::Ec(CurveName::P521),
            KeySpec::Rsa(2048),
        ] {
            let key = KeyMaterial::generate(spec_).unwrap();
            let der = self_signed(&key, &spec("CN=web, O=Contoso")).unwrap();
            let p = parse_certificate(&der).unwrap();
            assert_eq!(p.subject, "CN=web, O=Contoso");
            assert_eq!(p.dns_names, ["www.contoso.com", "*.contoso.com"]);
            assert_eq!(p.emails, ["admin@contoso.com"]);
            assert_eq!(p.upns, ["user@contoso.com"]);
            assert_eq!(
                p.key_usage,
                [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
            );
            assert_eq!(p.ekus, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
            assert!(!p.is_ca);
            assert_eq!(p.serial_hex.len(), 32, "{}", p.serial_hex);
            assert!(u8::from_str_radix(&p.serial_hex[..2], 16).unwrap() & 0x80 == 0);
            assert_eq!(p.x5t, sha1(&der));
            assert!(same_public_key(&p.public, &key.public_jwk()));
            assert!(certificate_matches_key(&der, &key).unwrap());
            let (_, alg, _) = signed_parts(&der);
            let expected = match spec_ {
                KeySpec::Ec(CurveName::P256) => "1.2.840.10045.4.3.2",
                KeySpec::Ec(CurveName::P384) => "1.2.840.10045.4.3.3",
                KeySpec::Ec(_) => "1.2.840.10045.4.3.4",
                _ => "1.2.840.113549.1.1.11",
            };
            assert_eq!(alg, expected, "{spec_:?}");
        }
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let der = self_signed(&key, &spec("CN=web")).unwrap();
        verify_p256(&key.public_jwk(), &der);
        // Two certificates never share a serial number.
        let again = self_signed(&key, &spec("CN=web")).unwrap();
        assert_ne!(
            parse_certificate(&der).unwrap().serial_hex,
            parse_certificate(&again).unwrap().serial_hex
        );
    }

    #[test]
    fn rsa_signatures_verify_under_an_independent_implementation() {
        use rsa::pkcs1v15::{Signature, VerifyingKey};
        use rsa::signature::Verifier as _;
        let key = KeyMaterial::generate(KeySpec::Rsa(2048)).unwrap();
        let der = self_signed(&key, &spec("CN=rsa")).unwrap();
        let (tbs, _, sig) = signed_parts(&der);
        let jwk = key.public_jwk();
        let public = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&jwk.n.unwrap().0),
            rsa::BigUint::from_bytes_be(&jwk.e.unwrap().0),
        )
        .unwrap();
        let verifier = VerifyingKey::<sha2::Sha256>::new(public);
        let sig = Signature::try_from(sig.as_slice()).unwrap();
        verifier.verify(&tbs, &sig).unwrap();
        assert!(verifier.verify(&tbs[1..], &sig).is_err());
    }

    #[test]
    fn keys_that_cannot_hold_a_certificate_are_refused() {
        let k1 = KeyMaterial::generate(KeySpec::Ec(CurveName::P256K)).unwrap();
        assert!(bad(self_signed(&k1, &spec("CN=k"))).contains("secp256k1"));
        assert!(bad(csr(&k1, &spec("CN=k"))).contains("secp256k1"));
        let oct = KeyMaterial::generate(KeySpec::Oct(256)).unwrap();
        assert!(bad(self_signed(&oct, &spec("CN=k"))).contains("oct"));
        assert!(bad(to_pem(&oct, &[])).contains("oct"));
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let mut s = spec("CN=k");
        s.ekus = vec!["serverAuth".into()];
        assert!(bad(self_signed(&key, &s)).contains("EKU"));
        for (dns, email) in [("a b.com", "x@y"), ("ok.com", "nobody")] {
            let mut s = spec("CN=k");
            s.dns_names = vec![dns.into()];
            s.emails = vec![email.into()];
            assert!(bad(self_signed(&key, &s)).contains("SAN"));
        }
    }

    #[test]
    fn key_cert_sign_makes_a_ca_and_ca_signed_leaves_chain_to_it() {
        let now = t("2026-01-01T00:00:00Z");
        let (ca_key, ca_der) = new_ca("localhsm test CA", now).unwrap();
        let ca = parse_certificate(&ca_der).unwrap();
        assert!(ca.is_ca);
        assert_eq!(ca.subject, "CN=localhsm test CA");
        assert_eq!(ca.key_usage, [KeyUsage::KeyCertSign, KeyUsage::CrlSign]);
        assert_eq!(ca.not_after, t("2036-01-01T00:00:00Z"));
        verify_p256(&ca_key.public_jwk(), &ca_der);

        let key = KeyMaterial::generate(KeySpec::Rsa(2048)).unwrap();
        let leaf = ca_signed(&key, &spec("CN=leaf"), &ca_key, &ca_der).unwrap();
        let parsed = parse_certificate(&leaf).unwrap();
        assert_eq!(parsed.issuer, "CN=localhsm test CA");
        assert!(!parsed.is_ca);
        verify_p256(&ca_key.public_jwk(), &leaf);
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        let (_, leaf_cert) = X509Certificate::from_der(&leaf).unwrap();
        assert_eq!(leaf_cert.issuer().as_raw(), ca_cert.subject().as_raw());
        let ski = ca_cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        let aki = leaf_cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            });
        assert!(ski.is_some());
        assert_eq!(aki, ski);
        // A CA key that is not the CA certificate's is refused.
        let other = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        assert!(bad(ca_signed(&key, &spec("CN=x"), &other, &ca_der)).contains("CA key"));
        // keyCertSign in a policy makes CA:true.
        let mut s = spec("CN=sub");
        s.key_usage = vec![KeyUsage::KeyCertSign];
        let der = self_signed(&other, &s).unwrap();
        assert!(parse_certificate(&der).unwrap().is_ca);
        // Chains come back leaf first whatever order they are given in.
        let chain = order_chain(&key, vec![ca_der.clone(), leaf.clone()]).unwrap();
        assert_eq!(chain, vec![leaf.clone(), ca_der.clone()]);
        assert!(bad(order_chain(&other, vec![leaf])).contains("none of the certificates"));
    }

    #[test]
    fn csrs_carry_the_key_and_the_requested_names() {
        use x509_parser::certification_request::X509CertificationRequest;
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P384)).unwrap();
        let der = csr(&key, &spec("CN=req, O=Contoso")).unwrap();
        let (rest, req) = X509CertificationRequest::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            format_name(&req.certification_request_info.subject),
            "CN=req, O=Contoso"
        );
        let exts: Vec<String> = req
            .requested_extensions()
            .into_iter()
            .flatten()
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(
            exts.iter().any(|e| e.contains("www.contoso.com")),
            "{exts:?}"
        );
        assert!(same_public_key(
            &csr_public_key(&der).unwrap(),
            &key.public_jwk()
        ));
        assert!(bad(csr_public_key(b"\x30\x00")).contains("PKCS#10"));
    }

    #[test]
    fn pkcs8_round_trips_for_every_curve_and_rsa() {
        for s in [
            KeySpec::Ec(CurveName::P256),
            KeySpec::Ec(CurveName::P384),
            KeySpec::Ec(CurveName::P521),
            KeySpec::Ec(CurveName::P256K),
            KeySpec::Rsa(2048),
        ] {
            let key = KeyMaterial::generate(s).unwrap();
            let der = key.to_pkcs8_der().unwrap();
            let back = KeyMaterial::from_pkcs8_der(der.expose()).unwrap();
            assert!(
                same_public_key(&back.public_jwk(), &key.public_jwk()),
                "{s:?}"
            );
            assert_eq!(back.to_pkcs8_der().unwrap(), der, "{s:?}");
        }
        assert!(bad(KeyMaterial::from_pkcs8_der(b"garbage")).contains("PKCS#8"));
    }

    #[test]
    fn pfx_round_trips_and_refuses_a_wrong_password() {
        let (ca_key, ca_der) = new_ca("CA", t("2026-01-01T00:00:00Z")).unwrap();
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let leaf = ca_signed(&key, &spec("CN=pfx"), &ca_key, &ca_der).unwrap();
        let chain = vec![leaf.clone(), ca_der.clone()];
        for password in [None, Some("s3cret")] {
            let pfx = to_pfx(&key, &chain, password).unwrap();
            let (back, certs) = from_pfx(pfx.expose(), password).unwrap();
            assert_eq!(certs, chain);
            assert_eq!(back.to_pkcs8_der().unwrap(), key.to_pkcs8_der().unwrap());
            assert!(!format!("{pfx:?}").contains(&hex::encode(&pfx.expose()[..8])));
        }
        let pfx = to_pfx(&key, &chain, Some("s3cret")).unwrap();
        for wrong in [None, Some("S3cret")] {
            assert!(bad(from_pfx(pfx.expose(), wrong)).contains("password"));
        }
        assert!(bad(from_pfx(b"not a pfx", None)).contains("PFX"));
        assert!(bad(to_pfx(&key, &[ca_der], None)).contains("not for the key"));
        assert!(bad(to_pfx(&key, &[], None)).contains("at least one"));
    }

    #[test]
    fn pem_is_pkcs8_then_leaf_first_and_reads_back() {
        let (ca_key, ca_der) = new_ca("CA", t("2026-01-01T00:00:00Z")).unwrap();
        let key = KeyMaterial::generate(KeySpec::Rsa(2048)).unwrap();
        let leaf = ca_signed(&key, &spec("CN=pem"), &ca_key, &ca_der).unwrap();
        let pem = to_pem(&key, &[leaf.clone(), ca_der.clone()]).unwrap();
        let text = pem.expose();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(text.lines().all(|l| l.len() <= 64));
        assert!(!format!("{pem:?}").contains("PRIVATE"));
        // Certificates first and in the wrong order: still read, leaf first.
        let key_block = &text[..text.find("-----BEGIN CERTIFICATE").unwrap()];
        let ca_block = chain_pem(&ca_der);
        let shuffled = format!("{ca_block}{}{key_block}", chain_pem(&leaf));
        let (back, certs) = from_pem(&shuffled).unwrap();
        assert_eq!(certs, vec![leaf.clone(), ca_der.clone()]);
        assert_eq!(back.to_pkcs8_der().unwrap(), key.to_pkcs8_der().unwrap());

        // PKCS#1 and SEC1 keys, as `openssl genrsa`/`ecparam` write them.
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_der(key.to_pkcs8_der().unwrap().expose())
            .unwrap()
            .to_pkcs1_der()
            .unwrap();
        let text = format!(
            "{}{}",
            block("RSA PRIVATE KEY", pkcs1.as_bytes()),
            chain_pem(&leaf)
        );
        assert!(from_pem(&text).is_ok());
        let ec = KeyMaterial::generate(KeySpec::Ec(CurveName::P384)).unwrap();
        let ec_leaf = self_signed(&ec, &spec("CN=ec")).unwrap();
        let KeyMaterial::Ec(inner) = &ec else {
            unreachable!()
        };
        let sec1 = p384::SecretKey::from_slice(inner.scalar().expose())
            .unwrap()
            .to_sec1_der()
            .unwrap();
        let text = format!(
            "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n{}{}",
            block("EC PRIVATE KEY", &sec1),
            chain_pem(&ec_leaf)
        );
        let (back, _) = from_pem(&text).unwrap();
        assert!(same_public_key(&back.public_jwk(), &ec.public_jwk()));

        // What is refused, and why.
        let encrypted = format!(
            "{}{}",
            block("ENCRYPTED PRIVATE KEY", b"x"),
            chain_pem(&leaf)
        );
        assert!(bad(from_pem(&encrypted)).contains("encrypted"));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(bad(from_pem(legacy)).contains("encrypted"));
        assert!(bad(from_pem(&chain_pem(&leaf))).contains("no private key"));
        assert!(bad(from_pem(key_block)).contains("no CERTIFICATE"));
        assert!(bad(from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n")).contains("END"));
        let other = format!("{key_block}{}", chain_pem(&ec_leaf));
        assert!(bad(from_pem(&other)).contains("none of the certificates"));
    }

    fn block(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn chain_pem(der: &[u8]) -> String {
        block("CERTIFICATE", der)
    }

    #[test]
    fn chains_read_from_pem_or_der() {
        let (_, ca) = new_ca("CA", t("2026-01-01T00:00:00Z")).unwrap();
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let leaf = self_signed(&key, &spec("CN=x")).unwrap();
        let pem = format!("{}{}", chain_pem(&leaf), chain_pem(&ca));
        assert_eq!(
            chain_from_pem_or_der(pem.as_bytes()).unwrap(),
            vec![leaf.clone(), ca.clone()]
        );
        assert_eq!(chain_from_pem_or_der(&leaf).unwrap(), vec![leaf.clone()]);
        assert!(bad(chain_from_pem_or_der(b"garbage")).contains("X.509"));
        assert!(
            bad(chain_from_pem_or_der(block("PRIVATE KEY", b"k").as_bytes()))
                .contains("CERTIFICATE")
        );
        let mut trailing = leaf.clone();
        trailing.push(0);
        assert!(bad(parse_certificate(&trailing)).contains("trailing"));
    }

    #[test]
    fn key_usages_use_key_vault_names() {
        let names: Vec<String> = KeyUsage::ALL
            .iter()
            .map(|u| serde_json::to_string(u).unwrap())
            .collect();
        assert_eq!(
            names.join(","),
            r#""digitalSignature","nonRepudiation","keyEncipherment","dataEncipherment","keyAgreement","keyCertSign","cRLSign","encipherOnly","decipherOnly""#
        );
        let back: KeyUsage = serde_json::from_str(r#""cRLSign""#).unwrap();
        assert_eq!(back, KeyUsage::CrlSign);
        // Every bit lands where x509-parser (an independent reader) expects it.
        let key = KeyMaterial::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        for usage in KeyUsage::ALL {
            let mut s = spec("CN=ku");
            s.key_usage = vec![usage];
            let der = self_signed(&key, &s).unwrap();
            assert_eq!(parse_certificate(&der).unwrap().key_usage, [usage]);
        }
    }

    #[test]
    fn debug_output_names_no_key_material() {
        let key = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let d = key.to_pkcs8_der().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("REDACTED") && !shown.contains(&hex::encode(d.expose())[..16]));
        assert!(CertificateKey::generate(KeySpec::Oct(256)).is_err());
    }
}
