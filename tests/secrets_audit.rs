//! Guards against access logs that miss secret operations, misname them, or write a secret's
//! value down: with the log on, every secret route called over REST leaves one record named
//! as Key Vault names the operation (`SecretSet`, `SecretGet`, ...), with the secret's id
//! (`https://{host}/secrets/{name}[/{version}]`) as its resource, its outcome and status; and
//! no record, no answer of the log's management route and no file of the data directory holds
//! any value that was set, refused, backed up or restored.

mod support;

use localhsm::audit::{AccessLogRecord, LogQuery};
use serde_json::{json, Value};
use support::{kid_version, Api};

/// Values no other data holds; the last one is over the 25 KiB limit and refused.
fn values() -> [String; 4] {
    [
        "audit-secret-value-9c1e4b7a2f ✓".to_string(),
        "audit-second-value-5d8f0a3c6e 🔑".to_string(),
        "audit-restored-value-1b2c3d4e5f".to_string(),
        format!(
            "audit-oversize-value-7e6d5c4b3a{}",
            "z".repeat(localhsm::model::MAX_SECRET_VALUE_BYTES)
        ),
    ]
}

/// (operation, resource id, HTTP status) of each record, in order.
fn summary(records: &[AccessLogRecord]) -> Vec<(String, String, u16)> {
    records
        .iter()
        .map(|r| {
            (
                r.operation_name.clone(),
                r.resource_id.clone(),
                r.http_status_code,
            )
        })
        .collect()
}

