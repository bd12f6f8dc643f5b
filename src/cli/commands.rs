//! What the vault, key, deleted-key and time-shift commands do: one or more calls through
//! the [`Client`], with bodies of the shared wire types, and what to print.
//!
//! Layer: faces (CLI). May import `api` (route table, bodies), the core's `crypto` and
//! `model` types, and `cli::{args, client, error, input, output}`; nothing imports it but
//! [`crate::cli`]. Invariant: a command names the route it calls ([`Op`]) and builds its
//! body as a wire type, so what it sends is what the server reads.

use std::path::Path;

use serde_json::Value;

use super::args::{
    DeletedCommand, KeyCommand, NewKeyOptions, OpOutput, OutputFormat, RotationPolicyCommand,
    TimeShiftArgs, VaultCommand,
};
use super::client::{read, Client, Status};
use super::error::CliError;
use super::input;
use super::output::{Printer, Shape};
use crate::api::*;
use crate::crypto::{Base64Url, SignatureAlgorithm};
use crate::model::Tags;

/// `localhsm vault ...`.
pub fn vault(c: &Client, p: &Printer, cmd: VaultCommand) -> Result<Status, CliError> {
    use VaultCommand as V;
    let (shape, answer) = match cmd {
        V::Create {
            name,
            kind,
            retention_days,
            purge_protection,
            enable_rbac_authorization,
        } => {
            let body = CreateVaultRequest {
                name,
                kind: Some(kind),
                retention_days,
                purge_protection: purge_protection.then_some(true),
                enable_rbac_authorization,
            };
            (Shape::Vault, c.call_with(Op::VaultCreate, &[], &body)?)
        }
        V::List { deleted: false } => (Shape::Vaults, c.call(Op::VaultList, &[])?),
        V::List { deleted: true } | V::ListDeleted => {
            (Shape::DeletedVaults, c.call(Op::DeletedVaultList, &[])?)
        }
        V::Show { name, deleted } => {
            let op = if deleted {
                Op::DeletedVaultGet
            } else {
                Op::VaultGet
            };
            (Shape::Vault, c.call(op, &[&name])?)
        }
        V::Update {
            name,
            purge_protection,
            access_log,
            log_retention_days,
            enable_rbac_authorization,
        } => {
            let body = UpdateVaultRequest {
                purge_protection: purge_protection.then_some(true),
                access_log: access_log.map(|on| on == "on"),
                log_retention_days,
                enable_rbac_authorization,
            };
            (Shape::Vault, c.call_with(Op::VaultUpdate, &[&name], &body)?)
        }
        V::Delete { name } => (Shape::Vault, c.call(Op::VaultDelete, &[&name])?),
        V::Recover { name } => (Shape::Vault, c.call(Op::VaultRecover, &[&name])?),
        V::Purge { name } => {
            c.call(Op::DeletedVaultPurge, &[&name])?;
            p.note(&format!("Purged vault {name}."));
            return Ok(Status::Done);
        }
    };
    p.show(shape, &answer);
    Ok(Status::Done)
}

/// `localhsm time-shift`.
pub fn time_shift(c: &Client, p: &Printer, a: TimeShiftArgs) -> Result<Status, CliError> {
    let body = TimeShiftRequest { seconds: a.seconds };
    p.show(Shape::TimeShift, &c.call_with(Op::TimeShift, &[], &body)?);
    Ok(Status::Done)
}

/// `localhsm deleted ...` for keys (`localhsm deleted --kind secret` is in `secrets`).
pub fn deleted(c: &Client, p: &Printer, cmd: DeletedCommand) -> Result<Status, CliError> {
    match cmd {
        DeletedCommand::List { max, .. } => {
            p.show(Shape::DeletedKeys, &c.list(Op::DeletedKeyList, &[], max)?)
        }
        DeletedCommand::Show { name, .. } => {
            p.show(Shape::Key, &c.call(Op::DeletedKeyGet, &[&name])?)
        }
        DeletedCommand::Recover { name, .. } => return key(c, p, KeyCommand::Recover { name }),
        DeletedCommand::Purge { name, .. } => return key(c, p, KeyCommand::Purge { name }),
    }
    Ok(Status::Done)
}

