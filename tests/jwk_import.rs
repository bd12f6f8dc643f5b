//! Guards against importing malformed or unsafe keys: RSA under 2048 bits, an even modulus,
//! EC points off the curve, oct keys of the wrong length, inconsistent CRT parameters and
//! their kin. Each must be refused with `Error::BadParameter` (400 `BadParameter` on the
//! wire) whose message names the problem, through `Vault::import_key` and through
//! `PUT /keys/{name}`, and nothing may be stored.

mod support;

use localhsm::crypto::jwk::{b64url_decode, b64url_encode};
use localhsm::crypto::Jwk;
use localhsm::model::KeyOptions;
use localhsm::Error;
use serde_json::{json, Value};
use support::{snapshot, snapshot_diff, vector_key_json, Api};

/// A consistent RSA-1024 key (made with Python `cryptography`): valid, but too small.
const RSA_1024: &str = r#"{"kty": "RSA", "n": "ocGjCVf5jnOVI7vs7EoAKrGxB3-5dHXzzAzeBBgdYPrnDGN5eYNSxhimxw8B9mZYaRx3HvQVvcJ0x8ME5LS4ckeQMeLoP-h98_SzE-yv5J2xE6M20gfZg_m2-eRShnxXEIv_VMR1gsKYH1JBUjPwOzxzrQ_WwEsv1nriZiTEcMc", "e": "AQAB", "d": "I_EEqvTTTKW-A7yj_jTLKLFm5oWozYnP7A0H390D2iKl6AjKWwelAsNDe4OIKhm_l0tt5IDTu-BTVnesxKyrNs7hBPua8Z_v080zY88nFTtU-afMjnvpSOSNBS4bIPQISZAJcWcToP8zNYuu06rG0Gvq3fHGEcu5NC4_Wqs8xrE", "p": "z3Y_HzgmAMXe9ahAKsNTjAmPVj2_Y7oJ6sOHLd7UGhsahyVSBeOuGp2AS1gzwdaL2FZLuAO8rXKdpftNuSA8gw", "q": "x5nl4oZGOffL6mrm1wEg5rhpUcA_0EC5WWvgN2DVGfVm6Xq8qVCbiq_koMyml5uLjNeyDyX20lIpVfK3nVUPbQ", "dp": "pEFK2Lzr2dDQJk9__luH2mf3RKC-14aEM4t7i6XQ6Jps9nNl7aPGROxOl1jOIbpsHmy0pozO5cTJbJD7iIctYQ", "dq": "Brcx2d5ErJyeusNgAunhzoFz4bFDNGGJGu4bPCHA6b-s97wObu_sW80xNwvLqxwrpNB5CDNxy3_CLkcdUGjVPQ", "qi": "WMLjIeJf06VRybpffso_H0bfNbvlKvZzalBKwF542Rh73yFofY0X63trmldK3xF-6uhs-362URbk77lkK5QiPg"}"#;

/// The P-256 generator: a point on the curve, but not the vector key's public point.
const P256_GX: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const P256_GY: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
/// The P-256 group order n: not a valid private scalar.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn b64(bytes: &[u8]) -> Value {
    Value::from(b64url_encode(bytes))
}

fn member(jwk: &Value, name: &str) -> Vec<u8> {
    b64url_decode(jwk[name].as_str().unwrap_or_default()).expect("vector member is base64url")
}

/// `jwk` with member `name` transformed.
fn with(jwk: &Value, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut bytes = member(jwk, name);
    f(&mut bytes);
    let mut out = jwk.clone();
    out[name] = b64(&bytes);
    out
}

fn without(jwk: &Value, names: &[&str]) -> Value {
    let mut out = jwk.clone();
    for n in names {
        out.as_object_mut().expect("object").remove(*n);
    }
    out
}

fn set(jwk: &Value, name: &str, value: Value) -> Value {
    let mut out = jwk.clone();
    out[name] = value;
    out
}

