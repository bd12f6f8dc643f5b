//! `localhsm cert` and `localhsm deleted --kind certificate`: Key Vault certificates, their
//! policies, pending operations, contacts and issuers, through the same REST client as every
//! other command. Its grammar is in [`grammar`], beside what it does.
//!
//! Layer: faces (CLI). May import `api` (route table, certificate and secret bodies), the
//! core's `crypto` (X.509 parsing, PFX and PEM conversion of a downloaded secret, zeroizing
//! types) and `model` (the policy types), and `cli::{args, client, error, input, output}`;
//! `args` names [`grammar::CertCommand`], and [`crate::cli`] dispatches here.
//!
//! Invariants: as in `commands`, every call is a row of the route table with a wire-type
//! body; a private key reaches a file only from `cert download --format pfx|pem-with-key`
//! (written owner-only); an import password is read from a file or stdin unless `--password
//! TEXT` is given, and is never printed.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::Value;
use zeroize::{Zeroize as _, Zeroizing};

use super::args::{DeletedCommand, OutputFormat};
use super::client::{read, Client, Status};
use super::error::CliError;
use super::input;
use super::output::{attr, date, fields, kid_parts, list, tags, text, Column, Printer};
use crate::api::{
    Base64Bytes, BlobValue, CertificateAttributesWire, CertificateBundleWire,
    CertificateCreateParameters, CertificateImportParameters, CertificateMergeParameters,
    CertificateOperationUpdateParameter, CertificateOperationWire, CertificateUpdateParameters,
    ContactsWire, IssuerAttributesWire, IssuerCredentialsWire, IssuerParametersWire, Op,
    SecretBundleWire,
};
use crate::crypto::x509::{chain_from_pem_or_der, parse_certificate, CertificateKey};
use crate::crypto::{Base64Url, CurveName, SecretString};
use crate::model::certificates::{
    CertificateKeyProperties, CertificatePolicy, CertificateSecretProperties, Contact,
    IssuerParameters, OperationStatus, OrganizationDetails, SubjectAlternativeNames,
    X509Properties, CONTENT_TYPE_PEM, ISSUER_UNKNOWN,
};
use crate::model::Tags;

pub mod grammar;

use grammar::{
    usage_name, CertCommand, ContactsCommand, ContentKind, DownloadFormat, IssuerCommand,
    IssuerSettings, NewSettings, PolicyCommand, PolicyFlags, EKU_NAMES,
};

/// Standard base64: written padded, read with or without padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The largest certificate file (PFX, PEM, chain) the CLI reads: far above any real one.
const MAX_FILE_BYTES: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------
// Inputs

/// Reads a certificate file (PFX, PEM, chain, policy), at most [`MAX_FILE_BYTES`], into a
/// buffer that is cleared when dropped (it may hold a private key).
fn read_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::new(
            format!("{what}: cannot read {}: {e}", path.display()),
            "check the path and that you may read the file",
        )
    })?;
    let mut buf = Zeroizing::new(Vec::with_capacity(16 * 1024));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::bare(format!("{what}: cannot read {}: {e}", path.display())))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(CliError::bare(format!(
            "{what}: {} is larger than {} KiB; is it the right file?",
            path.display(),
            MAX_FILE_BYTES / 1024
        )));
    }
    Ok(buf)
}

/// Whether `bytes` is PEM text.
fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(10).any(|w| w == b"-----BEGIN")
}

/// A policy read from Key Vault's JSON: the policy itself, a certificate bundle holding one
/// (`{"policy": {...}}`), or the Azure CLI's form (`keyProperties`, `x509CertificateProperties`,
/// ...). Read-only members (`id`, dates) are dropped.
fn policy_file(path: &Path, what: &str) -> Result<CertificatePolicy, CliError> {
    let raw = read_file(path, what)?;
    let shown = path.display();
    let hint = "give Key Vault's certificate policy JSON, e.g. {\"x509_props\": {\"subject\": \
                \"CN=example.com\"}, \"key_props\": {\"kty\": \"EC\", \"crv\": \"P-256\"}}; \
                `localhsm cert policy get NAME --output json` prints one";
    let mut v: Value = serde_json::from_slice(&raw)
        .map_err(|e| CliError::new(format!("{what}: {shown} is not JSON: {e}"), hint))?;
    if let Some(inner) = v.get_mut("policy").map(Value::take) {
        v = inner;
    }
    let mut v = az_to_rest(v);
    let Some(map) = v.as_object_mut() else {
        return Err(CliError::new(
            format!("{what}: {shown} is not a JSON object"),
            hint,
        ));
    };
    map.remove("id");
    if let Some(attrs) = map.get_mut("attributes").and_then(Value::as_object_mut) {
        attrs.retain(|k, _| k == "enabled");
    }
    const MEMBERS: [&str; 6] = [
        "key_props",
        "secret_props",
        "x509_props",
        "lifetime_actions",
        "issuer",
        "attributes",
    ];
    if let Some(unknown) = map.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(CliError::new(
            format!(
                "{what}: {shown}: {unknown:?} is not a member of a certificate policy ({})",
                MEMBERS.join(", ")
            ),
            hint,
        ));
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        CliError::new(
            format!("{what}: {shown}: member '{}': {}", e.path(), e.inner()),
            hint,
        )
    })
}

/// Renames the Azure CLI's policy members (camelCase, long names) to Key Vault's REST names;
/// REST-form JSON passes unchanged.
fn az_to_rest(v: Value) -> Value {
    const NAMES: [(&str, &str); 17] = [
        ("issuerParameters", "issuer"),
        ("keyProperties", "key_props"),
        ("secretProperties", "secret_props"),
        ("x509CertificateProperties", "x509_props"),
        ("lifetimeActions", "lifetime_actions"),
        ("keyType", "kty"),
        ("keySize", "key_size"),
        ("reuseKey", "reuse_key"),
        ("curve", "crv"),
        ("subjectAlternativeNames", "sans"),
        ("dnsNames", "dns_names"),
        ("keyUsage", "key_usage"),
        ("validityInMonths", "validity_months"),
        ("certificateType", "cty"),
        ("certificateTransparency", "cert_transparency"),
        ("lifetimePercentage", "lifetime_percentage"),
        ("daysBeforeExpiry", "days_before_expiry"),
    ];
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "actionType" => "action_type".to_string(),
                        _ => NAMES
                            .iter()
                            .find(|(az, _)| *az == k)
                            .map_or(k, |(_, rest)| rest.to_string()),
                    };
                    (k, az_to_rest(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(az_to_rest).collect()),
        other => other,
    }
}

