//! The grammar of `localhsm cert`: its commands, options, help texts and the parsers of
//! their values. Parsing only; what the commands do is in [`super`].
//!
//! Layer: faces (CLI), a leaf: imports `clap`, the core's `crypto` (key types, curves, key
//! usages) and `model` (contacts, administrators), and nothing of the CLI, so `cli::args`
//! can name [`CertCommand`] without a circle.

use std::path::PathBuf;

use clap::{ArgGroup, Subcommand};
use zeroize::Zeroizing;

use crate::crypto::x509::KeyUsage;
use crate::crypto::{CurveName, KeyType};
use crate::model::certificates::{
    AdministratorDetails, Contact, CONTENT_TYPE_PEM, CONTENT_TYPE_PFX,
};

/// Extended key usages by name, for `--eku` and for reading them back.
pub(super) const EKU_NAMES: [(&str, &str); 7] = [
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "1.3.6.1.5.5.7.3.9"),
    ("smartcardLogon", "1.3.6.1.4.1.311.20.2.2"),
];

/// `localhsm cert ...`.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create a certificate from a policy and wait for it (--issuer Unknown: print its CSR).
    ///
    /// Creates NAME, or a new version of it, and prints the certificate once it is issued.
    /// With --issuer Unknown it prints the CSR instead (or writes it to --csr-out): have any
    /// CA sign it, then `cert merge`.
    ///
    /// The policy comes from the flags below, or from --policy FILE (Key Vault's policy JSON,
    /// as `cert policy get NAME --output json` prints it, or the `az keyvault certificate
    /// get-default-policy` form); flags given with --policy change the file's values. A new
    /// certificate needs at least --subject or --dns. For a new version of an existing
    /// certificate, give no policy at all to keep its policy: a policy given replaces it.
    /// Every version owns a key and a secret of the same name and version (`localhsm key get
    /// NAME`, and the PFX or PEM through `cert download`).
    #[command(after_help = "Example:\n  \
        localhsm cert create web --subject CN=www.example.com --dns www.example.com --dns example.com\n  \
        localhsm cert create signer --kty RSA --size 3072 --subject \"CN=Signer, O=Contoso\" --eku codeSigning --not-exportable\n  \
        localhsm cert create api --subject CN=api.internal --issuer Unknown --csr-out api.csr\n  \
        localhsm cert create web --policy policy.json --validity-months 24")]
    Create {
        /// Certificate name: 1 to 127 characters of 0-9, a-z, A-Z and -.
        name: String,
        /// Key Vault's certificate policy JSON to start from.
        #[arg(long = "policy", value_name = "FILE")]
        policy_file: Option<PathBuf>,
        /// The policy, or changes to --policy FILE.
        #[command(flatten)]
        policy: PolicyFlags,
        /// Enabled state and tags of the new version.
        #[command(flatten)]
        settings: NewSettings,
        /// With --issuer Unknown: write the CSR (PEM) to FILE instead of printing it.
        #[arg(long, value_name = "FILE")]
        csr_out: Option<PathBuf>,
        /// How long to wait for the certificate to be issued, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Complete a pending certificate (made with --issuer Unknown) with the certificate its
    /// CA signed, and the CA's chain.
    #[command(after_help = "Example:\n  \
        localhsm cert create api --subject CN=api.internal --issuer Unknown --csr-out api.csr\n  \
        openssl x509 -req -in api.csr -CA ca.pem -CAkey ca.key -days 365 -out api.pem\n  \
        cat api.pem ca.pem > chain.pem\n  \
        localhsm cert merge api --chain chain.pem\n\n\
        FILE: PEM (CERTIFICATE blocks, the signed certificate first) or DER (one certificate,\n\
        or several one after another).")]
    Merge {
        /// Certificate name.
        name: String,
        /// The signed certificate, then its chain: PEM or DER.
        #[arg(long, value_name = "FILE")]
        chain: PathBuf,
        /// Enabled state and tags of the version.
        #[command(flatten)]
        settings: NewSettings,
    },
    /// Import a certificate with its private key from a PFX (PKCS#12) or PEM file.
    ///
    /// The file's kind is detected from its content (--content-type forces it). PEM holds an
    /// unencrypted private key (PKCS#8 `PRIVATE KEY`, or `EC PRIVATE KEY`/`RSA PRIVATE KEY`
    /// where supported) and the certificate, then its chain. A PFX's password is read from
    /// --password-file, or from stdin with --password - (prompted for, without echo, on a
    /// terminal); one trailing newline is dropped. The certificate's secret keeps the
    /// content type it was imported with.
    #[command(after_help = "Example:\n  \
        localhsm cert import web --file web.pfx --password-file web.pass\n  \
        printf '%s' \"$PFX_PASSWORD\" | localhsm cert import web --file web.pfx --password -\n  \
        localhsm cert import web --file web-key-and-chain.pem --not-exportable\n\n\
        --password TEXT also works, but shows up in `ps` and shell history.")]
    #[command(group(ArgGroup::new("pwd").args(["password_file", "password"])))]
    Import {
        /// Certificate name.
        name: String,
        /// The PFX or PEM file.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// A file holding the PFX password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The PFX password: - reads it from stdin (or asks on a terminal); any other value
        /// is the password itself.
        #[arg(long, value_name = "-|TEXT", allow_hyphen_values = true, value_parser = parse_password)]
        password: Option<PasswordArg>,
        /// What the file is [default: detected from its content].
        #[arg(long, value_enum, value_name = "pfx|pem")]
        content_type: Option<ContentKind>,
        /// Keep the private key in the vault: its PFX or PEM can then never be downloaded.
        #[arg(long)]
        not_exportable: bool,
        /// A policy (Key Vault's JSON) for the versions to come; by default it is made from
        /// the certificate itself, with issuer Unknown.
        #[arg(long = "policy", value_name = "FILE")]
        policy_file: Option<PathBuf>,
        /// Enabled state and tags of the new version.
        #[command(flatten)]
        settings: NewSettings,
    },
    /// Show a certificate: subject, names, thumbprint, validity, key, its key and secret ids.
    #[command(after_help = "Example:\n  localhsm cert get web\n  \
        localhsm cert get web --version 0123abcd... --output json")]
    Get {
        /// Certificate name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
    },
    /// Write a certificate to a file: PEM or DER (the certificate alone), or PFX or PEM with
    /// the private key (only when the policy made the key exportable).
    ///
    /// pem and der come from the certificate; pfx and pem-with-key from its secret, which
    /// holds the key, the certificate and its chain. A PFX written here has no password (as
    /// Key Vault's own downloads): `openssl pkcs12 -in FILE -nodes -passin pass:` reads it.
    /// Files with a private key are created readable by their owner only.
    #[command(after_help = "Example:\n  \
        localhsm cert download web --format pem --out web.crt\n  \
        localhsm cert download web --format pfx --out web.pfx\n  \
        localhsm cert download web | openssl x509 -noout -subject -enddate")]
    Download {
        /// Certificate name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// What to write.
        #[arg(long, value_enum, default_value_t = DownloadFormat::Pem)]
        format: DownloadFormat,
        /// The file to write [default: stdout, for text formats or a pipe].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the certificates of the vault (with --include-pending, also those not issued
    /// yet).
    #[command(after_help = "Example:\n  localhsm cert list --include-pending")]
    List {
        /// Also list certificates whose newest version is still pending.
        #[arg(long)]
        include_pending: bool,
        /// Stop after N certificates.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// List the versions of a certificate.
    #[command(after_help = "Example:\n  localhsm cert versions web")]
    Versions {
        /// Certificate name.
        name: String,
        /// Stop after N versions.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// Enable or disable a certificate version (its key and secret follow), or replace its
    /// tags.
    #[command(
        after_help = "Example:\n  localhsm cert update web --enabled false\n  \
        localhsm cert update web --version 0123abcd... --tag owner=me"
    )]
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["enabled", "tags"])))]
    Update {
        /// Certificate name.
        name: String,
        /// Version [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// `--enabled false` disables the version.
        #[arg(long, value_name = "true|false")]
        enabled: Option<bool>,
        /// A tag, as KEY=VALUE; repeat for more (replaces the version's tags).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// Show a certificate's creation operation (its status, and the CSR of a pending one);
    /// cancel it, or delete its record.
    #[command(
        after_help = "Example:\n  localhsm cert pending api --csr-out api.csr\n  \
        localhsm cert pending api --cancel"
    )]
    #[command(group(ArgGroup::new("action").args(["cancel", "delete"])))]
    Pending {
        /// Certificate name.
        name: String,
        /// Write the CSR (PEM) to FILE.
        #[arg(long, value_name = "FILE")]
        csr_out: Option<PathBuf>,
        /// Cancel the operation (a pending certificate then cannot be merged).
        #[arg(long)]
        cancel: bool,
        /// Delete the operation's record.
        #[arg(long)]
        delete: bool,
    },
    /// Show or change a certificate's policy (used for the versions to come).
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm cert policy get web\n  localhsm cert policy set web --validity-months 24"
    )]
    Policy(PolicyCommand),
    /// Soft-delete a certificate with its key and secret; `cert recover` brings all three
    /// back until the scheduled purge date.
    #[command(after_help = "Example:\n  localhsm cert delete web")]
    Delete {
        /// Certificate name.
        name: String,
    },
    /// Recover a soft-deleted certificate with all its versions, its key and its secret.
    #[command(after_help = "Example:\n  localhsm cert recover web")]
    Recover {
        /// Certificate name.
        name: String,
    },
    /// Permanently delete a soft-deleted certificate with its key and secret.
    #[command(after_help = "Example:\n  localhsm cert purge web")]
    Purge {
        /// Certificate name.
        name: String,
    },
    /// Write a protected backup of a certificate (all versions, with its key and secret) to a
    /// file.
    #[command(after_help = "Example:\n  localhsm cert backup web --file web.backup")]
    Backup {
        /// Certificate name.
        name: String,
        /// File to write the backup blob to.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Restore a certificate from a backup file (its name, and that of its key and secret,
    /// must not be in use).
    #[command(after_help = "Example:\n  localhsm cert restore --file web.backup")]
    Restore {
        /// Backup file written by `cert backup`.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// The vault's certificate contacts: who hears about expiring certificates.
    ///
    /// Policies' EmailContacts lifetime actions notify them (recorded in the access log).
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm cert contacts set --contact admin@contoso.com --contact \"email=ops@contoso.com,name=Ops Team,phone=5551234\""
    )]
    Contacts(ContactsCommand),
    /// Certificate issuers of the vault: local CAs that sign the certificates naming them.
    ///
    /// localhsm acts as a local CA for each issuer (its own CA key and certificate), so
    /// `cert create --issuer NAME` gets a CA-signed certificate.
    #[command(
        subcommand,
        after_help = "Example:\n  localhsm cert issuer create testca --provider Test\n  localhsm cert create web --subject CN=www.example.com --issuer testca"
    )]
    Issuer(IssuerCommand),
}

