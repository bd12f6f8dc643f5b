//! The PKCS#11 module (`liblocalhsm_pkcs11.so`, in process) beside SoftHSM2, both through the
//! same `cryptoki` harness, and beside the core's [`KeyHandle`] doing the same operation, in
//! one criterion run: `pkcs11/<op>/module`, `.../softhsm` and `.../handle`, in ops/s.
//!
//! | id | module and SoftHSM2 | handle |
//! |---|---|---|
//! | `sign-ES256` | `C_SignInit` + `C_Sign` (`CKM_ECDSA`) over a SHA-256 digest | `sign(ES256, digest)` |
//! | `sign-RS256-2048` | `CKM_RSA_PKCS` over `DigestInfo(SHA-256) \|\| digest` | `sign(RS256, digest)` |
//! | `unwrap-RSA-OAEP-2048` | `C_DecryptInit` + `C_Decrypt` (`CKM_RSA_PKCS_OAEP`, SHA-1): the key bytes back, as Key Vault's unwrap returns them | `unwrap_key(RSA-OAEP)` |
//! | `unwrap-A256KW` | `C_UnwrapKey` (`CKM_AES_KEY_WRAP`) to a new token key; SoftHSM2 then destroys it, so its token does not grow | `unwrap_key(A256KW)` + `Vault::import_key` of the bytes as a new key |
//!
//! `cryptoki` asks for the output length before each `C_Sign`/`C_Decrypt`, for both modules.
//! The module's `C_UnwrapKey` makes a durable key in the vault (there are no session objects
//! yet), so the A256KW row measures a durable write on both localhsm sides.
//!
//! The module must be built first, in release mode, into the same target directory:
//!
//! ```sh
//! cargo build --release -p localhsm-pkcs11 && cargo bench --bench pkcs11
//! ```
//!
//! It is found at `target/release/liblocalhsm_pkcs11.so`, or wherever `LOCALHSM_BENCH_MODULE`
//! points. Without it, or without SoftHSM2 (`LOCALHSM_BENCH_SOFTHSM_LIB`, else
//! `/usr/lib/softhsm/libsofthsm2.so`), the bench says which is missing and exits successfully:
//! `cargo bench` alone does not build a cdylib of another package, and SoftHSM2 is optional.
//! With a target directory shared by several checkouts, another build may replace
//! `target/release/liblocalhsm_pkcs11.so`: copy yours aside and name it in
//! `LOCALHSM_BENCH_MODULE`.
//!
//! The module opens its own store (a second data directory with the same fixed keys: one store
//! is open in one place at a time), configured through `LOCALHSM_PKCS11_CONF`. After the
//! criterion runs, the module is compared again with the handle and with SoftHSM2 in
//! alternating batches (see `common/interleaved.rs`), which holds up on a busy machine.

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use localhsm::crypto::{Jwk, KeyType as Kty, SecretBase64Url, SignatureAlgorithm, WrapAlgorithm};
use localhsm::model::{KeyOptions, TokenPins, VaultKind, VaultOptions};
use localhsm::KeyHandle;

use common::interleaved::{interleaved, report_interleaved};
use common::token::{
    aes_key, ec_key, rsa_key, softhsm_library, softhsm_session, DATA_KEY, P256_OID,
    SHA256_DIGEST_INFO,
};
use common::{public, secret, BenchVault};

const VAULT: &str = "bench";
const USER_PIN: &str = "bench-user";

/// The module: `LOCALHSM_BENCH_MODULE`, else the release build next to this bench's target dir.
fn module_library() -> PathBuf {
    std::env::var_os("LOCALHSM_BENCH_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("target dir")
                .join("release/liblocalhsm_pkcs11.so")
        })
}