/// The policy of `base` (a file's, or none) with the flags' values in it.
fn policy(mut p: CertificatePolicy, f: &PolicyFlags) -> CertificatePolicy {
    if f.kty.is_some()
        || f.curve.is_some()
        || f.size.is_some()
        || f.not_exportable
        || f.exportable
        || f.reuse_key.is_some()
    {
        let kp = p
            .key_props
            .get_or_insert_with(CertificateKeyProperties::default);
        if let Some(kty) = f.kty {
            kp.kty = Some(kty);
        }
        if f.curve.is_some() {
            kp.crv = f.curve;
        }
        if f.size.is_some() {
            kp.key_size = f.size;
        }
        if f.not_exportable || f.exportable {
            kp.exportable = Some(f.exportable);
        }
        if f.reuse_key.is_some() {
            kp.reuse_key = f.reuse_key;
        }
    }
    if let Some(kind) = f.content_type {
        p.secret_props = Some(CertificateSecretProperties {
            content_type: Some(kind.mime().to_string()),
        });
    }
    let sans = !(f.dns.is_empty() && f.emails.is_empty() && f.upns.is_empty());
    if f.subject.is_some()
        || sans
        || f.validity_months.is_some()
        || !f.key_usage.is_empty()
        || !f.ekus.is_empty()
    {
        let xp = p.x509_props.get_or_insert_with(X509Properties::default);
        if f.subject.is_some() {
            xp.subject = f.subject.clone();
        }
        if sans {
            let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
            xp.sans = Some(SubjectAlternativeNames {
                emails: list(&f.emails),
                dns_names: list(&f.dns),
                upns: list(&f.upns),
            });
        }
        if f.validity_months.is_some() {
            xp.validity_months = f.validity_months;
        }
        if !f.key_usage.is_empty() {
            xp.key_usage = Some(f.key_usage.clone());
        }
        if !f.ekus.is_empty() {
            xp.ekus = Some(f.ekus.clone());
        }
    }
    if let Some(issuer) = &f.issuer {
        p.issuer.get_or_insert_with(IssuerParameters::default).name = Some(issuer.clone());
    }
    p
}

/// Tags from `--tag` pairs; `None` when there are none.
fn tag_map(pairs: &[(String, String)]) -> Option<Tags> {
    (!pairs.is_empty()).then(|| pairs.iter().cloned().collect())
}

/// `attributes` of a new version: only a disabled one needs saying.
fn new_attributes(s: &NewSettings) -> Option<CertificateAttributesWire> {
    s.disabled.then(|| CertificateAttributesWire {
        enabled: Some(false),
        ..CertificateAttributesWire::default()
    })
}

/// The import password: from a file, from stdin (`-`, asked for without echo on a
/// terminal), or the argument itself. One trailing newline is dropped.
fn password(file: Option<&Path>, arg: Option<&str>) -> Result<Option<SecretString>, CliError> {
    let mut raw = match (file, arg) {
        (Some(path), _) => read_file(path, "--password-file")?,
        (None, Some("-")) => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                prompt_password()?
            } else {
                let mut buf = Zeroizing::new(Vec::with_capacity(1024));
                stdin
                    .lock()
                    .take(64 * 1024)
                    .read_to_end(&mut buf)
                    .map_err(|e| CliError::bare(format!("--password: cannot read stdin: {e}")))?;
                buf
            }
        }
        (None, Some(text)) => Zeroizing::new(text.as_bytes().to_vec()),
        (None, None) => return Ok(None),
    };
    if raw.last() == Some(&b'\n') {
        raw.pop();
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
    }
    let text = std::str::from_utf8(&raw).map_err(|_| {
        CliError::new(
            "the PFX password is not UTF-8 text",
            "give the password as text in a file (--password-file) or on stdin (--password -)",
        )
    })?;
    Ok(Some(SecretString::from(text)))
}

/// Asks for the password on the terminal with echo off (through `stty`), and turns echo back
/// on whatever happens.
fn prompt_password() -> Result<Zeroizing<Vec<u8>>, CliError> {
    struct Echo;
    impl Drop for Echo {
        fn drop(&mut self) {
            let _ = std::process::Command::new("stty")
                .arg("echo")
                .stdin(std::process::Stdio::inherit())
                .status();
            eprintln!();
        }
    }
    let off = std::process::Command::new("stty")
        .arg("-echo")
        .stdin(std::process::Stdio::inherit())
        .status();
    if !off.is_ok_and(|s| s.success()) {
        return Err(CliError::new(
            "cannot turn off the terminal's echo to ask for the password",
            "give it with --password-file FILE, or pipe it: printf '%s' \"$PW\" | localhsm cert \
             import NAME --file F --password -",
        ));
    }
    let _echo = Echo;
    eprint!("PFX password: ");
    let _ = std::io::stderr().flush();
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::bare(format!("--password: cannot read the terminal: {e}")))?;
    Ok(Zeroizing::new(line.as_bytes().to_vec()))
}

