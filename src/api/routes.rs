//! The route table: every REST call as one row of [`ROUTES`] — its method, its path
//! grammar, the operation ([`Op`]) the server dispatches on, who may make it ([`Access`])
//! and its access-log operation name.
//!
//! Layer: faces, shared. The server matches requests against the table ([`lookup`]): a
//! path that fits a row's grammar with another method is a 405, anything else a 404. The
//! CLI renders its paths from the same rows ([`Op::path`]). May import `rbac` (for the data
//! actions) and the HTTP method type; nothing of the server or the CLI.
//!
//! Invariants: one row per call and one [`Op`] per row, in the same order (so
//! `ROUTES[op as usize].op == op`); a path segment in a `{key}` or `{secret}` position is
//! an object name wherever the literals before it match ([`object_name`]); role routes hang under any scope
//! at `.../providers/Microsoft.Authorization/...`, found without regard to case.

use std::sync::OnceLock;

use axum::http::Method;

use crate::error::ObjectKind;
use crate::rbac::DataAction;

/// Who may make a call, as the server states it. The core checks data actions itself on
/// every call; a test proves that each row names the action the core checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A Managed HSM data action, granted by role assignments when access control is on.
    Data(DataAction),
    /// The management API: an `--admin` principal when access control is on.
    Admin,
}

/// One REST call: a row of [`ROUTES`].
#[derive(Debug)]
pub struct Route {
    /// What the call does.
    pub op: Op,
    /// Its HTTP method.
    pub method: Method,
    /// Its path grammar, without the leading `/`: literal segments and the placeholders
    /// `{key}`, `{secret}`, `{version}` (empty: the current version), `{vault}`, `{name}`
    /// and, first, `{scope}` (any number of segments: `/`, `/keys`, `/keys/{key}`).
    pub path: &'static str,
    /// Who may make it.
    pub access: Access,
    /// Key Vault's operation name for it, in access-log records.
    pub log_name: &'static str,
}

macro_rules! routes {
    ($($op:ident: $method:ident $path:literal, $access:expr, $log:literal;)+) => {
        /// What a request asks for: one value per row of [`ROUTES`], in the table's order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Op {
            $(#[doc = concat!("`", stringify!($method), " /", $path, "`")] $op,)+
        }

        /// Every call of the Key Vault data plane, of Managed HSM role management and of
        /// the management API. Where rows of one method both fit a path, the first wins.
        pub static ROUTES: &[Route] = &[
            $(Route {
                op: Op::$op,
                method: Method::$method,
                path: $path,
                access: $access,
                log_name: $log,
            },)+
        ];
    };
}

use Access::{Admin, Data};
use DataAction as A;