/// `localhsm cert policy ...`.
// Parsed once per run: the size of a variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show a certificate's policy (--output json: Key Vault's JSON, ready for --policy).
    #[command(after_help = "Example:\n  localhsm cert policy get web\n  \
        localhsm cert policy get web --output json > policy.json")]
    Get {
        /// Certificate name.
        name: String,
    },
    /// Change a certificate's policy: the values given replace those of the policy, the rest
    /// stay (--dns, --email and --upn replace the names as a whole).
    #[command(
        after_help = "Example:\n  localhsm cert policy set web --validity-months 24 --dns www.example.com\n  \
        localhsm cert policy set web --file policy.json"
    )]
    Set {
        /// Certificate name.
        name: String,
        /// Key Vault's certificate policy JSON, in whole or in part.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Changes to the policy.
        #[command(flatten)]
        policy: PolicyFlags,
    },
}

/// `localhsm cert contacts ...`.
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Set the vault's certificate contacts, replacing any it had.
    #[command(after_help = "Example:\n  \
        localhsm cert contacts set --contact admin@contoso.com --contact \"email=ops@contoso.com,name=Ops Team,phone=5551234\"\n  \
        localhsm cert contacts set --file contacts.json\n\n\
        A contact is an e-mail address, or email=...,name=...,phone=... (any of the three).\n\
        --file takes Key Vault's JSON: {\"contacts\": [{\"email\": ..., \"name\": ..., \"phone\": ...}]}.")]
    #[command(group(ArgGroup::new("given").required(true).args(["contacts", "file"])))]
    Set {
        /// A contact; repeat for more.
        #[arg(long = "contact", value_name = "CONTACT", value_parser = parse_contact)]
        contacts: Vec<Contact>,
        /// Key Vault's contacts JSON.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Show the vault's certificate contacts.
    #[command(after_help = "Example:\n  localhsm cert contacts get")]
    Get,
    /// Delete the vault's certificate contacts.
    #[command(after_help = "Example:\n  localhsm cert contacts delete")]
    Delete,
}

