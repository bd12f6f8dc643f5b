//! `localhsm secret` and `localhsm deleted --kind secret`: Key Vault secrets through the same
//! REST client as every other command.
//!
//! Layer: faces (CLI). May import `api` (route table, secret bodies), the core's `crypto`
//! (`SecretString`) and `model` (Key Vault's value limit), and `cli::{args, client, error,
//! input, output}`; nothing imports it but [`crate::cli`]. Invariants: as in `commands`,
//! every call is a row of the route table with a wire-type body; a value reaches stdout only
//! from `secret get` and `secret set --show-value`, and never reaches stderr. So that `set`
//! does not echo what it was given, its answer is printed without `value` (in JSON too, the
//! one place where `--output json` is not the answer unchanged).

use std::io::{IsTerminal as _, Read, Write as _};
use std::path::Path;

use serde_json::Value;
use zeroize::{Zeroize as _, Zeroizing};

use super::args::{DeletedCommand, OutputFormat, SecretCommand, SecretSettings};
use super::client::{read, Client, Status};
use super::error::CliError;
use super::input;
use super::output::{Printer, Shape};
use crate::api::{
    BlobValue, Op, SecretAttributesWire, SecretBundleWire, SecretSetParameters,
    SecretUpdateParameters,
};
use crate::crypto::{Base64Url, SecretString};
use crate::model::{Tags, MAX_SECRET_VALUE_BYTES};

/// How a value may be given, for hints.
const VALUE_SYNTAX: &str = "give the value as an argument, @FILE (the file's text), @@TEXT \
                            (text that begins with @) or - (stdin); `localhsm secret set --help` \
                            has examples";

/// Where a secret's value comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    /// The argument itself.
    Text(&'a str),
    /// A file's text (`@FILE`).
    File(&'a Path),
    /// Stdin: asked for with `-` (`explicit`), or read because no value was given.
    Stdin {
        /// Whether the user wrote `-`.
        explicit: bool,
    },
}

/// Where the value argument `arg` says the value is. `@@` escapes a leading `@`, so any
/// text can be given as an argument.
fn source(arg: Option<&str>) -> Source<'_> {
    match arg {
        None => Source::Stdin { explicit: false },
        Some("-") => Source::Stdin { explicit: true },
        Some(a) if a.starts_with("@@") => Source::Text(&a[1..]),
        Some(a) => match a.strip_prefix('@') {
            Some(path) => Source::File(Path::new(path)),
            None => Source::Text(a),
        },
    }
}

/// The value given to `secret set`.
fn value(arg: Option<&str>) -> Result<SecretString, CliError> {
    match source(arg) {
        Source::Text(t) => Ok(SecretString::from(t)),
        Source::File(path) => {
            let what = format!("@{}", path.display());
            let file = std::fs::File::open(path).map_err(|e| {
                CliError::new(
                    format!("{what}: cannot read the file: {e}"),
                    "check the path and that you may read the file; write @@TEXT for a value \
                     that begins with @",
                )
            })?;
            text(file, &what)
        }
        Source::Stdin { explicit } => {
            let stdin = std::io::stdin();
            if !explicit && stdin.is_terminal() {
                return Err(CliError::new("no value given", VALUE_SYNTAX));
            }
            let v = text(stdin.lock(), "stdin")?;
            // Without `-`, an empty stdin (a closed one, in a script) is a missing value,
            // not an empty secret.
            if !explicit && v.is_empty() {
                return Err(CliError::new(
                    "no value given, and stdin is empty",
                    VALUE_SYNTAX,
                ));
            }
            Ok(v)
        }
    }
}