routes! {
    KeyList:              GET    "keys",                                Data(A::KeysRead),           "KeyList";
    KeyRestore:           POST   "keys/restore",                        Data(A::KeysRestore),        "KeyRestore";
    KeyGet:               GET    "keys/{key}",                          Data(A::KeysRead),           "KeyGet";
    KeyImport:            PUT    "keys/{key}",                          Data(A::KeysImport),         "KeyImport";
    KeyDelete:            DELETE "keys/{key}",                          Data(A::KeysDelete),         "KeyDelete";
    KeyUpdate:            PATCH  "keys/{key}",                          Data(A::KeysWrite),          "KeyUpdate";
    KeyCreate:            POST   "keys/{key}/create",                   Data(A::KeysCreate),         "KeyCreate";
    KeyListVersions:      GET    "keys/{key}/versions",                 Data(A::KeysRead),           "KeyListVersions";
    KeyBackup:            POST   "keys/{key}/backup",                   Data(A::KeysBackup),         "KeyBackup";
    KeyRotate:            POST   "keys/{key}/rotate",                   Data(A::KeysRotate),         "KeyRotate";
    KeyGetRotationPolicy: GET    "keys/{key}/rotationpolicy",           Data(A::KeysRead),           "KeyGetRotationPolicy";
    KeyUpdateRotationPolicy: PUT "keys/{key}/rotationpolicy",           Data(A::KeysWrite),          "KeyUpdateRotationPolicy";
    KeyGetVersion:        GET    "keys/{key}/{version}",                Data(A::KeysRead),           "KeyGet";
    KeyUpdateVersion:     PATCH  "keys/{key}/{version}",                Data(A::KeysWrite),          "KeyUpdate";
    KeyEncrypt:           POST   "keys/{key}/{version}/encrypt",        Data(A::Encrypt),            "KeyEncrypt";
    KeyDecrypt:           POST   "keys/{key}/{version}/decrypt",        Data(A::Decrypt),            "KeyDecrypt";
    KeySign:              POST   "keys/{key}/{version}/sign",           Data(A::Sign),               "KeySign";
    KeyVerify:            POST   "keys/{key}/{version}/verify",         Data(A::Verify),             "KeyVerify";
    KeyWrap:              POST   "keys/{key}/{version}/wrapkey",        Data(A::Wrap),               "KeyWrap";
    KeyUnwrap:            POST   "keys/{key}/{version}/unwrapkey",      Data(A::Unwrap),             "KeyUnwrap";
    DeletedKeyList:       GET    "deletedkeys",                         Data(A::DeletedKeysRead),    "KeyListDeleted";
    DeletedKeyGet:        GET    "deletedkeys/{key}",                   Data(A::DeletedKeysRead),    "KeyGetDeleted";
    DeletedKeyPurge:      DELETE "deletedkeys/{key}",                   Data(A::DeletedKeysDelete),  "KeyPurge";
    DeletedKeyRecover:    POST   "deletedkeys/{key}/recover",           Data(A::DeletedKeysRecover), "KeyRecover";
    Random:               POST   "rng",                                 Data(A::Rng),                "GetRandomBytes";
    SecretList:           GET    "secrets",                             Data(A::SecretsReadMetadata), "SecretList";
    SecretRestore:        POST   "secrets/restore",                     Data(A::SecretsRestore),     "SecretRestore";
    SecretGet:            GET    "secrets/{secret}",                    Data(A::SecretsGet),         "SecretGet";
    SecretSet:            PUT    "secrets/{secret}",                    Data(A::SecretsSet),         "SecretSet";
    SecretDelete:         DELETE "secrets/{secret}",                    Data(A::SecretsDelete),      "SecretDelete";
    SecretUpdate:         PATCH  "secrets/{secret}",                    Data(A::SecretsUpdate),      "SecretUpdate";
    SecretListVersions:   GET    "secrets/{secret}/versions",           Data(A::SecretsReadMetadata), "SecretListVersions";
    SecretBackup:         POST   "secrets/{secret}/backup",             Data(A::SecretsBackup),      "SecretBackup";
    SecretGetVersion:     GET    "secrets/{secret}/{version}",          Data(A::SecretsGet),         "SecretGet";
    SecretUpdateVersion:  PATCH  "secrets/{secret}/{version}",          Data(A::SecretsUpdate),      "SecretUpdate";
    DeletedSecretList:    GET    "deletedsecrets",                      Data(A::SecretsReadMetadata), "SecretListDeleted";
    DeletedSecretGet:     GET    "deletedsecrets/{secret}",             Data(A::SecretsReadMetadata), "SecretGetDeleted";
    DeletedSecretPurge:   DELETE "deletedsecrets/{secret}",             Data(A::SecretsPurge),       "SecretPurge";
    DeletedSecretRecover: POST   "deletedsecrets/{secret}/recover",     Data(A::SecretsRecover),     "SecretRecover";
    CertificateList:      GET    "certificates",                        Data(A::CertificatesRead),   "CertificateList";
    CertificateRestore:   POST   "certificates/restore",                Data(A::CertificatesRestore), "CertificateRestore";
    ContactsGet:          GET    "certificates/contacts",               Data(A::CertificateContactsWrite), "CertificateContactsGet";
    ContactsSet:          PUT    "certificates/contacts",               Data(A::CertificateContactsWrite), "CertificateContactsSet";
    ContactsDelete:       DELETE "certificates/contacts",               Data(A::CertificateContactsWrite), "CertificateContactsDelete";
    IssuerList:           GET    "certificates/issuers",                Data(A::CertificateIssuersRead), "CertificateIssuerList";
    IssuerGet:            GET    "certificates/issuers/{name}",         Data(A::CertificateIssuersRead), "CertificateIssuerGet";
    IssuerSet:            PUT    "certificates/issuers/{name}",         Data(A::CertificateIssuersWrite), "CertificateIssuerSet";
    IssuerUpdate:         PATCH  "certificates/issuers/{name}",         Data(A::CertificateIssuersWrite), "CertificateIssuerUpdate";
    IssuerDelete:         DELETE "certificates/issuers/{name}",         Data(A::CertificateIssuersDelete), "CertificateIssuerDelete";
    CertificateGet:       GET    "certificates/{certificate}",          Data(A::CertificatesRead),   "CertificateGet";
    CertificateDelete:    DELETE "certificates/{certificate}",          Data(A::CertificatesDelete), "CertificateDelete";
    CertificateUpdate:    PATCH  "certificates/{certificate}",          Data(A::CertificatesUpdate), "CertificateUpdate";
    CertificateCreate:    POST   "certificates/{certificate}/create",   Data(A::CertificatesCreate), "CertificateCreate";
    CertificateImport:    POST   "certificates/{certificate}/import",   Data(A::CertificatesImport), "CertificateImport";
    CertificateBackup:    POST   "certificates/{certificate}/backup",   Data(A::CertificatesBackup), "CertificateBackup";
    CertificateListVersions: GET "certificates/{certificate}/versions", Data(A::CertificatesRead),   "CertificateListVersions";
    PolicyGet:            GET    "certificates/{certificate}/policy",   Data(A::CertificatesRead),   "CertificatePolicyGet";
    PolicyUpdate:         PATCH  "certificates/{certificate}/policy",   Data(A::CertificatesUpdate), "CertificatePolicyUpdate";
    OperationGet:         GET    "certificates/{certificate}/pending",  Data(A::CertificatesRead),   "CertificatePendingGet";
    OperationUpdate:      PATCH  "certificates/{certificate}/pending",  Data(A::CertificatesUpdate), "CertificatePendingUpdate";
    OperationDelete:      DELETE "certificates/{certificate}/pending",  Data(A::CertificatesDelete), "CertificatePendingDelete";
    CertificateMerge:     POST   "certificates/{certificate}/pending/merge", Data(A::CertificatesCreate), "CertificatePendingMerge";
    CertificateGetVersion: GET   "certificates/{certificate}/{version}", Data(A::CertificatesRead),  "CertificateGet";
    CertificateUpdateVersion: PATCH "certificates/{certificate}/{version}", Data(A::CertificatesUpdate), "CertificateUpdate";
    DeletedCertificateList: GET  "deletedcertificates",                 Data(A::CertificatesRead),   "CertificateListDeleted";
    DeletedCertificateGet: GET   "deletedcertificates/{certificate}",   Data(A::CertificatesRead),   "CertificateGetDeleted";
    DeletedCertificatePurge: DELETE "deletedcertificates/{certificate}", Data(A::CertificatesPurge), "CertificatePurge";
    DeletedCertificateRecover: POST "deletedcertificates/{certificate}/recover", Data(A::CertificatesRecover), "CertificateRecover";
    RoleAssignmentList:   GET    "{scope}/providers/Microsoft.Authorization/roleAssignments",        Data(A::RoleAssignmentsRead),   "RoleAssignmentList";
    RoleAssignmentGet:    GET    "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", Data(A::RoleAssignmentsRead),   "RoleAssignmentGet";
    RoleAssignmentCreate: PUT    "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", Data(A::RoleAssignmentsWrite),  "RoleAssignmentCreate";
    RoleAssignmentDelete: DELETE "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", Data(A::RoleAssignmentsDelete), "RoleAssignmentDelete";
    RoleDefinitionList:   GET    "{scope}/providers/Microsoft.Authorization/roleDefinitions",        Data(A::RoleDefinitionsRead),   "RoleDefinitionList";
    RoleDefinitionGet:    GET    "{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}", Data(A::RoleDefinitionsRead),   "RoleDefinitionGet";
    RoleDefinitionSet:    PUT    "{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}", Data(A::RoleDefinitionsWrite),  "RoleDefinitionSet";
    RoleDefinitionDelete: DELETE "{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}", Data(A::RoleDefinitionsDelete), "RoleDefinitionDelete";
    SettingList:          GET    "settings",                            Data(A::SettingsRead),       "SettingList";
    SettingGet:           GET    "settings/{name}",                     Data(A::SettingsRead),       "SettingGet";
    SettingUpdate:        PATCH  "settings/{name}",                     Data(A::SettingsWrite),      "SettingUpdate";
    FullBackup:           POST   "backup",                              Data(A::BackupStart),        "FullBackup";
    PreFullBackup:        POST   "prebackup",                           Data(A::BackupStart),        "PreFullBackup";
    FullBackupStatus:     GET    "backup/{name}/pending",               Data(A::BackupStatus),       "FullBackupStatus";
    FullRestore:          PUT    "restore",                             Data(A::RestoreStart),       "FullRestore";
    PreFullRestore:       PUT    "prerestore",                          Data(A::RestoreStart),       "PreFullRestore";
    RestoreStatus:        GET    "restore/{name}/pending",              Data(A::RestoreStatus),      "RestoreStatus";
    SelectiveKeyRestore:  PUT    "keys/{key}/restore",                  Data(A::RestoreStart),       "SelectiveKeyRestore";
    VaultList:            GET    "management/vaults",                   Admin,                       "VaultList";
    VaultCreate:          POST   "management/vaults",                   Admin,                       "VaultCreate";
    VaultGet:             GET    "management/vaults/{vault}",           Admin,                       "VaultGet";
    VaultUpdate:          PATCH  "management/vaults/{vault}",           Admin,                       "VaultUpdate";
    VaultDelete:          DELETE "management/vaults/{vault}",           Admin,                       "VaultDelete";
    VaultRecover:         POST   "management/vaults/{vault}/recover",   Admin,                       "VaultRecover";
    VaultAccessLog:       GET    "management/vaults/{vault}/accesslog", Admin,                       "VaultAccessLog";
    AccessPolicyList:     GET    "management/vaults/{vault}/accesspolicies",        Admin,           "AccessPolicyList";
    AccessPolicyGet:      GET    "management/vaults/{vault}/accesspolicies/{name}", Admin,           "AccessPolicyGet";
    AccessPolicySet:      PUT    "management/vaults/{vault}/accesspolicies/{name}", Admin,           "AccessPolicySet";
    AccessPolicyDelete:   DELETE "management/vaults/{vault}/accesspolicies/{name}", Admin,           "AccessPolicyDelete";
    DeletedVaultList:     GET    "management/deletedvaults",            Admin,                       "VaultListDeleted";
    DeletedVaultGet:      GET    "management/deletedvaults/{vault}",    Admin,                       "VaultGetDeleted";
    DeletedVaultPurge:    DELETE "management/deletedvaults/{vault}",    Admin,                       "VaultPurge";
    CustomerDataExport:   POST   "management/customer-data/export",     Admin,                       "CustomerDataExport";
    CustomerDataDelete:   POST   "management/customer-data/delete",     Admin,                       "CustomerDataDelete";
    TimeShift:            POST   "management/time-shift",               Admin,                       "TimeShift";
    SeedApply:            POST   "management/apply",                    Admin,                       "SeedApply";
    StoreBackup:          GET    "management/store/backup",             Admin,                       "StoreBackup";
    Pkcs11PinsGet:        GET    "management/vaults/{vault}/pkcs11-pins", Admin,                     "Pkcs11PinsGet";
    Pkcs11PinsSet:        PUT    "management/vaults/{vault}/pkcs11-pins", Admin,                     "Pkcs11PinsSet";
    Pkcs11KeyGet:         GET    "management/vaults/{vault}/pkcs11-keys/{key}", Admin,               "Pkcs11KeyGet";
    Pkcs11KeyGetVersion:  GET    "management/vaults/{vault}/pkcs11-keys/{key}/{version}", Admin,     "Pkcs11KeyGet";
}