/// Organization and account details shared by `cert issuer create` and `update`.
#[derive(Debug, clap::Args)]
pub struct IssuerSettings {
    /// The account id at the provider (kept and shown; localhsm needs no credentials).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// The organization's id at the provider.
    #[arg(long, value_name = "ID")]
    pub org_id: Option<String>,
    /// An administrator, as first=...,last=...,email=...,phone=... (any of them); repeat for
    /// more (replaces the administrators).
    #[arg(long = "admin", value_name = "ADMIN", value_parser = parse_admin)]
    pub admins: Vec<AdministratorDetails>,
}

/// `localhsm cert issuer ...`.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Create (or replace) an issuer. localhsm makes it a local CA of its own, whatever the
    /// provider says; certificates whose policy names it are signed by that CA.
    #[command(after_help = "Example:\n  \
        localhsm cert issuer create testca --provider Test --admin \"first=Jane,last=Doe,email=jane@contoso.com\"\n  \
        localhsm cert create web --subject CN=www.example.com --issuer testca")]
    Create {
        /// Issuer name.
        name: String,
        /// The provider's name (Test, DigiCert, GlobalSign, ...): recorded only.
        #[arg(long)]
        provider: String,
        /// Account and organization details.
        #[command(flatten)]
        settings: IssuerSettings,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Show an issuer: provider, account, organization and administrators.
    #[command(after_help = "Example:\n  localhsm cert issuer get testca")]
    Get {
        /// Issuer name.
        name: String,
    },
    /// Change an issuer's provider, details or enabled state; what is not given stays.
    #[command(
        after_help = "Example:\n  localhsm cert issuer update testca --enabled false\n  \
        localhsm cert issuer update testca --admin \"email=ops@contoso.com\""
    )]
    Update {
        /// Issuer name.
        name: String,
        /// The provider's name.
        #[arg(long)]
        provider: Option<String>,
        /// Account and organization details.
        #[command(flatten)]
        settings: IssuerSettings,
        /// `--enabled false` disables the issuer.
        #[arg(long, value_name = "true|false")]
        enabled: Option<bool>,
    },
    /// List the vault's issuers.
    #[command(after_help = "Example:\n  localhsm cert issuer list")]
    List,
    /// Delete an issuer (certificates it signed stay).
    #[command(after_help = "Example:\n  localhsm cert issuer delete testca")]
    Delete {
        /// Issuer name.
        name: String,
    },
}

