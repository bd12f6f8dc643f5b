//! Entry points for the fuzz targets in `fuzz/` and their regression tests
//! (`tests/fuzz_regressions.rs`). Built only with the `fuzzing` feature; not a stable API.
//!
//! Each function takes arbitrary bytes, feeds them to the real decoders (which are
//! crate-private), and panics only when an invariant breaks: a decoder that panics, a 5xx
//! answer to bad input, a key that imports but does not work. Malformed input that is
//! refused with an error is the expected outcome.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crate::clock::OffsetClock;
use crate::crypto::{
    HashAlg, Jwk, KeyFamily, KeyMaterial, KeyType, PublicKey, SecretBytes, SignatureAlgorithm,
};
use crate::error::ObjectKind;
use crate::keys::KeyVersion;
use crate::lifecycle::objects::BACKUP_MAGIC;
use crate::lifecycle::records::{parse_purge_entry, purge_entry, ObjectRecord, VaultRecord};
use crate::model::KeyOptions;
use crate::server::AppState;
use crate::store::seal::{backup_aad, object_aad, Purpose, Sealer};
use crate::store::{decode, encode};
use crate::{KeySpec, MasterKeySource, Store, Vault};

/// The master key of every store and sealer built here.
const MASTER: [u8; 32] = [0x5a; 32];

fn sealer() -> &'static Sealer {
    static SEALER: OnceLock<Sealer> = OnceLock::new();
    SEALER.get_or_init(|| Sealer::new(&SecretBytes::new(MASTER.to_vec())).expect("sealer"))
}

/// A store in a temporary directory that lives as long as the process. Changes are not
/// flushed one by one (a fuzzer makes many), which changes nothing about what is decoded.
fn temp_store(tag: &str, clock: Arc<OffsetClock>) -> Store {
    let tmp = std::env::temp_dir();
    remove_stale_stores(&tmp);
    let dir = tmp.join(format!(
        "localhsm-fuzz-{}-{tag}-{}",
        std::process::id(),
        hex::encode(crate::crypto::random_bytes(6).expect("random"))
    ));
    Store::builder(&dir)
        .master_key(MasterKeySource::Bytes(SecretBytes::new(MASTER.to_vec())))
        .clock(clock)
        .defer_flush(true)
        .open()
        .expect("temp store")
}