/// (what, JWK, a substring the message must contain; `|` separates alternatives).
fn rejected_keys() -> Vec<(String, Value, String)> {
    let rsa = vector_key_json("rsa-oaep.json", "rsa-2048");
    let ec = vector_key_json("ecdsa.json", "ec-p256");
    let k1 = vector_key_json("ecdsa.json", "ec-p256k");
    let p521 = vector_key_json("ecdsa.json", "ec-p521");
    let rsa1024: Value = serde_json::from_str(RSA_1024).expect("RSA-1024 JWK");
    let hex = |s: &str| hex::decode(s).expect("hex");
    // A large odd modulus with small stand-ins for the rest: refused on size alone, before
    // any big-number arithmetic.
    let mut huge_n = vec![0xc5u8; 100_000];
    huge_n[99_999] |= 1;
    let mut n8192 = vec![0xb7u8; 1024];
    n8192[1023] |= 1;
    let mut cases: Vec<(String, Value, String)> = vec![
        // RSA
        (
            "RSA-1024, consistent but under 2048 bits",
            rsa1024.clone(),
            "RSA key size must be 2048, 3072 or 4096 bits, this key has 1024",
        ),
        (
            "RSA-1024 without CRT members",
            without(&rsa1024, &["dp", "dq", "qi"]),
            "this key has 1024",
        ),
        (
            "RSA with an even modulus",
            with(&rsa, "n", |n| *n.last_mut().unwrap() &= 0xfe),
            "RSA modulus n must be odd",
        ),
        (
            "RSA with modulus 0",
            set(&rsa, "n", b64(&[0])),
            "RSA modulus n must be odd",
        ),
        (
            "RSA with an empty modulus",
            set(&rsa, "n", Value::from("")),
            "RSA modulus n must be odd",
        ),
        (
            "RSA-8192 modulus",
            set(&rsa, "n", b64(&n8192)),
            "this key has 8192",
        ),
        (
            "RSA with an 800000-bit modulus",
            set(&rsa, "n", b64(&huge_n)),
            "this key has 800000",
        ),
        (
            "RSA with n != p*q",
            with(&rsa, "n", |n| *n.last_mut().unwrap() ^= 0x02),
            "RSA key components are inconsistent",
        ),
        (
            "RSA with a wrong d",
            with(&rsa, "d", |d| *d.last_mut().unwrap() ^= 0x01),
            "RSA key components are inconsistent",
        ),
        (
            "RSA with a wrong p",
            with(&rsa, "p", |p| *p.last_mut().unwrap() ^= 0x02),
            "RSA key components are inconsistent",
        ),
        (
            "RSA with p and q equal",
            set(&rsa, "q", rsa["p"].clone()),
            "RSA key components are inconsistent",
        ),
        (
            "RSA with d longer than n",
            with(&rsa, "d", |d| d.insert(0, 1)),
            "RSA private member d is longer than the modulus",
        ),
        (
            "RSA with a wrong dp",
            with(&rsa, "dp", |v| *v.last_mut().unwrap() ^= 0x01),
            "RSA CRT parameters dp, dq, qi do not match",
        ),
        (
            "RSA with dp and dq swapped",
            set(&set(&rsa, "dp", rsa["dq"].clone()), "dq", rsa["dp"].clone()),
            "RSA CRT parameters dp, dq, qi do not match",
        ),
        (
            "RSA with a wrong qi",
            with(&rsa, "qi", |v| *v.last_mut().unwrap() ^= 0x01),
            "RSA CRT parameters dp, dq, qi do not match",
        ),
        (
            "RSA with qi = 0",
            set(&rsa, "qi", b64(&[0])),
            "RSA CRT parameters dp, dq, qi do not match",
        ),
        (
            "RSA with only some CRT members",
            without(&rsa, &["dq", "qi"]),
            "dp, dq and qi (all or none)",
        ),
        // EC
        (
            "EC point off the curve (y changed)",
            with(&ec, "y", |y| *y.last_mut().unwrap() ^= 0x01),
            "EC public key is not a point on P-256",
        ),
        (
            "EC point off the curve (x changed)",
            with(&ec, "x", |x| x[0] ^= 0x80),
            "EC public key is not a point on P-256",
        ),
        (
            "EC point (0, 0)",
            set(&set(&ec, "x", b64(&[0; 32])), "y", b64(&[0; 32])),
            "EC public key is not a point on P-256",
        ),
        (
            "secp256k1 point off the curve",
            with(&k1, "y", |y| y[5] ^= 0x10),
            "EC public key is not a point on P-256K",
        ),
        (
            "P-256 point given as P-256K",
            set(&ec, "crv", Value::from("P-256K")),
            "EC public key is not a point on P-256K",
        ),
        (
            "EC point on the curve but not d's",
            set(&set(&ec, "x", b64(&hex(P256_GX))), "y", b64(&hex(P256_GY))),
            "x and y do not match the private key d",
        ),
        (
            "EC scalar 0",
            set(&without(&ec, &["x", "y"]), "d", b64(&[0; 32])),
            "EC private key d is not a valid P-256 scalar",
        ),
        (
            "EC scalar equal to the group order",
            set(&without(&ec, &["x", "y"]), "d", b64(&hex(P256_N))),
            "EC private key d is not a valid P-256 scalar",
        ),
        (
            "EC scalar above the group order",
            set(&without(&ec, &["x", "y"]), "d", b64(&[0xff; 32])),
            "EC private key d is not a valid P-256 scalar",
        ),
        (
            "EC scalar of 31 bytes",
            with(&without(&ec, &["x", "y"]), "d", |d| {
                d.remove(0);
            }),
            "EC private key d is not a valid P-256 scalar",
        ),
        (
            "EC scalar of 33 bytes",
            with(&without(&ec, &["x", "y"]), "d", |d| d.insert(0, 0)),
            "EC private key d is not a valid P-256 scalar",
        ),
        (
            "P-521 scalar without its leading zero byte",
            with(&without(&p521, &["x", "y"]), "d", |d| {
                d.remove(0);
            }),
            "EC private key d is not a valid P-521 scalar",
        ),
        (
            "EC coordinates of the wrong length",
            with(&ec, "x", |x| {
                x.remove(0);
            }),
            "EC public key coordinates must be 32 bytes each for P-256",
        ),
        (
            "EC with x but no y",
            without(&ec, &["y"]),
            "JWK member x and y is required",
        ),
        (
            "EC without d",
            without(&ec, &["d"]),
            "JWK member d is required|the JWK has no private members",
        ),
        // oct
        (
            "oct key without k",
            json!({"kty": "oct", "d": b64(&[1; 32])}),
            "JWK member k is required",
        ),
        // any
        (
            "a BYOK key_hsm blob",
            json!({"kty": "RSA-HSM", "key_hsm": b64(&[1; 64]), "d": b64(&[1; 8])}),
            "BYOK key transfer (key_hsm) is not supported",
        ),
    ]
    .into_iter()
    .map(|(what, jwk, expected)| (what.to_string(), jwk, expected.to_string()))
    .collect();
    // A required member missing.
    for (what, jwk, member) in [
        ("RSA", &rsa, "q"),
        ("RSA", &rsa, "e"),
        ("RSA", &rsa, "n"),
        ("RSA", &rsa, "d"),
        ("EC", &ec, "crv"),
        ("a key", &ec, "kty"),
    ] {
        cases.push((
            format!("{what} without {member}"),
            without(jwk, &[member]),
            format!("JWK member {member} is required"),
        ));
    }
    // oct keys of a length AES does not have.
    for len in [0, 15, 17, 31, 33, 64] {
        cases.push((
            format!("oct key of {len} bytes"),
            json!({"kty": "oct", "k": b64(&vec![1; len])}),
            "oct key must be 16, 24 or 32 bytes".to_string(),
        ));
    }
    cases
}