/// Enabled state and tags of a new certificate version.
#[derive(Debug, clap::Args)]
pub struct NewSettings {
    /// A tag of the certificate, as KEY=VALUE; repeat for more.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Create the version disabled (its key and secret too).
    #[arg(long)]
    pub disabled: bool,
}

/// A certificate policy given as flags.
#[derive(Debug, Default, clap::Args)]
pub struct PolicyFlags {
    /// Subject, as an X.500 name: "CN=www.example.com, O=Contoso, C=US".
    #[arg(long, value_name = "X500")]
    pub subject: Option<String>,
    /// A DNS name (subject alternative name); repeat, or separate with commas.
    #[arg(long = "dns", value_name = "NAME", value_delimiter = ',')]
    pub dns: Vec<String>,
    /// An e-mail address (subject alternative name); repeat, or separate with commas.
    #[arg(long = "email", value_name = "ADDRESS", value_delimiter = ',')]
    pub emails: Vec<String>,
    /// A user principal name (subject alternative name); repeat, or separate with commas.
    #[arg(long = "upn", value_name = "UPN", value_delimiter = ',')]
    pub upns: Vec<String>,
    /// Key type: EC or RSA (EC-HSM and RSA-HSM too) [default: RSA, or EC with --curve].
    #[arg(long, value_name = "EC|RSA")]
    pub kty: Option<KeyType>,
    /// EC curve: P-256, P-384 or P-521 [default: P-256].
    #[arg(long, value_name = "CURVE")]
    pub curve: Option<CurveName>,
    /// RSA key size: 2048, 3072 or 4096 [default: 2048].
    #[arg(long, value_name = "BITS")]
    pub size: Option<usize>,
    /// Validity in months, 1 to 1200 [default: 12].
    #[arg(long, value_name = "N")]
    pub validity_months: Option<u32>,
    /// What the certificate's secret holds: a PFX or PEM (key, then chain) [default: pfx].
    #[arg(long, value_enum, value_name = "pfx|pem")]
    pub content_type: Option<ContentKind>,
    /// Keep the private key in the vault: no PFX or PEM with the key can be downloaded.
    #[arg(long, conflicts_with = "exportable")]
    pub not_exportable: bool,
    /// Let the private key be downloaded (the default for new certificates).
    #[arg(long)]
    pub exportable: bool,
    /// Whether a renewal keeps the key [default: false].
    #[arg(long, value_name = "true|false")]
    pub reuse_key: Option<bool>,
    /// Who signs: Self (self-signed), Unknown (you get a CSR for any CA, then `cert
    /// merge`), or the name of an issuer of the vault (`cert issuer create`) [default: Self].
    #[arg(long, value_name = "Self|Unknown|NAME")]
    pub issuer: Option<String>,
    /// Key usages, comma-separated: digitalSignature, nonRepudiation, keyEncipherment,
    /// dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly
    /// [default: digitalSignature, and keyEncipherment for RSA].
    #[arg(long = "key-usage", value_name = "USAGES", value_delimiter = ',', value_parser = parse_key_usage)]
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages, comma-separated: dotted OIDs, or serverAuth, clientAuth,
    /// codeSigning, emailProtection, timeStamping, OCSPSigning, smartcardLogon
    /// [default: serverAuth, clientAuth].
    #[arg(long = "eku", value_name = "EKUS", value_delimiter = ',', value_parser = parse_eku)]
    pub ekus: Vec<String>,
}

