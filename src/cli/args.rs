//! The command line's grammar: every command, option and its help text. Parsing only; what
//! a command does lives in [`super::commands`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Parser, Subcommand};

use crate::clock::UnixTime;
use crate::crypto::{
    CurveName, EncryptionAlgorithm, KeyOperation, KeyType, SignatureAlgorithm, WrapAlgorithm,
};
use crate::model::VaultKind;

/// Default listen address of `localhsm serve`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8443";

/// A local stand-in for Azure Key Vault and Managed HSM.
///
/// Run `localhsm serve` and point any Azure Key Vault SDK at https://localhost:8443.
/// The other commands manage the same store directly, or through the running server when
/// one holds the data directory.
#[derive(Debug, Parser)]
#[command(
    name = "localhsm",
    version,
    after_help = "Example:\n  localhsm key create signer --kty EC-HSM --curve P-256"
)]
pub struct Cli {
    /// Data directory of the store [default: the user's data directory, e.g. ~/.local/share/localhsm].
    #[arg(long, global = true, env = "LOCALHSM_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Vault the key commands act on [default: the default vault].
    #[arg(long, global = true, env = "LOCALHSM_VAULT", value_name = "NAME")]
    pub vault: Option<String>,

    /// Bearer token to send [default: through a running server, the store owner's credential
    /// DIR/owner.token; in-process, a development token for the local user].
    #[arg(
        long,
        global = true,
        env = "LOCALHSM_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Readable tables.
    Table,
    /// JSON, as the REST API returns it.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server (Key Vault / Managed HSM REST API).
    #[command(after_help = "Example:\n  localhsm serve --addr 127.0.0.1:8443")]
    Serve(ServeArgs),
    /// Print a development bearer token (an unsigned JWT) naming a caller.
    #[command(
        after_help = "Example:\n  localhsm token --oid 11111111-2222-3333-4444-555555555555 --upn dev@example.com"
    )]
    Token(TokenArgs),
    /// Print the environment that lets an unchanged Azure SDK application use the running
    /// server: its managed-identity endpoint, the vault URL and the CA to trust.
    ///
    /// Prints POSIX `export` lines: IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service's
    /// managed identity, which DefaultAzureCredential and ManagedIdentityCredential read in
    /// Python, JavaScript and Rust), AZURE_KEYVAULT_URL (also as VAULT_URL and KEYVAULT_URI,
    /// the names Azure's samples read) for the vault --vault names, at
    /// https://NAME.localhost:PORT so the SDKs' challenge check passes, and the local CA as
    /// REQUESTS_CA_BUNDLE (Python requests), SSL_CERT_FILE (Python ssl, Rust's rustls
    /// through the platform verifier, OpenSSL) and NODE_EXTRA_CA_CERTS (Node). The trust
    /// variables replace the process's usual CA list except NODE_EXTRA_CA_CERTS, which adds
    /// to it. Needs a running `localhsm serve` on the data directory; IDENTITY_HEADER is a
    /// secret (it is DIR/identity-header, readable only by you).
    #[command(
        after_help = "Example:\n  eval \"$(localhsm env)\"\n  python app.py     # DefaultAzureCredential() and KeyClient(os.environ[\"AZURE_KEYVAULT_URL\"], ...)\n  localhsm env --vault kv   # the vault kv: https://kv.localhost:PORT"
    )]
    Env(EnvArgs),
    /// Create, list, show, delete, recover and purge vaults.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm vault create dev --kind managedhsm --retention-days 7"
    )]
    Vault(VaultCommand),
    /// Create, use and manage keys in a vault (--vault NAME, default: the default vault).
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm key create signer --kty EC-HSM --curve P-256"
    )]
    Key(KeyCommand),
    /// Set, read and manage secrets in a vault (--vault NAME, default: the default vault).
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm secret set db-password @password.txt --content-type text/plain\n  \
                      export DB_PASSWORD=\"$(localhsm secret get db-password)\""
    )]
    Secret(SecretCommand),
    /// Create, import, download and manage certificates, with their policies, contacts and
    /// issuers (--vault NAME, default: the default vault).
    #[command(
        subcommand,
        name = "cert",
        visible_alias = "certificate",
        after_help = "Example:\n  localhsm cert create web --subject CN=www.example.com --dns www.example.com\n  \
                      localhsm cert download web --format pem --out web.crt"
    )]
    Cert(super::certificates::grammar::CertCommand),
    /// List, show, recover and purge soft-deleted keys (--kind secret|certificate: secrets or
    /// certificates).
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm deleted list\n  localhsm deleted list --kind secret\n  \
                      localhsm deleted list --kind certificate"
    )]
    Deleted(DeletedCommand),
    /// Dev only: move the clock forward by SECONDS and purge what has come due.
    ///
    /// Lets you watch soft-deleted keys and vaults reach their scheduled purge date without
    /// waiting. Off unless allowed: a running server must have been started with
    /// `serve --dev-clock`; with no server, pass `--dev-clock` here. At most 3650 days per
    /// call. A shift reaches purge dates, so it ends the wait that purge protection imposes.
    /// The store never lets its time run backwards, so the shift stays in effect for this
    /// data directory until real time catches up; do not use it on data you care about.
    #[command(
        after_help = "Example:\n  localhsm serve --dev-clock   # then, elsewhere:\n  \
                            localhsm time-shift 7776000   # 90 days\n  \
                            localhsm time-shift --dev-clock 7776000   # no server running"
    )]
    TimeShift(TimeShiftArgs),
    /// Create what a seed file (YAML or JSON) describes: vaults, keys, secrets,
    /// certificates and role assignments.
    ///
    /// Through the running server when one holds the data directory, else in-process. The
    /// whole file is checked before anything is written: a file with an error changes
    /// nothing and its line is named. What exists and matches the file is left alone, so
    /// applying a file twice changes nothing; what exists and differs (or is soft-deleted)
    /// is reported with every other such entry, and then too nothing is written: a seed
    /// never overwrites. `localhsm serve --seed FILE` applies one at start.
    #[command(after_help = APPLY_HELP)]
    Apply(ApplyArgs),
    /// Role assignments and role definitions (local RBAC): Managed HSM's roles in managedhsm
    /// vaults, Key Vault's (Secrets User, Secrets Officer, Reader, Administrator) in vaults
    /// that hold secrets.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm role assign --role \"Crypto User\" --principal 11111111-2222-3333-4444-555555555555 --scope /keys/signer"
    )]
    Role(RoleCommand),
    /// Read a vault's access log (turn it on with `vault update NAME --access-log on`).
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm log list --vault default --principal 11111111-2222-3333-4444-555555555555"
    )]
    Log(LogCommand),
    /// Set up a vault's PKCS#11 token: its SO PIN and user PIN (see README, "PKCS#11").
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm pkcs11 init-token --vault default --so-pin 87654321 --pin 123456"
    )]
    Pkcs11(Pkcs11Command),
    /// Generate test-vector files from a seed, or check vector files (this project's format
    /// or Wycheproof's) against localhsm.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm vectors generate --alg ES256 --count 10 --seed 7 --out es256.json\n  localhsm vectors check es256.json vectors/"
    )]
    Vectors(crate::vectors::cli::VectorsCommand),
    /// Export or delete everything held about a principal, UPN, device ID or tag.
    #[command(
        subcommand,
        name = "customer-data",
        after_help = "Example:\n  localhsm customer-data export --device-id sensor-42"
    )]
    CustomerData(CustomerDataCommand),
    /// A Managed HSM's account settings (--vault NAME, a Managed HSM; default: the default
    /// vault), as KeyVaultSettingsClient reads and changes them.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm setting list\n  localhsm setting set AllowKeyManagementOperationsThroughARM true"
    )]
    Setting(super::admin::grammar::SettingCommand),
    /// Full backup and restore of a Managed HSM's keys (--vault NAME), to a folder in the
    /// data directory named from a blob container URL, as KeyVaultBackupClient makes them.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm backup create --container https://myaccount.blob.core.windows.net/backups\n  \
                      localhsm backup restore https://myaccount.blob.core.windows.net/backups/mhsm-default-2026120216232200"
    )]
    Backup(super::admin::grammar::BackupCommand),
    /// Key Vault access policies: who may do what in a vault of kind vault.
    ///
    /// A vault of kind vault uses one of Key Vault's two permission models. With RBAC (the
    /// default) role assignments decide (`localhsm role`). With access policies (`vault
    /// create NAME --enable-rbac-authorization false`, or `vault update`) each principal's
    /// policy decides and role assignments are ignored. Either way nothing is checked unless
    /// the server runs with `serve --enforce-rbac`, and its `--admin` principals may do
    /// everything. The vault is the one given by --vault.
    #[command(
        subcommand,
        name = "access-policy",
        after_help = "Example:\n  localhsm vault create app --enable-rbac-authorization false\n  \
                      localhsm --vault app access-policy set --object-id 11111111-2222-3333-4444-555555555555 --secret-permissions get,list"
    )]
    AccessPolicy(AccessPolicyCommand),
    /// The whole store, every vault with everything in it: back it up, restore it, check
    /// it and repair it.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm store backup localhsm.backup\n  \
                      localhsm store restore localhsm.backup --data ~/.local/share/localhsm-restored"
    )]
    Store(StoreCommand),
}