/// How a role route's grammar starts: the scope, then Key Vault's authorization provider.
const SCOPED: &str = "{scope}/providers/Microsoft.Authorization/";
/// The segments that end a role route's scope in a request path.
const ROLE_MOUNT: [&str; 2] = ["providers", "Microsoft.Authorization"];
/// Most placeholders a row has besides `{scope}` (`{vault}`, `{key}` and `{version}` of
/// the PKCS#11 key route).
const MAX_PARAMS: usize = 3;

impl Op {
    /// Its row of the table.
    pub fn route(self) -> &'static Route {
        &ROUTES[self as usize]
    }

    /// Its path, `/`-prefixed, with `args` in its placeholders in order. Each argument is
    /// percent-encoded as one segment, so a name cannot change the route; a `{scope}`
    /// argument is a scope path (`/`, `/keys`, `/keys/NAME`) and keeps its slashes.
    pub fn path(self, args: &[&str]) -> String {
        let mut args = args.iter().copied();
        let mut out = String::new();
        for piece in self.route().path.split('/') {
            if piece == "{scope}" {
                for s in args
                    .next()
                    .unwrap_or("")
                    .split('/')
                    .filter(|s| !s.is_empty())
                {
                    out.push('/');
                    out.push_str(&encode_segment(s));
                }
            } else {
                out.push('/');
                if piece.starts_with('{') {
                    out.push_str(&encode_segment(args.next().unwrap_or("")));
                } else {
                    out.push_str(piece);
                }
            }
        }
        out
    }
}

