//! The CLI's REST client of the Key Vault and management APIs: a call is a row of the route
//! table with its arguments, a query and a body of the shared wire types, carried by
//! whichever [`Transport`] reaches the store.
//!
//! Layer: faces (CLI). May import `api` (route table, bodies), `server` (the development
//! token, the default vault's name) and `cli::{transport, error}`; the command modules
//! import this, never the reverse. Invariant: paths come from [`Op::path`] (names
//! percent-encoded, so a name cannot change the route) and bodies from serializing the
//! wire types: the CLI writes no path or body by hand.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use zeroize::Zeroizing;

use super::error::{CliError, RequestInfo};
use super::transport::{Outgoing, Transport};
use crate::api::{ListResult, Op};
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

/// A REST client of the Key Vault API over a [`Transport`].
pub struct Client {
    transport: Transport,
    vault: Option<String>,
    token: Zeroizing<String>,
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
        // No --token: the owner's credential through a running server, else (in-process,
        // or a server that wrote none) the development token of the local user.
        let token = match token {
            Some(t) => Zeroizing::new(t),
            None => transport
                .owner_token()?
                .unwrap_or_else(|| Zeroizing::new(local_token())),
        };
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

    /// Calls `op` with `args` in its path, and no query or body.
    pub fn call(&self, op: Op, args: &[&str]) -> Result<Value, CliError> {
        self.send(op, args, None, None)
    }

    /// Calls `op` with `args` in its path and `body`.
    pub fn call_with(
        &self,
        op: Op,
        args: &[&str],
        body: &impl Serialize,
    ) -> Result<Value, CliError> {
        self.send(op, args, None, Some(to_json(body)?))
    }

    /// Calls `op` with `args` in its path and `query` (a struct of parameters).
    pub fn call_query(
        &self,
        op: Op,
        args: &[&str],
        query: &impl Serialize,
    ) -> Result<Value, CliError> {
        let query = serde_urlencoded::to_string(query)
            .map_err(|e| CliError::bare(format!("cannot write the query: {e}")))?;
        self.send(op, args, Some(query), None)
    }

    /// Follows `nextLink` from a listing until it ends or `max` items are collected;
    /// returns `{"value": [...], "nextLink": ...}` like one page.
    pub fn list(&self, op: Op, args: &[&str], max: Option<usize>) -> Result<Value, CliError> {
        self.list_query(op, args, &[], max)
    }

    /// [`Client::list`] with `query` parameters on the first page (the server carries them
    /// on in its `nextLink`).
    pub fn list_query(
        &self,
        op: Op,
        args: &[&str],
        query: &[(&str, &str)],
        max: Option<usize>,
    ) -> Result<Value, CliError> {
        let page = max.map_or(PAGE_SIZE, |m| m.clamp(1, PAGE_SIZE));
        let path = op.path(args);
        let mut first = format!("{path}?maxresults={page}");
        if !query.is_empty() {
            let q = serde_urlencoded::to_string(query)
                .map_err(|e| CliError::bare(format!("cannot write the query: {e}")))?;
            first.push('&');
            first.push_str(&q);
        }
        let mut next = Some(first);
        let mut all = ListResult {
            value: Vec::new(),
            next_link: None,
        };
        while let Some(p) = next.take() {
            let answer: ListResult<Value> = read(&self.exchange(op, args, &p, None)?)?;
            all.value.extend(answer.value);
            if let Some(m) = max.filter(|&m| all.value.len() >= m) {
                all.value.truncate(m);
                all.next_link = answer.next_link;
                break;
            }
            next = answer.next_link.as_deref().map(path_of_link);
        }
        to_json(&all)
    }

    fn send(
        &self,
        op: Op,
        args: &[&str],
        query: Option<String>,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut path = op.path(args);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            path.push('?');
            path.push_str(&q);
        }
        self.exchange(op, args, &path, body)
    }

    /// Calls `op` with `args` in its path and returns the answer's bytes as they are (for
    /// answers that are not JSON, such as a sealed store backup).
    pub fn call_bytes(&self, op: Op, args: &[&str]) -> Result<Vec<u8>, CliError> {
        self.exchange_raw(op, args, &op.path(args), None)
    }

    /// Sends one request for `op` to `path` (with its query) and returns the JSON answer
    /// (`null` for an empty one), or the server's error with a hint. Key Vault calls get
    /// `api-version` added.
    fn exchange(
        &self,
        op: Op,
        args: &[&str],
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let answer = self.exchange_raw(op, args, path, body)?;
        if answer.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|e| {
            CliError::new(
                format!(
                    "the answer to {} {path} is not JSON: {e}",
                    op.route().method
                ),
                "is the server the same localhsm version as this CLI?",
            )
        })
    }

    /// [`Client::exchange`], returning the answer's bytes.
    fn exchange_raw(
        &self,
        op: Op,
        args: &[&str],
        path: &str,
        body: Option<Value>,
    ) -> Result<Vec<u8>, CliError> {
        let route = op.route();
        let mut full = path.to_string();
        if !route.is_management() && !path.contains("api-version=") {
            full.push(if path.contains('?') { '&' } else { '?' });
            full.push_str("api-version=");
            full.push_str(API_VERSION);
        }
        // Management calls and the default vault use `localhost`, other vaults
        // `{vault}.localhost`: the server picks the vault by the host.
        let host = match &self.vault {
            Some(v) if !route.is_management() && !v.eq_ignore_ascii_case(DEFAULT_VAULT) => {
                format!("{}.localhost", v.to_ascii_lowercase())
            }
            _ => "localhost".to_string(),
        };
        let reply = self.transport.send(Outgoing {
            method: route.method.clone(),
            host: &host,
            path: &full,
            token: &self.token,
            body: body.as_ref().map(|b| b.to_string().into_bytes()),
        });
        let named = body
            .as_ref()
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        // The body may hold a secret's value or a key's private members: wiped once sent.
        if let Some(b) = body {
            crate::server::error::wipe_json(b);
        }
        let reply = reply?;
        if !(200..300).contains(&reply.status) {
            let subject = ["key", "secret", "certificate", "vault", "name"]
                .iter()
                .find_map(|p| route.arg(args, p));
            let named = named.as_deref();
            return Err(CliError::from_response(
                reply.status,
                &reply.body,
                &RequestInfo {
                    op,
                    path,
                    vault: self.vault.as_deref(),
                    subject: subject.or(named),
                },
            ));
        }
        Ok(reply.body)
    }
}

/// Reads an answer into a wire type.
pub fn read<T: DeserializeOwned>(answer: &Value) -> Result<T, CliError> {
    T::deserialize(answer).map_err(|e| {
        CliError::new(
            format!("the server's answer is not what this CLI expects: {e}"),
            "is the server the same localhsm version as this CLI?",
        )
    })
}

fn to_json(v: &impl Serialize) -> Result<Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::bare(format!("cannot write the request: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_become_paths() {
        assert_eq!(
            path_of_link("https://dev.localhost:8443/keys?api-version=7.5&$skiptoken=x"),
            "/keys?api-version=7.5&$skiptoken=x"
        );
        assert_eq!(path_of_link("/keys?a=b"), "/keys?a=b");
    }
}
