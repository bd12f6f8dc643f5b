//! What each command does: one or more REST calls through [`Client::request`], whichever
//! transport carries them, and what to print.

use std::path::Path;

use axum::http::Method;
use serde_json::{json, Map, Value};

use super::args::{
    Command, DeletedCommand, KeyCommand, NewKeyOptions, OpOutput, OutputFormat, VaultCommand,
};
use super::error::{CliError, RequestInfo};
use super::input;
use super::output::{Printer, Shape};
use super::transport::{Outgoing, Transport};
use crate::crypto::jwk::{b64url_decode, b64url_encode};
use crate::crypto::SignatureAlgorithm;
use crate::server::DEFAULT_VAULT;

/// The Key Vault API version the CLI speaks.
pub const API_VERSION: &str = "7.5";
/// The object ID in the development token of the local user.
pub const LOCAL_USER_OID: &str = "00000000-0000-0000-0000-00000000c11e";
/// The largest page the server returns.
const PAGE_SIZE: usize = 25;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Done,
    /// Done, with a negative answer (a signature that does not verify): exit status 1.
    Negative,
}

/// Global options of the REST commands.
#[derive(Debug, Clone)]
pub struct Globals {
    /// The vault key commands act on (`None`: the default vault).
    pub vault: Option<String>,
    /// The bearer token (`None`: a development token for the local user).
    pub token: Option<String>,
    /// Output format.
    pub output: OutputFormat,
}

/// A REST client of the Key Vault API over a [`Transport`].
pub struct Client {
    transport: Transport,
    vault: Option<String>,
    token: String,
}

impl Client {
    /// A client for `vault` (`None`: the default vault) sending `token`.
    pub fn new(
        transport: Transport,
        vault: Option<String>,
        token: Option<String>,
    ) -> Result<Self, CliError> {
        if let Some(v) = &vault {
            crate::model::validate_vault_name(v).map_err(|e| {
                CliError::new(
                    format!("--vault: {e}"),
                    "`localhsm vault list` shows the vaults",
                )
            })?;
        }
        let token = token.unwrap_or_else(local_token);
        Ok(Self {
            transport,
            vault,
            token,
        })
    }

    /// The vault this client acts on.
    pub fn vault_name(&self) -> String {
        self.vault
            .clone()
            .unwrap_or_else(|| DEFAULT_VAULT.to_string())
    }

    /// The host a request goes to: management calls and the default vault use `localhost`,
    /// other vaults `{vault}.localhost`.
    fn host(&self, path: &str) -> String {
        match &self.vault {
            Some(v)
                if !path.starts_with("/management") && !v.eq_ignore_ascii_case(DEFAULT_VAULT) =>
            {
                format!("{}.localhost", v.to_ascii_lowercase())
            }
            _ => "localhost".to_string(),
        }
    }

    /// Sends one request and returns the JSON answer (`null` for an empty one), or the
    /// server's error with a hint. Key Vault routes get `api-version` added.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut full = path.to_string();
        if !path.starts_with("/management") && !path.contains("api-version=") {
            full.push(if path.contains('?') { '&' } else { '?' });
            full.push_str("api-version=");
            full.push_str(API_VERSION);
        }
        let host = self.host(path);
        let info_method = method.to_string();
        let reply = self.transport.send(Outgoing {
            method,
            host: &host,
            path: &full,
            token: &self.token,
            body: body.as_ref().map(|b| b.to_string().into_bytes()),
        })?;
        if !(200..300).contains(&reply.status) {
            return Err(CliError::from_response(
                reply.status,
                &reply.body,
                &RequestInfo {
                    method: &info_method,
                    path,
                    vault: self.vault.as_deref(),
                    body: body.as_ref(),
                },
            ));
        }
        if reply.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            CliError::new(
                format!("the answer to {info_method} {path} is not JSON: {e}"),
                "is the server the same localhsm version as this CLI?",
            )
        })
    }

    /// Follows `nextLink` from `path` until the list ends or `max` items are collected;
    /// returns `{"value": [...], "nextLink": ...}` like one page.
    fn list(&self, path: &str, max: Option<usize>) -> Result<Value, CliError> {
        let page = max.map_or(PAGE_SIZE, |m| m.clamp(1, PAGE_SIZE));
        let mut next = Some(format!("{path}?maxresults={page}"));
        let mut items = Vec::new();
        let mut rest = Value::Null;
        while let Some(p) = next.take() {
            let answer = self.request(Method::GET, &p, None)?;
            if let Some(v) = answer.get("value").and_then(Value::as_array) {
                items.extend(v.iter().cloned());
            }
            let link = answer.get("nextLink").and_then(Value::as_str);
            if let Some(m) = max.filter(|&m| items.len() >= m) {
                items.truncate(m);
                rest = link.map_or(Value::Null, Value::from);
                break;
            }
            next = link.map(path_of_link);
        }
        Ok(json!({ "value": items, "nextLink": rest }))
    }
}