/// The fixed keys, by their names in `vectors/*.json` (and in both vaults).
fn jwks() -> [(&'static str, Jwk); 3] {
    [
        ("ec-p256", common::vector_jwk("ecdsa.json", "ec-p256")),
        ("rsa-2048", common::vector_jwk("rsa-oaep.json", "rsa-2048")),
        ("kek-256", common::vector_jwk("aes-kw.json", "kek-256")),
    ]
}

/// A data directory for the module: a Managed HSM vault `bench` with the fixed keys and a user
/// PIN, closed again, and the configuration file that names it.
fn module_store(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let store = common::open_store(&data, |_| {});
    store
        .create_vault(
            VAULT,
            VaultOptions {
                kind: VaultKind::ManagedHsm,
                ..Default::default()
            },
        )
        .expect("create vault");
    let vault = store.vault(VAULT).expect("vault");
    for (name, jwk) in jwks() {
        vault
            .import_key(name, &jwk, true, KeyOptions::default())
            .unwrap_or_else(|e| panic!("import {name}: {e}"));
    }
    let hash = |pin: &str| localhsm::crypto::pin::hash_pin(pin.as_bytes()).expect("PIN hash");
    store
        .set_token_pins(
            VAULT,
            TokenPins {
                so: Some(hash("bench-so")),
                user: Some(hash(USER_PIN)),
            },
        )
        .expect("PINs");
    drop(vault);
    drop(store);
    // common::master_key() as hex.
    std::fs::write(dir.join("master.key"), "42".repeat(32)).expect("master key file");
    let conf = dir.join("pkcs11.conf");
    std::fs::write(&conf, "data = data\nmaster_key_file = master.key\n").expect("conf");
    conf
}

/// The module, initialized, with a logged-in read/write session on the `bench` token.
fn module_session(lib: &Path, conf: &Path) -> cryptoki::error::Result<(Pkcs11, Session)> {
    // Read by the module in C_Initialize; set before any other thread exists.
    std::env::set_var("LOCALHSM_PKCS11_CONF", conf);
    let pkcs11 = Pkcs11::new(lib)?;
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = pkcs11
        .get_slots_with_token()?
        .into_iter()
        .find(|s| {
            pkcs11
                .get_token_info(*s)
                .is_ok_and(|t| t.label().trim_end() == VAULT)
        })
        .expect("a token labelled bench");
    let session = pkcs11.open_rw_session(slot)?;
    session.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))?;
    Ok((pkcs11, session))
}

fn find(s: &Session, class: ObjectClass, label: &str) -> ObjectHandle {
    let found = s
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .expect("C_FindObjects");
    assert_eq!(found.len(), 1, "one {class} labelled {label}");
    found[0]
}

/// The keys of one PKCS#11 token.
struct TokenKeys {
    ec: ObjectHandle,
    rsa: ObjectHandle,
    kek: ObjectHandle,
}

/// The keys on the handle side.
struct Handles {
    vault: BenchVault,
    ec: KeyHandle,
    rsa: KeyHandle,
    kek: KeyHandle,
}

/// The inputs, the same for all three.
struct Inputs {
    digest: Vec<u8>,
    digest_info: Vec<u8>,
    oaep_wrapped: Vec<u8>,
    kw_wrapped: Vec<u8>,
}

fn inputs() -> Inputs {
    let digest = common::digest(32);
    let mut digest_info = SHA256_DIGEST_INFO.to_vec();
    digest_info.extend_from_slice(&digest);
    let rsa = common::vector_jwk("rsa-oaep.json", "rsa-2048");
    let oaep_wrapped =
        localhsm::crypto::RsaPublicKey::from_components(&public(&rsa.n, "n"), &public(&rsa.e, "e"))
            .expect("RSA public key")
            .encrypt(localhsm::crypto::alg::RsaPadding::OaepSha1, &DATA_KEY)
            .expect("encrypt");
    let kek = common::vector_jwk("aes-kw.json", "kek-256");
    let kek_bytes: [u8; 32] = secret(&kek.k, "k").try_into().expect("KEK");
    let kw_wrapped = aes_kw::KekAes256::from(kek_bytes)
        .wrap_vec(&DATA_KEY)
        .expect("wrap");
    Inputs {
        digest,
        digest_info,
        oaep_wrapped,
        kw_wrapped,
    }
}

fn oaep() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    ))
}