/// `localhsm role ...`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List role assignments (in the vault given by --vault).
    #[command(after_help = "Example:\n  localhsm role list --scope /keys/signer")]
    List {
        /// Only assignments that apply at this scope: /, /keys, /keys/NAME, /secrets or
        /// /secrets/NAME.
        #[arg(long)]
        scope: Option<String>,
    },
    /// Assign a role to a principal at a scope.
    #[command(
        after_help = "Example:\n  localhsm role assign --role \"Crypto User\" --principal 11111111-2222-3333-4444-555555555555 --scope /keys/signer"
    )]
    Assign {
        /// The role: a built-in role's name (\"Crypto User\", \"Managed HSM Crypto Officer\",
        /// \"Secrets User\") or id, or a custom role's name or GUID (`role define`).
        #[arg(long)]
        role: String,
        /// The principal's object ID.
        #[arg(long)]
        principal: String,
        /// Where the role applies: / (the whole vault), /keys (every key), /keys/NAME (one
        /// key), /secrets (every secret) or /secrets/NAME (one secret).
        #[arg(long, default_value = "/")]
        scope: String,
        /// The assignment's name (a GUID) [default: a new one].
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a role assignment by name.
    #[command(
        after_help = "Example:\n  localhsm role remove 0e4f3c3a-5b8f-4b1e-9d1c-2a7e3c1b9f00"
    )]
    Remove {
        /// The assignment's name.
        name: String,
    },
    /// List the role definitions this vault offers (built-in, then custom) and what they
    /// allow.
    #[command(after_help = "Example:\n  localhsm role definitions --output json")]
    Definitions,
    /// Create (or, with --id, replace) a custom role definition, assignable like a
    /// built-in role with `role assign --role NAME`.
    ///
    /// Data actions are Managed HSM's (`localhsm role definitions --output json` shows
    /// them); `*` matches any run of characters, so Microsoft.KeyVault/managedHsm/keys/*
    /// is every key action. --not-data-actions are taken away from what --data-actions
    /// allow. Needs Managed HSM's roleDefinitions/write action (an admin, Administrator,
    /// Crypto Officer or Policy Administrator).
    #[command(
        after_help = "Example:\n  localhsm role define --name \"Key user, no delete\" --data-actions 'Microsoft.KeyVault/managedHsm/keys/*' \\\n      --not-data-actions Microsoft.KeyVault/managedHsm/keys/delete --assignable-scope /keys"
    )]
    Define {
        /// The role's name (unique among the vault's roles).
        #[arg(long)]
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Data actions it allows (comma-separated; `*` is a wildcard).
        #[arg(long, value_delimiter = ',', required = true)]
        data_actions: Vec<String>,
        /// Data actions taken away from those (comma-separated; `*` is a wildcard).
        #[arg(long, value_delimiter = ',')]
        not_data_actions: Vec<String>,
        /// Where it may be assigned (repeatable): /, /keys or /keys/NAME [default: /].
        #[arg(long = "assignable-scope")]
        assignable_scopes: Vec<String>,
        /// The definition's GUID, to replace an existing one [default: a new one].
        #[arg(long)]
        id: Option<String>,
    },
    /// Show one role definition (built-in or custom) by GUID or name.
    #[command(after_help = "Example:\n  localhsm role show-definition \"Key user, no delete\"")]
    ShowDefinition {
        /// The definition's GUID or role name.
        role: String,
    },
    /// Delete a custom role definition (by GUID or name). Built-in roles cannot be deleted;
    /// remove a custom role's assignments first.
    #[command(after_help = "Example:\n  localhsm role delete-definition \"Key user, no delete\"")]
    DeleteDefinition {
        /// The definition's GUID or role name.
        role: String,
    },
}