/// The path and query of an absolute `nextLink`.
fn path_of_link(link: &str) -> String {
    let after_scheme = link.split_once("://").map_or(link, |(_, r)| r);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].to_string(),
        None => "/".to_string(),
    }
}

/// A development token naming the local user.
fn local_token() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "cli".into());
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    crate::server::auth::mint_token(
        LOCAL_USER_OID,
        Some(&format!("{user}@localhost")),
        None,
        now,
    )
}

/// Percent-encodes a path segment, so a name cannot change the route.
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/keys/{name}/{version}/{op}`; an empty version means the current one.
fn op_path(name: &str, version: Option<&str>, op: &str) -> String {
    format!(
        "/keys/{}/{}/{op}",
        seg(name),
        version.map(seg).unwrap_or_default()
    )
}

/// Runs a REST command against the store in `dir`.
pub fn run(dir: &Path, globals: Globals, command: Command) -> Result<Status, CliError> {
    let printer = Printer {
        format: globals.output,
    };
    let transport = Transport::open(dir)?;
    let client = Client::new(transport, globals.vault, globals.token)?;
    match command {
        Command::Vault(c) => vault(&client, &printer, c),
        Command::Key(c) => key(&client, &printer, c),
        Command::Deleted(c) => deleted(&client, &printer, c),
        Command::TimeShift(a) => {
            let v = client.request(
                Method::POST,
                "/management/time-shift",
                Some(json!({ "seconds": a.seconds })),
            )?;
            printer.show(Shape::TimeShift, &v);
            Ok(Status::Done)
        }
        Command::Role(cmd) => super::access::role(&client, &printer, cmd),
        Command::Log(cmd) => super::access::log(&client, &printer, cmd),
        Command::CustomerData(cmd) => super::access::customer_data(&client, &printer, cmd),
        Command::Serve(_) | Command::Token(_) | Command::Vectors(_) => Err(CliError::bare(
            "serve and token do not talk to the store through the REST API",
        )),
    }
}

fn vault(c: &Client, p: &Printer, cmd: VaultCommand) -> Result<Status, CliError> {
    use VaultCommand as V;
    match cmd {
        V::Create {
            name,
            kind,
            retention_days,
            purge_protection,
        } => {
            let mut body = json!({ "name": name, "kind": kind.as_str() });
            if let Some(days) = retention_days {
                body["retentionDays"] = days.into();
            }
            if purge_protection {
                body["purgeProtection"] = true.into();
            }
            let v = c.request(Method::POST, "/management/vaults", Some(body))?;
            p.show(Shape::Vault, &v);
        }
        V::List { deleted: false } => {
            let v = c.request(Method::GET, "/management/vaults", None)?;
            p.show(Shape::Vaults, &v);
        }
        V::List { deleted: true } | V::ListDeleted => {
            let v = c.request(Method::GET, "/management/deletedvaults", None)?;
            p.show(Shape::DeletedVaults, &v);
        }
        V::Show { name, deleted } => {
            let base = if deleted { "deletedvaults" } else { "vaults" };
            let v = c.request(
                Method::GET,
                &format!("/management/{base}/{}", seg(&name)),
                None,
            )?;
            p.show(Shape::Vault, &v);
        }
        V::Update {
            name,
            purge_protection,
            access_log,
            log_retention_days,
        } => {
            let mut body = Map::new();
            if purge_protection {
                body.insert("purgeProtection".into(), true.into());
            }
            if let Some(on) = access_log {
                body.insert("accessLog".into(), (on == "on").into());
            }
            if let Some(days) = log_retention_days {
                body.insert("logRetentionDays".into(), days.into());
            }
            let v = c.request(
                Method::PATCH,
                &format!("/management/vaults/{}", seg(&name)),
                Some(Value::Object(body)),
            )?;
            p.show(Shape::Vault, &v);
        }
        V::Delete { name } => {
            let v = c.request(
                Method::DELETE,
                &format!("/management/vaults/{}", seg(&name)),
                None,
            )?;
            p.show(Shape::Vault, &v);
        }
        V::Recover { name } => {
            let v = c.request(
                Method::POST,
                &format!("/management/vaults/{}/recover", seg(&name)),
                None,
            )?;
            p.show(Shape::Vault, &v);
        }
        V::Purge { name } => {
            c.request(
                Method::DELETE,
                &format!("/management/deletedvaults/{}", seg(&name)),
                None,
            )?;
            p.note(&format!("Purged vault {name}."));
        }
    }
    Ok(Status::Done)
}

/// `attributes` and `tags` of a new key.
fn new_key_fields(body: &mut Value, o: &NewKeyOptions) {
    let mut attributes = Map::new();
    if o.disabled {
        attributes.insert("enabled".into(), false.into());
    }
    if let Some(t) = o.not_before {
        attributes.insert("nbf".into(), t.into());
    }
    if let Some(t) = o.expires {
        attributes.insert("exp".into(), t.into());
    }
    if o.exportable {
        attributes.insert("exportable".into(), true.into());
    }
    if !attributes.is_empty() {
        body["attributes"] = Value::Object(attributes);
    }
    if !o.tags.is_empty() {
        body["tags"] = tags(&o.tags);
    }
}

fn tags(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// Prints an operation result, writing its `value` to `--out` if asked.
fn show_operation(
    p: &Printer,
    v: &Value,
    label: &'static str,
    out: &OpOutput,
) -> Result<Status, CliError> {
    if let Some(path) = &out.out {
        let bytes = v
            .get("value")
            .and_then(Value::as_str)
            .and_then(|s| b64url_decode(s).ok())
            .unwrap_or_default();
        input::write_file(path, &bytes, label)?;
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
) -> Result<Vec<u8>, CliError> {
    match (arg, message_file) {
        (_, Some(file)) => Ok(alg.hash().digest(&input::file(file, "--message-file")?)),
        (Some(a), None) => input::bytes(a, "digest"),
        (None, None) => Err(CliError::bare("give a digest or --message-file")),
    }
}

fn key(c: &Client, p: &Printer, cmd: KeyCommand) -> Result<Status, CliError> {
    use KeyCommand as K;
    let b64 = |b: &[u8]| Value::from(b64url_encode(b));
    match cmd {
        K::Create {
            name,
            kty,
            size,
            curve,
            ops,
            options,
        } => {
            let mut body = json!({ "kty": kty.as_str() });
            if let Some(s) = size {
                body["key_size"] = s.into();
            }
            if let Some(crv) = curve {
                body["crv"] = crv.as_str().into();
            }
            if let Some(ops) = ops {
                body["key_ops"] = ops.iter().map(|o| o.as_str()).collect();
            }
            new_key_fields(&mut body, &options);
            let v = c.request(
                Method::POST,
                &format!("/keys/{}/create", seg(&name)),
                Some(body),
            )?;
            p.show(Shape::Key, &v);
        }
        K::Import {
            name,
            jwk,
            hsm,
            options,
        } => {
            let mut body = json!({ "key": input::jwk(&jwk)?, "Hsm": hsm });
            new_key_fields(&mut body, &options);
            let v = c.request(Method::PUT, &format!("/keys/{}", seg(&name)), Some(body))?;
            p.show(Shape::Key, &v);
        }
        K::Get { name, version } => {
            let path = match version {
                Some(ver) => format!("/keys/{}/{}", seg(&name), seg(&ver)),
                None => format!("/keys/{}", seg(&name)),
            };
            let v = c.request(Method::GET, &path, None)?;
            p.show(Shape::Key, &v);
        }
        K::List { max } => {
            let v = c.list("/keys", max)?;
            p.show(Shape::Keys, &v);
        }
        K::Versions { name, max } => {
            let v = c.list(&format!("/keys/{}/versions", seg(&name)), max)?;
            p.show(Shape::Versions, &v);
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
        } => {
            let mut attributes = Map::new();
            if enable || disable {
                attributes.insert("enabled".into(), enable.into());
            }
            if let Some(t) = not_before {
                attributes.insert("nbf".into(), t.into());
            }
            if let Some(t) = expires {
                attributes.insert("exp".into(), t.into());
            }
            let mut body = json!({ "attributes": attributes });
            if !tag_pairs.is_empty() {
                body["tags"] = tags(&tag_pairs);
            }
            if let Some(ops) = ops {
                body["key_ops"] = ops.iter().map(|o| o.as_str()).collect();
            }
            let path = match version {
                Some(ver) => format!("/keys/{}/{}", seg(&name), seg(&ver)),
                None => format!("/keys/{}", seg(&name)),
            };
            let v = c.request(Method::PATCH, &path, Some(body))?;
            p.show(Shape::Key, &v);
        }
        K::Rotate { name } => {
            let v = c.request(Method::POST, &format!("/keys/{}/rotate", seg(&name)), None)?;
            p.show(Shape::Key, &v);
        }
        K::Delete { name } => {
            let v = c.request(Method::DELETE, &format!("/keys/{}", seg(&name)), None)?;
            p.show(Shape::Key, &v);
        }
        K::Recover { name } => {
            let v = c.request(
                Method::POST,
                &format!("/deletedkeys/{}/recover", seg(&name)),
                None,
            )?;
            p.show(Shape::Key, &v);
        }
        K::Purge { name } => {
            c.request(
                Method::DELETE,
                &format!("/deletedkeys/{}", seg(&name)),
                None,
            )?;
            p.note(&format!("Purged key {name}."));
        }
        K::Backup { name, file } => {
            let v = c.request(Method::POST, &format!("/keys/{}/backup", seg(&name)), None)?;
            let blob = v
                .get("value")
                .and_then(Value::as_str)
                .and_then(|s| b64url_decode(s).ok())
                .ok_or_else(|| CliError::bare("the backup answer has no valid value"))?;
            input::write_file(&file, &blob, "the backup")?;
            match p.format {
                OutputFormat::Json => p.show(Shape::Key, &v),
                OutputFormat::Table => p.note(&format!(
                    "Wrote the backup of key {name} ({} bytes) to {}.",
                    blob.len(),
                    file.display()
                )),
            }
        }
        K::Restore { file } => {
            let blob = input::file(&file, "--file")?;
            let v = c.request(
                Method::POST,
                "/keys/restore",
                Some(json!({ "value": b64url_encode(&blob) })),
            )?;
            p.show(Shape::Key, &v);
        }
        K::Sign {
            name,
            alg,
            digest: d,
            message_file,
            version,
            output,
        } => {
            let digest = digest(alg, d.as_deref(), message_file.as_deref())?;
            let v = c.request(
                Method::POST,
                &op_path(&name, version.as_deref(), "sign"),
                Some(json!({ "alg": alg.as_str(), "value": b64(&digest) })),
            )?;
            return show_operation(p, &v, "signature", &output);
        }
        K::Verify {
            name,
            alg,
            digest: d,
            message_file,
            signature,
            version,
        } => {
            let digest = digest(alg, d.as_deref(), message_file.as_deref())?;
            let signature = input::bytes(&signature, "--signature")?;
            let v = c.request(
                Method::POST,
                &op_path(&name, version.as_deref(), "verify"),
                Some(json!({
                    "alg": alg.as_str(),
                    "digest": b64(&digest),
                    "value": b64(&signature),
                })),
            )?;
            p.show(Shape::Verify, &v);
            if v.get("value").and_then(Value::as_bool) != Some(true) {
                return Ok(Status::Negative);
            }
        }
        K::Encrypt {
            name,
            alg,
            plaintext,
            iv,
            aad,
            version,
            output,
        } => {
            let mut body = json!({
                "alg": alg.as_str(),
                "value": b64(&input::bytes(&plaintext, "plaintext")?),
            });
            if let Some(iv) = input::opt_bytes(iv.as_deref(), "--iv")? {
                body["iv"] = b64(&iv);
            }
            if let Some(aad) = input::opt_bytes(aad.as_deref(), "--aad")? {
                body["aad"] = b64(&aad);
            }
            let v = c.request(
                Method::POST,
                &op_path(&name, version.as_deref(), "encrypt"),
                Some(body),
            )?;
            return show_operation(p, &v, "ciphertext", &output);
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
            let mut body = json!({
                "alg": alg.as_str(),
                "value": b64(&input::bytes(&ciphertext, "ciphertext")?),
            });
            for (field, arg, what) in [
                ("iv", &iv, "--iv"),
                ("aad", &aad, "--aad"),
                ("tag", &tag, "--tag"),
            ] {
                if let Some(bytes) = input::opt_bytes(arg.as_deref(), what)? {
                    body[field] = b64(&bytes);
                }
            }
            let v = c.request(
                Method::POST,
                &op_path(&name, version.as_deref(), "decrypt"),
                Some(body),
            )?;
            return show_operation(p, &v, "plaintext", &output);
        }
        K::Wrap {
            name,
            alg,
            key,
            version,
            output,
        } => {
            let v = c.request(
                Method::POST,
                &op_path(&name, version.as_deref(), "wrapkey"),
                Some(json!({
                    "alg": alg.as_str(),
                    "value": b64(&input::bytes(&key, "key")?),
                })),
            )?;
            return show_operation(p, &v, "wrapped key", &output);
        }
        K::Unwrap {
            name,
            alg,
            wrapped,
            version,
            output,
        } => {
            let v = c.request(
                Method::POST,
                &op_path(&name, version.as_deref(), "unwrapkey"),
                Some(json!({
                    "alg": alg.as_str(),
                    "value": b64(&input::bytes(&wrapped, "wrapped key")?),
                })),
            )?;
            return show_operation(p, &v, "key", &output);
        }
    }
    Ok(Status::Done)
}

fn deleted(c: &Client, p: &Printer, cmd: DeletedCommand) -> Result<Status, CliError> {
    match cmd {
        DeletedCommand::List { max } => {
            let v = c.list("/deletedkeys", max)?;
            p.show(Shape::DeletedKeys, &v);
        }
        DeletedCommand::Show { name } => {
            let v = c.request(Method::GET, &format!("/deletedkeys/{}", seg(&name)), None)?;
            p.show(Shape::Key, &v);
        }
    }
    Ok(Status::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_change_the_route() {
        assert_eq!(seg("k-1"), "k-1");
        assert_eq!(seg("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(op_path("k", None, "sign"), "/keys/k//sign");
        assert_eq!(op_path("k", Some("v1"), "sign"), "/keys/k/v1/sign");
    }

    #[test]
    fn next_links_become_paths() {
        assert_eq!(
            path_of_link("https://dev.localhost:8443/keys?api-version=7.5&$skiptoken=x"),
            "/keys?api-version=7.5&$skiptoken=x"
        );
        assert_eq!(path_of_link("/keys?a=b"), "/keys?a=b");
    }
}