/// The stores of processes that have exited (`localhsm-fuzz-PID-...`; Linux only, where
/// `/proc` says which processes are alive).
fn remove_stale_stores(tmp: &std::path::Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("localhsm-fuzz-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

// --- JWK import -------------------------------------------------------------------------

/// JWK import: bytes -> JSON -> [`Jwk`] -> the import decoder (`KeyMaterial::from_jwk`) and
/// [`PublicKey::from_jwk`]. A key that imports must round-trip through its sealed form,
/// keep the public part it was given, and sign (EC) verifiably.
pub fn jwk_import(data: &[u8]) {
    let Ok(jwk) = serde_json::from_slice::<Jwk>(data) else {
        return;
    };
    let public = PublicKey::from_jwk(&jwk);
    let Ok(material) = KeyMaterial::from_jwk(&jwk) else {
        return;
    };
    let family = material.family();
    assert_eq!(Some(family), jwk.kty.map(KeyType::family));
    let spec = material.spec();
    let sealable = material.to_sealable();
    let back = KeyMaterial::from_sealable(sealable.expose()).expect("sealed form reopens");
    assert_eq!(back.spec(), spec);
    assert_eq!(back.to_sealable().expose(), sealable.expose());
    let their_public = material.public_jwk();
    if family != KeyFamily::Oct {
        let ours = PublicKey::from_jwk(&their_public).expect("own public JWK parses");
        // When the JWK carried public members too, they were checked against the private key.
        if jwk.x.is_some() || jwk.n.is_some() {
            assert!(
                public.is_ok(),
                "private key imported, its public part did not"
            );
        }
        if let KeySpec::Ec(curve) = spec {
            let alg = match curve {
                crate::crypto::CurveName::P256 => SignatureAlgorithm::ES256,
                crate::crypto::CurveName::P384 => SignatureAlgorithm::ES384,
                crate::crypto::CurveName::P521 => SignatureAlgorithm::ES512,
                crate::crypto::CurveName::P256K => SignatureAlgorithm::ES256K,
            };
            let digest = HashAlg::digest(alg.hash(), b"fuzz");
            let sig = material
                .sign_digest(alg, &digest)
                .expect("imported key signs");
            assert!(ours.verify_digest(alg, &digest, &sig).expect("verify runs"));
            if let Ok(given) = &public {
                assert!(given
                    .verify_digest(alg, &digest, &sig)
                    .expect("verify runs"));
            }
        }
    }
}

// --- REST request decoding --------------------------------------------------------------

struct Server {
    runtime: tokio::runtime::Runtime,
    state: AppState,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let clock = Arc::new(OffsetClock::new());
        let store = temp_store("rest", clock.clone());
        crate::server::ensure_default_vault(&store).expect("default vault");
        store
            .set_access_log(crate::server::DEFAULT_VAULT, true, Some(1))
            .expect("access log");
        let vault = store.vault(crate::server::DEFAULT_VAULT).expect("vault");
        for (name, kty, spec) in [
            (
                "ec",
                KeyType::EcHsm,
                KeySpec::Ec(crate::crypto::CurveName::P256),
            ),
            ("rsa", KeyType::RsaHsm, KeySpec::Rsa(2048)),
            ("aes", KeyType::OctHsm, KeySpec::Oct(256)),
        ] {
            vault
                .create_key(name, kty, spec, KeyOptions::default())
                .expect("seed key");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Server {
            runtime,
            state: AppState { store, clock },
        }
    })
}

/// A request as the `rest_request` target reads it from bytes. The first byte: bits 0-2
/// pick the method; bit 7 set sends no `Authorization` header; bit 6 set takes the `Host`
/// header from the next line (empty: no `Host`, so an absolute URI's authority is used);
/// bit 5 set takes the bearer token from the next line. Then the path and query up to a
/// newline, then those lines, then the body.
#[derive(Debug)]
pub struct RestInput<'a> {
    /// The method.
    pub method: Method,
    /// The bearer token, if any.
    pub token: Option<&'a [u8]>,
    /// The `Host` header, if any.
    pub host: Option<&'a [u8]>,
    /// Path and query (or an absolute URI).
    pub uri: &'a [u8],
    /// The body.
    pub body: &'a [u8],
}

/// Splits fuzz input into a [`RestInput`].
pub fn rest_input(data: &[u8]) -> Option<RestInput<'_>> {
    let (&first, rest) = data.split_first()?;
    let method = match first & 0x07 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::PUT,
        3 => Method::PATCH,
        4 => Method::DELETE,
        5 => Method::HEAD,
        6 => Method::OPTIONS,
        _ => Method::TRACE,
    };
    let mut rest = rest;
    let mut line = || {
        let (l, r) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = r;
        l
    };
    let uri = line();
    let host = if first & 0x40 != 0 {
        Some(line()).filter(|h| !h.is_empty())
    } else {
        Some(&b"localhost:8443"[..])
    };
    let token = if first & 0x20 != 0 {
        Some(line())
    } else {
        Some(&b"fuzz"[..])
    };
    let token = token.filter(|_| first & 0x80 == 0);
    Some(RestInput {
        method,
        token,
        host,
        uri,
        body: rest,
    })
}

/// REST request decoding: bytes -> method, path, query and body -> the server's router,
/// in process ([`crate::server::call`]), over a store created once. Never a 5xx; every 4xx
/// carries Key Vault's JSON error shape.
pub fn rest_request(data: &[u8]) {
    let _ = rest_call(data);
}