/// The PKCS#11 side of each benchmark, the same calls for the module and SoftHSM2.
struct Token<'a> {
    s: &'a Session,
    k: TokenKeys,
    /// Whether `C_UnwrapKey`'s key is destroyed again (SoftHSM2's, so its token stays small;
    /// the module's destroy is a soft delete, which would cost a second durable write).
    destroy_unwrapped: bool,
}

impl Token<'_> {
    fn sign_es256(&self, i: &Inputs) -> Vec<u8> {
        self.s
            .sign(&Mechanism::Ecdsa, self.k.ec, &i.digest)
            .expect("C_Sign ES256")
    }

    fn sign_rs256(&self, i: &Inputs) -> Vec<u8> {
        self.s
            .sign(&Mechanism::RsaPkcs, self.k.rsa, &i.digest_info)
            .expect("C_Sign RS256")
    }

    fn unwrap_oaep(&self, i: &Inputs) -> Vec<u8> {
        self.s
            .decrypt(&oaep(), self.k.rsa, &i.oaep_wrapped)
            .expect("C_Decrypt RSA-OAEP")
    }

    fn unwrap_kw(&self, i: &Inputs) -> ObjectHandle {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ];
        let key = self
            .s
            .unwrap_key(&Mechanism::AesKeyWrap, self.k.kek, &i.kw_wrapped, &template)
            .expect("C_UnwrapKey A256KW");
        if self.destroy_unwrapped {
            self.s.destroy_object(key).expect("C_DestroyObject");
        }
        key
    }
}

/// The handle side of each benchmark.
impl Handles {
    fn sign_es256(&self, i: &Inputs) -> Vec<u8> {
        self.ec
            .sign(SignatureAlgorithm::ES256, &i.digest)
            .expect("sign")
    }

    fn sign_rs256(&self, i: &Inputs) -> Vec<u8> {
        self.rsa
            .sign(SignatureAlgorithm::RS256, &i.digest)
            .expect("sign")
    }

    fn unwrap_oaep(&self, i: &Inputs) -> localhsm::crypto::SecretBytes {
        self.rsa
            .unwrap_key(WrapAlgorithm::RsaOaep, &i.oaep_wrapped)
            .expect("unwrap")
    }

    fn unwrap_kw(&self, i: &Inputs) {
        static N: AtomicU64 = AtomicU64::new(0);
        let plain = self
            .kek
            .unwrap_key(WrapAlgorithm::A256Kw, &i.kw_wrapped)
            .expect("unwrap");
        let jwk = Jwk {
            kty: Some(Kty::Oct),
            k: Some(SecretBase64Url(plain)),
            ..Jwk::default()
        };
        let name = format!("unwrapped-{}", N.fetch_add(1, Ordering::Relaxed));
        self.vault
            .vault
            .import_key(&name, &jwk, true, KeyOptions::default())
            .expect("import");
    }
}

fn time(n: u64, op: impl Fn()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed()
}

fn bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    module: impl Fn(),
    softhsm: impl Fn(),
    handle: impl Fn(),
    check: bool,
) {
    g.bench_function(BenchmarkId::new(id, "module"), |b| b.iter(&module));
    g.bench_function(BenchmarkId::new(id, "softhsm"), |b| b.iter(&softhsm));
    g.bench_function(BenchmarkId::new(id, "handle"), |b| b.iter(&handle));
    if check {
        interleaved(
            &format!("pkcs11/{id}"),
            ("handle", &|n| time(n, &handle)),
            ("module", &|n| time(n, &module)),
        );
        interleaved(
            &format!("pkcs11/{id}"),
            ("softhsm", &|n| time(n, &softhsm)),
            ("module", &|n| time(n, &module)),
        );
    }
}

