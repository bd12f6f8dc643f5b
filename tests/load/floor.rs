//! The floor of the load test: the least an HTTPS server can do to answer Key Vault's sign
//! request. hyper 1 over rustls (aws-lc-rs provider, a P-256 certificate from rcgen, as
//! `localhsm serve` uses), on a multi-threaded tokio runtime with the default worker count (as
//! `localhsm serve`), one route: `POST /keys/{name}/{version}/sign?api-version=...` with the
//! JSON body `{"alg":"ES256","value":"<base64url digest>"}`, parsed once with serde_json into a
//! typed struct, signed with aws-lc-rs's `EcdsaKeyPair::sign_digest` (ECDSA P-256, fixed
//! `r||s`: the primitive `localhsm` signs with), answered `{"kid":"...","value":"..."}`.
//! No store, no key lookup, no authorization, no logging: what `localhsm` spends beyond this is
//! its own overhead.
//!
//! It runs in a process of its own, as `localhsm serve` does, so that it competes with the load
//! generator for the CPUs in the same way: the test binary starts itself again with only the
//! ignored test [`process`] selected and [`DIR_ENV`] naming a directory, where the floor writes
//! its certificate ([`CERT_FILE`]) and its public key ([`PUBLIC_KEY_FILE`]) before it prints
//! `floor listening on https://ADDR`. It exits when its standard input closes, so it does not
//! outlive the test that started it.

use std::convert::Infallible;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The directory the floor writes its files to; set only in the floor's own process.
pub const DIR_ENV: &str = "LOCALHSM_LOAD_FLOOR_DIR";
/// The self-signed certificate (PEM) clients trust, in [`DIR_ENV`].
pub const CERT_FILE: &str = "cert.pem";
/// The signing key's public point (SEC1, uncompressed), in [`DIR_ENV`].
pub const PUBLIC_KEY_FILE: &str = "public-key.sec1";
/// What the floor prints, followed by its address, once it accepts connections.
pub const LISTENING: &str = "floor listening on https://";

/// Largest request body read; a sign request is about 80 bytes.
const MAX_BODY: usize = 64 * 1024;

/// The name of the [`process`] test in this test binary, for `--exact`.
pub fn test_name() -> String {
    // module_path!() starts with the test target's crate name, which libtest leaves out.
    let path = module_path!();
    let path = path.split_once("::").map_or(path, |(_, rest)| rest);
    format!("{path}::process")
}

/// The floor server's process. Ignored, and inert unless [`DIR_ENV`] is set: the load
/// harness (`driver::Server::start_floor`) starts it in a child process.
#[test]
#[ignore = "the floor server of tests/load; the load harness starts it in its own process"]
fn process() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        println!("{DIR_ENV} is not set: this is the floor server process of tests/load");
        return;
    };
    // The parent holds our stdin; when it exits, however it exits, so do we.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(serve(Path::new(&dir)));
}

/// What every request shares.
struct Floor {
    key: EcdsaKeyPair,
    /// `https://localhost:PORT`, the start of every `kid`.
    base: String,
}

async fn serve(dir: &Path) {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    std::fs::write(dir.join(PUBLIC_KEY_FILE), key.public_key().as_ref()).expect("public key");
    let tls = TlsAcceptor::from(Arc::new(tls_config(dir)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let floor = Arc::new(Floor {
        key,
        base: format!("https://localhost:{}", addr.port()),
    });
    println!("{LISTENING}{addr}");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (tls, floor) = (tls.clone(), floor.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let floor = floor.clone();
                async move { Ok::<_, Infallible>(answer(&floor, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A self-signed ECDSA P-256 certificate for `localhost`, written to [`CERT_FILE`].
fn tls_config(dir: &Path) -> rustls::ServerConfig {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("TLS key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("certificate parameters")
        .self_signed(&key)
        .expect("certificate");
    std::fs::write(dir.join(CERT_FILE), cert.pem()).expect("cert.pem");
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der)
    .expect("TLS certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

#[derive(Deserialize)]
struct SignRequest {
    alg: String,
    value: String,
}

#[derive(Serialize)]
struct SignResult<'a> {
    kid: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

type Refusal = (StatusCode, &'static str, String);

async fn answer(floor: &Floor, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match sign(floor, req).await {
        Ok(body) => json(StatusCode::OK, body),
        Err((status, code, message)) => {
            let body = ErrorBody {
                error: ErrorDetail {
                    code,
                    message: &message,
                },
            };
            json(status, serde_json::to_vec(&body).expect("JSON"))
        }
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn bad(message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, "BadParameter", message.into())
}

async fn sign(floor: &Floor, req: Request<Incoming>) -> Result<Vec<u8>, Refusal> {
    let segments: Vec<&str> = req.uri().path().split('/').collect();
    let (name, version) = match segments.as_slice() {
        ["", "keys", name, version, "sign"] if !name.is_empty() && !version.is_empty() => {
            (name.to_string(), version.to_string())
        }
        _ => {
            return Err((
                StatusCode::NOT_FOUND,
                "NotFound",
                "only POST /keys/{name}/{version}/sign is served".into(),
            ))
        }
    };
    if req.method() != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "sign is a POST".into(),
        ));
    }
    let api_version = req.uri().query().is_some_and(|q| {
        q.split('&').any(|p| {
            p.strip_prefix("api-version=")
                .is_some_and(|v| !v.is_empty())
        })
    });
    if !api_version {
        return Err(bad("the api-version query parameter is required"));
    }
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| bad(format!("request body: {e}")))?
        .to_bytes();
    let request: SignRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("request body: {e}")))?;
    if request.alg != "ES256" {
        return Err(bad(format!("alg {:?}: only ES256 is served", request.alg)));
    }
    let digest = URL_SAFE_NO_PAD
        .decode(&request.value)
        .map_err(|e| bad(format!("value: {e}")))?;
    let digest = Digest::import_less_safe(&digest, &SHA256)
        .map_err(|_| bad("value: the digest must be 32 bytes for ES256"))?;
    let signature = floor.key.sign_digest(&digest).map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "signing failed".to_string(),
        )
    })?;
    let kid = format!("{}/keys/{name}/{version}", floor.base);
    let value = URL_SAFE_NO_PAD.encode(signature.as_ref());
    Ok(serde_json::to_vec(&SignResult {
        kid: &kid,
        value: &value,
    })
    .expect("JSON"))
}