/// `localhsm access-policy ...`.
#[derive(Debug, Subcommand)]
pub enum AccessPolicyCommand {
    /// Give a principal (object ID) its permissions in the vault, replacing any it had.
    #[command(after_help = concat!(
        "Permissions are Key Vault's names, comma- or space-separated, any case:\n  ",
        "Keys:         get, list, update, create, import, delete, recover, backup, restore,\n",
        "                decrypt, encrypt, unwrapKey, wrapKey, verify, sign, purge, release,\n",
        "                rotate, getrotationpolicy, setrotationpolicy, all\n  ",
        "Secrets:      get, list, set, delete, recover, backup, restore, purge, all\n  ",
        "Certificates: get, list, delete, create, import, update, managecontacts, getissuers,\n",
        "                listissuers, setissuers, deleteissuers, manageissuers, recover, purge,\n",
        "                backup, restore, all (kept for when certificates are served)\n\n",
        "`get` reads one object (a secret's value, a key's public part); `list` lists them\n",
        "(and a secret's versions; a key's versions need `get`); updating a secret's\n",
        "attributes needs `set`, as in Key Vault.\n\n",
        "Example:\n  localhsm --vault app access-policy set --object-id 11111111-2222-3333-4444-555555555555 \\\n",
        "      --secret-permissions get,list --key-permissions get,sign"
    ))]
    Set {
        /// The principal's object ID (the `oid` of its tokens).
        #[arg(long, value_name = "OBJECT_ID")]
        object_id: String,
        /// The principal's tenant ID; when given, only tokens of that tenant (`tid`) match.
        #[arg(long, value_name = "TENANT_ID")]
        tenant_id: Option<String>,
        /// Permissions on keys (get, list, sign, wrapKey, ..., or all).
        #[arg(long, value_name = "PERMISSIONS", value_delimiter = ',', num_args = 1..)]
        key_permissions: Vec<String>,
        /// Permissions on secrets (get, list, set, delete, recover, backup, restore, purge,
        /// or all).
        #[arg(long, value_name = "PERMISSIONS", value_delimiter = ',', num_args = 1..)]
        secret_permissions: Vec<String>,
        /// Permissions on certificates (stored; certificates are not served yet).
        #[arg(long, value_name = "PERMISSIONS", value_delimiter = ',', num_args = 1..)]
        certificate_permissions: Vec<String>,
    },
    /// Show a principal's access policy.
    #[command(
        after_help = "Example:\n  localhsm --vault app access-policy get --object-id 11111111-2222-3333-4444-555555555555"
    )]
    Get {
        /// The principal's object ID.
        #[arg(long, value_name = "OBJECT_ID")]
        object_id: String,
    },
    /// List the vault's access policies.
    #[command(after_help = "Example:\n  localhsm --vault app access-policy list --output json")]
    List,
    /// Remove a principal's access policy (it may then do nothing in the vault).
    #[command(
        after_help = "Example:\n  localhsm --vault app access-policy delete --object-id 11111111-2222-3333-4444-555555555555"
    )]
    Delete {
        /// The principal's object ID.
        #[arg(long, value_name = "OBJECT_ID")]
        object_id: String,
    },
}

/// `localhsm log ...`.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// List access-log records of the vault given by --vault, oldest first.
    #[command(
        after_help = "Example:\n  localhsm log list --principal 11111111-2222-3333-4444-555555555555 --since 2026-11-01T00:00:00Z"
    )]
    List(LogFilter),
    /// Print access-log records as JSON Lines, one record per line.
    #[command(after_help = "Example:\n  localhsm log export --vault default > access.jsonl")]
    Export(LogFilter),
}

/// Which access-log records.
#[derive(Debug, clap::Args)]
pub struct LogFilter {
    /// Only records of this caller object ID.
    #[arg(long)]
    pub principal: Option<String>,
    /// Only records at or after this time (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `localhsm customer-data ...`.
#[derive(Debug, Subcommand)]
pub enum CustomerDataCommand {
    /// Print one JSON document with everything tied to the subject, in every vault.
    #[command(
        after_help = "Example:\n  localhsm customer-data export --principal 11111111-2222-3333-4444-555555555555"
    )]
    Export(Subject),
    /// Remove what is tied to the subject: role assignments, tagged keys (purged where the
    /// vault's rules allow; purge-protected ones wait for their date), and its identity in
    /// access-log records. Prints what it did.
    #[command(after_help = "Example:\n  localhsm customer-data delete --device-id sensor-42")]
    Delete(Subject),
}

/// Whom a customer-data request is about: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Subject {
    /// A principal's object ID.
    #[arg(long)]
    pub principal: Option<String>,
    /// A user principal name.
    #[arg(long)]
    pub upn: Option<String>,
    /// A device ID (found in tag values).
    #[arg(long)]
    pub device_id: Option<String>,
    /// A tag, KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Option<String>,
}

/// `localhsm serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Your own TLS certificate (PEM); default: one generated into DIR/tls/.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Enforce access control in every vault: each call needs a role assignment granting
    /// its data action to the caller (the token's `oid`), or, in a vault that chose access
    /// policies, a policy permitting it.
    #[arg(long, requires = "admin")]
    pub enforce_rbac: bool,
    /// An object ID that holds Managed HSM Administrator, Crypto Officer and Crypto User and
    /// Key Vault Administrator at `/` in every vault, and may use the management API
    /// (repeatable). 1 to 128 characters of 0-9, a-z, A-Z and - (a GUID fits).
    #[arg(long, value_name = "OBJECT_ID", value_parser = admin_object_id)]
    pub admin: Vec<String>,
    /// Allow `time-shift` (`POST /management/time-shift`) to move this server's clock
    /// forward, at most 3650 days per call. For development stores only: a shift can reach
    /// scheduled purge dates, and so ends the wait that purge protection imposes.
    #[arg(long)]
    pub dev_clock: bool,
    /// A seed file (YAML or JSON) to apply before serving, as `localhsm apply FILE` does;
    /// the server does not start when it has an error or conflicts with the store.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Accept only the api-versions of Key Vault's REST specifications (7.0 to the newest
    /// this build knows); without it, a later version is served with the newest one's
    /// behaviour, and logged once.
    #[arg(long)]
    pub strict_api_version: bool,
    /// Object ID (`oid`) of the local managed identity: the caller that applications using
    /// `localhsm env` act as (grant it roles, or name it in --admin, under --enforce-rbac).
    #[arg(long, value_name = "OBJECT_ID", default_value = crate::server::identity::DEFAULT_OID)]
    pub identity_oid: String,
    /// User principal name (`upn`) of the local managed identity, shown in access logs.
    #[arg(long, value_name = "UPN", default_value = crate::server::identity::DEFAULT_UPN)]
    pub identity_upn: String,
    /// Tenant ID (`tid`) of the local managed identity.
    #[arg(long, value_name = "TENANT_ID", default_value = crate::server::auth::DEV_TENANT)]
    pub identity_tid: String,
    /// Keep the store in PostgreSQL instead of DIR's embedded database, so that several
    /// `serve` processes (replicas) on one database act as one Key Vault:
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE. The tables are created in the
    /// schema `localhsm` on first use. Every replica needs the same LOCALHSM_MASTER_KEY; DIR
    /// still holds this replica's TLS files and owner credential. See "Running as a shared
    /// service" in the README.
    #[arg(
        long,
        env = "LOCALHSM_STORE",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Shared store"
    )]
    pub store: Option<crate::server::StoreUrl>,
    /// The longest any call waits for the --store database (connecting, a query, a
    /// commit); past it the request is answered 503 with Retry-After (units ms, s, m).
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = crate::server::listener::parse_timeout,
          help_heading = "Shared store")]
    pub store_timeout: std::time::Duration,
    /// Connections open at once. At the bound, new connections wait (unaccepted, in the
    /// system's listen queue) until a slot frees; the timeouts below free every slot a stalled
    /// client holds.
    #[arg(long, value_name = "N", default_value = "512", value_parser = clap::value_parser!(u32).range(1..),
          help_heading = "Connection limits")]
    pub max_connections: u32,
    /// Time a new connection has for its TLS handshake (units ms, s, m).
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = crate::server::listener::parse_timeout,
          help_heading = "Connection limits")]
    pub handshake_timeout: std::time::Duration,
    /// Time a request has for its headers: from the handshake on a new connection, from the
    /// request's first byte on a kept-alive one. Then the connection is closed.
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = crate::server::listener::parse_timeout,
          help_heading = "Connection limits")]
    pub header_timeout: std::time::Duration,
    /// Time a request has for its body, from the end of its headers; a late body is answered
    /// 400 and the connection closed.
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = crate::server::listener::parse_timeout,
          help_heading = "Connection limits")]
    pub body_timeout: std::time::Duration,
    /// Time a connection may stay open with no request in flight and no answer being
    /// written (keep-alive).
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = crate::server::listener::parse_timeout,
          help_heading = "Connection limits")]
    pub idle_timeout: std::time::Duration,
}

