//! What the server does with `api-version`, with calls it does not implement, and with a
//! body over its limit:
//! - every version of the Key Vault specifications (7.0 to the newest) is served, a later
//!   one too (logged once) unless `serve --strict-api-version`; an earlier or malformed one
//!   is a 400 naming the supported versions;
//! - every call of the specifications localhsm has no route for is a 501 `NotImplemented`
//!   naming it, and a path in neither table stays a 404 or 405;
//! - a body over the limit is a 413 in Key Vault's error shape that a client reads over
//!   TLS, whether it sends the whole body, asks `Expect: 100-continue` first, or sends it
//!   in chunks; the connection is closed afterwards, never reset.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use localhsm::api::unimplemented::{FAMILIES, UNIMPLEMENTED};
use localhsm::api::versions::{VersionPolicy, KNOWN, NEWEST};
use localhsm::server::MAX_BODY_BYTES;
use serde_json::{json, Value};
use support::{serve_command, Api, Reply, Server};

fn get(api: &Api, path_and_query: &str) -> Reply {
    api.raw("GET", "localhost", path_and_query, Vec::new())
}

fn assert_error(r: &Reply, status: u16, code: &str, message: &str, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.error_shape_problem(), None, "{what}");
    assert_eq!(r.code(), Some(code), "{what}: {}", r.json);
    let got = r.message().unwrap_or_default();
    assert!(got.contains(message), "{what}: {got:?} lacks {message:?}");
}

#[test]
fn every_version_of_the_specifications_is_served_on_keys_and_role_routes() {
    let api = Api::new();
    api.ok(
        "POST",
        "/keys/av/create",
        Some(json!({"kty": "EC-HSM", "crv": "P-256"})),
    );
    api.ok("POST", "/keys/av2/create", Some(json!({"kty": "EC-HSM"})));
    assert!(KNOWN.contains(&"7.0") && KNOWN.contains(&"2026-04-01"));
    for v in KNOWN {
        let r = get(&api, &format!("/keys/av?api-version={v}"));
        assert_eq!(r.status, 200, "{v}: {}", r.json);
        assert_eq!(r.json["key"]["crv"], "P-256", "{v}");
        let r = get(
            &api,
            &format!("/providers/Microsoft.Authorization/roleDefinitions?api-version={v}"),
        );
        assert_eq!(r.status, 200, "{v}: {}", r.json);
        // A listing's next link carries the client's own version on.
        let r = get(&api, &format!("/keys?maxresults=1&api-version={v}"));
        let next = r.json["nextLink"].as_str().expect("a next link");
        assert!(next.contains(&format!("api-version={v}&")), "{next}");
    }
}

#[test]
fn later_versions_are_served_as_the_newest_and_strict_mode_refuses_them() {
    let api = Api::new();
    let strict = api
        .app
        .clone()
        .layer(Extension(VersionPolicy { strict: true }));
    let strict_get = |path: &str| {
        let req = axum::http::Request::get(path)
            .header("host", "localhost")
            .header("authorization", "Bearer x")
            .body(axum::body::Body::empty())
            .expect("request");
        let app = strict.clone();
        api.rt.block_on(async move {
            let resp = localhsm::server::call(app, req).await;
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body")
                .to_vec();
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Reply { status, body, json }
        })
    };
    for v in ["2026-07-01", "2026-10-01-preview", "2031-01-01", "7.7"] {
        let r = get(&api, &format!("/keys?api-version={v}"));
        assert_eq!(r.status, 200, "{v}: {}", r.json);
        let r = strict_get(&format!("/keys?api-version={v}"));
        assert_error(
            &r,
            400,
            "BadParameter",
            &format!("api-version {v:?} is not supported"),
            v,
        );
        assert!(r.message().unwrap().contains(NEWEST));
    }
    for v in ["7.0", "7.6-preview.2", NEWEST] {
        assert_eq!(
            strict_get(&format!("/keys?api-version={v}")).status,
            200,
            "{v}"
        );
    }
}