#[test]
#[rustfmt::skip]
fn unsafe_and_malformed_keys_are_refused_by_the_library_and_the_server() {
    let api = Api::new();
    let vault = api.store.vault("default").expect("default vault");
    let before = snapshot(&api.store);
    let cases = rejected_keys();
    let mut failures = Vec::new();
    for (i, (what, jwk_json, expected)) in cases.iter().enumerate() {
        let name = format!("imp-{i}");
        let names_it = |m: &str| expected.split('|').any(|x| m.contains(x));
        // The library.
        let jwk: Jwk = serde_json::from_value(jwk_json.clone())
            .unwrap_or_else(|e| panic!("{what}: the JWK must parse: {e}"));
        match vault.import_key(&name, &jwk, false, KeyOptions::default()) {
            Err(Error::BadParameter(m)) if names_it(&m) => {}
            Err(Error::BadParameter(m)) => failures.push(format!("{what}: library message {m:?} does not contain {expected:?}")),
            Err(e) => failures.push(format!("{what}: library error {e:?} is not BadParameter")),
            Ok(b) => failures.push(format!("{what}: the library imported it as {}/{}", b.name, b.version)),
        }
        // The server, both as a plain and as an HSM import.
        for hsm in [false, true] {
            let r = api.kv("PUT", &format!("/keys/{name}"), Some(json!({"key": jwk_json, "Hsm": hsm})));
            let ok = r.status == 400 && r.code() == Some("BadParameter") && r.error_shape_problem().is_none()
                && r.message().is_some_and(names_it);
            if !ok {
                failures.push(format!("{what}: PUT /keys/{name} (hsm {hsm}) answered {} {}", r.status, String::from_utf8_lossy(&r.body)));
            }
        }
    }
    let after = snapshot(&api.store);
    println!("{} malformed or unsafe JWKs refused", cases.len());
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
    assert!(before == after, "a refused import changed the store:\n{}", snapshot_diff(&before, &after));
}