/// An `--admin` value: an object ID, never empty, blank or with characters no object ID has.
fn admin_object_id(s: &str) -> Result<String, String> {
    crate::model::access::validate_principal_id("--admin", s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

/// `localhsm env`: everything it needs is the data directory and the global --vault.
#[derive(Debug, clap::Args)]
pub struct EnvArgs {}

/// `localhsm pkcs11 ...`.
#[derive(Debug, Subcommand)]
pub enum Pkcs11Command {
    /// Set the token's SO PIN and user PIN (stored as slow hashes; the vault's keys stay).
    /// Opens the store itself: stop a running server first.
    #[command(
        after_help = "Example:\n  localhsm pkcs11 init-token --vault default --so-pin 87654321 --pin 123456"
    )]
    InitToken(InitTokenArgs),
}

/// `localhsm pkcs11 init-token`.
#[derive(Debug, clap::Args)]
pub struct InitTokenArgs {
    /// The security officer's PIN (4 to 64 bytes).
    #[arg(long, value_name = "PIN")]
    pub so_pin: String,
    /// The user's PIN (4 to 64 bytes).
    #[arg(long, value_name = "PIN")]
    pub pin: String,
}

/// `localhsm token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The caller's object ID (`oid` claim).
    #[arg(long)]
    pub oid: String,
    /// The caller's user principal name (`upn` claim).
    #[arg(long)]
    pub upn: Option<String>,
    /// The tenant ID (`tid` claim).
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `localhsm apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The seed file: `.yaml`/`.yml` or `.json` (else JSON when it starts with `{`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The seed file format, for `localhsm apply --help`.
const APPLY_HELP: &str = "\
Format (paths are relative to the file; besides names, a key needs kty, jwk or pem, a secret
value or valueFile, a certificate its policy, a role assignment role and principal):
  vaults:
    - name: payments               # created when missing
      kind: vault                  # vault (default; the default vault is a managedhsm) | managedhsm
      retentionDays: 7             # 7..90, default 90
      purgeProtection: false
      keys:
        - name: signer             # generated: kty EC|EC-HSM|RSA|RSA-HSM|oct|oct-HSM
          kty: EC
          curve: P-256             # EC: P-256|P-384|P-521|P-256K; RSA/oct: size: 2048 ...
          keyOps: [sign, verify]
          enabled: true
          tags: {team: payments}
          exportable: false        # true needs releasePolicy: {JSON policy object}
        - name: imported           # imported: jwk: {inline JWK} or \"@file.json\",
          pem: \"@keys/ec.pem\"       #   or pem: PEM text or \"@file.pem\"; kty: X-HSM for HSM
      secrets:
        - name: db-password
          value: s3cret            # or valueFile: path (its exact content)
          contentType: text/plain
          tags: {env: dev}
      certificates:                # self-signed, from Key Vault's certificate policy
        - name: web
          policy: {key_props: {kty: EC, crv: P-256}, x509_props: {subject: CN=web.localhost}}
      roleAssignments:
        - role: Key Vault Crypto User   # name, short name or id; or a custom role's
          principal: 11111111-2222-3333-4444-555555555555
          scope: /keys/signer      # default /
          name: GUID               # optional; matched by role, principal and scope otherwise

Example:
  localhsm apply examples/seed.yaml
  localhsm serve --seed examples/seed.yaml";

/// `localhsm time-shift`.
#[derive(Debug, clap::Args)]
pub struct TimeShiftArgs {
    /// Seconds to move the clock forward (at most 315360000, 3650 days, per call).
    pub seconds: u64,
    /// Allow the shift on a data directory no server holds (the store this command opens
    /// itself). A running server allows shifts only when started with `serve --dev-clock`.
    #[arg(long)]
    pub dev_clock: bool,
}

/// `localhsm vault ...`.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create a vault, reachable as `https://NAME.localhost:PORT`.
    #[command(
        after_help = "Example:\n  localhsm vault create dev --kind managedhsm --retention-days 7 --purge-protection"
    )]
    Create {
        /// Vault name: 1 to 63 characters of 0-9, a-z and -.
        name: String,
        /// What the vault emulates: vault (RSA and EC keys) or managedhsm (also oct keys).
        #[arg(long, default_value = "vault", value_name = "vault|managedhsm")]
        kind: VaultKind,
        /// Soft-delete retention, 7 to 90 days [default: 90].
        #[arg(long, value_name = "N")]
        retention_days: Option<u32>,
        /// Forbid purging deleted keys and the vault before their scheduled purge date.
        /// Cannot be turned off.
        #[arg(long)]
        purge_protection: bool,
        /// Permission model: true (the default), role assignments decide (`localhsm role`);
        /// false, the vault's access policies do (`localhsm access-policy`; kind vault only).
        #[arg(long, value_name = "true|false")]
        enable_rbac_authorization: Option<bool>,
    },
    /// List vaults (with --deleted: soft-deleted vaults).
    #[command(after_help = "Example:\n  localhsm vault list --deleted")]
    List {
        /// List soft-deleted vaults instead.
        #[arg(long)]
        deleted: bool,
    },
    /// List soft-deleted vaults (the same as `vault list --deleted`).
    #[command(after_help = "Example:\n  localhsm vault list-deleted")]
    ListDeleted,
    /// Show a vault's settings (with --deleted: a soft-deleted vault).
    #[command(after_help = "Example:\n  localhsm vault show dev")]
    Show {
        /// Vault name.
        name: String,
        /// Show a soft-deleted vault.
        #[arg(long)]
        deleted: bool,
    },
    /// Change a vault's settings: turn purge protection on, or the access log on or off.
    #[command(
        after_help = "Example:\n  localhsm vault update dev --purge-protection\n  localhsm vault update dev --access-log on --log-retention-days 30"
    )]
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["purge_protection", "access_log", "log_retention_days", "enable_rbac_authorization"])))]
    Update {
        /// Vault name.
        name: String,
        /// Turn purge protection on (it cannot be turned off).
        #[arg(long)]
        purge_protection: bool,
        /// Record every data-plane call in the vault's access log.
        #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
        access_log: Option<String>,
        /// How long access-log records are kept, 1 to 365 days.
        #[arg(long, value_name = "N")]
        log_retention_days: Option<u32>,
        /// Switch the permission model: true, role assignments; false, access policies
        /// (kind vault only). Both are kept; only which one decides changes.
        #[arg(long, value_name = "true|false")]
        enable_rbac_authorization: Option<bool>,
    },
    /// Soft-delete a vault; it can be recovered until its scheduled purge date.
    #[command(after_help = "Example:\n  localhsm vault delete dev")]
    Delete {
        /// Vault name.
        name: String,
    },
    /// Recover a soft-deleted vault with its keys.
    #[command(after_help = "Example:\n  localhsm vault recover dev")]
    Recover {
        /// Vault name.
        name: String,
    },
    /// Permanently delete a soft-deleted vault and its keys.
    #[command(after_help = "Example:\n  localhsm vault purge dev")]
    Purge {
        /// Vault name.
        name: String,
    },
}

