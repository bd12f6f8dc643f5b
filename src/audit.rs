//! Access logs: one record per data-plane call, per vault, when the vault's log is on.
//!
//! Field names follow Managed HSM's `AuditEvent`. Records never hold key material, digests,
//! plaintexts or tokens: only who called, from where, what, on which resource, and how it
//! ended. They are kept for the vault's log retention and dropped by the same kind of sweep
//! as purges (a range scan over what is due). Records are written without waiting for a
//! flush of their own; they reach disk with the next flush (every acknowledged write, or
//! the storage engine's periodic flush within half a second).

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::{Error, Result};
use crate::model::{Caller, DAY};
use crate::store::records::{decode, encode, vault_id};
use crate::store::Store;

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

impl AccessLogRecord {
    /// Whether this record names the caller `oid` or `upn`.
    pub fn is_by(&self, subject: &crate::customer_data::Subject) -> bool {
        use crate::customer_data::Subject;
        let c = &self.identity.claim;
        match subject {
            Subject::Principal(oid) => c
                .oid
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(oid)),
            Subject::Upn(upn) => c
                .upn
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(upn)),
            _ => false,
        }
    }
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

fn entry_key(vault: &str, time: UnixTime, seq: u64) -> Vec<u8> {
    let mut k = vault_id(vault);
    k.push(0);
    k.extend_from_slice(&time.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn vault_prefix(vault: &str) -> Vec<u8> {
    let mut k = vault_id(vault);
    k.push(0);
    k
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC).
pub fn rfc3339(t: UnixTime) -> String {
    let days = (t / DAY) as i64;
    let secs = t % DAY;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
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
    pub fn record_access(&self, vault: &str, call: CallRecord<'_>) -> Result<bool> {
        let Some(v) = self.shared.vault_record(vault)? else {
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
        let seq = self.shared.generate_id()?;
        self.shared
            .access_log
            .insert(entry_key(&v.name, now, seq), encode(&record))?;
        Ok(true)
    }

    /// Reads `vault`'s access log, oldest first.
    pub fn access_log(&self, vault: &str, query: &LogQuery) -> Result<Vec<AccessLogRecord>> {
        self.shared.sweep_if_due()?;
        let record = self
            .shared
            .vault_record(vault)?
            .ok_or_else(|| Error::VaultNotFound {
                vault: vault.to_string(),
            })?;
        let name = record.name;
        // Records past retention are never returned, even before a sweep drops them.
        let cutoff = self
            .now()
            .saturating_sub(u64::from(record.log_retention_days) * DAY);
        let start = entry_key(&name, query.since.unwrap_or(0).max(cutoff), 0);
        let prefix = vault_prefix(&name);
        let mut out = Vec::new();
        for item in self.shared.access_log.range(start..) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let r: AccessLogRecord = decode("access log record", &v)?;
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
                break;
            }
        }
        Ok(out)
    }
}

impl crate::store::Shared {
    /// Drops access-log records older than their vault's log retention: a range delete per
    /// vault, reading only what is due.
    pub(crate) fn sweep_access_logs(&self, now: UnixTime) -> Result<usize> {
        let mut dropped = 0;
        for item in self.vaults.iter() {
            let (_, v) = item?;
            let r: crate::store::records::VaultRecord = decode("vault", &v)?;
            let cutoff = now.saturating_sub(u64::from(r.log_retention_days) * DAY);
            let mut batch = sled::Batch::default();
            for k in self
                .access_log
                .range(vault_prefix(&r.name)..entry_key(&r.name, cutoff, 0))
                .keys()
            {
                batch.remove(k?);
                dropped += 1;
            }
            self.access_log.apply_batch(batch)?;
        }
        Ok(dropped)
    }

    /// Replaces the subject's object ID, UPN and IP address in every access-log record it
    /// made. Returns how many records were redacted.
    pub(crate) fn redact_access_logs(
        &self,
        subject: &crate::customer_data::Subject,
    ) -> Result<usize> {
        let mut redacted = 0;
        for item in self.access_log.iter() {
            let (k, v) = item?;
            let mut r: AccessLogRecord = decode("access log record", &v)?;
            if !r.is_by(subject) {
                continue;
            }
            r.identity.claim.oid = r.identity.claim.oid.map(|_| REDACTED.to_string());
            r.identity.claim.upn = r.identity.claim.upn.map(|_| REDACTED.to_string());
            r.caller_ip_address = r.caller_ip_address.map(|_| REDACTED.to_string());
            self.access_log.insert(k, encode(&r))?;
            redacted += 1;
        }
        Ok(redacted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_337_360), "2026-11-22T08:49:20Z");
    }
}
