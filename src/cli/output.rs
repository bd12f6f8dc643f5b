//! Printing results: the REST JSON as it came (`--output json`), or readable tables. Tables
//! show only public fields; the server never sends private key material, and these views
//! would not print it if it did.
//!
//! Layer: faces (CLI). May import `rbac` (role names), the crypto encodings and
//! `cli::{args, dates}`. Command modules that lay out their own objects (certificates) use
//! [`Printer::show_with`] and the cell and layout helpers marked `pub(super)`. Invariant:
//! `--output json` prints the answer unchanged.

use serde_json::Value;

use super::args::OutputFormat;
use crate::clock::format_time;

/// What a JSON value is, so the table view knows how to lay it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A key bundle (or deleted key bundle).
    Key,
    /// `{"value": [key items]}` of `GET /keys`.
    Keys,
    /// `{"value": [key items]}` of `GET /keys/{name}/versions`.
    Versions,
    /// `{"value": [deleted key items]}`.
    DeletedKeys,
    /// A vault.
    Vault,
    /// `{"value": [vaults]}`.
    Vaults,
    /// `{"value": [deleted vaults]}`.
    DeletedVaults,
    /// A key operation result (`kid`, `value`, and `iv`/`tag`/`aad` for AES); `label`
    /// names `value`, `hex` adds hex lines.
    Operation {
        /// What `value` is (`signature`, `ciphertext`, ...).
        label: &'static str,
        /// Also print byte values as hex.
        hex: bool,
    },
    /// `{"value": bool}` of verify.
    Verify,
    /// The time-shift answer.
    TimeShift,
    /// A key's rotation policy.
    RotationPolicy,
    /// `{"value": [role assignments]}`.
    RoleAssignments,
    /// `{"value": [role definitions]}`.
    RoleDefinitions,
    /// `{"value": [access-log records]}`.
    AccessLog,
    /// The report of a customer-data deletion.
    CustomerDataDeletion,
    /// `{"value": [access policies]}` of a vault.
    AccessPolicies,
    /// A secret bundle (or deleted secret bundle); its value shows only if the command kept
    /// it in (`secret set --show-value`).
    Secret,
    /// `{"value": [secret items]}` of `GET /secrets`.
    Secrets,
    /// `{"value": [secret items]}` of `GET /secrets/{name}/versions`.
    SecretVersions,
    /// `{"value": [deleted secret items]}`.
    DeletedSecrets,
}

/// Prints results in one format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// The format.
    pub format: OutputFormat,
}

impl Printer {
    /// Prints `value`: pretty JSON, or the table view for `shape`.
    pub fn show(&self, shape: Shape, value: &Value) {
        print!("{}", self.render(shape, value));
    }

    /// Prints `value`: pretty JSON, or the table `view` lays out (for command modules that
    /// lay out their own objects, such as certificates).
    pub fn show_with(&self, value: &Value, view: impl FnOnce(&Value) -> String) {
        match self.format {
            OutputFormat::Json => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(value).unwrap_or_default()
                )
            }
            OutputFormat::Table => print!("{}", view(value)),
        }
    }

    /// Prints a confirmation for answers without a body (table mode only; JSON mode prints
    /// nothing, as the API returned nothing).
    pub fn note(&self, text: &str) {
        if self.format == OutputFormat::Table {
            println!("{text}");
        }
    }

    /// The text [`Printer::show`] prints.
    pub fn render(&self, shape: Shape, value: &Value) -> String {
        match self.format {
            OutputFormat::Json => {
                let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
                s.push('\n');
                s
            }
            OutputFormat::Table => table(shape, value),
        }
    }
}