/// `localhsm key rotation-policy ...`.
#[derive(Debug, Subcommand)]
pub enum RotationPolicyCommand {
    /// Show a key's rotation policy (Key Vault's default, notify 30 days before expiry,
    /// when none was set).
    #[command(after_help = "Example:\n  localhsm key rotation-policy show signer")]
    Show {
        /// Key name.
        name: String,
    },
    /// Set a key's rotation policy, replacing the one it has. Durations are ISO 8601:
    /// P90D (90 days), P1Y, P3M, PT48H.
    ///
    /// The server rotates the key when a trigger falls due on its clock (`localhsm
    /// time-shift` moves it forward), and records Notify actions in the vault's access
    /// log. Key Vault's rules apply: at most one rotate and one notify action; triggers of
    /// at least 7 days, and at least 7 days inside --expires-in; --expires-in of at least
    /// 28 days; triggers before expiry need --expires-in.
    #[command(after_help = "Example:\n  \
            # a new version every 90 days; each version expires after a year\n  \
            localhsm key rotation-policy set signer --rotate-after P90D --expires-in P1Y\n  \
            # rotate 30 days before expiry, and be told 7 days before that\n  \
            localhsm key rotation-policy set signer --expires-in P90D --rotate-before-expiry P30D --notify-before-expiry P37D\n  \
            # Key Vault's JSON body, as `rotation-policy show --output json` prints it\n  \
            localhsm key rotation-policy set signer --file policy.json")]
    #[command(group(ArgGroup::new("policy").required(true).multiple(true).args(["file", "rotate_after", "rotate_before_expiry", "notify_before_expiry", "expires_in", "reset"])))]
    Set {
        /// Key name.
        name: String,
        /// Rotate this long after the current version was created.
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["rotate_before_expiry", "file", "reset"])]
        rotate_after: Option<String>,
        /// Rotate this long before the current version expires (needs --expires-in).
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["file", "reset"])]
        rotate_before_expiry: Option<String>,
        /// Record a notice in the access log this long before the current version expires
        /// (needs --expires-in).
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["file", "reset"])]
        notify_before_expiry: Option<String>,
        /// New versions expire this long after they are created, unless given an expiry.
        #[arg(long, value_name = "DURATION", conflicts_with = "file")]
        expires_in: Option<String>,
        /// The policy as Key Vault's JSON (lifetimeActions, attributes.expiryTime), or -
        /// for stdin.
        #[arg(long, value_name = "FILE|-")]
        file: Option<String>,
        /// Back to Key Vault's default actions (notify 30 days before expiry).
        #[arg(long)]
        reset: bool,
    },
}

/// Validity and tag options shared by `key create` and `key import`.
#[derive(Debug, clap::Args)]
pub struct NewKeyOptions {
    /// A tag, as KEY=VALUE; repeat for more.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Allow the private key to be exported; as in Key Vault, an exportable key needs
    /// --release-policy.
    #[arg(long, requires = "release_policy")]
    pub exportable: bool,
    /// The key's release policy: a JSON file (Key Vault's policy grammar), or - for stdin.
    /// Kept and returned with the key; only for --exportable keys.
    #[arg(long, value_name = "FILE|-", requires = "exportable")]
    pub release_policy: Option<String>,
    /// Make the release policy immutable: it can never change afterwards.
    #[arg(long, requires = "release_policy")]
    pub immutable: bool,
    /// Create the key disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Not valid before this time (Unix seconds or RFC 3339, e.g. 2030-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub not_before: Option<UnixTime>,
    /// Not valid after this time (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub expires: Option<UnixTime>,
}