impl Route {
    /// Whether it is part of the management API (`/management/...`), not of Key Vault's.
    pub fn is_management(&self) -> bool {
        self.path.starts_with("management/")
    }

    /// Whether it hangs under a scope: a Managed HSM role route.
    pub fn is_scoped(&self) -> bool {
        self.path.starts_with(SCOPED)
    }

    /// The kind of object it is about: the kind of its `{key}` or `{secret}` placeholder,
    /// or for lists and restores the kind its first segment names.
    pub fn object_kind(&self) -> Option<ObjectKind> {
        let first = self.path.split('/').next().unwrap_or_default();
        self.params()
            .find_map(|p| OBJECT_PARAMS.iter().find(|(n, _)| *n == p))
            .map(|(_, k)| *k)
            .or(match first {
                "keys" | "deletedkeys" => Some(ObjectKind::Key),
                "secrets" | "deletedsecrets" => Some(ObjectKind::Secret),
                "certificates" | "deletedcertificates" => Some(ObjectKind::Certificate),
                _ => None,
            })
    }

    /// The names of its placeholders, in order (`scope`, `key`, `version`, ...).
    pub fn params(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
    }

    /// The argument of placeholder `name` among `args`, given in [`Route::params`] order.
    pub fn arg<'a>(&self, args: &[&'a str], name: &str) -> Option<&'a str> {
        let at = self.params().position(|p| p == name)?;
        args.get(at).copied()
    }
}