#[test]
fn earlier_and_malformed_versions_are_bad_parameters_naming_the_supported_ones() {
    let api = Api::new();
    for v in [
        "2016-10-01",
        "2015-06-01",
        "6.0",
        "7.6-preview.3",
        "2026-06-01",
        "7.5.1",
        "1.0",
        "latest",
        "",
    ] {
        for path in [
            format!("/keys?api-version={v}"),
            format!("/secrets/s1?api-version={v}"),
            format!("/providers/Microsoft.Authorization/roleAssignments?api-version={v}"),
        ] {
            let r = get(&api, &path);
            assert_error(
                &r,
                400,
                "BadParameter",
                &format!("api-version {v:?} is not supported"),
                &path,
            );
            let m = r.message().unwrap();
            assert!(m.contains("7.0, 7.1-preview") && m.contains(NEWEST), "{m}");
        }
    }
    let r = get(&api, "/keys");
    assert_error(
        &r,
        400,
        "BadParameter",
        "api-version query parameter is required",
        "none",
    );
}

/// A request path for a call of the table: its placeholders filled.
fn sample(path: &str) -> String {
    let filled: Vec<&str> = path
        .split('/')
        .map(|p| match p {
            "{key-version}" => "0123456789abcdef0123456789abcdef",
            p if p.starts_with('{') => "n-1",
            p => p,
        })
        .collect();
    format!("/{}", filled.join("/"))
}

#[test]
fn every_call_the_server_lacks_is_not_implemented_naming_it() {
    let api = Api::new();
    api.ok(
        "POST",
        "/keys/n-1/create",
        Some(json!({"kty": "RSA-HSM", "key_size": 2048})),
    );
    assert!(UNIMPLEMENTED.len() >= 30);
    for u in UNIMPLEMENTED {
        for version in ["7.0", "7.5", NEWEST] {
            let path = format!("{}?api-version={version}", sample(u.path));
            let body =
                if u.method == axum::http::Method::GET || u.method == axum::http::Method::DELETE {
                    Vec::new()
                } else {
                    b"{}".to_vec()
                };
            let r = api.raw(u.method.as_str(), "localhost", &path, body);
            let what = format!("{} {path}", u.method);
            assert_error(&r, 501, "NotImplemented", u.operation, &what);
            assert!(
                r.message()
                    .unwrap()
                    .contains(&format!("{} /{}", u.method, u.path)),
                "{what}: {:?}",
                r.message()
            );
        }
    }
    // The families a later specification may add calls to.
    for (first, what) in FAMILIES {
        let path = format!("/{first}/new/call?api-version={NEWEST}");
        let r = api.raw("PUT", "localhost", &path, b"{}".to_vec());
        assert_error(&r, 501, "NotImplemented", what, &path);
    }
    // The calls the SDKs make most often among these, by name.
    let r = api.raw(
        "POST",
        "localhost",
        &format!("/keys/n-1//release?api-version={NEWEST}"),
        br#"{"target":"x"}"#.to_vec(),
    );
    assert_error(&r, 501, "NotImplemented", "Release Key", "release");
    let r = get(&api, "/keys/n-1//attestation?api-version=7.6");
    assert_error(
        &r,
        501,
        "NotImplemented",
        "Get Key Attestation",
        "attestation",
    );
    // A name Key Vault forbids is still a 400, before anything else.
    let r = get(&api, "/keys/bad_name/v1/attestation?api-version=7.6");
    assert_error(&r, 400, "BadParameter", "bad_name", "bad name");
}

#[test]
fn paths_in_neither_table_are_still_404_or_405() {
    let api = Api::new();
    for (method, path, status, code) in [
        ("POST", "/keys/k1/v1/frobnicate", 404, "NotFound"),
        ("POST", "/frobnicate", 404, "NotFound"),
        ("GET", "/storages", 404, "NotFound"),
        ("POST", "/keys/k1/release", 405, "MethodNotAllowed"),
        ("GET", "/keys/k1/v1/release", 404, "NotFound"),
        ("GET", "/keys/k1/v1/sign", 405, "MethodNotAllowed"),
        ("PUT", "/keys", 405, "MethodNotAllowed"),
        ("DELETE", "/rng", 405, "MethodNotAllowed"),
    ] {
        let r = api.raw(
            method,
            "localhost",
            &format!("{path}?api-version=7.5"),
            Vec::new(),
        );
        assert_eq!(r.status, status, "{method} {path}: {}", r.json);
        assert_eq!(r.code(), Some(code), "{method} {path}");
    }
}