fn table(shape: Shape, v: &Value) -> String {
    match shape {
        Shape::Key => key(v),
        Shape::Keys => list(v, "keys", &[&[KEY_NAME], &KEY_ITEM_COLUMNS]),
        Shape::Versions => list(v, "versions", &[&[KEY_VERSION], &KEY_ITEM_COLUMNS]),
        Shape::DeletedKeys => list(v, "deleted keys", &[&[KEY_NAME], &DELETED_COLUMNS, &[TAGS]]),
        Shape::Vault => vault(v),
        Shape::Vaults => list(v, "vaults", &[&VAULT_COLUMNS]),
        Shape::DeletedVaults => list(
            v,
            "deleted vaults",
            &[&VAULT_COLUMNS[..2], &VAULT_COLUMNS[3..4], &DELETED_COLUMNS],
        ),
        Shape::Operation { label, hex } => operation(v, label, hex),
        Shape::Secret => secret(v),
        Shape::Secrets => list(v, "secrets", &[&[SECRET_NAME], &SECRET_ITEM_COLUMNS]),
        Shape::SecretVersions => list(v, "versions", &[&[SECRET_VERSION], &SECRET_ITEM_COLUMNS]),
        Shape::DeletedSecrets => list(
            v,
            "deleted secrets",
            &[&[SECRET_NAME], &DELETED_COLUMNS, &[TAGS]],
        ),
        Shape::Verify => fields(&[(
            "valid",
            v.get("value")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        )]),
        Shape::RoleAssignments => list(v, "role assignments", &[&ROLE_ASSIGNMENT_COLUMNS]),
        Shape::RoleDefinitions => list(v, "role definitions", &[&ROLE_DEFINITION_COLUMNS]),
        Shape::AccessLog => list(v, "access-log records", &[&ACCESS_LOG_COLUMNS]),
        Shape::AccessPolicies => list(v, "access policies", &[&ACCESS_POLICY_COLUMNS]),
        Shape::CustomerDataDeletion => {
            let awaiting = |field: &str| -> String {
                let items: Vec<String> = v
                    .get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|k| {
                        format!(
                            "{}/{} (purged at {}: {})",
                            text(k.get("vault")),
                            text(k.get("name")),
                            date(k.get("scheduledPurgeDate")),
                            text(k.get("reason"))
                        )
                    })
                    .collect();
                if items.is_empty() {
                    "none".into()
                } else {
                    items.join("; ")
                }
            };
            fields(&[
                ("subject", text(v.get("subject"))),
                (
                    "role assignments removed",
                    names(v.get("roleAssignmentsRemoved")),
                ),
                (
                    "access policies removed",
                    names(v.get("accessPoliciesRemoved")),
                ),
                ("keys soft-deleted", names(v.get("keysDeleted"))),
                ("keys purged", names(v.get("keysPurged"))),
                ("keys awaiting purge", awaiting("keysAwaitingPurge")),
                ("secrets soft-deleted", names(v.get("secretsDeleted"))),
                ("secrets purged", names(v.get("secretsPurged"))),
                ("secrets awaiting purge", awaiting("secretsAwaitingPurge")),
                (
                    "access-log records redacted",
                    text(v.get("accessLogRecordsRedacted")),
                ),
            ])
        }
        Shape::RotationPolicy => rotation_policy(v),
        Shape::TimeShift => fields(&[
            ("now", date(v.get("now"))),
            ("offset seconds", text(v.get("offsetSeconds"))),
            ("purged keys", names(v.get("purgedKeys"))),
            ("purged secrets", names(v.get("purgedSecrets"))),
            ("purged vaults", names(v.get("purgedVaults"))),
            ("renewed certificates", names(v.get("renewedCertificates"))),
            ("rotated keys", names(v.get("rotatedKeys"))),
        ]),
    }
}

// ---- cells ----

/// A JSON scalar as text; `-` when absent.
pub(super) fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A JSON array of names as `a, b`; `none` when empty.
fn names(v: Option<&Value>) -> String {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| text(Some(x))).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Unix seconds as a UTC date; `-` when absent.
pub(super) fn date(v: Option<&Value>) -> String {
    v.and_then(Value::as_u64)
        .map(format_time)
        .unwrap_or_else(|| "-".into())
}

/// `k=v, k=v`, sorted; `-` when none.
pub(super) fn tags(v: Option<&Value>) -> String {
    let Some(map) = v.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "-".into();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.join(", ")
}

/// `(name, version)` from a key id `https://host/keys/{name}[/{version}]` (or a recovery id).
pub(super) fn kid_parts(v: Option<&Value>) -> (String, String) {
    let kid = v.and_then(Value::as_str).unwrap_or_default();
    let path = kid.split_once("://").map_or(kid, |(_, rest)| rest);
    let mut seg = path.split('/').skip(2);
    let name = seg.next().unwrap_or("-").to_string();
    let version = seg
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("-")
        .to_string();
    (name, version)
}

pub(super) fn attr<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get("attributes").and_then(|a| a.get(name))
}

// ---- layouts ----

/// `label: value` lines, labels padded to one width.
pub(super) fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    rows.iter()
        .map(|(l, v)| format!("{:<width$} {v}\n", format!("{l}:")))
        .collect()
}