/// Percent-encodes a path segment: everything but unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits a request path into segments. A trailing slash is dropped; an empty interior
/// segment stays (an empty version means "current", as the SDKs send it).
pub fn segments(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

/// The placeholders a request path filled.
#[derive(Debug, Default)]
pub struct Params<'p> {
    scope: Option<String>,
    named: [(&'static str, &'p str); MAX_PARAMS],
    len: usize,
}

impl<'p> Params<'p> {
    /// The segment in placeholder `{name}`, as sent (not percent-decoded).
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.named[..self.len]
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// `{version}`, `None` when empty (the current version).
    pub fn version(&self) -> Option<&'p str> {
        self.get("version").filter(|v| !v.is_empty())
    }

    /// The scope of a role route: `/` or `/seg/seg`, its empty segments dropped.
    pub fn scope(&self) -> &str {
        self.scope.as_deref().unwrap_or("/")
    }
}

/// What the table says about a request.
#[derive(Debug)]
pub enum Lookup<'p> {
    /// The row it matches, with its placeholders.
    Found(&'static Route, Params<'p>),
    /// A row's grammar fits the path, but not with this method.
    MethodNotAllowed,
    /// No row's grammar fits the path.
    NotFound,
}

/// Finds the row for a request: the first whose grammar fits `segments` and whose method
/// is `method`.
pub fn lookup<'p>(method: &Method, segments: &[&'p str]) -> Lookup<'p> {
    let (scope, rest) = locate(segments);
    let mut fits_another_method = false;
    for (route, grammar) in ROUTES.iter().zip(grammars()) {
        if grammar.scoped != scope.is_some() {
            continue;
        }
        let Some(mut params) = grammar.bind(rest) else {
            continue;
        };
        if route.method != *method {
            fits_another_method = true;
            continue;
        }
        params.scope = scope.map(|s| {
            let parts: Vec<&str> = s.iter().copied().filter(|p| !p.is_empty()).collect();
            format!("/{}", parts.join("/"))
        });
        return Lookup::Found(route, params);
    }
    if fits_another_method {
        Lookup::MethodNotAllowed
    } else {
        Lookup::NotFound
    }
}