impl PolicyFlags {
    /// Whether no flag was given.
    pub(super) fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.dns.is_empty()
            && self.emails.is_empty()
            && self.upns.is_empty()
            && self.kty.is_none()
            && self.curve.is_none()
            && self.size.is_none()
            && self.validity_months.is_none()
            && self.content_type.is_none()
            && !self.not_exportable
            && !self.exportable
            && self.reuse_key.is_none()
            && self.issuer.is_none()
            && self.key_usage.is_empty()
            && self.ekus.is_empty()
    }
}

/// What a certificate's secret holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ContentKind {
    /// PKCS#12 (`application/x-pkcs12`).
    #[value(alias = "pkcs12", alias = "p12", alias = "application/x-pkcs12")]
    Pfx,
    /// PEM (`application/x-pem-file`).
    #[value(alias = "application/x-pem-file")]
    Pem,
}

impl ContentKind {
    pub(super) fn mime(self) -> &'static str {
        match self {
            ContentKind::Pfx => CONTENT_TYPE_PFX,
            ContentKind::Pem => CONTENT_TYPE_PEM,
        }
    }
}

/// What `cert download` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DownloadFormat {
    /// The certificate, PEM.
    #[value(alias = "crt", alias = "cer")]
    Pem,
    /// The certificate, DER.
    Der,
    /// PKCS#12 with the private key and the chain, no password.
    #[value(alias = "pkcs12", alias = "p12")]
    Pfx,
    /// PEM with the private key (PKCS#8), then the certificate and its chain.
    PemWithKey,
}

/// A password given on the command line: cleared when dropped, redacted in `Debug`.
#[derive(Clone)]
pub struct PasswordArg(pub(super) Zeroizing<String>);