/// Reads a value's text from `from` (named `what` in errors): UTF-8, at most Key Vault's
/// limit, taken as it is (a trailing newline stays). The buffer is sized for the limit up
/// front, so no copy of the value is left behind by a reallocation.
fn text(from: impl Read, what: &str) -> Result<SecretString, CliError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET_VALUE_BYTES + 1));
    from.take(MAX_SECRET_VALUE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::bare(format!("{what}: cannot read: {e}")))?;
    if buf.len() > MAX_SECRET_VALUE_BYTES {
        return Err(CliError::new(
            format!(
                "{what}: the value is over Key Vault's limit of {MAX_SECRET_VALUE_BYTES} bytes"
            ),
            "keep large data elsewhere and store its location or key in the secret",
        ));
    }
    let text = std::str::from_utf8(&buf).map_err(|_| {
        CliError::new(
            format!("{what}: the value is not UTF-8 text"),
            "a secret's value is Unicode text: encode binary data first, e.g. \
             `base64 -w0 FILE | localhsm secret set NAME --content-type application/base64`",
        )
    })?;
    Ok(SecretString::from(text))
}

/// The tags given as `--tag K=V` options; `None` when there are none.
fn tags(pairs: Vec<(String, String)>) -> Option<Tags> {
    (!pairs.is_empty()).then(|| pairs.into_iter().collect())
}

/// `attributes` from the options; `None` when none was given.
fn attributes(o: &SecretSettings) -> Option<SecretAttributesWire> {
    (o.enabled.is_some() || o.not_before.is_some() || o.expires.is_some()).then(|| {
        SecretAttributesWire {
            enabled: o.enabled,
            nbf: o.not_before,
            exp: o.expires,
            ..SecretAttributesWire::default()
        }
    })
}

/// Removes an answer's `value`, clearing the text.
fn drop_value(v: &mut Value) {
    if let Some(Value::String(mut s)) = v.as_object_mut().and_then(|m| m.remove("value")) {
        s.zeroize();
    }
}

/// Prints a secret answer without its value.
fn show(p: &Printer, shape: Shape, mut v: Value) {
    drop_value(&mut v);
    p.show(shape, &v);
}

/// Prints a listing (`{"value": [items]}`) without any item's value.
fn show_list(p: &Printer, shape: Shape, mut v: Value) {
    if let Some(items) = v.get_mut("value").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(drop_value);
    }
    p.show(shape, &v);
}

/// Prints a value as it is, for `$(localhsm secret get NAME)` and redirection to a file; a
/// newline follows only on a terminal, where the prompt would otherwise join the value.
fn print_raw(value: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let newline = if std::io::stdout().is_terminal() {
        "\n"
    } else {
        ""
    };
    out.write_all(value.as_bytes())
        .and_then(|()| out.write_all(newline.as_bytes()))
        .and_then(|()| out.flush())
        .map_err(|e| CliError::bare(format!("cannot write the value to stdout: {e}")))
}

/// `localhsm secret ...`.
pub fn secret(c: &Client, p: &Printer, cmd: SecretCommand) -> Result<Status, CliError> {
    use SecretCommand as S;
    match cmd {
        S::Set {
            name,
            value: arg,
            show_value,
            options,
        } => {
            let arg = arg.map(Zeroizing::new);
            let body = SecretSetParameters {
                value: value(arg.as_ref().map(|a| a.as_str()))?,
                attributes: attributes(&options),
                content_type: options.content_type,
                tags: tags(options.tags),
            };
            let mut v = c.call_with(Op::SecretSet, &[&name], &body)?;
            if !show_value {
                drop_value(&mut v);
            }
            p.show(Shape::Secret, &v);
            drop_value(&mut v);
        }
        S::Get { name, version } => {
            let mut v = match &version {
                Some(ver) => c.call(Op::SecretGetVersion, &[&name, ver])?,
                None => c.call(Op::SecretGet, &[&name])?,
            };
            match p.format {
                OutputFormat::Json => p.show(Shape::Secret, &v),
                OutputFormat::Table => {
                    let bundle: SecretBundleWire = read(&v)?;
                    let value = bundle.value.ok_or_else(|| {
                        CliError::new(
                            "the server's answer carries no value",
                            "is the server the same localhsm version as this CLI?",
                        )
                    })?;
                    print_raw(value.expose())?;
                }
            }
            drop_value(&mut v);
        }
        S::List { max } => show_list(p, Shape::Secrets, c.list(Op::SecretList, &[], max)?),
        S::Versions { name, max } => show_list(
            p,
            Shape::SecretVersions,
            c.list(Op::SecretListVersions, &[&name], max)?,
        ),
        S::Update {
            name,
            version,
            options,
        } => {
            let body = SecretUpdateParameters {
                attributes: attributes(&options),
                content_type: options.content_type,
                tags: tags(options.tags),
            };
            let v = match &version {
                Some(ver) => c.call_with(Op::SecretUpdateVersion, &[&name, ver], &body)?,
                None => c.call_with(Op::SecretUpdate, &[&name], &body)?,
            };
            show(p, Shape::Secret, v);
        }
        S::Delete { name } => show(p, Shape::Secret, c.call(Op::SecretDelete, &[&name])?),
        S::Recover { name } => show(
            p,
            Shape::Secret,
            c.call(Op::DeletedSecretRecover, &[&name])?,
        ),
        S::Purge { name } => {
            c.call(Op::DeletedSecretPurge, &[&name])?;
            p.note(&format!("Purged secret {name}."));
        }
        S::Backup { name, file } => {
            let v = c.call(Op::SecretBackup, &[&name])?;
            let blob: BlobValue = read(&v)?;
            input::write_file(&file, &blob.value.0, "the backup")?;
            match p.format {
                // The blob is sealed under the store's master key: not a value to hide.
                OutputFormat::Json => p.show(Shape::Secret, &v),
                OutputFormat::Table => p.note(&format!(
                    "Wrote the backup of secret {name} ({} bytes) to {}.",
                    blob.value.0.len(),
                    file.display()
                )),
            }
        }
        S::Restore { file } => {
            let body = BlobValue {
                value: Base64Url(input::file(&file, "--file")?),
            };
            show(
                p,
                Shape::Secret,
                c.call_with(Op::SecretRestore, &[], &body)?,
            );
        }
    }
    Ok(Status::Done)
}