/// The object placeholders of the table and the kind of object each names.
const OBJECT_PARAMS: [(&str, ObjectKind); 3] = [
    ("key", ObjectKind::Key),
    ("secret", ObjectKind::Secret),
    ("certificate", ObjectKind::Certificate),
];

/// The object a path names, if any: the segment in a `{key}` or `{secret}` position of a
/// row whose literal segments before it match, with its kind. The server checks the name
/// before it looks the route up, so a name Key Vault forbids is a 400 naming the problem
/// on every such path, known or not.
pub fn object_name<'p>(segments: &[&'p str]) -> Option<(ObjectKind, &'p str)> {
    let (scope, rest) = locate(segments);
    if scope.is_some() {
        return None;
    }
    grammars().iter().filter(|g| !g.scoped).find_map(|g| {
        let (at, kind) = g.pieces.iter().enumerate().find_map(|(i, p)| match p {
            Piece::Param(name) => OBJECT_PARAMS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, k)| (i, *k)),
            Piece::Lit(_) => None,
        })?;
        let name = rest.get(at)?;
        g.pieces[..at]
            .iter()
            .zip(rest)
            .all(|(p, s)| p.fits(s))
            .then_some((kind, *name))
    })
}

impl Params<'_> {
    /// The object a request's placeholders name, with its kind: `{key}` or `{secret}`.
    pub fn object(&self) -> Option<(ObjectKind, &str)> {
        OBJECT_PARAMS
            .iter()
            .find_map(|(n, k)| Some((*k, self.get(n)?)))
    }
}

/// Splits off a role route's scope: `(Some(scope segments), after the mount)`, or
/// `(None, segments)` when the path has no `providers/Microsoft.Authorization`.
fn locate<'s, 'p>(segments: &'s [&'p str]) -> (Option<&'s [&'p str]>, &'s [&'p str]) {
    let mount = segments.windows(2).position(|w| {
        w[0].eq_ignore_ascii_case(ROLE_MOUNT[0]) && w[1].eq_ignore_ascii_case(ROLE_MOUNT[1])
    });
    match mount {
        Some(i) => (Some(&segments[..i]), &segments[i + 2..]),
        None => (None, segments),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Lit(&'static str),
    Param(&'static str),
}

impl Piece {
    fn fits(&self, segment: &str) -> bool {
        match self {
            Piece::Lit(l) => *l == segment,
            Piece::Param(_) => true,
        }
    }
}

/// A row's grammar, split once: for role routes, what follows the mount.
#[derive(Debug)]
struct Grammar {
    scoped: bool,
    pieces: Vec<Piece>,
}

impl Grammar {
    fn new(path: &'static str) -> Self {
        let (scoped, rest) = match path.strip_prefix(SCOPED) {
            Some(rest) => (true, rest),
            None => (false, path),
        };
        let pieces = rest
            .split('/')
            .map(
                |p| match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => Piece::Param(name),
                    None => Piece::Lit(p),
                },
            )
            .collect();
        Self { scoped, pieces }
    }

    fn bind<'p>(&self, segments: &[&'p str]) -> Option<Params<'p>> {
        if segments.len() != self.pieces.len() {
            return None;
        }
        let mut params = Params::default();
        for (piece, segment) in self.pieces.iter().zip(segments) {
            match piece {
                Piece::Lit(l) if l != segment => return None,
                Piece::Lit(_) => {}
                Piece::Param(name) => {
                    *params.named.get_mut(params.len)? = (*name, *segment);
                    params.len += 1;
                }
            }
        }
        Some(params)
    }
}