/// [`rest_request`], returning the answer's status and body (`None` when the bytes are no
/// request).
pub fn rest_call(data: &[u8]) -> Option<(StatusCode, Vec<u8>)> {
    let RestInput {
        method,
        token,
        host,
        uri,
        body,
    } = rest_input(data)?;
    let mut req = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(host) = host {
        req = req.header("host", host);
    }
    if let Some(token) = token {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(token);
        req = req.header("authorization", value);
    }
    // Bytes that http refuses as a request never reach the server either.
    let req = req.body(Body::from(body.to_vec())).ok()?;
    let server = server();
    let app = crate::server::router(server.state.clone());
    let (status, bytes) = server.runtime.block_on(async {
        let resp = crate::server::call(app, req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("response body");
        (status, bytes)
    });
    assert!(
        !status.is_server_error(),
        "{method} {} -> {status}: {}",
        String::from_utf8_lossy(uri),
        String::from_utf8_lossy(&bytes)
    );
    if status.is_client_error() && method != Method::HEAD {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status} body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{status} body is not a Key Vault error: {v}"
        );
    }
    if status == StatusCode::OK && method != Method::HEAD && !bytes.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("a 200 body is JSON");
    }
    // Keep the fuzzer's world usable: a deleted default vault is brought back.
    let store = &server.state.store;
    if store.vault(crate::server::DEFAULT_VAULT).is_err() {
        let _ = store.recover_vault(crate::server::DEFAULT_VAULT);
    }
    Some((status, bytes.to_vec()))
}

// --- backup blobs -----------------------------------------------------------------------

struct Backups {
    vault: Vault,
    blob: Vec<u8>,
}

fn backups() -> &'static Backups {
    static BACKUPS: OnceLock<Backups> = OnceLock::new();
    BACKUPS.get_or_init(|| {
        let store = temp_store("backup", Arc::new(OffsetClock::new()));
        let info = store
            .create_vault(
                "fuzz",
                crate::model::VaultOptions {
                    kind: crate::model::VaultKind::ManagedHsm,
                    ..Default::default()
                },
            )
            .expect("vault");
        let vault = store.vault(&info.name).expect("vault");
        vault
            .create_key(
                "backed-up",
                KeyType::EcHsm,
                KeySpec::Ec(crate::crypto::CurveName::P256),
                KeyOptions::default(),
            )
            .expect("key");
        vault.rotate_key("backed-up").expect("second version");
        let blob = vault.backup_key("backed-up").expect("backup");
        Backups { vault, blob }
    })
}

/// A real backup blob (two versions of an EC P-256 key) of the store the `backup_blob`
/// target restores into.
pub fn real_backup_blob() -> Vec<u8> {
    backups().blob.clone()
}

/// Seals `payload` as a backup blob of the `backup_blob` target's store (same master key),
/// so the decoding behind the authentication can be fuzzed.
pub fn seal_backup_payload(payload: &[u8]) -> Vec<u8> {
    let mut blob = BACKUP_MAGIC.to_vec();
    blob.extend(
        sealer()
            .seal(Purpose::Backup, &backup_aad(ObjectKind::Key), payload)
            .expect("seal"),
    );
    blob
}

/// Backup blobs: the first byte picks the mode. 0: the rest is a blob. 1: the rest mutates
/// a real blob (pairs of position and xor mask; a final odd byte truncates). 2: the rest is
/// a payload, sealed under the store's backup key so it reaches the decoder. The restore
/// must refuse what it cannot authenticate and never panic; a payload that restores is
/// deleted and purged again.
pub fn backup_blob(data: &[u8]) {
    let _ = backup_restore(data);
}

/// [`backup_blob`], returning the name of the key restored or the error (`None` for empty
/// input).
pub fn backup_restore(data: &[u8]) -> Option<crate::Result<String>> {
    let (&mode, rest) = data.split_first()?;
    let b = backups();
    let blob = match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            let mut blob = b.blob.clone();
            let mut pairs = rest.chunks_exact(2);
            for pair in pairs.by_ref() {
                let at = usize::from(pair[0]) * blob.len() / 256;
                blob[at] ^= pair[1];
            }
            if let [cut] = pairs.remainder() {
                blob.truncate(usize::from(*cut) * blob.len() / 256);
            }
            blob
        }
        _ => seal_backup_payload(rest),
    };
    Some(match b.vault.restore_key(&blob) {
        Ok(bundle) => {
            assert_eq!(mode % 3, 2, "an unauthenticated blob restored");
            let name = bundle.name.clone();
            let (versions, _) = b
                .vault
                .all_key_versions(&name, false)
                .expect("restored versions");
            for v in &versions {
                restored_key_is_whole(&b.vault, v);
            }
            b.vault.delete_key(&name).expect("delete restored");
            b.vault.purge_deleted_key(&name).expect("purge restored");
            Ok(name)
        }
        Err(e) => {
            let status = e.wire().status;
            assert!(status < 500, "restore answered {status}: {e}");
            Err(e)
        }
    })
}