/// `localhsm key rotation-policy ...`.
fn rotation_policy(
    c: &Client,
    p: &Printer,
    cmd: RotationPolicyCommand,
) -> Result<Status, CliError> {
    let answer = match cmd {
        RotationPolicyCommand::Show { name } => c.call(Op::KeyGetRotationPolicy, &[&name])?,
        RotationPolicyCommand::Set {
            name,
            rotate_after,
            rotate_before_expiry,
            notify_before_expiry,
            expires_in,
            file,
            reset: _,
        } => {
            let body: KeyRotationPolicyWire = match file {
                Some(f) => serde_json::from_slice(&json_file(&f, "--file")?).map_err(|e| {
                    CliError::new(
                        format!("--file: {f} is not a rotation policy: {e}"),
                        "give Key Vault's JSON: {\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\": \"P90D\"}, \"action\": {\"type\": \"Rotate\"}}], \"attributes\": {\"expiryTime\": \"P1Y\"}}",
                    )
                })?,
                None => {
                    let action = |kind: &str, after: Option<String>, before: Option<String>| {
                        LifetimeActionWire {
                            trigger: Some(LifetimeTriggerWire {
                                time_after_create: after,
                                time_before_expiry: before,
                            }),
                            action: Some(LifetimeActionTypeWire {
                                action_type: Some(kind.to_string()),
                            }),
                        }
                    };
                    let mut actions = Vec::new();
                    if rotate_after.is_some() || rotate_before_expiry.is_some() {
                        actions.push(action("Rotate", rotate_after, rotate_before_expiry));
                    }
                    if notify_before_expiry.is_some() {
                        actions.push(action("Notify", None, notify_before_expiry));
                    }
                    KeyRotationPolicyWire {
                        id: None,
                        lifetime_actions: Some(actions),
                        attributes: Some(RotationPolicyAttributesWire {
                            expiry_time: expires_in,
                            ..RotationPolicyAttributesWire::default()
                        }),
                    }
                }
            };
            c.call_with(Op::KeyUpdateRotationPolicy, &[&name], &body)?
        }
    };
    p.show(Shape::RotationPolicy, &answer);
    Ok(Status::Done)
}

/// A JSON file's bytes (or stdin's, for `-`), checked to be JSON.
fn json_file(arg: &str, what: &str) -> Result<Vec<u8>, CliError> {
    let raw = if arg == "-" {
        input::bytes("-", what)?
    } else {
        input::file(Path::new(arg), what)?
    };
    serde_json::from_slice::<Value>(&raw).map_err(|e| {
        CliError::new(
            format!("{what}: {arg} is not JSON: {e}"),
            "give a JSON document",
        )
    })?;
    Ok(raw)
}

/// The `release_policy` of `--release-policy FILE [--immutable]`.
fn release_policy(
    file: Option<&str>,
    immutable: bool,
) -> Result<Option<KeyReleasePolicyWire>, CliError> {
    file.map(|f| {
        Ok(KeyReleasePolicyWire {
            content_type: None,
            immutable: Some(immutable),
            data: Some(Base64Url(json_file(f, "--release-policy")?)),
        })
    })
    .transpose()
}

/// The tags given as `--tag K=V` options; `None` when there are none.
fn tags(pairs: Vec<(String, String)>) -> Option<Tags> {
    (!pairs.is_empty()).then(|| pairs.into_iter().collect())
}

/// `attributes` of a new key.
fn new_key_attributes(o: &NewKeyOptions) -> Option<KeyAttributesWire> {
    Some(KeyAttributesWire {
        enabled: o.disabled.then_some(false),
        nbf: o.not_before,
        exp: o.expires,
        exportable: o.exportable.then_some(true),
        ..KeyAttributesWire::default()
    })
}

/// Prints an operation result, writing its `value` to `--out` if asked.
fn show_operation(
    p: &Printer,
    v: &Value,
    label: &'static str,
    out: &OpOutput,
) -> Result<Status, CliError> {
    if let Some(path) = &out.out {
        let result: KeyOperationResult = read(v)?;
        input::write_file(path, &result.value.0, label)?;
    }
    p.show(
        Shape::Operation {
            label,
            hex: out.hex,
        },
        v,
    );
    Ok(Status::Done)
}