fn grammars() -> &'static [Grammar] {
    static GRAMMARS: OnceLock<Vec<Grammar>> = OnceLock::new();
    GRAMMARS.get_or_init(|| ROUTES.iter().map(|r| Grammar::new(r.path)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> (Op, Vec<(&'static str, String)>, String) {
        let segs = segments(path);
        match lookup(&method, &segs) {
            Lookup::Found(route, p) => {
                let named = p.named[..p.len]
                    .iter()
                    .map(|(n, v)| (*n, v.to_string()))
                    .collect();
                (route.op, named, p.scope().to_string())
            }
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    fn miss(method: Method, path: &str) -> &'static str {
        match lookup(&method, &segments(path)) {
            Lookup::Found(route, _) => route.log_name,
            Lookup::MethodNotAllowed => "405",
            Lookup::NotFound => "404",
        }
    }

    #[test]
    fn rows_and_ops_line_up_and_grammars_are_well_formed() {
        for (i, route) in ROUTES.iter().enumerate() {
            assert_eq!(route.op as usize, i, "{:?} is out of place", route.op);
            let named = route.params().filter(|p| *p != "scope").count();
            assert!(named <= MAX_PARAMS, "{}", route.path);
            assert_eq!(
                route.path.contains("{scope}"),
                route.path.starts_with(SCOPED),
                "{}: a scope comes first, then the authorization provider",
                route.path
            );
            assert_eq!(route.is_management(), route.access == Access::Admin);
            let secret_action = matches!(route.access, Data(a) if a.as_str().contains("/secrets/"));
            assert_eq!(
                route.object_kind() == Some(ObjectKind::Secret),
                secret_action,
                "{}: a secret route checks a secret action",
                route.path
            );
            for p in route.params() {
                assert!(
                    [
                        "scope",
                        "key",
                        "secret",
                        "certificate",
                        "version",
                        "vault",
                        "name"
                    ]
                    .contains(&p),
                    "{}: unknown placeholder {p}",
                    route.path
                );
            }
            // No row is shadowed by an earlier one of the same method and grammar.
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|r| r.method == route.method && r.path == route.path),
                "{} {} is listed twice",
                route.method,
                route.path
            );
            // Every row is reachable through its own rendered path.
            let args: Vec<&str> = route
                .params()
                .map(|p| match p {
                    "scope" => "/keys/k1",
                    "version" => "0123456789abcdef0123456789abcdef",
                    _ => "n-1",
                })
                .collect();
            let path = route.op.path(&args);
            assert_eq!(found(route.method.clone(), &path).0, route.op, "{path}");
        }
    }

    #[test]
    fn requests_find_their_rows() {
        let (op, named, _) = found(Method::POST, "/keys/k1//sign");
        assert_eq!(op, Op::KeySign);
        assert_eq!(named, [("key", "k1".into()), ("version", "".into())]);
        assert_eq!(found(Method::GET, "/keys/k1/").0, Op::KeyGet);
        assert_eq!(
            found(Method::GET, "/keys/k1/versions").0,
            Op::KeyListVersions
        );
        assert_eq!(found(Method::GET, "/keys/k1/create").0, Op::KeyGetVersion);
        assert_eq!(found(Method::POST, "/keys/restore").0, Op::KeyRestore);
        assert_eq!(found(Method::GET, "/keys/restore").0, Op::KeyGet);
        let (op, named, scope) = found(
            Method::PUT,
            "/keys/k1/PROVIDERS/microsoft.authorization/roleAssignments/a1",
        );
        assert_eq!(op, Op::RoleAssignmentCreate);
        assert_eq!(named, [("name", "a1".into())]);
        assert_eq!(scope, "/keys/k1");
        let (_, _, scope) = found(
            Method::GET,
            "//providers/Microsoft.Authorization/roleDefinitions",
        );
        assert_eq!(scope, "/");
        assert_eq!(found(Method::GET, "/management/vaults/v1").0, Op::VaultGet);
        let (op, named, _) = found(Method::GET, "/management/vaults/v1/pkcs11-keys/k1");
        assert_eq!(op, Op::Pkcs11KeyGet);
        assert_eq!(named, [("vault", "v1".into()), ("key", "k1".into())]);
        let (op, named, _) = found(Method::GET, "/management/vaults/v1/pkcs11-keys/k1/ab");
        assert_eq!(op, Op::Pkcs11KeyGetVersion);
        assert_eq!(
            named,
            [
                ("vault", "v1".into()),
                ("key", "k1".into()),
                ("version", "ab".into())
            ]
        );
    }

    #[test]
    fn a_known_shape_with_another_method_is_405_anything_else_404() {
        for (method, path) in [
            (Method::PUT, "/keys"),
            (Method::POST, "/keys/ec"),
            (Method::DELETE, "/keys/ec/v1"),
            (Method::GET, "/keys/ec/v1/sign"),
            (Method::GET, "/deletedkeys/gone/recover"),
            (Method::GET, "/rng"),
            (Method::OPTIONS, "/keys"),
            (
                Method::POST,
                "/providers/Microsoft.Authorization/roleDefinitions",
            ),
            (Method::GET, "/management/customer-data/export/"),
            (Method::PUT, "/management/vaults/v/pkcs11-keys/k"),
        ] {
            assert_eq!(miss(method.clone(), path), "405", "{method} {path}");
        }
        for path in [
            "/",
            "/secrets/s/v/frobnicate",
            "/keys/ec/v/frobnicate",
            "/keys/ec/v/sign/extra",
            "/deletedkeys/gone/undelete",
            "/deletedkeys/a/b/c",
            "/rng/x",
            "/keys/providers/Microsoft.Authorization",
            "/providers/Microsoft.Authorization/frobnicate",
            "/management",
            "/management/vaults/v/keys",
            "/management/vaults/v/pkcs11-keys",
            "/management/vaults/v/pkcs11-keys/k/v/x",
        ] {
            assert_eq!(miss(Method::POST, path), "404", "{path}");
        }
    }

    #[test]
    fn key_names_are_found_by_the_table() {
        fn name(p: &str) -> Option<&str> {
            object_name(&segments(p)).map(|(_, n)| n)
        }
        assert_eq!(
            object_name(&segments("/deletedsecrets/s_1/recover")),
            Some((ObjectKind::Secret, "s_1"))
        );
        assert_eq!(
            object_name(&segments("/secrets/s1/v1")),
            Some((ObjectKind::Secret, "s1"))
        );
        assert_eq!(name("/keys/bad_name"), Some("bad_name"));
        assert_eq!(name("/keys/bad_name/v/frobnicate"), Some("bad_name"));
        assert_eq!(name("/deletedkeys/x/recover"), Some("x"));
        assert_eq!(name("/keys//create"), Some(""));
        assert_eq!(name("/keys"), None);
        assert_eq!(name("/rng"), None);
        assert_eq!(name("/management/vaults/v"), None);
        assert_eq!(
            name("/keys/bad_name/providers/Microsoft.Authorization/roleAssignments"),
            None
        );
    }

    #[test]
    fn paths_render_with_encoded_segments() {
        assert_eq!(Op::KeySign.path(&["k", ""]), "/keys/k//sign");
        assert_eq!(Op::KeySign.path(&["k", "v1"]), "/keys/k/v1/sign");
        assert_eq!(Op::KeyGet.path(&["a/b?c"]), "/keys/a%2Fb%3Fc");
        assert_eq!(Op::KeyList.path(&[]), "/keys");
        assert_eq!(
            Op::RoleAssignmentGet.path(&["/", "a1"]),
            "/providers/Microsoft.Authorization/roleAssignments/a1"
        );
        assert_eq!(
            Op::RoleAssignmentList.path(&["/keys/k1/"]),
            "/keys/k1/providers/Microsoft.Authorization/roleAssignments"
        );
        assert_eq!(
            Op::VaultRecover.path(&["v"]),
            "/management/vaults/v/recover"
        );
        assert_eq!(encode_segment("k-1._~"), "k-1._~");
        assert_eq!(
            Op::KeyGetVersion.route().arg(&["k", "v"], "version"),
            Some("v")
        );
    }

    #[test]
    fn paths_split_like_key_vault() {
        assert_eq!(segments("/keys/k/"), vec!["keys", "k"]);
        assert_eq!(segments("/keys/k//sign"), vec!["keys", "k", "", "sign"]);
        assert!(segments("/").is_empty());
    }
}