/// The same members, unchanged, import fine: the refusals above are about what was changed.
#[test]
fn the_untouched_keys_import() {
    let api = Api::new();
    let vault = api.store.vault("default").expect("default vault");
    for (file, id) in [
        ("rsa-oaep.json", "rsa-2048"),
        ("ecdsa.json", "ec-p256"),
        ("ecdsa.json", "ec-p256k"),
        ("ecdsa.json", "ec-p521"),
        ("aes-kw.json", "kek-128"),
        ("aes-gcm.json", "gcm-256"),
    ] {
        let jwk_json = vector_key_json(file, id);
        let jwk: Jwk = serde_json::from_value(jwk_json.clone()).expect("JWK");
        vault
            .import_key(&format!("lib-{id}"), &jwk, true, KeyOptions::default())
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let r = api.kv(
            "PUT",
            &format!("/keys/rest-{id}"),
            Some(json!({"key": jwk_json})),
        );
        assert_eq!(r.status, 200, "{id}: {}", String::from_utf8_lossy(&r.body));
    }
    // RSA without the optional CRT members, and EC without the optional public point.
    let rsa = without(
        &vector_key_json("rsa-oaep.json", "rsa-2048"),
        &["dp", "dq", "qi"],
    );
    let ec = without(&vector_key_json("ecdsa.json", "ec-p384"), &["x", "y"]);
    for (name, jwk) in [("rsa-no-crt", rsa), ("ec-no-point", ec)] {
        let r = api.kv("PUT", &format!("/keys/{name}"), Some(json!({"key": jwk})));
        assert_eq!(
            r.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// JWKs the JSON layer refuses before any key check: the server names the member.
#[test]
fn malformed_members_are_named_by_the_server() {
    let api = Api::new();
    let ec = vector_key_json("ecdsa.json", "ec-p256");
    for (jwk, expected) in [
        (
            set(&ec, "crv", Value::from("P-192")),
            "field 'key.crv': unknown curve \"P-192\"",
        ),
        (
            set(&ec, "kty", Value::from("DSA")),
            "field 'key.kty': unknown key type \"DSA\"",
        ),
        (
            set(&ec, "d", Value::from("not base64")),
            "field 'key.d': invalid base64url",
        ),
        (set(&ec, "x", Value::from(12)), "field 'key.x'"),
        (set(&ec, "d", Value::Null), "no private members"),
    ] {
        let r = api.kv("PUT", "/keys/imp", Some(json!({"key": jwk})));
        assert_eq!(
            r.status,
            400,
            "{expected}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            r.message().is_some_and(|m| m.contains(expected)),
            "{:?} does not contain {expected:?}",
            r.message()
        );
    }
    assert_eq!(api.kv("GET", "/keys/imp", None).status, 404);
}