/// The digest to sign or verify: the argument, or the hash of `--message-file`.
fn digest(
    alg: SignatureAlgorithm,
    arg: Option<&str>,
    message_file: Option<&Path>,
) -> Result<Base64Url, CliError> {
    let bytes = match (arg, message_file) {
        (_, Some(file)) => alg.hash().digest(&input::file(file, "--message-file")?),
        (Some(a), None) => input::bytes(a, "digest")?,
        (None, None) => return Err(CliError::bare("give a digest or --message-file")),
    };
    Ok(Base64Url(bytes))
}

/// The body of encrypt, decrypt, wrap and unwrap: the input `(argument, what it is)`, and
/// `--iv`, `--aad` and `--tag` where the command has them.
fn operation_body(
    alg: &str,
    (value, what): (&str, &str),
    [iv, aad, tag]: [Option<String>; 3],
) -> Result<KeyOperationsParameters, CliError> {
    let bytes = |arg: Option<String>, what| {
        Ok::<_, CliError>(input::opt_bytes(arg.as_deref(), what)?.map(Base64Url))
    };
    Ok(KeyOperationsParameters {
        alg: alg.to_string(),
        value: Base64Url(input::bytes(value, what)?),
        iv: bytes(iv, "--iv")?,
        aad: bytes(aad, "--aad")?,
        tag: bytes(tag, "--tag")?,
    })
}

/// `localhsm key encrypt|decrypt|wrap|unwrap`.
fn crypt(c: &Client, p: &Printer, cmd: KeyCommand) -> Result<Status, CliError> {
    use KeyCommand as K;
    let (op, label, name, version, output, body) = match cmd {
        K::Encrypt {
            name,
            alg,
            plaintext,
            iv,
            aad,
            version,
            output,
        } => {
            let body = operation_body(alg.as_str(), (&plaintext, "plaintext"), [iv, aad, None])?;
            (Op::KeyEncrypt, "ciphertext", name, version, output, body)
        }
        K::Decrypt {
            name,
            alg,
            ciphertext,
            iv,
            aad,
            tag,
            version,
            output,
        } => {
            let body = operation_body(alg.as_str(), (&ciphertext, "ciphertext"), [iv, aad, tag])?;
            (Op::KeyDecrypt, "plaintext", name, version, output, body)
        }
        K::Wrap {
            name,
            alg,
            key,
            version,
            output,
        } => {
            let body = operation_body(alg.as_str(), (&key, "key"), [None, None, None])?;
            (Op::KeyWrap, "wrapped key", name, version, output, body)
        }
        K::Unwrap {
            name,
            alg,
            wrapped,
            version,
            output,
        } => {
            let body = operation_body(alg.as_str(), (&wrapped, "wrapped key"), [None, None, None])?;
            (Op::KeyUnwrap, "key", name, version, output, body)
        }
        _ => {
            return Err(CliError::bare(
                "not an encrypt, decrypt, wrap or unwrap command",
            ))
        }
    };
    let version = version.unwrap_or_default();
    let answer = c.call_with(op, &[&name, &version], &body)?;
    show_operation(p, &answer, label, &output)
}