/// `localhsm deleted ... --kind secret`.
pub fn deleted(c: &Client, p: &Printer, cmd: DeletedCommand) -> Result<Status, CliError> {
    match cmd {
        DeletedCommand::List { max, .. } => show_list(
            p,
            Shape::DeletedSecrets,
            c.list(Op::DeletedSecretList, &[], max)?,
        ),
        DeletedCommand::Show { name, .. } => {
            show(p, Shape::Secret, c.call(Op::DeletedSecretGet, &[&name])?)
        }
        DeletedCommand::Recover { name, .. } => {
            return secret(c, p, SecretCommand::Recover { name })
        }
        DeletedCommand::Purge { name, .. } => return secret(c, p, SecretCommand::Purge { name }),
    }
    Ok(Status::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_arguments_name_their_source() {
        assert_eq!(source(Some("hunter2")), Source::Text("hunter2"));
        assert_eq!(source(Some("-n")), Source::Text("-n"));
        assert_eq!(source(Some("@pw.txt")), Source::File(Path::new("pw.txt")));
        assert_eq!(source(Some("@@home")), Source::Text("@home"));
        assert_eq!(source(Some("@@")), Source::Text("@"));
        assert_eq!(source(Some("-")), Source::Stdin { explicit: true });
        assert_eq!(source(None), Source::Stdin { explicit: false });
    }

    #[test]
    fn text_is_utf8_within_the_limit_and_kept_as_is() {
        let v = text(&b"p\xc3\xa4ss\n"[..], "stdin").unwrap();
        assert_eq!(v.expose(), "päss\n");
        let at_limit = vec![b'a'; MAX_SECRET_VALUE_BYTES];
        assert_eq!(
            text(&at_limit[..], "x").unwrap().len(),
            MAX_SECRET_VALUE_BYTES
        );
        let over = vec![b'a'; MAX_SECRET_VALUE_BYTES + 1];
        let e = text(&over[..], "@big").unwrap_err();
        assert!(e.message.starts_with("@big: the value is over"), "{e}");
        let e = text(&b"\xff\xfe"[..], "@bin").unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
        assert!(e.hint.unwrap_or_default().contains("base64"));
    }

    #[test]
    fn dropped_values_are_gone() {
        let mut v = serde_json::json!({"id": "https://h/secrets/s/v", "value": "hunter2"});
        drop_value(&mut v);
        assert_eq!(v, serde_json::json!({"id": "https://h/secrets/s/v"}));
    }
}
