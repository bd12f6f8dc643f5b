//! The server's own tests: hosts to vaults, and the route table's data actions against the
//! core's checks, through the router as a client reaches it.
//!
//! Layer: faces (server), tests only. May import everything the server does and the
//! built-in roles. Invariant it proves: each data-plane row of the route table names the
//! data action the core checks for it.

use super::*;
use crate::api::{Access, RoleAssignmentCreateParameters, RoleAssignmentProperties, ROUTES};
use crate::crypto::jwk::b64url_encode;
use crate::crypto::{CurveName, KeyType, SecretBytes};
use crate::model::{KeyOptions, SecretOptions};
use crate::rbac::BUILT_IN_ROLES;
use crate::AccessPolicy;
use crate::{KeySpec, MasterKeySource};
use serde_json::{json, Value};

#[test]
fn host_picks_vault() {
    assert_eq!(vault_for_host("localhost:8443"), "default");
    assert_eq!(vault_for_host("127.0.0.1:8443"), "default");
    assert_eq!(vault_for_host("pp.localhost:8443"), "pp");
    assert_eq!(vault_for_host("PP.LOCALHOST"), "pp");
    assert_eq!(vault_for_host("a.b.localhost"), "default");
    assert_eq!(vault_for_host("[::1]:8443"), "default");
}

/// A store with access control on, the objects every data-plane row can act on, and one
/// principal per built-in role (holding it at `/`) plus one holding none.
struct Rig {
    rt: tokio::runtime::Runtime,
    app: Router,
    backup: String,
    secret_backup: String,
    _dir: tempfile::TempDir,
}

const NOBODY: &str = "p-none";
const CRYPTO_USER: &str = "21dbd100-6940-42c2-9190-5d6cb909625b";

fn principal(role: usize) -> String {
    format!("p-role-{role}")
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::builder(dir.path())
            .master_key(MasterKeySource::Bytes(SecretBytes::new(vec![9; 32])))
            .defer_flush(true)
            .open()
            .expect("store");
        ensure_default_vault(&store).expect("default vault");
        let v = store.vault(DEFAULT_VAULT).expect("vault");
        let ec = KeySpec::Ec(CurveName::P256);
        for name in ["k", "gone"] {
            v.create_key(name, KeyType::EcHsm, ec, KeyOptions::default())
                .expect("EC key");
        }
        v.create_key(
            "aes",
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions::default(),
        )
        .expect("oct key");
        v.delete_key("gone").expect("delete");
        let backup = b64url_encode(&v.backup_key("k").expect("backup"));
        for name in ["s", "sgone"] {
            v.set_secret(name, "v".into(), SecretOptions::default())
                .expect("secret");
        }
        v.delete_secret("sgone").expect("delete secret");
        let secret_backup = b64url_encode(&v.backup_secret("s").expect("secret backup"));
        v.create_role_assignment("/", "a1", CRYPTO_USER, "someone")
            .expect("assignment");
        for (i, role) in BUILT_IN_ROLES.iter().enumerate() {
            v.create_role_assignment("/", &format!("r{i}"), role.id, &principal(i))
                .expect("role");
        }
        store.set_access_policy(AccessPolicy {
            enforce: true,
            admins: vec!["admin".into()],
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let clock = Arc::new(OffsetClock::new());
        Self {
            rt,
            app: router(AppState { store, clock }),
            backup,
            secret_backup,
            _dir: dir,
        }
    }

    /// Sends `op` with arguments and a body that would succeed for a caller allowed it.
    fn send(&self, op: Op, who: &str) -> (u16, Value) {
        let args: Vec<&str> = op
            .route()
            .params()
            .map(|p| match (p, op) {
                ("scope", _) => "/",
                ("version", _) => "",
                ("key", Op::KeyEncrypt | Op::KeyDecrypt | Op::KeyWrap | Op::KeyUnwrap) => "aes",
                ("key", Op::DeletedKeyGet | Op::DeletedKeyPurge | Op::DeletedKeyRecover) => "gone",
                ("key", Op::KeyImport) => "imported",
                ("key", _) => "k",
                (
                    "secret",
                    Op::DeletedSecretGet | Op::DeletedSecretPurge | Op::DeletedSecretRecover,
                ) => "sgone",
                ("secret", _) => "s",
                ("name", Op::RoleAssignmentCreate) => "a2",
                ("name", Op::RoleDefinitionGet) => CRYPTO_USER,
                _ => "a1",
            })
            .collect();
        let b = |n: usize| b64url_encode(&vec![7; n]);
        let body = match op {
            Op::KeyRestore => json!({ "value": self.backup }),
            Op::KeyImport => json!({ "key": { "kty": "oct", "k": b(32) }, "Hsm": true }),
            Op::KeyUpdate | Op::KeyUpdateVersion => json!({ "tags": { "a": "b" } }),
            Op::KeyCreate => json!({ "kty": "EC-HSM" }),
            Op::KeySign => json!({ "alg": "ES256", "value": b(32) }),
            Op::KeyVerify => json!({ "alg": "ES256", "digest": b(32), "value": b(64) }),
            Op::KeyEncrypt => json!({ "alg": "A256GCM", "value": b(16) }),
            Op::KeyDecrypt => {
                json!({ "alg": "A256GCM", "value": b(16), "iv": b(12), "tag": b(16) })
            }
            Op::KeyWrap => json!({ "alg": "A256KW", "value": b(16) }),
            Op::KeyUnwrap => json!({ "alg": "A256KW", "value": b(24) }),
            Op::Random => json!({ "count": 8 }),
            Op::SecretSet => json!({ "value": "v2" }),
            Op::SecretUpdate | Op::SecretUpdateVersion => json!({ "contentType": "text/plain" }),
            Op::SecretRestore => json!({ "value": self.secret_backup }),
            Op::RoleAssignmentCreate => serde_json::to_value(RoleAssignmentCreateParameters {
                properties: RoleAssignmentProperties {
                    scope: None,
                    role_definition_id: CRYPTO_USER.into(),
                    principal_id: "someone-else".into(),
                },
            })
            .expect("body"),
            _ => Value::Null,
        };
        let token = auth::mint_token(who, None, None, 1_800_000_000);
        let req = Request::builder()
            .method(op.route().method.clone())
            .uri(format!("{}?api-version=7.5", op.path(&args)))
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            }))
            .expect("request");
        self.rt.block_on(async {
            let resp = call(self.app.clone(), req).await;
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }
}