// --- a real server -------------------------------------------------------------------

/// `localhsm serve` with `args`, its standard error in `DIR/../stderr.log`.
fn start(dir: &Path, args: &[&str]) -> Server {
    use std::io::BufRead;
    let stderr = std::fs::File::create(dir.with_extension("stderr.log")).expect("stderr file");
    let mut child = serve_command(dir, &[])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("localhsm serve");
    let out = child.stdout.take().expect("stdout");
    let stdout = Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = stdout.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("localhsm listening on https://") {
                let _ = tx.send(addr.trim().to_string());
            }
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            s.push_str(&line);
            s.push('\n');
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr.parse().expect("address"),
        Err(_) => {
            let _ = child.kill();
            panic!("the server did not start: {:?}", child.wait());
        }
    };
    Server {
        child,
        addr,
        dir: dir.to_path_buf(),
        stdout,
    }
}

fn stderr_of(server: &Server) -> String {
    std::fs::read_to_string(server.dir.with_extension("stderr.log")).unwrap_or_default()
}

#[test]
fn a_served_later_version_is_logged_once_and_the_strict_flag_refuses_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let lenient = start(&tmp.path().join("lenient"), &[]);
    let client = lenient.client();
    let port = lenient.addr.port();
    for v in [
        "2027-01-01",
        "2027-01-01",
        "2027-01-01",
        "2027-02-01-preview",
    ] {
        let (status, body) = support::http(
            &client,
            "GET",
            &format!("https://localhost:{port}/keys?api-version={v}"),
            None,
        )
        .expect("request");
        assert_eq!(status, 200, "{v}: {body}");
    }
    let log = stderr_of(&lenient);
    let about = |v: &str| {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains(v) && l.contains(NEWEST))
            .count()
    };
    assert_eq!(about("2027-01-01"), 1, "{log}");
    assert_eq!(about("2027-02-01-preview"), 1, "{log}");

    let strict = start(&tmp.path().join("strict"), &["--strict-api-version"]);
    let port = strict.addr.port();
    let client = strict.client();
    let (status, body) = support::http(
        &client,
        "GET",
        &format!("https://localhost:{port}/keys?api-version=2027-01-01"),
        None,
    )
    .expect("request");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BadParameter");
    let (status, _) = support::http(
        &client,
        "GET",
        &format!("https://localhost:{port}/keys?api-version=7.1"),
        None,
    )
    .expect("request");
    assert_eq!(status, 200);
    assert!(!stderr_of(&strict).contains("newer than any"));
}