/// Output options shared by the cryptographic operations.
#[derive(Debug, clap::Args)]
pub struct OpOutput {
    /// Also print byte values as hex.
    #[arg(long)]
    pub hex: bool,
    /// Write the result bytes (raw) to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `localhsm key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (a new version if NAME exists).
    #[command(
        after_help = "Example:\n  localhsm key create signer --kty EC-HSM --curve P-256 --ops sign,verify --tag env=dev"
    )]
    Create {
        /// Key name.
        name: String,
        /// Key type: EC, EC-HSM, RSA, RSA-HSM, oct or oct-HSM (oct needs a managedhsm vault).
        #[arg(long, value_name = "KTY")]
        kty: KeyType,
        /// RSA size (2048, 3072, 4096) or oct size (128, 192, 256) in bits.
        #[arg(long, value_name = "BITS")]
        size: Option<usize>,
        /// EC curve: P-256, P-384, P-521 or P-256K.
        #[arg(long, value_name = "CURVE")]
        curve: Option<CurveName>,
        /// Permitted operations, comma-separated: encrypt, decrypt, sign, verify, wrapKey,
        /// unwrapKey [default: by key type].
        #[arg(long, value_name = "OPS", value_delimiter = ',')]
        ops: Option<Vec<KeyOperation>>,
        /// Attributes and tags of the new key.
        #[command(flatten)]
        options: NewKeyOptions,
    },
    /// Import a key from a JSON Web Key with its private members.
    #[command(after_help = "Example:\n  localhsm key import imported --jwk key.json --hsm")]
    Import {
        /// Key name.
        name: String,
        /// The JWK file (JSON with private members), or - for stdin.
        #[arg(long, value_name = "FILE|-")]
        jwk: String,
        /// Import as an HSM key (EC-HSM, RSA-HSM, oct-HSM).
        #[arg(long)]
        hsm: bool,
        /// Attributes and tags of the new key.
        #[command(flatten)]
        options: NewKeyOptions,
    },
    /// Show a key's public part and attributes (never private material).
    #[command(after_help = "Example:\n  localhsm key get signer --version 0123abcd...")]
    Get {
        /// Key name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
    },
    /// List the keys of the vault.
    #[command(after_help = "Example:\n  localhsm --vault dev key list --max 10")]
    List {
        /// Stop after N keys.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// List the versions of a key.
    #[command(after_help = "Example:\n  localhsm key versions signer")]
    Versions {
        /// Key name.
        name: String,
        /// Stop after N versions.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// Change a key version's attributes, operations or tags.
    #[command(after_help = "Example:\n  localhsm key update signer --disable --tag owner=me")]
    Update {
        /// Key name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// Enable the key.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable the key.
        #[arg(long)]
        disable: bool,
        /// Replace the tags with these (KEY=VALUE; repeat for more).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Replace the permitted operations (comma-separated).
        #[arg(long, value_name = "OPS", value_delimiter = ',')]
        ops: Option<Vec<KeyOperation>>,
        /// Set the not-before time (Unix seconds or RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        not_before: Option<UnixTime>,
        /// Set the expiry time (Unix seconds or RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        expires: Option<UnixTime>,
        /// Replace the version's release policy with this JSON file (or - for stdin);
        /// refused when its current policy is immutable.
        #[arg(long, value_name = "FILE|-")]
        release_policy: Option<String>,
        /// Make the new release policy immutable.
        #[arg(long, requires = "release_policy")]
        immutable: bool,
    },
    /// Show or set a key's rotation policy: when to make a new version, and how long
    /// versions live.
    #[command(
        name = "rotation-policy",
        subcommand,
        after_help = "Example:\n  localhsm key rotation-policy show signer\n  \
                      localhsm key rotation-policy set signer --rotate-after P90D --expires-in P1Y"
    )]
    RotationPolicy(RotationPolicyCommand),
    /// Create a new version of a key with the same type and settings.
    #[command(after_help = "Example:\n  localhsm key rotate signer")]
    Rotate {
        /// Key name.
        name: String,
    },
    /// Soft-delete a key; recover it with `key recover` until its scheduled purge date.
    #[command(after_help = "Example:\n  localhsm key delete signer")]
    Delete {
        /// Key name.
        name: String,
    },
    /// Recover a soft-deleted key.
    #[command(after_help = "Example:\n  localhsm key recover signer")]
    Recover {
        /// Key name.
        name: String,
    },
    /// Permanently delete a soft-deleted key.
    #[command(after_help = "Example:\n  localhsm key purge signer")]
    Purge {
        /// Key name.
        name: String,
    },
    /// Write a protected backup of a key (all versions) to a file.
    #[command(after_help = "Example:\n  localhsm key backup signer --file signer.backup")]
    Backup {
        /// Key name.
        name: String,
        /// File to write the backup blob to.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Restore a key from a backup file (its name must not be in use).
    #[command(after_help = "Example:\n  localhsm key restore --file signer.backup")]
    Restore {
        /// Backup file written by `key backup`.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    // Byte values take `allow_hyphen_values`: base64url (the default) may begin with `-`.
    /// Sign a digest (or hash a file with --message-file and sign that).
    #[command(
        group(ArgGroup::new("input").required(true).args(["digest", "message_file"])),
        after_help = "Example:\n  localhsm key sign signer --alg ES256 --message-file README.md\n\n\
                      Byte values: hex:..., b64:..., @FILE (raw bytes), - (stdin) or base64url."
    )]
    Sign {
        /// Key name.
        name: String,
        /// Algorithm: ES256, ES384, ES512, ES256K, RS256/384/512 or PS256/384/512.
        #[arg(long)]
        alg: SignatureAlgorithm,
        /// The digest to sign.
        #[arg(allow_hyphen_values = true)]
        digest: Option<String>,
        /// Hash this file with the algorithm's hash and sign the digest.
        #[arg(long, value_name = "FILE")]
        message_file: Option<PathBuf>,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// How to print the result.
        #[command(flatten)]
        output: OpOutput,
    },
    /// Verify a signature over a digest (or over a file's hash with --message-file).
    /// Exits with status 1 when the signature does not verify.
    #[command(
        group(ArgGroup::new("input").required(true).args(["digest", "message_file"])),
        after_help = "Example:\n  localhsm key verify signer --alg ES256 --message-file README.md --signature b64:MEUC...\n\n\
                      Byte values: hex:..., b64:..., @FILE (raw bytes), - (stdin) or base64url."
    )]
    Verify {
        /// Key name.
        name: String,
        /// Signature algorithm.
        #[arg(long)]
        alg: SignatureAlgorithm,
        /// The digest that was signed.
        #[arg(allow_hyphen_values = true)]
        digest: Option<String>,
        /// Hash this file with the algorithm's hash and verify over the digest.
        #[arg(long, value_name = "FILE")]
        message_file: Option<PathBuf>,
        /// The signature.
        #[arg(long, allow_hyphen_values = true)]
        signature: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
    },
    /// Encrypt bytes (RSA-OAEP, RSA-OAEP-256, RSA1_5, AES-GCM, AES-CBC, AES-CBCPAD).
    #[command(
        after_help = "Example:\n  localhsm key encrypt aes --alg A256GCM hex:68656c6c6f\n\n\
                      Byte values: hex:..., b64:..., @FILE (raw bytes), - (stdin) or base64url."
    )]
    Encrypt {
        /// Key name.
        name: String,
        /// Algorithm: RSA-OAEP, RSA-OAEP-256, RSA1_5, A128GCM..A256GCM, A128CBC..A256CBCPAD.
        #[arg(long)]
        alg: EncryptionAlgorithm,
        /// The plaintext.
        #[arg(allow_hyphen_values = true)]
        plaintext: String,
        /// IV (AES-CBC; AES-GCM generates one when omitted).
        #[arg(long, allow_hyphen_values = true)]
        iv: Option<String>,
        /// Additional authenticated data (AES-GCM).
        #[arg(long, allow_hyphen_values = true)]
        aad: Option<String>,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// How to print the result.
        #[command(flatten)]
        output: OpOutput,
    },
    /// Decrypt bytes encrypted by `key encrypt` (or any Key Vault client).
    #[command(
        after_help = "Example:\n  localhsm key decrypt aes --alg A256GCM CIPHERTEXT --iv IV --tag TAG\n\n\
                      Byte values: hex:..., b64:..., @FILE (raw bytes), - (stdin) or base64url."
    )]
    Decrypt {
        /// Key name.
        name: String,
        /// Algorithm used to encrypt.
        #[arg(long)]
        alg: EncryptionAlgorithm,
        /// The ciphertext.
        #[arg(allow_hyphen_values = true)]
        ciphertext: String,
        /// IV (AES).
        #[arg(long, allow_hyphen_values = true)]
        iv: Option<String>,
        /// Additional authenticated data (AES-GCM).
        #[arg(long, allow_hyphen_values = true)]
        aad: Option<String>,
        /// Authentication tag (AES-GCM).
        #[arg(long, allow_hyphen_values = true)]
        tag: Option<String>,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// How to print the result.
        #[command(flatten)]
        output: OpOutput,
    },
    /// Wrap (encrypt) a key with this key (RSA-OAEP, RSA-OAEP-256, RSA1_5, A128KW..A256KW).
    #[command(
        after_help = "Example:\n  localhsm key wrap kek --alg A256KW hex:00112233445566778899aabbccddeeff\n\n\
                      Byte values: hex:..., b64:..., @FILE (raw bytes), - (stdin) or base64url."
    )]
    Wrap {
        /// Key name.
        name: String,
        /// Algorithm.
        #[arg(long)]
        alg: WrapAlgorithm,
        /// The key to wrap.
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// How to print the result.
        #[command(flatten)]
        output: OpOutput,
    },
    /// Unwrap a key wrapped by `key wrap`.
    #[command(
        after_help = "Example:\n  localhsm key unwrap kek --alg A256KW WRAPPED --hex\n\n\
                      Byte values: hex:..., b64:..., @FILE (raw bytes), - (stdin) or base64url."
    )]
    Unwrap {
        /// Key name.
        name: String,
        /// Algorithm used to wrap.
        #[arg(long)]
        alg: WrapAlgorithm,
        /// The wrapped key.
        #[arg(allow_hyphen_values = true)]
        wrapped: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// How to print the result.
        #[command(flatten)]
        output: OpOutput,
    },
}