/// For every data-plane row: a caller holding no role is refused with 403 `AccessDenied`
/// naming exactly the row's data action, and a caller holding one built-in role gets past
/// access control if and only if that role grants the row's action. So the table's
/// actions and the core's checks cannot drift apart.
///
/// The built-in roles are the only way to grant actions, and none grants "all but one";
/// the roles that grant a row's action without also granting `keys/read` (Backup, Restore,
/// Crypto Officer for deleted keys, Policy Administrator for role writes) show that those
/// rows need nothing more.
#[test]
fn every_data_plane_row_names_the_action_the_core_checks() {
    let mut checked = 0;
    for route in ROUTES {
        let Access::Data(action) = route.access else {
            continue;
        };
        // Answered as unsupported before any core call, whoever asks.
        if matches!(route.op, Op::RoleDefinitionSet | Op::RoleDefinitionDelete) {
            continue;
        }
        let rig = Rig::new();
        let allows = |i: usize| BUILT_IN_ROLES[i].data_actions.contains(&action);
        // Refusals first: they change nothing, so every caller sees the same objects.
        let mut callers: Vec<(String, bool)> = (0..BUILT_IN_ROLES.len())
            .map(|i| (principal(i), allows(i)))
            .collect();
        callers.push((NOBODY.to_string(), false));
        callers.sort_by_key(|(_, allowed)| *allowed);
        assert!(callers.iter().any(|(_, a)| *a), "no role grants {action:?}");
        for (who, allowed) in callers {
            let (status, body) = rig.send(route.op, &who);
            let denied = status == 403
                && body.pointer("/error/innererror/code") == Some(&json!("AccessDenied"));
            let what = format!("{} /{} as {who}: {status} {body}", route.method, route.path);
            if allowed {
                assert!(!denied, "allowed but refused: {what}");
            } else {
                assert!(denied, "not refused: {what}");
                let message = body.pointer("/error/message").and_then(Value::as_str);
                let named = format!("perform action {} on", action.as_str());
                assert!(message.is_some_and(|m| m.contains(&named)), "{what}");
            }
        }
        checked += 1;
    }
    let data_rows = ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::Data(_)))
        .count();
    assert_eq!(checked, data_rows - 2);
}