/// A TLS connection to `server` that trusts its CA, as `localhost`.
fn tls(server: &Server) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let ca =
        rustls::pki_types::CertificateDer::from_pem_file(server.dir.join("tls").join("cert.pem"))
            .expect("CA certificate");
    roots.add(ca).expect("CA");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1: the case where a reset loses the answer.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS");
    let sock = TcpStream::connect(server.addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    sock.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

/// What a raw client read back: the status line, the headers (lower-case names) and the
/// body, up to the end of the connection.
struct Answer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads one response (then the connection's end) from `stream`.
fn read_answer(stream: &mut impl Read) -> Answer {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A peer that closes without TLS close_notify ends the stream here too; a reset
            // before the answer leaves `raw` empty and fails below.
            Err(e) => {
                assert!(
                    !raw.is_empty(),
                    "no answer before the connection failed: {e}"
                );
                break;
            }
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                break;
            }
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status_line,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

fn head(server: &Server, extra: &str) -> String {
    format!(
        "PUT /secrets/big?api-version=7.5 HTTP/1.1\r\nHost: localhost:{}\r\n\
         Authorization: Bearer x\r\nContent-Type: application/json\r\n{extra}\r\n",
        server.addr.port()
    )
}

fn assert_413(a: &Answer, what: &str) {
    assert!(
        a.status_line.starts_with("HTTP/1.1 413"),
        "{what}: {} {:?}",
        a.status_line,
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.header("connection"), Some("close"), "{what}");
    let j = a.json();
    assert_eq!(j["error"]["code"], "RequestTooLarge", "{what}: {j}");
    let m = j["error"]["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(&format!("exceeds {MAX_BODY_BYTES} bytes")),
        "{what}: {m}"
    );
}

#[test]
fn an_oversized_body_gets_a_413_the_client_reads_over_tls() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = start(&tmp.path().join("data"), &[]);
    // More than the socket buffers of both ends hold, so a server that stopped reading
    // would make the upload fail.
    let size = 7 * MAX_BODY_BYTES + 12_345;
    let chunk = vec![b'a'; 64 * 1024];

    // The whole body sent, with its length declared: read to the end, then answered.
    let mut s = tls(&server);
    s.write_all(head(&server, &format!("Content-Length: {size}\r\n")).as_bytes())
        .expect("head");
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n]).unwrap_or_else(|e| {
            panic!("the server reset the upload at {} bytes: {e}", size - left)
        });
        left -= n;
    }
    s.flush().expect("flush");
    assert_413(&read_answer(&mut s), "Content-Length");

    // `Expect: 100-continue`: answered at once, no `100 Continue`, no byte of the body sent.
    let mut s = tls(&server);
    s.write_all(
        head(
            &server,
            &format!("Content-Length: {size}\r\nExpect: 100-continue\r\n"),
        )
        .as_bytes(),
    )
    .expect("head");
    s.flush().expect("flush");
    let a = read_answer(&mut s);
    assert_413(&a, "Expect: 100-continue");

    // A chunked body: read until past the limit, drained, answered.
    let mut s = tls(&server);
    s.write_all(head(&server, "Transfer-Encoding: chunked\r\n").as_bytes())
        .expect("head");
    let mut sent = 0;
    while sent < size {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|_| s.write_all(&chunk))
            .and_then(|_| s.write_all(b"\r\n"))
            .unwrap_or_else(|e| panic!("the server reset the upload at {sent} bytes: {e}"));
        sent += chunk.len();
    }
    s.write_all(b"0\r\n\r\n").expect("last chunk");
    s.flush().expect("flush");
    assert_413(&read_answer(&mut s), "chunked");

    // A body declared far past what the server drains: answered without waiting for it.
    let mut s = tls(&server);
    s.write_all(head(&server, "Content-Length: 1073741824\r\n").as_bytes())
        .expect("head");
    s.flush().expect("flush");
    let started = std::time::Instant::now();
    assert_413(&read_answer(&mut s), "1 GiB declared");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A body at the limit is read to its end and served as before (a member the call
    // ignores fills it).
    let padding = "p".repeat(MAX_BODY_BYTES - 64);
    let body = json!({ "value": "at the limit", "padding": padding }).to_string();
    assert!(body.len() <= MAX_BODY_BYTES && body.len() > MAX_BODY_BYTES - 100);
    let mut s = tls(&server);
    s.write_all(
        head(
            &server,
            &format!("Content-Length: {}\r\nConnection: close\r\n", body.len()),
        )
        .as_bytes(),
    )
    .expect("head");
    s.write_all(body.as_bytes()).expect("body");
    s.flush().expect("flush");
    let a = read_answer(&mut s);
    assert!(
        a.status_line.starts_with("HTTP/1.1 200"),
        "{}: {}",
        a.status_line,
        a.json()
    );
    assert_eq!(a.json()["value"], "at the limit");
}

#[test]
fn an_oversized_body_in_process_is_the_same_413() {
    let api = Api::new();
    let r = api.raw(
        "PUT",
        "localhost",
        "/secrets/big?api-version=7.5",
        vec![b' '; MAX_BODY_BYTES + 1],
    );
    assert_error(&r, 413, "RequestTooLarge", "exceeds", "in process");
}