impl std::fmt::Debug for PasswordArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordArg([REDACTED])")
    }
}

pub(super) fn parse_password(s: &str) -> Result<PasswordArg, String> {
    Ok(PasswordArg(Zeroizing::new(s.to_string())))
}

pub(super) fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// A key usage by Key Vault's name, in any case.
pub(super) fn parse_key_usage(s: &str) -> Result<KeyUsage, String> {
    let s = s.trim();
    KeyUsage::ALL
        .into_iter()
        .find(|u| usage_name(*u).eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            let all: Vec<&str> = KeyUsage::ALL.into_iter().map(usage_name).collect();
            format!("unknown key usage {s:?}; use {}", all.join(", "))
        })
}

pub(super) fn usage_name(u: KeyUsage) -> &'static str {
    match u {
        KeyUsage::DigitalSignature => "digitalSignature",
        KeyUsage::NonRepudiation => "nonRepudiation",
        KeyUsage::KeyEncipherment => "keyEncipherment",
        KeyUsage::DataEncipherment => "dataEncipherment",
        KeyUsage::KeyAgreement => "keyAgreement",
        KeyUsage::KeyCertSign => "keyCertSign",
        KeyUsage::CrlSign => "cRLSign",
        KeyUsage::EncipherOnly => "encipherOnly",
        KeyUsage::DecipherOnly => "decipherOnly",
    }
}

/// An EKU: a dotted OID, or a name from [`EKU_NAMES`] in any case.
pub(super) fn parse_eku(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Some((_, oid)) = EKU_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Ok(oid.to_string());
    }
    let dotted = s.split('.').count() >= 2
        && s.split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    if dotted {
        Ok(s.to_string())
    } else {
        let names: Vec<&str> = EKU_NAMES.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "{s:?} is neither a dotted OID (e.g. 1.3.6.1.5.5.7.3.1) nor one of {}",
            names.join(", ")
        ))
    }
}

/// `k=v,k=v` fields into pairs of (canonical key, value). `allowed` names each key as
/// `canonical|alias|...`; keys match in any case.
pub(super) fn key_values<'a>(
    s: &'a str,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, &'a str)>, String> {
    let canonical = |a: &&'static str| -> &'static str {
        let a: &'static str = a;
        a.split('|').next().unwrap_or_default()
    };
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE in {part:?}"))?;
        let k = k.trim().to_ascii_lowercase();
        let key = allowed
            .iter()
            .find(|a| a.split('|').any(|n| n == k))
            .map(canonical)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(canonical).collect();
                format!("unknown field {k:?}; use {}", names.join(", "))
            })?;
        out.push((key, v.trim()));
    }
    Ok(out)
}

/// A contact: an e-mail address, or `email=...,name=...,phone=...`.
pub(super) fn parse_contact(s: &str) -> Result<Contact, String> {
    if !s.contains('=') {
        return Ok(Contact {
            email: Some(s.trim().to_string()),
            ..Contact::default()
        });
    }
    let mut c = Contact::default();
    for (k, v) in key_values(s, &["email|e-mail|mail", "name", "phone"])? {
        let v = Some(v.to_string());
        match k {
            "email" => c.email = v,
            "name" => c.name = v,
            _ => c.phone = v,
        }
    }
    if c == Contact::default() {
        return Err("a contact needs an email, a name or a phone".into());
    }
    Ok(c)
}

/// An administrator: `first=...,last=...,email=...,phone=...`.
pub(super) fn parse_admin(s: &str) -> Result<AdministratorDetails, String> {
    let mut a = AdministratorDetails::default();
    for (k, v) in key_values(
        s,
        &[
            "first|first_name|firstname",
            "last|last_name|lastname",
            "email|e-mail|mail",
            "phone",
        ],
    )? {
        let v = Some(v.to_string());
        match k {
            "first" => a.first_name = v,
            "last" => a.last_name = v,
            "email" => a.email = v,
            _ => a.phone = v,
        }
    }
    if a == AdministratorDetails::default() {
        return Err("expected first=...,last=...,email=...,phone=... (any of them)".into());
    }
    Ok(a)
}