/// A restored key version is what its bundle says: the private material is of the key type
/// shown, and (EC, RSA) signs what the public key shown verifies.
fn restored_key_is_whole(vault: &Vault, bundle: &crate::model::KeyBundle) {
    let handle = vault
        .key(&bundle.name, Some(&bundle.version))
        .expect("a restored version resolves");
    let family = handle.material().family();
    assert_eq!(family, bundle.kty.family(), "material and key type differ");
    let alg = match handle.material().spec() {
        KeySpec::Ec(crate::crypto::CurveName::P256) => SignatureAlgorithm::ES256,
        KeySpec::Ec(crate::crypto::CurveName::P384) => SignatureAlgorithm::ES384,
        KeySpec::Ec(crate::crypto::CurveName::P521) => SignatureAlgorithm::ES512,
        KeySpec::Ec(crate::crypto::CurveName::P256K) => SignatureAlgorithm::ES256K,
        KeySpec::Rsa(_) => SignatureAlgorithm::RS256,
        KeySpec::Oct(_) => return,
    };
    let digest = HashAlg::digest(alg.hash(), b"restored");
    // Through the material: the record's key_ops and dates are the payload's to choose.
    let sig = handle.material().sign_digest(alg, &digest).expect("sign");
    let shown = PublicKey::from_jwk(&bundle.key).expect("the public key shown parses");
    assert!(
        shown.verify_digest(alg, &digest, &sig).unwrap_or(false),
        "the public key shown is not the restored key's"
    );
}

// --- sealed records ---------------------------------------------------------------------

/// The record and material decoders: the stored records (vault, key, version), the purge
/// queue key, the sealed envelope, and the sealed key material form. The first byte picks
/// the decoder; what decodes must encode back to an equivalent value.
pub fn sealed_record(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(r) = decode::<VaultRecord>("vault", rest) {
                let again: VaultRecord = decode("vault", &encode(&r)).expect("re-decode");
                assert_eq!(again.name, r.name);
            }
        }
        1 => {
            if let Ok(r) = decode::<ObjectRecord>("key", rest) {
                let again: ObjectRecord = decode("key", &encode(&r)).expect("re-decode");
                assert_eq!(again.versions, r.versions);
            }
        }
        2 => {
            // A stored version record and its material, as the key layer reads them.
            if let Ok(vr) = decode::<KeyVersion>("key version", rest) {
                let aad = object_aad(ObjectKind::Key, "fuzz", "key", "v");
                if let Some(plain) = sealer().open(Purpose::Record, &aad, &vr.sealed.0) {
                    let _ = KeyMaterial::from_sealable(plain.expose());
                }
                let _ = PublicKey::from_jwk(&vr.public);
                let again: KeyVersion = decode("key version", &encode(&vr)).expect("re-decode");
                assert_eq!(again.sealed, vr.sealed);
            }
        }
        3 => {
            if let Some((due, kind, id)) = parse_purge_entry(rest) {
                assert_eq!(purge_entry(due, kind, id), rest);
            }
        }
        4 => {
            // The sealed envelope: arbitrary bytes must not open.
            for purpose in [Purpose::Record, Purpose::Backup] {
                assert!(sealer().open(purpose, b"fuzz", rest).is_none());
            }
        }
        _ => {
            // The sealed key material form, sealed and reopened as the store does.
            let aad = object_aad(ObjectKind::Key, "fuzz", "key", "v");
            let sealed = sealer().seal(Purpose::Record, &aad, rest).expect("seal");
            let plain = sealer()
                .open(Purpose::Record, &aad, &sealed)
                .expect("own seal opens");
            if let Ok(m) = KeyMaterial::from_sealable(plain.expose()) {
                let again = m.to_sealable();
                let m2 = KeyMaterial::from_sealable(again.expose()).expect("re-decode");
                assert_eq!(m2.spec(), m.spec());
                assert_eq!(m2.to_sealable().expose(), again.expose());
            }
        }
    }
}
