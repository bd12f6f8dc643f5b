//! Access logs: one record per data-plane call, per vault, when the vault's log is on.
//!
//! Layer: services. Imports the objects layer ([`Store`]), the lifecycle (the vault
//! records and the log's key layout), the storage seam and the base layer.
//!
//! Field names follow Managed HSM's `AuditEvent`. Records never hold key material, digests,
//! plaintexts or tokens: only who called, from where, what, on which resource, and how it
//! ended. They are kept for the vault's log retention and dropped by the lifecycle's sweep
//! (a range delete over what is due). Records are written without waiting for a flush of
//! their own; they reach disk with the next flush (every acknowledged write, or the storage
//! engine's periodic flush within half a second).

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, UnixTime};
use crate::error::Result;
use crate::lifecycle::records::{log_key, log_prefix};
use crate::model::{Caller, DAY};
use crate::store::{decode, encode, KeyRange, Table, Write};
use crate::vault::Store;

/// Who made a call, as `AuditEvent.identity.claim` records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Object ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// User principal name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Tenant ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

/// `AuditEvent.identity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The caller's claims.
    pub claim: Claims,
}

/// One access-log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogRecord {
    /// When the call arrived (RFC 3339, UTC).
    pub time: String,
    /// When the call arrived (Unix seconds).
    pub time_unix: UnixTime,
    /// Always `AuditEvent`.
    pub category: String,
    /// The vault.
    pub vault: String,
    /// Key Vault's operation name (`KeySign`, `KeyCreate`, ...).
    pub operation_name: String,
    /// The api-version of the call.
    pub operation_version: String,
    /// The resource: the key id, or the vault URL.
    pub resource_id: String,
    /// `Success` or `Failure`.
    pub result_type: String,
    /// The HTTP reason (`OK`, `Forbidden`, ...).
    pub result_signature: String,
    /// The Key Vault error code, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
    /// HTTP status.
    pub http_status_code: u16,
    /// How long the call took.
    pub duration_ms: u64,
    /// The client's IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_ip_address: Option<String>,
    /// The request id (also returned as `x-ms-request-id`).
    pub correlation_id: String,
    /// The caller.
    pub identity: Identity,
    /// The request path (no query string, so no values are recorded).
    pub request_uri: String,
}

/// Replacement for redacted personal data.
pub const REDACTED: &str = "[redacted]";

/// What to read from a vault's access log.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only records of this caller object ID.
    pub principal: Option<String>,
    /// Only records at or after this time.
    pub since: Option<UnixTime>,
    /// At most this many (oldest first).
    pub limit: Option<usize>,
}

/// A call's outcome, for [`Store::record_access`].
#[derive(Debug, Clone)]
pub struct CallRecord<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// Key Vault operation name.
    pub operation: &'a str,
    /// api-version.
    pub api_version: &'a str,
    /// Resource id.
    pub resource_id: String,
    /// HTTP status.
    pub status: u16,
    /// Key Vault error code, on failure.
    pub error_code: Option<&'a str>,
    /// Duration.
    pub duration_ms: u64,
    /// Request id.
    pub request_id: &'a str,
    /// Request path.
    pub request_uri: &'a str,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "NoContent",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        _ if status < 400 => "OK",
        _ if status < 500 => "ClientError",
        _ => "InternalServerError",
    }
}

impl Store {
    /// Appends a record to `vault`'s access log if the log is on. Returns whether it did.
    /// Reads the vault's settings from the store's cache, so a call costs no extra read.
    pub fn record_access(&self, vault: &str, call: CallRecord<'_>) -> Result<bool> {
        let Some(v) = self.core().vault_record(vault)? else {
            return Ok(false);
        };
        if !v.access_log {
            return Ok(false);
        }
        let now = self.now();
        let record = AccessLogRecord {
            time: rfc3339(now),
            time_unix: now,
            category: "AuditEvent".into(),
            vault: v.name.clone(),
            operation_name: call.operation.to_string(),
            operation_version: call.api_version.to_string(),
            resource_id: call.resource_id,
            result_type: if call.status < 400 {
                "Success"
            } else {
                "Failure"
            }
            .into(),
            result_signature: reason(call.status).into(),
            result_description: call.error_code.map(str::to_string),
            http_status_code: call.status,
            duration_ms: call.duration_ms,
            caller_ip_address: call.caller.ip.clone(),
            correlation_id: call.request_id.to_string(),
            identity: Identity {
                claim: Claims {
                    oid: call.caller.object_id.clone(),
                    upn: call.caller.upn.clone(),
                    tid: call.caller.tenant_id.clone(),
                },
            },
            request_uri: call.request_uri.to_string(),
        };
        let seq = self.core().storage.backend().next_id()?;
        self.core().storage.backend().apply(&[Write::Put(
            Table::AccessLog,
            log_key(&v.name, now, seq),
            encode(&record),
        )])?;
        Ok(true)
    }

    /// Reads `vault`'s access log, oldest first.
    pub fn access_log(&self, vault: &str, query: &LogQuery) -> Result<Vec<AccessLogRecord>> {
        self.core().sweep_if_due()?;
        let record = self.core().any_vault(vault)?;
        // Records past retention are never returned, even before a sweep drops them.
        let cutoff = self
            .now()
            .saturating_sub(u64::from(record.log_retention_days) * DAY);
        let start = log_key(&record.name, query.since.unwrap_or(0).max(cutoff), 0);
        let mut range = KeyRange::prefix(&log_prefix(&record.name));
        range.start = std::ops::Bound::Included(start);
        let mut out = Vec::new();
        self.core()
            .storage
            .scan_batches(Table::AccessLog, range, |batch| {
                for (_, v) in &batch {
                    let r: AccessLogRecord = decode("access log record", v)?;
                    if query.principal.as_deref().is_some_and(|p| {
                        !r.identity
                            .claim
                            .oid
                            .as_deref()
                            .is_some_and(|o| o.eq_ignore_ascii_case(p))
                    }) {
                        continue;
                    }
                    out.push(r);
                    if query.limit.is_some_and(|l| out.len() >= l) {
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
        Ok(out)
    }

    /// Replaces the object ID, UPN and IP address in every access-log record that
    /// `made_by` picks. Returns how many records were redacted.
    pub(crate) fn redact_access_logs(
        &self,
        made_by: impl Fn(&AccessLogRecord) -> bool,
    ) -> Result<usize> {
        let storage = &self.core().storage;
        let mut redacted = 0;
        storage.scan_batches(Table::AccessLog, KeyRange::all(), |batch| {
            let mut writes = Vec::new();
            for (k, v) in batch {
                let mut r: AccessLogRecord = decode("access log record", &v)?;
                if !made_by(&r) {
                    continue;
                }
                r.identity.claim.oid = r.identity.claim.oid.map(|_| REDACTED.to_string());
                r.identity.claim.upn = r.identity.claim.upn.map(|_| REDACTED.to_string());
                r.caller_ip_address = r.caller_ip_address.map(|_| REDACTED.to_string());
                writes.push(Write::Put(Table::AccessLog, k, encode(&r)));
            }
            redacted += writes.len();
            storage.backend().apply(&writes)?;
            Ok(true)
        })?;
        Ok(redacted)
    }
}