/// `localhsm deleted ...`.
#[derive(Debug, Subcommand)]
pub enum DeletedCommand {
    /// List soft-deleted keys (or secrets, or certificates) with their scheduled purge dates.
    #[command(
        after_help = "Example:\n  localhsm --vault dev deleted list\n  localhsm deleted list --kind secret\n  localhsm deleted list --kind certificate"
    )]
    List {
        /// Stop after N items.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
        /// What to list.
        #[arg(long, value_enum, default_value_t = DeletedKind::Key)]
        kind: DeletedKind,
    },
    /// Show a soft-deleted key (or secret, never its value; or certificate).
    #[command(
        after_help = "Example:\n  localhsm deleted show signer\n  localhsm deleted show db-password --kind secret"
    )]
    Show {
        /// Key, secret or certificate name.
        name: String,
        /// What it is.
        #[arg(long, value_enum, default_value_t = DeletedKind::Key)]
        kind: DeletedKind,
    },
    /// Recover a soft-deleted key (or secret, or certificate) with all its versions.
    #[command(after_help = "Example:\n  localhsm deleted recover db-password --kind secret")]
    Recover {
        /// Key, secret or certificate name.
        name: String,
        /// What it is.
        #[arg(long, value_enum, default_value_t = DeletedKind::Key)]
        kind: DeletedKind,
    },
    /// Permanently delete a soft-deleted key (or secret, or certificate).
    #[command(after_help = "Example:\n  localhsm deleted purge db-password --kind secret")]
    Purge {
        /// Key, secret or certificate name.
        name: String,
        /// What it is.
        #[arg(long, value_enum, default_value_t = DeletedKind::Key)]
        kind: DeletedKind,
    },
}

impl DeletedCommand {
    /// The kind of object the command is about.
    pub fn kind(&self) -> DeletedKind {
        match self {
            Self::List { kind, .. }
            | Self::Show { kind, .. }
            | Self::Recover { kind, .. }
            | Self::Purge { kind, .. } => *kind,
        }
    }
}

/// The kinds of soft-deleted object `localhsm deleted` acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeletedKind {
    /// Keys (`/deletedkeys`).
    #[value(alias = "keys")]
    Key,
    /// Secrets (`/deletedsecrets`).
    #[value(alias = "secrets")]
    Secret,
    /// Certificates (`/deletedcertificates`), with the keys and secrets they own.
    #[value(alias = "certificates", alias = "cert")]
    Certificate,
}

/// Attributes, content type and tags shared by `secret set` and `secret update`.
#[derive(Debug, clap::Args)]
pub struct SecretSettings {
    /// What the value is, e.g. text/plain or application/x-pkcs12 (at most 255 characters).
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// A tag, as KEY=VALUE; repeat for more (on update: replaces the version's tags).
    #[arg(long = "tag", visible_alias = "tags", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Whether the value may be read: `--enabled false` disables the version.
    #[arg(long, value_name = "true|false")]
    pub enabled: Option<bool>,
    /// Not valid before this time (Unix seconds or RFC 3339, e.g. 2030-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub not_before: Option<UnixTime>,
    /// Not valid after this time (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub expires: Option<UnixTime>,
}