#[test]
fn access_log_names_every_secret_operation_by_id_and_never_a_value() {
    let api = Api::new();
    api.store
        .set_access_log("default", true, None)
        .expect("turn the log on");
    let [v1, v2, v3, over] = values();
    let base = "https://localhost/secrets";

    let set1 = api.ok(
        "PUT",
        "/secrets/aud",
        Some(json!({"value": v1, "tags": {"t": "1"}})),
    );
    let ver1 = kid_version(set1["id"].as_str().expect("id"));
    let set2 = api.ok("PUT", "/secrets/aud", Some(json!({"value": v2})));
    let ver2 = kid_version(set2["id"].as_str().expect("id"));
    api.ok("GET", "/secrets/aud", None);
    api.ok("GET", &format!("/secrets/aud/{ver1}"), None);
    api.ok(
        "PATCH",
        &format!("/secrets/aud/{ver1}"),
        Some(json!({"attributes": {"enabled": false}})),
    );
    api.ok(
        "PATCH",
        "/secrets/aud",
        Some(json!({"contentType": "text/plain"})),
    );
    let refused = api.kv("GET", &format!("/secrets/aud/{ver1}"), None);
    assert_eq!(refused.status, 403);
    let too_big = api.kv("PUT", "/secrets/aud", Some(json!({"value": over})));
    assert_eq!(too_big.status, 400);
    api.ok("GET", "/secrets?maxresults=5", None);
    api.ok("GET", "/secrets/aud/versions", None);
    api.ok("PUT", "/secrets/boxed", Some(json!({"value": v3})));
    let blob = api.ok("POST", "/secrets/boxed/backup", None);
    api.ok("DELETE", "/secrets/boxed", None);
    api.ok("GET", "/deletedsecrets", None);
    api.ok("GET", "/deletedsecrets/boxed", None);
    api.ok("POST", "/deletedsecrets/boxed/recover", None);
    api.ok("DELETE", "/secrets/boxed", None);
    let purged = api.kv("DELETE", "/deletedsecrets/boxed", None);
    assert_eq!(purged.status, 204);
    api.ok(
        "POST",
        "/secrets/restore",
        Some(json!({"value": blob["value"]})),
    );
    let missing = api.kv("GET", "/secrets/nosuch", None);
    assert_eq!(missing.status, 404);

    let records = api
        .store
        .access_log("default", &LogQuery::default())
        .expect("read the log");
    let s = |op: &str, resource: String, status: u16| (op.to_string(), resource, status);
    let vault = "https://localhost".to_string();
    let aud = format!("{base}/aud");
    let boxed = format!("{base}/boxed");
    assert_eq!(
        summary(&records),
        vec![
            s("SecretSet", aud.clone(), 200),
            s("SecretSet", aud.clone(), 200),
            s("SecretGet", aud.clone(), 200),
            s("SecretGet", format!("{aud}/{ver1}"), 200),
            s("SecretUpdate", format!("{aud}/{ver1}"), 200),
            s("SecretUpdate", aud.clone(), 200),
            s("SecretGet", format!("{aud}/{ver1}"), 403),
            s("SecretSet", aud.clone(), 400),
            s("SecretList", vault.clone(), 200),
            s("SecretListVersions", aud.clone(), 200),
            s("SecretSet", boxed.clone(), 200),
            s("SecretBackup", boxed.clone(), 200),
            s("SecretDelete", boxed.clone(), 200),
            s("SecretListDeleted", vault.clone(), 200),
            s("SecretGetDeleted", boxed.clone(), 200),
            s("SecretRecover", boxed.clone(), 200),
            s("SecretDelete", boxed.clone(), 200),
            s("SecretPurge", boxed.clone(), 204),
            s("SecretRestore", vault, 200),
            s("SecretGet", format!("{base}/nosuch"), 404),
        ]
    );
    // Outcomes as Key Vault's AuditEvent spells them.
    let forbidden = &records[6];
    assert_eq!(
        (
            forbidden.result_type.as_str(),
            forbidden.result_signature.as_str(),
            forbidden.result_description.as_deref()
        ),
        ("Failure", "Forbidden", Some("Forbidden"))
    );
    assert_eq!(
        records[7].result_description.as_deref(),
        Some("BadParameter")
    );
    assert_eq!(
        records[19].result_description.as_deref(),
        Some("SecretNotFound")
    );
    assert!(records[..6].iter().all(|r| r.result_type == "Success"));
    assert_eq!(records[1].request_uri, "/secrets/aud");
    assert!(records.iter().all(|r| !r.request_uri.contains('?')));
    assert_ne!(ver1, ver2);

    // No value anywhere: in the records, the log's management answer, or the data directory.
    let as_json = serde_json::to_string(&records).expect("records JSON");
    let answer = api.raw(
        "GET",
        "localhost",
        "/management/vaults/default/accesslog",
        Vec::new(),
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let listed: Value = answer.json;
    assert_eq!(
        listed["value"].as_array().map(Vec::len),
        Some(records.len()),
        "the management route lists the same records"
    );
    api.store.flush().expect("flush");
    let mut files = Vec::new();
    let mut stack = vec![api.dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((
                    path.display().to_string(),
                    std::fs::read(&path).unwrap_or_default(),
                ));
            }
        }
    }
    assert!(
        files.iter().any(|(_, b)| contains(b, b"SecretRestore")),
        "the scan does not see the stored log"
    );
    for value in [&v1, &v2, &v3, &over] {
        // A 24-byte piece identifies a value: no other data holds it.
        let piece = &value.as_bytes()[..24];
        let shown = String::from_utf8_lossy(piece);
        assert!(
            !contains(as_json.as_bytes(), piece),
            "a record holds {shown}"
        );
        assert!(
            !contains(&answer.body, piece),
            "the log route shows {shown}"
        );
        for (path, bytes) in &files {
            assert!(!contains(bytes, piece), "{path} holds {shown}");
        }
    }
}

/// The same log from another host: a vault of kind `vault` at `{vault}.localhost`, whose
/// ids name that host.
#[test]
fn access_log_ids_name_the_host_of_the_vault() {
    let api = Api::new();
    api.store
        .create_vault("kv", localhsm::model::VaultOptions::default())
        .expect("vault kv");
    api.store.set_access_log("kv", true, None).expect("log on");
    let host = "kv.localhost:8443";
    let set = api.kv_at(
        "PUT",
        host,
        "/secrets/s",
        Some(json!({"value": "kv value 4f2a"})),
    );
    assert_eq!(set.status, 200, "{}", String::from_utf8_lossy(&set.body));
    let version = kid_version(set.json["id"].as_str().expect("id"));
    let got = api.kv_at("GET", host, &format!("/secrets/s/{version}"), None);
    assert_eq!(got.status, 200);
    let records = api
        .store
        .access_log("kv", &LogQuery::default())
        .expect("read the log");
    assert_eq!(
        summary(&records),
        vec![
            (
                "SecretSet".to_string(),
                format!("https://{host}/secrets/s"),
                200
            ),
            (
                "SecretGet".to_string(),
                format!("https://{host}/secrets/s/{version}"),
                200
            ),
        ]
    );
    // The default vault's log is off: nothing there.
    assert!(api
        .store
        .access_log("default", &LogQuery::default())
        .expect("default log")
        .is_empty());
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