/// Splits concatenated DER certificates (SEQUENCEs, one after another).
fn split_der(mut input: &[u8]) -> Result<Vec<Vec<u8>>, CliError> {
    let bad = || {
        CliError::new(
            "--chain: the file is neither PEM nor DER certificates",
            "give the signed certificate and its chain as PEM (CERTIFICATE blocks, the signed \
             one first) or DER",
        )
    };
    let mut out = Vec::new();
    while !input.is_empty() {
        if input.len() < 2 || input[0] != 0x30 {
            return Err(bad());
        }
        let (len, header) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n @ 0x81..=0x84 => {
                let count = usize::from(n & 0x7f);
                let bytes = input.get(2..2 + count).ok_or_else(bad)?;
                let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
                (len, 2 + count)
            }
            _ => return Err(bad()),
        };
        let end = header.checked_add(len).ok_or_else(bad)?;
        let der = input.get(..end).ok_or_else(bad)?;
        out.push(der.to_vec());
        input = &input[end..];
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The chain of `--chain FILE`: PEM certificates, or DER ones, each a valid certificate.
fn chain_file(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let raw = read_file(path, "--chain")?;
    let not_a_cert = |e: crate::Error| {
        CliError::new(
            format!("--chain: {}: {e}", path.display()),
            "give the certificate your CA signed (then its chain), PEM or DER",
        )
    };
    let chain = if looks_like_pem(&raw) {
        chain_from_pem_or_der(&raw).map_err(not_a_cert)?
    } else {
        split_der(&raw)?
    };
    for der in &chain {
        parse_certificate(der).map_err(not_a_cert)?;
    }
    Ok(chain)
}

// ---------------------------------------------------------------------------------------
// Outputs

/// PEM text of `der` under `label`, lines of 64 characters.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes `bytes` to `out`, or to stdout when there is no `out` (text, or a pipe for
/// binary); `private` files are created readable by their owner only.
fn write_out(
    out: Option<&Path>,
    bytes: &[u8],
    binary: bool,
    private: bool,
) -> Result<(), CliError> {
    let Some(path) = out else {
        let stdout = std::io::stdout();
        if binary && stdout.is_terminal() {
            return Err(CliError::new(
                "this format is binary and stdout is a terminal",
                "write it to a file with --out FILE, or pipe it",
            ));
        }
        let mut lock = stdout.lock();
        return lock
            .write_all(bytes)
            .and_then(|()| lock.flush())
            .map_err(|e| CliError::bare(format!("cannot write to stdout: {e}")));
    };
    if !private {
        return input::write_file(path, bytes, "the certificate");
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        // An existing file keeps its mode on open: narrow it before writing the key.
        if path.exists() {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
        .map_err(|e| {
            CliError::new(
                format!("cannot write the private key to {}: {e}", path.display()),
                "check that the directory exists and that you may write to it",
            )
        })
}

/// The last segment of an id (`https://host/certificates/issuers/NAME` → `NAME`).
fn last_segment(v: Option<&Value>) -> String {
    let id = v.and_then(Value::as_str).unwrap_or_default();
    id.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("-")
        .to_string()
}

/// A base64url `x5t` as upper-case hex, as certificate stores show thumbprints.
fn thumbprint(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .and_then(|s| crate::crypto::jwk::b64url_decode(s).ok())
        .map(hex::encode_upper)
        .unwrap_or_else(|| "-".into())
}

/// The `cer` of an answer, decoded.
fn cer(v: &Value) -> Option<Vec<u8>> {
    v.get("cer")
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
}

fn joined(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn eku_name(oid: &str) -> String {
    EKU_NAMES
        .iter()
        .find(|(_, o)| *o == oid)
        .map_or_else(|| oid.to_string(), |(n, _)| format!("{n} ({oid})"))
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// `EC P-256` / `RSA 2048` from a policy's `key_props`, with exportability.
fn key_summary(kp: Option<&Value>) -> String {
    let Some(kp) = kp else { return "-".into() };
    let kty = text(kp.get("kty"));
    let detail = kp
        .get("crv")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            kp.get("key_size")
                .map(|s| format!("{} bits", text(Some(s))))
        })
        .unwrap_or_default();
    let exportable = match kp.get("exportable").and_then(Value::as_bool) {
        Some(false) => ", not exportable",
        Some(true) => ", exportable",
        None => "",
    };
    format!("{kty} {detail}{exportable}").replace("  ", " ")
}

/// The table view of a certificate bundle (or a deleted one).
fn certificate_view(v: &Value) -> String {
    let (name, version) = kid_parts(v.get("id"));
    let policy = v.get("policy");
    let mut rows = vec![
        ("name", name.clone()),
        ("version", version),
        ("id", text(v.get("id"))),
    ];
    match cer(v).map(|der| parse_certificate(&der)) {
        Some(Ok(c)) => {
            let issuer_name = policy
                .and_then(|p| p.pointer("/issuer/name"))
                .and_then(Value::as_str);
            rows.extend([
                ("subject", c.subject.clone()),
                (
                    "issuer",
                    match issuer_name {
                        Some(n) => format!("{} (issuer {n})", c.issuer),
                        None => c.issuer.clone(),
                    },
                ),
                ("dns names", joined(c.dns_names.clone())),
                ("emails", joined(c.emails.clone())),
                ("upns", joined(c.upns.clone())),
                ("thumbprint", hex::encode_upper(&c.x5t)),
                ("serial", c.serial_hex.clone()),
                ("not before", crate::clock::format_time(c.not_before)),
                ("expires", crate::clock::format_time(c.not_after)),
                (
                    "key usage",
                    joined(c.key_usage.iter().map(|u| usage_name(*u).to_string())),
                ),
                ("ekus", joined(c.ekus.iter().map(|o| eku_name(o)))),
            ]);
        }
        Some(Err(e)) => rows.push(("certificate", format!("unreadable: {e}"))),
        None => {
            rows.extend([
                (
                    "subject",
                    text(policy.and_then(|p| p.pointer("/x509_props/subject"))),
                ),
                (
                    "status",
                    format!("pending: not issued yet (`localhsm cert pending {name}` shows why)"),
                ),
            ]);
        }
    }
    rows.extend([
        ("key", key_summary(policy.and_then(|p| p.get("key_props")))),
        ("content type", text(v.get("contentType"))),
        ("kid", text(v.get("kid"))),
        ("sid", text(v.get("sid"))),
        ("enabled", text(attr(v, "enabled"))),
        ("created", date(attr(v, "created"))),
        ("updated", date(attr(v, "updated"))),
        (
            "recovery",
            format!(
                "{} ({} days)",
                text(attr(v, "recoveryLevel")),
                text(attr(v, "recoverableDays"))
            ),
        ),
        ("tags", tags(v.get("tags"))),
    ]);
    if v.get("deletedDate").is_some() {
        rows.extend([
            ("deleted", date(v.get("deletedDate"))),
            ("scheduled purge", date(v.get("scheduledPurgeDate"))),
            ("recovery id", text(v.get("recoveryId"))),
        ]);
    }
    fields(&rows)
}

/// The table view of a policy.
fn policy_view(p: &Value) -> String {
    let xp = p.get("x509_props");
    let get = |path: &str| p.pointer(path);
    let actions: Vec<String> = p
        .get("lifetime_actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let what = text(a.pointer("/action/action_type"));
            match (
                a.pointer("/trigger/lifetime_percentage"),
                a.pointer("/trigger/days_before_expiry"),
            ) {
                (Some(pc), _) => format!("{what} at {}% of the lifetime", text(Some(pc))),
                (_, Some(d)) => format!("{what} {} days before expiry", text(Some(d))),
                _ => what,
            }
        })
        .collect();
    fields(&[
        ("issuer", text(get("/issuer/name"))),
        ("subject", text(xp.and_then(|x| x.get("subject")))),
        (
            "dns names",
            joined(str_list(get("/x509_props/sans/dns_names"))),
        ),
        ("emails", joined(str_list(get("/x509_props/sans/emails")))),
        ("upns", joined(str_list(get("/x509_props/sans/upns")))),
        ("key", key_summary(p.get("key_props"))),
        ("reuse key", text(get("/key_props/reuse_key"))),
        ("content type", text(get("/secret_props/contentType"))),
        ("key usage", joined(str_list(get("/x509_props/key_usage")))),
        (
            "ekus",
            joined(
                str_list(get("/x509_props/ekus"))
                    .iter()
                    .map(|o| eku_name(o)),
            ),
        ),
        ("validity months", text(get("/x509_props/validity_months"))),
        ("lifetime actions", joined(actions)),
        ("enabled", text(get("/attributes/enabled"))),
        ("updated", date(get("/attributes/updated"))),
    ])
}

/// The table view of a pending operation.
fn operation_view(v: &Value) -> String {
    let (name, _) = kid_parts(v.get("id"));
    let mut rows = vec![
        ("name", name),
        ("status", text(v.get("status"))),
        ("details", text(v.get("status_details"))),
        ("issuer", text(v.pointer("/issuer/name"))),
        (
            "cancellation requested",
            text(v.get("cancellation_requested")),
        ),
    ];
    if let Some(e) = v.get("error") {
        rows.push((
            "error",
            format!("{}: {}", text(e.get("code")), text(e.get("message"))),
        ));
    }
    if v.get("csr").is_some() {
        rows.push(("csr", "present (--csr-out FILE writes it)".into()));
    }
    if v.get("target").is_some() {
        rows.push(("certificate", text(v.get("target"))));
    }
    fields(&rows)
}

fn contacts_view(v: &Value) -> String {
    const COLUMNS: [Column; 3] = [
        ("EMAIL", |c| text(c.get("email"))),
        ("NAME", |c| text(c.get("name"))),
        ("PHONE", |c| text(c.get("phone"))),
    ];
    let items = serde_json::json!({ "value": v.get("contacts").cloned().unwrap_or_default() });
    list(&items, "certificate contacts", &[&COLUMNS])
}

fn issuer_view(v: &Value) -> String {
    let admins: Vec<String> = v
        .pointer("/org_details/admin_details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let part = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
            let mut s = format!("{} {}", part("first_name"), part("last_name"))
                .trim()
                .to_string();
            if !part("email").is_empty() {
                s = format!("{s} <{}>", part("email")).trim().to_string();
            }
            if !part("phone").is_empty() {
                s = format!("{s} {}", part("phone")).trim().to_string();
            }
            s
        })
        .collect();
    fields(&[
        ("name", last_segment(v.get("id"))),
        ("id", text(v.get("id"))),
        ("provider", text(v.get("provider"))),
        ("account id", text(v.pointer("/credentials/account_id"))),
        ("organization id", text(v.pointer("/org_details/id"))),
        ("administrators", joined(admins)),
        ("enabled", text(attr(v, "enabled"))),
        ("created", date(attr(v, "created"))),
        ("updated", date(attr(v, "updated"))),
    ])
}

const CERT_NAME: Column = ("NAME", |v| kid_parts(v.get("id")).0);
const CERT_VERSION: Column = ("VERSION", |v| kid_parts(v.get("id")).1);

/// A certificate's or a version's columns after its name or version.
const CERT_ITEM_COLUMNS: [Column; 5] = [
    ("THUMBPRINT", |v| match v.get("x5t") {
        Some(t) => thumbprint(Some(t)),
        None => "(pending)".into(),
    }),
    ("ENABLED", |v| text(attr(v, "enabled"))),
    ("NOT BEFORE", |v| date(attr(v, "nbf"))),
    ("EXPIRES", |v| date(attr(v, "exp"))),
    ("TAGS", |v| tags(v.get("tags"))),
];

const DELETED_CERT_COLUMNS: [Column; 4] = [
    CERT_NAME,
    ("DELETED", |v| date(v.get("deletedDate"))),
    ("SCHEDULED PURGE", |v| date(v.get("scheduledPurgeDate"))),
    ("TAGS", |v| tags(v.get("tags"))),
];

const ISSUER_COLUMNS: [Column; 2] = [
    ("NAME", |v| last_segment(v.get("id"))),
    ("PROVIDER", |v| text(v.get("provider"))),
];

// ---------------------------------------------------------------------------------------
// Commands

/// `localhsm cert ...`.
pub fn cert(c: &Client, p: &Printer, cmd: CertCommand) -> Result<Status, CliError> {
    use CertCommand as C;
    match cmd {
        C::Create {
            name,
            policy_file: file,
            policy: flags,
            settings,
            csr_out,
            timeout,
        } => create(c, p, &name, (file, flags), &settings, csr_out, timeout)?,
        C::Merge {
            name,
            chain,
            settings,
        } => {
            let body = CertificateMergeParameters {
                x5c: chain_file(&chain)?.into_iter().map(Base64Bytes).collect(),
                attributes: new_attributes(&settings),
                tags: tag_map(&settings.tags),
            };
            let v = c.call_with(Op::CertificateMerge, &[&name], &body)?;
            p.show_with(&v, certificate_view);
        }
        C::Import {
            name,
            file,
            password_file,
            password: pwd,
            content_type,
            not_exportable,
            policy_file: pf,
            settings,
        } => import(
            c,
            p,
            &name,
            (&file, content_type),
            password(password_file.as_deref(), pwd.as_ref().map(|p| p.0.as_str()))?,
            (pf, not_exportable),
            &settings,
        )?,
        C::Get { name, version } => {
            let v = get(c, &name, version.as_deref())?;
            p.show_with(&v, certificate_view);
        }
        C::Download {
            name,
            version,
            format,
            out,
        } => download(c, p, &name, version.as_deref(), format, out.as_deref())?,
        C::List {
            include_pending,
            max,
        } => {
            let query: &[(&str, &str)] = if include_pending {
                &[("includePending", "true")]
            } else {
                &[]
            };
            let v = c.list_query(Op::CertificateList, &[], query, max)?;
            p.show_with(&v, |v| {
                list(v, "certificates", &[&[CERT_NAME], &CERT_ITEM_COLUMNS])
            });
        }
        C::Versions { name, max } => {
            let v = c.list(Op::CertificateListVersions, &[&name], max)?;
            p.show_with(&v, |v| {
                list(v, "versions", &[&[CERT_VERSION], &CERT_ITEM_COLUMNS])
            });
        }
        C::Update {
            name,
            version,
            enabled,
            tags: pairs,
        } => {
            let body = CertificateUpdateParameters {
                policy: None,
                attributes: enabled.map(|e| CertificateAttributesWire {
                    enabled: Some(e),
                    ..CertificateAttributesWire::default()
                }),
                tags: tag_map(&pairs),
            };
            let v = match &version {
                Some(ver) => c.call_with(Op::CertificateUpdateVersion, &[&name, ver], &body)?,
                None => c.call_with(Op::CertificateUpdate, &[&name], &body)?,
            };
            p.show_with(&v, certificate_view);
        }
        C::Pending {
            name,
            csr_out,
            cancel,
            delete,
        } => {
            let v = if cancel {
                let body = CertificateOperationUpdateParameter {
                    cancellation_requested: true,
                };
                c.call_with(Op::OperationUpdate, &[&name], &body)?
            } else if delete {
                c.call(Op::OperationDelete, &[&name])?
            } else {
                c.call(Op::OperationGet, &[&name])?
            };
            if let Some(path) = &csr_out {
                let op: CertificateOperationWire = read(&v)?;
                let csr = op.csr.ok_or_else(|| {
                    CliError::bare(format!(
                        "certificate {name}'s operation has no CSR (only --issuer Unknown \
                         certificates have one)"
                    ))
                })?;
                write_out(
                    Some(path),
                    pem("CERTIFICATE REQUEST", &csr.0).as_bytes(),
                    false,
                    false,
                )?;
            }
            p.show_with(&v, operation_view);
        }
        C::Policy(PolicyCommand::Get { name }) => {
            p.show_with(&c.call(Op::PolicyGet, &[&name])?, policy_view);
        }
        C::Policy(PolicyCommand::Set {
            name,
            file,
            policy: flags,
        }) => {
            let base = match &file {
                Some(f) => policy_file(f, "--file")?,
                None => CertificatePolicy::default(),
            };
            if file.is_none() && flags.is_empty() {
                return Err(CliError::new(
                    "nothing to change",
                    "give --file FILE or policy flags (`localhsm cert policy set --help`)",
                ));
            }
            let body = policy(base, &flags);
            p.show_with(
                &c.call_with(Op::PolicyUpdate, &[&name], &body)?,
                policy_view,
            );
        }
        C::Delete { name } => {
            p.show_with(&c.call(Op::CertificateDelete, &[&name])?, certificate_view)
        }
        C::Recover { name } => p.show_with(
            &c.call(Op::DeletedCertificateRecover, &[&name])?,
            certificate_view,
        ),
        C::Purge { name } => {
            c.call(Op::DeletedCertificatePurge, &[&name])?;
            p.note(&format!(
                "Purged certificate {name} with its key and secret."
            ));
        }
        C::Backup { name, file } => {
            let v = c.call(Op::CertificateBackup, &[&name])?;
            let blob: BlobValue = read(&v)?;
            input::write_file(&file, &blob.value.0, "the backup")?;
            match p.format {
                // Sealed under the store's master key: not a value to hide.
                OutputFormat::Json => p.show_with(&v, |_| String::new()),
                OutputFormat::Table => p.note(&format!(
                    "Wrote the backup of certificate {name} ({} bytes) to {}.",
                    blob.value.0.len(),
                    file.display()
                )),
            }
        }
        C::Restore { file } => {
            let body = BlobValue {
                value: Base64Url(input::file(&file, "--file")?),
            };
            p.show_with(
                &c.call_with(Op::CertificateRestore, &[], &body)?,
                certificate_view,
            );
        }
        C::Contacts(cmd) => contacts(c, p, cmd)?,
        C::Issuer(cmd) => issuer(c, p, cmd)?,
    }
    Ok(Status::Done)
}

/// `localhsm deleted ... --kind certificate`.
pub fn deleted(c: &Client, p: &Printer, cmd: DeletedCommand) -> Result<Status, CliError> {
    match cmd {
        DeletedCommand::List { max, .. } => {
            let v = c.list(Op::DeletedCertificateList, &[], max)?;
            p.show_with(&v, |v| {
                list(v, "deleted certificates", &[&DELETED_CERT_COLUMNS])
            });
            Ok(Status::Done)
        }
        DeletedCommand::Show { name, .. } => {
            let v = c.call(Op::DeletedCertificateGet, &[&name])?;
            p.show_with(&v, certificate_view);
            Ok(Status::Done)
        }
        DeletedCommand::Recover { name, .. } => cert(c, p, CertCommand::Recover { name }),
        DeletedCommand::Purge { name, .. } => cert(c, p, CertCommand::Purge { name }),
    }
}

fn get(c: &Client, name: &str, version: Option<&str>) -> Result<Value, CliError> {
    match version {
        Some(ver) => c.call(Op::CertificateGetVersion, &[name, ver]),
        None => c.call(Op::CertificateGet, &[name]),
    }
}

/// `cert create`: create, then wait for the operation, or hand out the CSR.
fn create(
    c: &Client,
    p: &Printer,
    name: &str,
    (file, flags): (Option<PathBuf>, PolicyFlags),
    settings: &NewSettings,
    csr_out: Option<PathBuf>,
    timeout: u64,
) -> Result<(), CliError> {
    let given = file.is_some() || !flags.is_empty();
    let base = match &file {
        Some(f) => policy_file(f, "--policy")?,
        None => CertificatePolicy::default(),
    };
    let body = CertificateCreateParameters {
        policy: Some(policy(base, &flags)),
        attributes: new_attributes(settings),
        tags: tag_map(&settings.tags),
        preserve_cert_order: None,
    };
    let created = c
        .call_with(Op::CertificateCreate, &[name], &body)
        .map_err(|mut e| {
            if !given && e.code.as_deref() == Some("BadParameter") {
                e.hint = Some(format!(
                    "a new certificate needs a policy: at least --subject \"CN={name}\" or --dns \
                     NAME (or --policy FILE); `localhsm cert create --help` has examples"
                ));
            }
            e
        })?;
    let op: CertificateOperationWire = read(&created)?;
    let issuer = op.issuer.name.clone().unwrap_or_default();
    if issuer.eq_ignore_ascii_case(ISSUER_UNKNOWN) {
        return hand_out_csr(p, name, &created, op, csr_out.as_deref());
    }
    let done = wait(c, name, Duration::from_secs(timeout))?;
    let op: CertificateOperationWire = read(&done)?;
    match op.status {
        OperationStatus::Completed => {
            let v = c.call(Op::CertificateGet, &[name])?;
            p.show_with(&v, certificate_view);
            Ok(())
        }
        OperationStatus::InProgress => Err(CliError::new(
            format!("certificate {name} was not issued within {timeout} seconds"),
            format!(
                "`localhsm cert pending {name}` shows where it stands; give a longer --timeout"
            ),
        )),
        OperationStatus::Cancelled => Err(CliError::bare(format!(
            "the creation of certificate {name} was cancelled"
        ))),
        OperationStatus::Failed => Err(CliError::new(
            format!(
                "the creation of certificate {name} failed: {}",
                op.error
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .or(op.status_details)
                    .unwrap_or_else(|| "no reason given".into())
            ),
            format!("`localhsm cert policy get {name}` shows the policy it was made from"),
        )),
    }
}

/// Polls the pending operation until it is no longer in progress, or `timeout` passes.
fn wait(c: &Client, name: &str, timeout: Duration) -> Result<Value, CliError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(250);
    loop {
        let v = c.call(Op::OperationGet, &[name])?;
        let status: OperationStatus = read(v.get("status").unwrap_or(&Value::Null))?;
        if status != OperationStatus::InProgress || Instant::now() >= deadline {
            return Ok(v);
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// With issuer Unknown: the CSR, to stdout (PEM) or `--csr-out`, and what to do next.
fn hand_out_csr(
    p: &Printer,
    name: &str,
    answer: &Value,
    op: CertificateOperationWire,
    csr_out: Option<&Path>,
) -> Result<(), CliError> {
    let csr = op.csr.ok_or_else(|| {
        CliError::new(
            format!("certificate {name} is pending, but the server sent no CSR"),
            format!("`localhsm cert pending {name} --csr-out FILE` fetches it"),
        )
    })?;
    let text = pem("CERTIFICATE REQUEST", &csr.0);
    let next = format!(
        "Certificate {name} is pending. Have your CA sign the CSR, then: \
         localhsm cert merge {name} --chain SIGNED.pem"
    );
    if let Some(path) = csr_out {
        write_out(Some(path), text.as_bytes(), false, false)?;
    }
    match (p.format, csr_out) {
        (OutputFormat::Json, _) => p.show_with(answer, |_| String::new()),
        (OutputFormat::Table, Some(path)) => {
            p.note(&format!("Wrote the CSR to {}.\n{next}", path.display()))
        }
        (OutputFormat::Table, None) => {
            // The PEM alone on stdout, so `> req.csr` captures just the request.
            print!("{text}");
            eprintln!("{next}");
        }
    }
    Ok(())
}

/// `cert import`.
fn import(
    c: &Client,
    p: &Printer,
    name: &str,
    (file, forced): (&Path, Option<ContentKind>),
    pwd: Option<SecretString>,
    (policy_path, not_exportable): (Option<PathBuf>, bool),
    settings: &NewSettings,
) -> Result<(), CliError> {
    let raw = read_file(file, "--file")?;
    let kind = forced.unwrap_or(if looks_like_pem(&raw) {
        ContentKind::Pem
    } else {
        ContentKind::Pfx
    });
    let value = match kind {
        ContentKind::Pem => {
            if pwd.is_some() {
                return Err(CliError::new(
                    "a password applies to PFX files, and this is PEM",
                    "PEM must hold an unencrypted private key: `openssl pkcs8 -topk8 -nocrypt \
                     -in KEY.pem` writes one",
                ));
            }
            let text = std::str::from_utf8(&raw).map_err(|_| {
                CliError::new(
                    format!("--file: {} is not PEM text", file.display()),
                    "give a PFX (binary) or PEM (text) file; --content-type pfx|pem says which",
                )
            })?;
            SecretString::from(text)
        }
        ContentKind::Pfx => {
            // Key Vault's own exports (and `az`) give a PFX as base64 text: take that too.
            let compact: Zeroizing<Vec<u8>> = Zeroizing::new(
                raw.iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect(),
            );
            let decoded = (raw.first() != Some(&0x30))
                .then(|| B64.decode(&*compact).ok().map(Zeroizing::new))
                .flatten();
            let der: &[u8] = decoded.as_deref().map_or(&raw[..], |d| &d[..]);
            if der.first() != Some(&0x30) {
                return Err(CliError::new(
                    format!("--file: {} is neither a PFX nor PEM", file.display()),
                    "give a PFX (PKCS#12, .pfx/.p12) or PEM with the private key and the \
                     certificate",
                ));
            }
            let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
            B64.encode_string(der, &mut b64);
            SecretString::new(b64)
        }
    };
    let mut policy = match &policy_path {
        Some(f) => Some(policy_file(f, "--policy")?),
        None => None,
    };
    if not_exportable {
        policy
            .get_or_insert_with(CertificatePolicy::default)
            .key_props
            .get_or_insert_with(CertificateKeyProperties::default)
            .exportable = Some(false);
    }
    // The content type tells the server how to read the value; it must say PEM for PEM.
    if kind == ContentKind::Pem || policy.is_some() {
        policy
            .get_or_insert_with(CertificatePolicy::default)
            .secret_props = Some(CertificateSecretProperties {
            content_type: Some(kind.mime().to_string()),
        });
    }
    let body = CertificateImportParameters {
        value,
        pwd,
        policy,
        attributes: new_attributes(settings),
        tags: tag_map(&settings.tags),
        preserve_cert_order: None,
    };
    let v = c.call_with(Op::CertificateImport, &[name], &body)?;
    p.show_with(&v, certificate_view);
    Ok(())
}

/// A signature algorithm for the certificate's key, for hints.
fn sign_alg(kp: Option<&CertificateKeyProperties>) -> &'static str {
    match kp.and_then(|k| k.kty).map(|k| k.family()) {
        Some(crate::crypto::KeyFamily::Rsa) => "RS256",
        _ => match kp.and_then(|k| k.crv) {
            Some(CurveName::P384) => "ES384",
            Some(CurveName::P521) => "ES512",
            _ => "ES256",
        },
    }
}

/// `cert download`.
fn download(
    c: &Client,
    p: &Printer,
    name: &str,
    version: Option<&str>,
    format: DownloadFormat,
    out: Option<&Path>,
) -> Result<(), CliError> {
    let v = get(c, name, version)?;
    let bundle: CertificateBundleWire = read(&v)?;
    let Some(der) = bundle.cer.map(|c| c.0) else {
        return Err(CliError::new(
            format!("certificate {name} is pending: there is no certificate to download yet"),
            format!(
                "merge the signed certificate with `localhsm cert merge {name} --chain FILE`; \
                 `localhsm cert pending {name}` shows the request"
            ),
        ));
    };
    let (_, ver) = kid_parts(Some(&Value::String(bundle.id.clone())));
    let alg = sign_alg(
        bundle
            .policy
            .as_ref()
            .and_then(|p| p.policy.key_props.as_ref()),
    );
    let (bytes, binary, private, what): (Zeroizing<Vec<u8>>, bool, bool, &str) = match format {
        DownloadFormat::Pem => (
            Zeroizing::new(pem("CERTIFICATE", &der).into_bytes()),
            false,
            false,
            "PEM",
        ),
        DownloadFormat::Der => (Zeroizing::new(der), true, false, "DER"),
        DownloadFormat::Pfx | DownloadFormat::PemWithKey => {
            let (value, content_type) = secret(c, name, &ver, alg)?;
            let is_pem = content_type
                .as_deref()
                .is_some_and(|ct| ct.eq_ignore_ascii_case(CONTENT_TYPE_PEM));
            let bad = |e: crate::Error| {
                CliError::new(
                    format!("certificate {name}'s secret cannot be read as a key and chain: {e}"),
                    "is the server the same localhsm version as this CLI?",
                )
            };
            if format == DownloadFormat::Pfx {
                let pfx =
                    if is_pem {
                        let (key, chain) = CertificateKey::from_pem(value.expose()).map_err(bad)?;
                        key.to_pfx(&chain, None).map_err(bad)?
                    } else {
                        let compact: Zeroizing<String> = Zeroizing::new(
                            value
                                .expose()
                                .chars()
                                .filter(|ch| !ch.is_ascii_whitespace())
                                .collect(),
                        );
                        crate::crypto::SecretBytes::new(B64.decode(compact.as_bytes()).map_err(
                            |_| bad(crate::Error::bad_parameter("the PFX is not base64")),
                        )?)
                    };
                (
                    Zeroizing::new(pfx.expose().to_vec()),
                    true,
                    true,
                    "a PFX with the private key",
                )
            } else {
                let text = if is_pem {
                    value
                } else {
                    let compact: Zeroizing<String> = Zeroizing::new(
                        value
                            .expose()
                            .chars()
                            .filter(|ch| !ch.is_ascii_whitespace())
                            .collect(),
                    );
                    let pfx =
                        Zeroizing::new(B64.decode(compact.as_bytes()).map_err(|_| {
                            bad(crate::Error::bad_parameter("the PFX is not base64"))
                        })?);
                    let (key, chain) = CertificateKey::from_pfx(&pfx, None).map_err(bad)?;
                    key.to_pem(&chain).map_err(bad)?
                };
                (
                    Zeroizing::new(text.expose().as_bytes().to_vec()),
                    false,
                    true,
                    "PEM with the private key",
                )
            }
        }
    };
    write_out(out, &bytes, binary, private)?;
    if let Some(path) = out {
        p.note(&format!(
            "Wrote certificate {name} as {what} to {}.",
            path.display()
        ));
    }
    Ok(())
}

/// The value and content type of certificate `name`'s secret, version `version`; a key
/// that is not exportable is said so in the CLI's words.
fn secret(
    c: &Client,
    name: &str,
    version: &str,
    alg: &str,
) -> Result<(SecretString, Option<String>), CliError> {
    let mut v = c
        .call(Op::SecretGetVersion, &[name, version])
        .map_err(|e| match e.code.as_deref() {
            Some("KeyNotExportable") => CliError::new(
                format!(
                    "certificate {name} was created with a non-exportable key: its private key \
                     never leaves the vault, so there is no PFX or PEM with the key to download"
                ),
                format!(
                    "`localhsm cert download {name} --format pem` (or der) writes the \
                     certificate alone; the key works inside the vault, e.g. \
                     `localhsm key sign {name} --alg {alg} --message-file FILE`"
                ),
            ),
            Some("SecretDisabled") => CliError::new(
                format!("certificate {name} (this version) is disabled"),
                format!("enable it with `localhsm cert update {name} --enabled true`"),
            ),
            _ => e,
        })?;
    let bundle: Result<SecretBundleWire, _> = read(&v);
    if let Some(Value::String(mut s)) = v.as_object_mut().and_then(|m| m.remove("value")) {
        s.zeroize();
    }
    let bundle = bundle?;
    let value = bundle.value.ok_or_else(|| {
        CliError::new(
            "the server's answer carries no secret value",
            "is the server the same localhsm version as this CLI?",
        )
    })?;
    Ok((value, bundle.content_type))
}

/// `cert contacts ...`.
fn contacts(c: &Client, p: &Printer, cmd: ContactsCommand) -> Result<(), CliError> {
    let v = match cmd {
        ContactsCommand::Set { contacts, file } => {
            let list = match file {
                Some(f) => {
                    let raw = read_file(&f, "--file")?;
                    let v: Value = serde_json::from_slice(&raw).map_err(|e| {
                        CliError::new(
                            format!("--file: {} is not JSON: {e}", f.display()),
                            "give {\"contacts\": [{\"email\": ..., \"name\": ..., \"phone\": ...}]}",
                        )
                    })?;
                    let items = v.get("contacts").cloned().unwrap_or(v);
                    serde_json::from_value::<Vec<Contact>>(items).map_err(|e| {
                        CliError::new(
                            format!("--file: {}: {e}", f.display()),
                            "give {\"contacts\": [{\"email\": ..., \"name\": ..., \"phone\": ...}]}",
                        )
                    })?
                }
                None => contacts,
            };
            let body = ContactsWire {
                id: None,
                contacts: Some(list),
            };
            c.call_with(Op::ContactsSet, &[], &body)?
        }
        ContactsCommand::Get => c.call(Op::ContactsGet, &[])?,
        ContactsCommand::Delete => {
            let v = c.call(Op::ContactsDelete, &[])?;
            if p.format == OutputFormat::Table {
                p.note("Deleted the vault's certificate contacts:");
            }
            v
        }
    };
    p.show_with(&v, contacts_view);
    Ok(())
}

/// The body of `cert issuer create|update`.
fn issuer_body(
    provider: Option<String>,
    s: IssuerSettings,
    enabled: Option<bool>,
) -> IssuerParametersWire {
    let org = (s.org_id.is_some() || !s.admins.is_empty()).then(|| OrganizationDetails {
        id: s.org_id,
        admin_details: (!s.admins.is_empty()).then_some(s.admins),
    });
    IssuerParametersWire {
        provider,
        credentials: s.account_id.map(|a| IssuerCredentialsWire {
            account_id: Some(a),
            pwd: None,
        }),
        org_details: org,
        attributes: enabled.map(|e| IssuerAttributesWire {
            enabled: Some(e),
            ..IssuerAttributesWire::default()
        }),
    }
}

/// `cert issuer ...`.
fn issuer(c: &Client, p: &Printer, cmd: IssuerCommand) -> Result<(), CliError> {
    use IssuerCommand as I;
    let v = match cmd {
        I::Create {
            name,
            provider,
            settings,
            disabled,
        } => {
            let body = issuer_body(Some(provider), settings, disabled.then_some(false));
            c.call_with(Op::IssuerSet, &[&name], &body)?
        }
        I::Update {
            name,
            provider,
            settings,
            enabled,
        } => c.call_with(
            Op::IssuerUpdate,
            &[&name],
            &issuer_body(provider, settings, enabled),
        )?,
        I::Get { name } => c.call(Op::IssuerGet, &[&name])?,
        I::Delete { name } => c.call(Op::IssuerDelete, &[&name])?,
        I::List => {
            let v = c.list(Op::IssuerList, &[], None)?;
            p.show_with(&v, |v| list(v, "certificate issuers", &[&ISSUER_COLUMNS]));
            return Ok(());
        }
    };
    p.show_with(&v, issuer_view);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::grammar::{parse_admin, parse_contact, parse_eku, parse_key_usage};
    use super::*;
    use crate::crypto::x509::KeyUsage;
    use crate::crypto::KeyType;

    #[test]
    fn policy_flags_fill_key_vault_fields() {
        let flags = PolicyFlags {
            subject: Some("CN=a".into()),
            dns: vec!["a.example".into(), "b.example".into()],
            kty: Some(KeyType::Ec),
            curve: Some(CurveName::P384),
            not_exportable: true,
            content_type: Some(ContentKind::Pem),
            issuer: Some("Unknown".into()),
            key_usage: vec![KeyUsage::DigitalSignature],
            ekus: vec![parse_eku("serverAuth").unwrap()],
            validity_months: Some(3),
            ..PolicyFlags::default()
        };
        let p = serde_json::to_value(policy(CertificatePolicy::default(), &flags)).unwrap();
        assert_eq!(
            p,
            serde_json::json!({
                "key_props": {"kty": "EC", "crv": "P-384", "exportable": false},
                "secret_props": {"contentType": "application/x-pem-file"},
                "x509_props": {"subject": "CN=a", "sans": {"dns_names": ["a.example", "b.example"]},
                    "key_usage": ["digitalSignature"], "ekus": ["1.3.6.1.5.5.7.3.1"],
                    "validity_months": 3},
                "issuer": {"name": "Unknown"}
            })
        );
        // No flags: the file's policy unchanged.
        let base = CertificatePolicy {
            issuer: Some(IssuerParameters {
                name: Some("Self".into()),
                ..IssuerParameters::default()
            }),
            ..CertificatePolicy::default()
        };
        assert_eq!(policy(base.clone(), &PolicyFlags::default()), base);
        assert!(PolicyFlags::default().is_empty() && !flags.is_empty());
    }

    #[test]
    fn az_cli_policies_read_as_rest_ones() {
        let az = serde_json::json!({
            "issuerParameters": {"certificateTransparency": null, "name": "Self"},
            "keyProperties": {"curve": null, "exportable": true, "keySize": 2048, "keyType": "RSA", "reuseKey": true},
            "lifetimeActions": [{"action": {"actionType": "AutoRenew"}, "trigger": {"daysBeforeExpiry": 90}}],
            "secretProperties": {"contentType": "application/x-pkcs12"},
            "x509CertificateProperties": {"keyUsage": ["cRLSign", "digitalSignature"],
                "subject": "CN=CLIGetDefaultPolicy", "validityInMonths": 12,
                "subjectAlternativeNames": {"dnsNames": ["x.example"]}}
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, az.to_string()).unwrap();
        let p = policy_file(&path, "--policy").unwrap();
        let kp = p.key_props.unwrap();
        assert_eq!(
            (kp.kty, kp.key_size, kp.reuse_key),
            (Some(KeyType::Rsa), Some(2048), Some(true))
        );
        let xp = p.x509_props.unwrap();
        assert_eq!(xp.subject.as_deref(), Some("CN=CLIGetDefaultPolicy"));
        assert_eq!(
            xp.sans.unwrap().dns_names.unwrap(),
            vec!["x.example".to_string()]
        );
        assert_eq!(
            p.lifetime_actions.unwrap()[0].trigger.days_before_expiry,
            Some(90)
        );
        // A certificate bundle's policy, with its read-only id and dates.
        let bundle = serde_json::json!({"policy": {"id": "https://h/certificates/c/policy",
            "issuer": {"name": "Unknown"}, "attributes": {"enabled": true, "created": 1, "updated": 2}}});
        std::fs::write(&path, bundle.to_string()).unwrap();
        let p = policy_file(&path, "--policy").unwrap();
        assert_eq!(p.issuer.unwrap().name.as_deref(), Some("Unknown"));
        assert_eq!(p.attributes.unwrap().created, None);
        // Something else is named, not silently ignored.
        std::fs::write(&path, r#"{"subject": "CN=a"}"#).unwrap();
        let e = policy_file(&path, "--policy").unwrap_err();
        assert!(e.message.contains("\"subject\" is not a member"), "{e}");
    }

    #[test]
    fn contacts_admins_usages_and_ekus_parse() {
        assert_eq!(
            parse_contact("a@b.c").unwrap(),
            Contact {
                email: Some("a@b.c".into()),
                ..Contact::default()
            }
        );
        assert_eq!(
            parse_contact("email=a@b.c, name=Ops Team,phone=555").unwrap(),
            Contact {
                email: Some("a@b.c".into()),
                name: Some("Ops Team".into()),
                phone: Some("555".into()),
            }
        );
        assert!(parse_contact("mail=x,fax=1")
            .unwrap_err()
            .contains("unknown field \"fax\""));
        let a = parse_admin("first=Jane,Last_Name=Doe,email=j@d").unwrap();
        assert_eq!(
            (a.first_name.as_deref(), a.last_name.as_deref(), a.phone),
            (Some("Jane"), Some("Doe"), None)
        );
        assert_eq!(parse_key_usage("crlsign").unwrap(), KeyUsage::CrlSign);
        assert!(parse_key_usage("signEverything").is_err());
        assert_eq!(parse_eku("codesigning").unwrap(), "1.3.6.1.5.5.7.3.3");
        assert_eq!(parse_eku("1.2.3").unwrap(), "1.2.3");
        assert!(parse_eku("1..2").is_err() && parse_eku("anything").is_err());
    }

    #[test]
    fn passwords_given_as_arguments_stay_out_of_debug() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from([
            "localhsm",
            "cert",
            "import",
            "c",
            "--file",
            "f.pfx",
            "--password",
            "hunter2",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            shown.contains("Import") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn der_chains_split_and_pem_wraps() {
        let a = [0x30, 0x03, 1, 2, 3];
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let joined: Vec<u8> = a.iter().chain(long.iter()).copied().collect();
        assert_eq!(split_der(&joined).unwrap(), vec![a.to_vec(), long.clone()]);
        assert!(split_der(&[0x30, 0x05, 1]).is_err());
        assert!(split_der(b"hello").is_err());
        let text = pem("CERTIFICATE", &[0u8; 60]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
    }
}