/// `localhsm key ...`.
pub fn key(c: &Client, p: &Printer, cmd: KeyCommand) -> Result<Status, CliError> {
    use KeyCommand as K;
    let version = |v: &Option<String>| v.clone().unwrap_or_default();
    let answer = match cmd {
        K::Create {
            name,
            kty,
            size,
            curve,
            ops,
            options,
        } => {
            let body = KeyCreateParameters {
                kty,
                key_size: size,
                public_exponent: None,
                key_ops: ops,
                attributes: new_key_attributes(&options),
                tags: tags(options.tags),
                crv: curve,
                release_policy: release_policy(
                    options.release_policy.as_deref(),
                    options.immutable,
                )?,
            };
            c.call_with(Op::KeyCreate, &[&name], &body)?
        }
        K::Import {
            name,
            jwk,
            hsm,
            options,
        } => {
            let body = KeyImportParameters {
                hsm: Some(hsm),
                key: input::jwk(&jwk)?,
                attributes: new_key_attributes(&options),
                tags: tags(options.tags),
                release_policy: release_policy(
                    options.release_policy.as_deref(),
                    options.immutable,
                )?,
            };
            c.call_with(Op::KeyImport, &[&name], &body)?
        }
        K::Get {
            name,
            version: Some(v),
        } => c.call(Op::KeyGetVersion, &[&name, &v])?,
        K::Get {
            name,
            version: None,
        } => c.call(Op::KeyGet, &[&name])?,
        K::List { max } => {
            p.show(Shape::Keys, &c.list(Op::KeyList, &[], max)?);
            return Ok(Status::Done);
        }
        K::Versions { name, max } => {
            p.show(
                Shape::Versions,
                &c.list(Op::KeyListVersions, &[&name], max)?,
            );
            return Ok(Status::Done);
        }
        K::Update {
            name,
            version,
            enable,
            disable,
            tags: tag_pairs,
            ops,
            not_before,
            expires,
            release_policy: policy_file,
            immutable,
        } => {
            let body = KeyUpdateParameters {
                key_ops: ops,
                attributes: Some(KeyAttributesWire {
                    enabled: (enable || disable).then_some(enable),
                    nbf: not_before,
                    exp: expires,
                    ..KeyAttributesWire::default()
                }),
                tags: tags(tag_pairs),
                release_policy: release_policy(policy_file.as_deref(), immutable)?,
            };
            match version {
                Some(v) => c.call_with(Op::KeyUpdateVersion, &[&name, &v], &body)?,
                None => c.call_with(Op::KeyUpdate, &[&name], &body)?,
            }
        }
        K::Rotate { name } => c.call(Op::KeyRotate, &[&name])?,
        K::RotationPolicy(cmd) => return rotation_policy(c, p, cmd),
        K::Delete { name } => c.call(Op::KeyDelete, &[&name])?,
        K::Recover { name } => c.call(Op::DeletedKeyRecover, &[&name])?,
        K::Purge { name } => {
            c.call(Op::DeletedKeyPurge, &[&name])?;
            p.note(&format!("Purged key {name}."));
            return Ok(Status::Done);
        }
        K::Backup { name, file } => {
            let v = c.call(Op::KeyBackup, &[&name])?;
            let blob: BlobValue = read(&v)?;
            input::write_file(&file, &blob.value.0, "the backup")?;
            match p.format {
                OutputFormat::Json => p.show(Shape::Key, &v),
                OutputFormat::Table => p.note(&format!(
                    "Wrote the backup of key {name} ({} bytes) to {}.",
                    blob.value.0.len(),
                    file.display()
                )),
            }
            return Ok(Status::Done);
        }
        K::Restore { file } => {
            let body = BlobValue {
                value: Base64Url(input::file(&file, "--file")?),
            };
            c.call_with(Op::KeyRestore, &[], &body)?
        }
        K::Sign {
            name,
            alg,
            digest: d,
            message_file,
            version: v,
            output,
        } => {
            let body = KeySignParameters {
                alg: alg.into(),
                value: digest(alg, d.as_deref(), message_file.as_deref())?,
            };
            let answer = c.call_with(Op::KeySign, &[&name, &version(&v)], &body)?;
            return show_operation(p, &answer, "signature", &output);
        }
        K::Verify {
            name,
            alg,
            digest: d,
            message_file,
            signature,
            version: v,
        } => {
            let body = KeyVerifyParameters {
                alg: alg.into(),
                digest: digest(alg, d.as_deref(), message_file.as_deref())?,
                value: Base64Url(input::bytes(&signature, "--signature")?),
            };
            let answer = c.call_with(Op::KeyVerify, &[&name, &version(&v)], &body)?;
            p.show(Shape::Verify, &answer);
            let verified: KeyVerifyResult = read(&answer)?;
            return Ok(if verified.value {
                Status::Done
            } else {
                Status::Negative
            });
        }
        cmd @ (K::Encrypt { .. } | K::Decrypt { .. } | K::Wrap { .. } | K::Unwrap { .. }) => {
            return crypt(c, p, cmd)
        }
    };
    p.show(Shape::Key, &answer);
    Ok(Status::Done)
}