/// `localhsm secret ...`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set a secret: a new version holding VALUE. Prints its id and attributes, not the value.
    #[command(
        after_help = "Example:\n  localhsm secret set db-password @password.txt --tag env=dev\n  \
                      printf '%s' \"$PASSWORD\" | localhsm secret set db-password\n\n\
                      VALUE: the text itself, @FILE (the file's text), @@TEXT (the text @TEXT), or - (stdin).\n\
                      Without VALUE the value is read from stdin when stdin is not a terminal. Files and stdin\n\
                      are taken as they are, trailing newline included. Arguments show up in `ps` and shell\n\
                      history: prefer @FILE or stdin for real secrets."
    )]
    Set {
        /// Secret name: 1 to 127 characters of 0-9, a-z, A-Z and -.
        name: String,
        /// The value (text, @FILE, @@TEXT or -); read from stdin when omitted.
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
        /// Also print the value (it is not echoed by default).
        #[arg(long)]
        show_value: bool,
        /// Content type, attributes and tags of the new version.
        #[command(flatten)]
        options: SecretSettings,
    },
    /// Print a secret's value (raw, for `$(...)`); with --output json, the whole bundle.
    #[command(
        after_help = "Example:\n  export DB_PASSWORD=\"$(localhsm secret get db-password)\"\n  \
                      localhsm secret get db-password --version 0123abcd... --output json"
    )]
    Get {
        /// Secret name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
    },
    /// List the secrets of the vault (never their values).
    #[command(after_help = "Example:\n  localhsm --vault dev secret list --max 10")]
    List {
        /// Stop after N secrets.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// List the versions of a secret (never their values).
    #[command(after_help = "Example:\n  localhsm secret versions db-password")]
    Versions {
        /// Secret name.
        name: String,
        /// Stop after N versions.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// Change a secret version's content type, attributes or tags (the value never changes:
    /// `secret set` makes a new version).
    #[command(
        after_help = "Example:\n  localhsm secret update db-password --enabled false\n  \
                      localhsm secret update db-password --version 0123abcd... --content-type text/plain --tag owner=me"
    )]
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["content_type", "tags", "enabled", "not_before", "expires"])))]
    Update {
        /// Secret name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// What to change.
        #[command(flatten)]
        options: SecretSettings,
    },
    /// Soft-delete a secret; recover it with `secret recover` until its scheduled purge date.
    #[command(after_help = "Example:\n  localhsm secret delete db-password")]
    Delete {
        /// Secret name.
        name: String,
    },
    /// Recover a soft-deleted secret with all its versions.
    #[command(after_help = "Example:\n  localhsm secret recover db-password")]
    Recover {
        /// Secret name.
        name: String,
    },
    /// Permanently delete a soft-deleted secret.
    #[command(after_help = "Example:\n  localhsm secret purge db-password")]
    Purge {
        /// Secret name.
        name: String,
    },
    /// Write a protected backup of a secret (all versions) to a file.
    #[command(
        after_help = "Example:\n  localhsm secret backup db-password --file db-password.backup"
    )]
    Backup {
        /// Secret name.
        name: String,
        /// File to write the backup blob to.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Restore a secret from a backup file (its name must not be in use).
    #[command(after_help = "Example:\n  localhsm secret restore --file db-password.backup")]
    Restore {
        /// Backup file written by `secret backup`.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

/// Parses `KEY=VALUE`.
fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Parses a time given as Unix seconds or RFC 3339.
fn parse_time(s: &str) -> Result<UnixTime, String> {
    crate::clock::parse_time(s)
}

/// `localhsm store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Write a sealed copy of the whole store to FILE, while it serves.
    ///
    /// The copy holds every vault (live and soft-deleted) with its keys, secrets,
    /// certificates, deleted objects and their scheduled purge dates, role assignments,
    /// access policies, issuers, settings and access log, and the store's clock: everything
    /// in the data directory's database, as one point in time. When `localhsm serve` holds
    /// the data directory the server makes the copy (changes wait a moment while it reads;
    /// signing and other reads do not); otherwise this command opens the store itself.
    ///
    /// The file is encrypted and authenticated under a key derived from the store's master
    /// key (master.key in the data directory, or LOCALHSM_MASTER_KEY): it holds nothing in
    /// the clear, and without that master key it cannot be restored. Keep the master key
    /// safe, apart from the backups. The file is written with mode 0600; one that exists is
    /// replaced.
    #[command(
        after_help = "Example:\n  localhsm store backup /backups/localhsm-$(date +%F).backup\n  \
                      cp ~/.local/share/localhsm/master.key /safe/place/   # once: the backup needs it"
    )]
    Backup {
        /// Where to write the backup.
        file: PathBuf,
    },
    /// Restore the whole store from a file `localhsm store backup` wrote.
    ///
    /// Restores into --data DIR, which must hold no store (a new directory is fine), or,
    /// with --force, replaces the store there (DIR/db and the DIR/store.* files; the master
    /// key file stays). Stop `localhsm serve` on DIR first: a store in use is never
    /// replaced.
    ///
    /// The master key is read as by every command: LOCALHSM_MASTER_KEY, else DIR/master.key.
    /// It must be the key of the store the backup was made from, so to restore into a new
    /// directory copy that master.key there first (mode 0600) or set LOCALHSM_MASTER_KEY.
    /// The whole file is checked before anything is written: a wrong key, a damaged,
    /// truncated or reordered file, or one from a newer localhsm is an error, and DIR is
    /// left as it was. Restored deleted objects stay deleted with their scheduled purge
    /// dates; a restore purges nothing. Nor does --force: when the store it would replace
    /// opens, everything in its purge-protected vaults must be in the backup, live or deleted
    /// with a purge date no earlier, or the restore is refused. A store that does not open
    /// (damaged, rolled back) is replaced.
    #[command(
        after_help = "Example:\n  mkdir -m 700 /srv/localhsm && cp /safe/place/master.key /srv/localhsm/\n  \
                      localhsm store restore localhsm.backup --data /srv/localhsm\n  \
                      localhsm store restore localhsm.backup --force   # replace a damaged store"
    )]
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Replace the store DIR holds (its database and store.* files; never the master
        /// key file).
        #[arg(long)]
        force: bool,
    },
    /// Check that the store is the state it last acknowledged, and report what is not.
    ///
    /// Every open checks this and refuses a store that fails (the server does not start,
    /// commands stop with an error); verify runs the same checks without refusing, and
    /// more, and prints a report. The checks:
    ///
    ///   - digest: one scan of every record must give the digest the last commit recorded
    ///     in the database; otherwise records were changed or lost outside a commit (a
    ///     damaged or truncated db/ file, from which the database engine fell back to an
    ///     older state, or an edit);
    ///   - anchor: DIR/store.anchor, written after every acknowledged change, records the
    ///     latest commit; a database at an older commit was rolled back (an old copy of db/
    ///     put back) and the report says how many acknowledged commits it lacks; the anchor
    ///     must be present and authenticate under the master key;
    ///   - journal: DIR/store.journal lists every delete, recover and purge; its lines must
    ///     verify, and an object it says was deleted must not be live in the database;
    ///   - records: every record decodes and every sealed key, secret and certificate opens
    ///     under the master key.
    ///
    /// Exit status 0 when all is well, 1 otherwise. The store must not be in use: stop
    /// `localhsm serve` on DIR first.
    #[command(after_help = "Recovery, when verify reports a problem:
                        localhsm store restore FILE --force   # from a `store backup`, the best answer
                        localhsm store repair                 # keep what is intact, report what was lost

                      Example:
  localhsm store verify --data /srv/localhsm")]
    Verify {},
    /// Keep what is intact in a store that fails its checks, and make it open again.
    ///
    /// Drops records that do not decode or whose sealed value does not open (an object
    /// keeps its good versions), recomputes the digest, moves the commit counter past the
    /// anchor and writes a new anchor. After a rollback it soft-deletes every object and
    /// vault that the journal says was deleted or purged after the database's state, so a
    /// deleted key never comes back live (recover one if it should be); nothing is purged.
    /// It reports what was lost: the acknowledged commits the database lacks, and every
    /// record dropped. Prefer `store restore` from a backup when you have one: what
    /// repair cannot bring back (keys created after an old copy, say) is gone.
    ///
    /// When the database is gone (db/ missing or emptied while store.anchor remains), there
    /// is nothing to salvage, and repair refuses unless --accept-loss says to start a new,
    /// empty store there. The store must not be in use: stop `localhsm serve` on DIR first.
    #[command(after_help = "Example:
  localhsm store verify --data /srv/localhsm || localhsm store repair --data /srv/localhsm
                        localhsm store repair --accept-loss   # db/ is gone: start an empty store")]
    Repair {
        /// When the database is gone, start a new, empty store in its place (the old anchor
        /// and journal are kept beside it as store.anchor.lost-N and store.journal.lost-N).
        #[arg(long)]
        accept_loss: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_name() != "help" {
                let after = cmd
                    .get_after_help()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                assert!(after.contains("Example:"), "{path} has no example");
                assert!(cmd.get_about().is_some(), "{path} has no description");
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path);
            }
        }
        walk(&Cli::command(), "");
    }

    #[test]
    fn tags_parse() {
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("x").is_err());
    }
}