/// Aligned columns with a header row; the last column is not padded.
fn columns(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A column: header and how to compute its cell from an item.
pub(super) type Column = (&'static str, fn(&Value) -> String);

const KEY_NAME: Column = ("NAME", |v| kid_parts(v.get("kid")).0);
const KEY_VERSION: Column = ("VERSION", |v| kid_parts(v.get("kid")).1);
const TAGS: Column = ("TAGS", |v| tags(v.get("tags")));

/// A key's or a version's columns after its name or version.
const KEY_ITEM_COLUMNS: [Column; 5] = [
    ("ENABLED", |v| text(attr(v, "enabled"))),
    ("CREATED", |v| date(attr(v, "created"))),
    ("UPDATED", |v| date(attr(v, "updated"))),
    ("EXPIRES", |v| date(attr(v, "exp"))),
    TAGS,
];

const SECRET_NAME: Column = ("NAME", |v| kid_parts(v.get("id")).0);
const SECRET_VERSION: Column = ("VERSION", |v| kid_parts(v.get("id")).1);

/// A secret's or a version's columns after its name or version: no value, ever.
const SECRET_ITEM_COLUMNS: [Column; 6] = [
    ("ENABLED", |v| text(attr(v, "enabled"))),
    ("CONTENT TYPE", |v| text(v.get("contentType"))),
    ("CREATED", |v| date(attr(v, "created"))),
    ("UPDATED", |v| date(attr(v, "updated"))),
    ("EXPIRES", |v| date(attr(v, "exp"))),
    TAGS,
];

/// When a deleted key or vault was deleted and will be purged.
const DELETED_COLUMNS: [Column; 2] = [
    ("DELETED", |v| date(v.get("deletedDate"))),
    ("SCHEDULED PURGE", |v| date(v.get("scheduledPurgeDate"))),
];

const VAULT_COLUMNS: [Column; 5] = [
    ("NAME", |v| text(v.get("name"))),
    ("KIND", |v| text(v.get("kind"))),
    ("RETENTION DAYS", |v| text(v.get("retentionDays"))),
    ("PURGE PROTECTION", |v| text(v.get("purgeProtection"))),
    ("CREATED", |v| date(v.get("created"))),
];

/// The last segment of a role definition id path.
fn role_name(v: Option<&Value>) -> String {
    let id = text(v);
    let guid = id.rsplit('/').next().unwrap_or_default();
    crate::rbac::role_definition(guid)
        .map(|r| r.name.to_string())
        .unwrap_or(id)
}

const ROLE_ASSIGNMENT_COLUMNS: [Column; 4] = [
    ("NAME", |v| text(v.get("name"))),
    ("ROLE", |v| {
        role_name(v.pointer("/properties/roleDefinitionId"))
    }),
    ("SCOPE", |v| text(v.pointer("/properties/scope"))),
    ("PRINCIPAL", |v| text(v.pointer("/properties/principalId"))),
];

const ROLE_DEFINITION_COLUMNS: [Column; 3] = [
    ("NAME", |v| text(v.pointer("/properties/roleName"))),
    ("ID", |v| text(v.get("name"))),
    ("DATA ACTIONS", |v| {
        v.pointer("/properties/permissions/0/dataActions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.trim_start_matches("Microsoft.KeyVault/managedHsm/"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }),
];

/// One family's permissions of an access policy, as `get, list`.
fn permissions(v: &Value, family: &str) -> String {
    names(v.pointer(&format!("/permissions/{family}")))
}

const ACCESS_POLICY_COLUMNS: [Column; 5] = [
    ("OBJECT ID", |v| text(v.get("objectId"))),
    ("TENANT", |v| text(v.get("tenantId"))),
    ("KEYS", |v| permissions(v, "keys")),
    ("SECRETS", |v| permissions(v, "secrets")),
    ("CERTIFICATES", |v| permissions(v, "certificates")),
];

const ACCESS_LOG_COLUMNS: [Column; 7] = [
    ("TIME", |v| date(v.get("timeUnix"))),
    ("OPERATION", |v| text(v.get("operationName"))),
    ("STATUS", |v| text(v.get("httpStatusCode"))),
    ("CALLER", |v| text(v.pointer("/identity/claim/oid"))),
    ("UPN", |v| text(v.pointer("/identity/claim/upn"))),
    ("IP", |v| text(v.get("callerIpAddress"))),
    ("RESOURCE", |v| text(v.get("resourceId"))),
];

/// A listing's items in columns, given as runs of columns in order.
pub(super) fn list(v: &Value, what: &str, runs: &[&[Column]]) -> String {
    let cols: Vec<&Column> = runs.iter().flat_map(|r| r.iter()).collect();
    let items = v
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if items.is_empty() {
        return format!("(no {what})\n");
    }
    let headers: Vec<&str> = cols.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| cols.iter().map(|(_, f)| f(item)).collect())
        .collect();
    columns(&headers, &rows)
}

fn key(v: &Value) -> String {
    let jwk = v.get("key").cloned().unwrap_or_default();
    let (name, version) = kid_parts(jwk.get("kid"));
    let mut rows = vec![
        ("name", name),
        ("version", version),
        ("kid", text(jwk.get("kid"))),
        ("kty", text(jwk.get("kty"))),
    ];
    if let Some(crv) = jwk.get("crv") {
        rows.push(("curve", text(Some(crv))));
    }
    if let Some(n) = jwk.get("n").and_then(Value::as_str) {
        let bits = crate::crypto::jwk::b64url_decode(n)
            .map(|b| {
                let lead = b.iter().take_while(|&&x| x == 0).count();
                (b.len() - lead) * 8
            })
            .unwrap_or(0);
        rows.push(("size", format!("{bits} bits")));
    }
    let ops = jwk
        .get("key_ops")
        .and_then(Value::as_array)
        .map(|ops| {
            ops.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "-".into());
    rows.push(("key_ops", ops));
    rows.extend([
        ("enabled", text(attr(v, "enabled"))),
        ("not before", date(attr(v, "nbf"))),
        ("expires", date(attr(v, "exp"))),
        ("created", date(attr(v, "created"))),
        ("updated", date(attr(v, "updated"))),
        ("exportable", text(attr(v, "exportable"))),
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
    if let Some(r) = v.get("release_policy") {
        let immutable = r.get("immutable") == Some(&Value::Bool(true));
        rows.push((
            "release policy",
            format!(
                "{}{}",
                text(r.get("contentType")),
                if immutable { ", immutable" } else { "" }
            ),
        ));
    }
    if v.get("deletedDate").is_some() {
        rows.extend([
            ("deleted", date(v.get("deletedDate"))),
            ("scheduled purge", date(v.get("scheduledPurgeDate"))),
            ("recovery id", text(v.get("recoveryId"))),
        ]);
    }
    fields(&rows)
}

/// A rotation policy: one line per lifetime action, then how long versions live.
fn rotation_policy(v: &Value) -> String {
    let mut rows = vec![("id", text(v.get("id")))];
    for a in v
        .get("lifetimeActions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let trigger = a.get("trigger");
        let when = match (
            trigger.and_then(|t| t.get("timeAfterCreate")),
            trigger.and_then(|t| t.get("timeBeforeExpiry")),
        ) {
            (Some(after), _) => format!("{} after creation", text(Some(after))),
            (None, Some(before)) => format!("{} before expiry", text(Some(before))),
            (None, None) => "-".into(),
        };
        let kind = text(a.get("action").and_then(|x| x.get("type")));
        rows.push(("action", format!("{kind}, {when}")));
    }
    let attributes = v.get("attributes");
    rows.extend([
        (
            "versions expire",
            match attributes.and_then(|a| a.get("expiryTime")) {
                Some(e) => format!("{} after creation", text(Some(e))),
                None => "- (only as each version says)".into(),
            },
        ),
        ("created", date(attributes.and_then(|a| a.get("created")))),
        ("updated", date(attributes.and_then(|a| a.get("updated")))),
    ]);
    fields(&rows)
}

fn secret(v: &Value) -> String {
    let (name, version) = kid_parts(v.get("id"));
    let mut rows = vec![
        ("name", name),
        ("version", version),
        ("id", text(v.get("id"))),
        ("content type", text(v.get("contentType"))),
        ("enabled", text(attr(v, "enabled"))),
        ("not before", date(attr(v, "nbf"))),
        ("expires", date(attr(v, "exp"))),
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
    ];
    if v.get("managed").is_some() {
        rows.push(("managed", text(v.get("managed"))));
    }
    if v.get("deletedDate").is_some() {
        rows.extend([
            ("deleted", date(v.get("deletedDate"))),
            ("scheduled purge", date(v.get("scheduledPurgeDate"))),
            ("recovery id", text(v.get("recoveryId"))),
        ]);
    }
    if let Some(value) = v.get("value") {
        rows.push(("value", text(Some(value))));
    }
    fields(&rows)
}

fn vault(v: &Value) -> String {
    let mut rows = vec![
        ("name", text(v.get("name"))),
        ("kind", text(v.get("kind"))),
        ("retention days", text(v.get("retentionDays"))),
        ("purge protection", text(v.get("purgeProtection"))),
        (
            "permission model",
            match v.get("enableRbacAuthorization").and_then(Value::as_bool) {
                Some(false) => "access policies".into(),
                _ => "role assignments (RBAC)".into(),
            },
        ),
        ("recovery level", text(v.get("recoveryLevel"))),
        ("created", date(v.get("created"))),
    ];
    if v.get("deletedDate").is_some() {
        rows.extend([
            ("deleted", date(v.get("deletedDate"))),
            ("scheduled purge", date(v.get("scheduledPurgeDate"))),
        ]);
    }
    fields(&rows)
}

fn operation(v: &Value, label: &'static str, hex: bool) -> String {
    let mut rows = vec![("kid", text(v.get("kid")))];
    for (field, name) in [
        ("value", label),
        ("iv", "iv"),
        ("tag", "tag"),
        ("aad", "aad"),
    ] {
        let Some(b64) = v.get(field).and_then(Value::as_str) else {
            continue;
        };
        rows.push((name, b64.to_string()));
        if hex {
            let h = crate::crypto::jwk::b64url_decode(b64)
                .map(hex::encode)
                .unwrap_or_else(|_| "-".into());
            rows.push((hex_label(name), h));
        }
    }
    fields(&rows)
}

fn hex_label(name: &str) -> &'static str {
    match name {
        "signature" => "signature (hex)",
        "ciphertext" => "ciphertext (hex)",
        "plaintext" => "plaintext (hex)",
        "wrapped key" => "wrapped key (hex)",
        "key" => "key (hex)",
        "iv" => "iv (hex)",
        "tag" => "tag (hex)",
        "aad" => "aad (hex)",
        _ => "hex",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table_of(shape: Shape, v: Value) -> String {
        Printer {
            format: OutputFormat::Table,
        }
        .render(shape, &v)
    }

    #[test]
    fn key_table_shows_public_fields_only() {
        let out = table_of(
            Shape::Key,
            json!({
                "key": {"kid": "https://localhost/keys/k1/abc", "kty": "EC-HSM", "crv": "P-256",
                        "key_ops": ["sign", "verify"], "x": "AA", "y": "AA", "d": "SECRET"},
                "attributes": {"enabled": true, "created": 0, "updated": 86400,
                               "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
                "tags": {"b": "2", "a": "1"}
            }),
        );
        assert!(out.contains("name:"), "{out}");
        assert!(out.contains("k1"));
        assert!(
            out.lines()
                .any(|l| l.starts_with("version:") && l.ends_with(" abc")),
            "{out}"
        );
        assert!(out.contains("sign, verify"));
        assert!(out.contains("1970-01-02 00:00:00"));
        assert!(out.contains("a=1, b=2"));
        assert!(!out.contains("SECRET"));
    }

    #[test]
    fn lists_are_aligned_columns() {
        let out = table_of(
            Shape::Keys,
            json!({"value": [
                {"kid": "https://localhost/keys/short", "attributes": {"enabled": true, "created": 0, "updated": 0}},
                {"kid": "https://localhost/keys/a-longer-name", "attributes": {"enabled": false, "created": 0, "updated": 0}, "tags": {"k": "v"}}
            ]}),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("ENABLED").unwrap();
        assert_eq!(lines[1].find("true"), Some(col));
        assert_eq!(lines[2].find("false"), Some(col));
        assert!(lines[2].ends_with("k=v"));
        assert_eq!(table_of(Shape::Keys, json!({"value": []})), "(no keys)\n");
    }

    #[test]
    fn operations_print_base64url_and_optionally_hex() {
        let v = json!({"kid": "https://localhost/keys/k/v", "value": "AP8"});
        let plain = table_of(
            Shape::Operation {
                label: "signature",
                hex: false,
            },
            v.clone(),
        );
        assert!(plain.contains("signature: AP8"));
        assert!(!plain.contains("00ff"));
        let with_hex = table_of(
            Shape::Operation {
                label: "signature",
                hex: true,
            },
            v,
        );
        assert!(with_hex.contains("signature (hex): 00ff"), "{with_hex}");
    }

    #[test]
    fn json_is_the_value_itself() {
        let v = json!({"value": true});
        let out = Printer {
            format: OutputFormat::Json,
        }
        .render(Shape::Verify, &v);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
    }
}