fn run(c: &mut Criterion, m: &Token<'_>, soft: &Token<'_>, k: &Handles, i: &Inputs) {
    // Before timing: the module and the handle sign with the same key (PKCS#1 v1.5 is
    // deterministic), and every side unwraps the same bytes.
    assert_eq!(m.sign_rs256(i), k.sign_rs256(i), "RS256: module and handle");
    assert_eq!(
        soft.sign_rs256(i),
        k.sign_rs256(i),
        "RS256: SoftHSM2 and handle"
    );
    let es256 = m.sign_es256(i);
    let check = k.ec.verify(SignatureAlgorithm::ES256, &i.digest, &es256);
    assert!(
        check.expect("verify"),
        "the module's ES256 signature verifies"
    );
    assert_eq!(m.unwrap_oaep(i), DATA_KEY);
    assert_eq!(soft.unwrap_oaep(i), DATA_KEY);
    assert_eq!(k.unwrap_oaep(i).expose(), DATA_KEY);

    let mut g = c.benchmark_group("pkcs11");
    g.throughput(Throughput::Elements(1));
    bench(
        &mut g,
        "sign-ES256",
        || drop(black_box(m.sign_es256(i))),
        || drop(black_box(soft.sign_es256(i))),
        || drop(black_box(k.sign_es256(i))),
        true,
    );
    bench(
        &mut g,
        "sign-RS256-2048",
        || drop(black_box(m.sign_rs256(i))),
        || drop(black_box(soft.sign_rs256(i))),
        || drop(black_box(k.sign_rs256(i))),
        true,
    );
    bench(
        &mut g,
        "unwrap-RSA-OAEP-2048",
        || drop(black_box(m.unwrap_oaep(i))),
        || drop(black_box(soft.unwrap_oaep(i))),
        || drop(black_box(k.unwrap_oaep(i))),
        true,
    );
    // Durable writes: fewer samples, and no interleaved check (the disk, not the code,
    // sets the pace).
    g.sample_size(10);
    bench(
        &mut g,
        "unwrap-A256KW",
        || {
            black_box(m.unwrap_kw(i));
        },
        || {
            black_box(soft.unwrap_kw(i));
        },
        || k.unwrap_kw(i),
        false,
    );
    g.finish();
}

fn main() {
    let module_lib = module_library();
    let softhsm_lib = softhsm_library();
    for (lib, how) in [
        (
            &module_lib,
            "build it first: cargo build --release -p localhsm-pkcs11 (same target dir), \
             or point LOCALHSM_BENCH_MODULE at liblocalhsm_pkcs11.so",
        ),
        (
            &softhsm_lib,
            "install SoftHSM2 (Debian/Ubuntu: apt-get install softhsm2) or point \
             LOCALHSM_BENCH_SOFTHSM_LIB at libsofthsm2.so",
        ),
    ] {
        if !lib.exists() {
            println!(
                "pkcs11 bench: skipping: {} does not exist; {how}.",
                lib.display()
            );
            return;
        }
    }
    let dir = common::bench_dir("pkcs11");
    let conf = module_store(dir.path());
    let (_module, ms) = module_session(&module_lib, &conf).expect("the module's session");
    let module = Token {
        s: &ms,
        k: TokenKeys {
            ec: find(&ms, ObjectClass::PRIVATE_KEY, "ec-p256"),
            rsa: find(&ms, ObjectClass::PRIVATE_KEY, "rsa-2048"),
            kek: find(&ms, ObjectClass::SECRET_KEY, "kek-256"),
        },
        destroy_unwrapped: false,
    };

    let tokens = common::bench_dir("pkcs11-softhsm");
    let (_softhsm, ss) = softhsm_session(&softhsm_lib, tokens.path()).expect("SoftHSM2 token");
    let [(_, ec), (_, rsa), (_, kek)] = jwks();
    let softhsm = Token {
        s: &ss,
        k: TokenKeys {
            ec: ec_key(&ss, &ec, P256_OID).expect("EC key"),
            rsa: rsa_key(&ss, &rsa).expect("RSA key"),
            kek: aes_key(&ss, &kek).expect("AES key"),
        },
        destroy_unwrapped: true,
    };

    let vault = BenchVault::new("pkcs11-handle");
    let [ec, rsa, kek] = jwks().map(|(name, jwk)| vault.import(name, &jwk));
    let handles = Handles {
        vault,
        ec,
        rsa,
        kek,
    };

    let mut c = common::criterion().configure_from_args();
    run(&mut c, &module, &softhsm, &handles, &inputs());
    report_interleaved();
    c.final_summary();
}
