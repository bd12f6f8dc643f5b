//! Managed HSM administration: the account settings (`KeyVaultSettingsClient`), and full
//! backup and restore (`KeyVaultBackupClient`) to a folder under the data directory named
//! from the blob container URL the caller gives, so backup-then-restore code written for
//! Azure runs unchanged.
//!
//! Layer: services. Imports the objects layer ([`Vault`], its key backups) and the base
//! layer; nothing above it. The REST face is `server::admin`.
//!
//! A backup folder is `DATA/backups/{account}/{container}/{folder}`, where the account and
//! the container come from the container URL (`https://{account}.blob.core.windows.net/
//! {container}`, or path-style `http://127.0.0.1:10000/{account}/{container}` as Azurite
//! serves it) and the folder is named as Managed HSM names it (`mhsm-{vault}-{time}`). It
//! holds `manifest.json` (the vault, the time, the keys) and one file per key under `keys/`:
//! that key's backup blob exactly as `backup_key` makes it (sealed under the store's master
//! key), so a full backup is restored only by the store that made it, as a Managed HSM
//! backup only by an HSM of the same security domain. A folder appears whole or not at all:
//! it is written under a temporary name and renamed.
//!
//! Restore never overwrites and never purges: a key of the backup whose name is free is
//! restored; one that is already there with exactly the backup's versions is left as it
//! is (restoring what is already present changes nothing); any other use of the name (a key
//! changed since the backup, or soft-deleted, whatever its purge protection) fails the
//! whole restore before anything is written, naming the keys, so the user decides (delete
//! and purge, or restore elsewhere). Azure's full restore replaces the HSM's contents
//! instead; doing so here would bypass soft delete and purge protection.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::{Error, ObjectKind, Result};
use crate::model::access::DataAction;
use crate::model::VaultKind;
use crate::vault::Vault;

// --- settings ----------------------------------------------------------------------------

/// A Managed HSM account setting Azure defines.
#[derive(Debug, Clone, Copy)]
pub struct SettingDefinition {
    /// Its name, as Azure spells it.
    pub name: &'static str,
    /// Its type (`boolean`, the only type Azure's settings API has).
    pub kind: &'static str,
    /// Its value until it is changed.
    pub default: &'static str,
}

/// The settings a Managed HSM has (Azure's `settings.json`; `Get-AzKeyVaultSetting`).
pub const SETTINGS: &[SettingDefinition] = &[SettingDefinition {
    name: "AllowKeyManagementOperationsThroughARM",
    kind: "boolean",
    default: "false",
}];

/// A setting and its value, as the settings API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Its name.
    pub name: &'static str,
    /// Its value, as a string (`true`, `false`).
    pub value: String,
    /// Its type.
    pub kind: &'static str,
}

fn setting_definition(name: &str) -> Result<&'static SettingDefinition> {
    SETTINGS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let shown: String = name.chars().take(80).collect();
            let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
            Error::bad_parameter(format!(
                "setting {shown:?} is not one of Managed HSM's: {}",
                names.join(", ")
            ))
        })
}

/// Settings and full backups are Managed HSM features.
fn require_hsm(vault: &Vault, what: &str) -> Result<()> {
    let info = vault.info()?;
    if info.kind != VaultKind::ManagedHsm {
        return Err(Error::NotSupportedByVaultKind {
            what: what.to_string(),
            kind: info.kind.as_str(),
        });
    }
    Ok(())
}

impl Vault {
    /// Every setting with its value.
    pub fn settings(&self) -> Result<Vec<Setting>> {
        self.require(DataAction::SettingsRead, "/")?;
        require_hsm(self, "the settings API")?;
        let record = self.record()?;
        Ok(SETTINGS
            .iter()
            .map(|d| Setting {
                name: d.name,
                value: record
                    .settings
                    .get(d.name)
                    .cloned()
                    .unwrap_or_else(|| d.default.to_string()),
                kind: d.kind,
            })
            .collect())
    }

    /// One setting, by name (without regard to case).
    pub fn setting(&self, name: &str) -> Result<Setting> {
        let all = self.settings()?;
        let def = setting_definition(name)?;
        all.into_iter()
            .find(|s| s.name == def.name)
            .ok_or_else(|| Error::bad_parameter("unknown setting"))
    }

    /// Changes a setting. A boolean takes `true` or `false` (any case; stored lowercase).
    pub fn update_setting(&self, name: &str, value: &str) -> Result<Setting> {
        self.require(DataAction::SettingsWrite, "/")?;
        require_hsm(self, "the settings API")?;
        let def = setting_definition(name)?;
        let value = match value.trim().to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => v.to_string(),
            _ => {
                let shown: String = value.chars().take(40).collect();
                return Err(Error::bad_parameter(format!(
                    "setting {} is a {}: its value is \"true\" or \"false\", not {shown:?}",
                    def.name, def.kind
                )));
            }
        };
        self.core().update_vault(self.name(), |r| {
            if value == def.default {
                r.settings.remove(def.name);
            } else {
                r.settings.insert(def.name.to_string(), value.clone());
            }
            Ok(())
        })?;
        Ok(Setting {
            name: def.name,
            value,
            kind: def.kind,
        })
    }
}

// --- full backup and restore ---------------------------------------------------------------

/// The folder under a data directory that holds full backups.
pub const BACKUPS_DIR: &str = "backups";
/// What `manifest.json` says its format is.
const MANIFEST_FORMAT: &str = "localhsm-full-backup-1";
const MANIFEST: &str = "manifest.json";
const KEYS_DIR: &str = "keys";
const BLOB_EXT: &str = "bkp";

/// A blob container URL, read into where its backups live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUrl {
    /// The URL as given, without a trailing `/`.
    pub url: String,
    /// The storage account.
    pub account: String,
    /// The container.
    pub container: String,
}

impl ContainerUrl {
    /// Reads a container URL: `https://{account}.blob.core.windows.net/{container}` (any
    /// host whose first label is the account), or path-style
    /// `http://{localhost or IP}[:port]/{account}/{container}`. Account and container follow
    /// Azure Storage's naming rules, so they are safe directory names.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| {
            let shown: String = url.chars().take(120).collect();
            Error::bad_parameter(format!(
                "storageResourceUri {shown:?} is not a blob container URL ({why}); use \
                 https://ACCOUNT.blob.core.windows.net/CONTAINER"
            ))
        };
        let trimmed = url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| bad("it is not an http(s) URL"))?;
        if rest.contains(['?', '#']) {
            return Err(bad("a SAS token goes in the token field, not in the URL"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, h)| h)
            .to_ascii_lowercase();
        let host = match host.rsplit_once(':') {
            Some((h, port)) if !h.ends_with(']') || port.parse::<u16>().is_ok() => {
                if port.parse::<u16>().is_err() {
                    return Err(bad("its port is not a number"));
                }
                h.to_string()
            }
            _ => host,
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let path_style = host == "localhost"
            || host.starts_with('[')
            || host.parse::<std::net::Ipv4Addr>().is_ok();
        let (account, container) = match (path_style, segments.as_slice()) {
            (true, [account, container]) => (account.to_string(), container.to_string()),
            (false, [container]) => {
                let account = host.split('.').next().unwrap_or_default().to_string();
                (account, container.to_string())
            }
            _ => return Err(bad("it names no single container")),
        };
        let account_ok = (3..=24).contains(&account.len())
            && account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !account_ok {
            return Err(bad(
                "a storage account is 3 to 24 lowercase letters and digits",
            ));
        }
        let container_ok = (3..=63).contains(&container.len())
            && container
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !container.starts_with('-')
            && !container.ends_with('-')
            && !container.contains("--");
        if !container_ok {
            return Err(bad(
                "a container is 3 to 63 lowercase letters, digits and single hyphens",
            ));
        }
        Ok(Self {
            url: trimmed.to_string(),
            account,
            container,
        })
    }

    /// Where its backups live under the data directory `data`.
    pub fn dir(&self, data: &Path) -> PathBuf {
        data.join(BACKUPS_DIR)
            .join(&self.account)
            .join(&self.container)
    }

    /// The URL of one of its folders.
    pub fn folder_url(&self, folder: &str) -> String {
        format!("{}/{folder}", self.url)
    }
}

/// Checks a backup folder name: one path segment of letters, digits, `-`, `_` and `.`
/// (not `.` or `..`), so it names a directory inside the container and nowhere else.
pub fn validate_folder(folder: &str) -> Result<()> {
    let ok = (1..=256).contains(&folder.len())
        && folder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && folder != "."
        && folder != "..";
    if ok {
        Ok(())
    } else {
        let shown: String = folder.chars().take(80).collect();
        Err(Error::bad_parameter(format!(
            "backup folder {shown:?} is invalid: give the folder name a full backup returned \
             (mhsm-VAULT-TIME)"
        )))
    }
}

/// What `manifest.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    format: String,
    vault: String,
    created: UnixTime,
    /// Each key's name, as created, by the file that holds its backup.
    keys: BTreeMap<String, String>,
}

/// A finished full backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullBackup {
    /// The folder's name.
    pub folder: String,
    /// The folder's URL: the container URL and the folder.
    pub folder_url: String,
    /// The keys it holds, by name.
    pub keys: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Keys restored.
    pub restored: Vec<String>,
    /// Keys already present with exactly the backup's versions, left as they were.
    pub unchanged: Vec<String>,
}

fn data_dir(vault: &Vault) -> Result<PathBuf> {
    vault
        .core()
        .storage
        .dir()
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::bad_parameter(
                "this store has no data directory to keep full backups in (it runs on another \
                 backend); back keys up one by one (backup_key) instead",
            )
        })
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::Storage(format!("{what}: {e}"))
}

/// The file a key's backup is kept in: its lowercase name, which Key Vault's name rules
/// keep to `0-9a-z-`.
fn blob_file(name: &str) -> String {
    format!("{}.{BLOB_EXT}", name.to_ascii_lowercase())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .map_err(|e| io_error("cannot write the backup", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_error("cannot write the backup", e))
}

fn create_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|e| io_error("cannot create the backup folder", e))
}

/// `mhsm-{vault}-{yyyymmddhhmmss}{cc}`, as Managed HSM names its backup folders.
fn folder_name(vault: &str, at: UnixTime, hundredths: u32) -> String {
    let stamp: String = crate::clock::rfc3339(at)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("mhsm-{vault}-{stamp}{hundredths:02}")
}

impl Vault {
    /// The checks a full backup to `container` makes before it starts (pre-backup): the
    /// caller may start one, the vault is a Managed HSM, and the store has a data directory.
    pub fn check_full_backup(&self, container: &ContainerUrl) -> Result<()> {
        self.require(DataAction::BackupStart, "/")?;
        require_hsm(self, "full backup")?;
        let _ = container.dir(&data_dir(self)?);
        Ok(())
    }

    /// A full backup: every live key of the vault (certificates' own keys are backed up
    /// with their certificates, not here) into a new folder of `container`.
    pub fn full_backup(&self, container: &ContainerUrl) -> Result<FullBackup> {
        self.check_full_backup(container)?;
        let root = container.dir(&data_dir(self)?);
        create_dir(&root)?;
        let trusted = self.trusted();
        let keys = self.objects(ObjectKind::Key);
        let now = self.core().now();
        // A free folder name: the time, then later hundredths while one is taken.
        let (folder, staging) = (0..100)
            .map(|n| folder_name(self.name(), now, n))
            .find_map(|f| {
                let staging = root.join(format!(".{f}.partial"));
                let free = !root.join(&f).exists() && !staging.exists();
                (free && std::fs::create_dir(&staging).is_ok()).then_some((f, staging))
            })
            .ok_or_else(|| Error::Storage("no free backup folder name".into()))?;
        let result = (|| {
            create_dir(&staging.join(KEYS_DIR))?;
            let mut manifest = Manifest {
                format: MANIFEST_FORMAT.into(),
                vault: self.name().to_string(),
                created: now,
                keys: BTreeMap::new(),
            };
            for name in keys.names(false)? {
                let record = match keys.live(&name) {
                    Ok(r) => r,
                    // Deleted since the listing: not part of this backup.
                    Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
                if record.managed {
                    continue;
                }
                let blob = match trusted.backup_key(&record.name) {
                    Ok(b) => b,
                    Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
                let file = blob_file(&record.name);
                write_file(&staging.join(KEYS_DIR).join(&file), &blob)?;
                manifest.keys.insert(file, record.name.clone());
            }
            let text =
                serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Storage(e.to_string()))?;
            write_file(&staging.join(MANIFEST), &text)?;
            std::fs::rename(&staging, root.join(&folder))
                .map_err(|e| io_error("cannot finish the backup folder", e))?;
            if let Ok(d) = std::fs::File::open(&root) {
                let _ = d.sync_all();
            }
            Ok(FullBackup {
                folder_url: container.folder_url(&folder),
                folder: folder.clone(),
                keys: manifest.keys.into_values().collect(),
            })
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    /// The folder `folder` of `container`, read: its manifest and each key's blob, by name.
    fn read_backup(
        &self,
        container: &ContainerUrl,
        folder: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        validate_folder(folder)?;
        let dir = container.dir(&data_dir(self)?).join(folder);
        let manifest_path = dir.join(MANIFEST);
        let text = std::fs::read(&manifest_path).map_err(|_| {
            Error::bad_parameter(format!(
                "there is no full backup at {} (looked in {})",
                container.folder_url(folder),
                dir.display()
            ))
        })?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .ok()
            .filter(|m: &Manifest| m.format == MANIFEST_FORMAT)
            .ok_or_else(|| {
                Error::bad_parameter(format!(
                    "{} is not a localhsm full backup manifest",
                    manifest_path.display()
                ))
            })?;
        let mut out = Vec::with_capacity(manifest.keys.len());
        for (file, name) in manifest.keys {
            if file != blob_file(&name) {
                return Err(Error::InvalidBackup);
            }
            let blob = std::fs::read(dir.join(KEYS_DIR).join(&file))
                .map_err(|e| io_error("cannot read the backup", e))?;
            out.push((name, blob));
        }
        Ok(out)
    }

    /// The checks a restore from `folder` makes before it starts (pre-restore): the caller
    /// may restore, the vault is a Managed HSM, and the folder holds a backup this store
    /// can open.
    pub fn check_full_restore(&self, container: &ContainerUrl, folder: &str) -> Result<()> {
        self.require(DataAction::RestoreStart, "/")?;
        require_hsm(self, "full restore")?;
        let keys = self.objects(ObjectKind::Key);
        for (_, blob) in self.read_backup(container, folder)? {
            keys.open_backup::<crate::keys::KeyVersion>(&blob)?;
        }
        Ok(())
    }

    /// A full restore: every key of the backup in `folder`, under the rules in this
    /// module's documentation (nothing is overwritten or purged; a conflict restores
    /// nothing).
    pub fn full_restore(&self, container: &ContainerUrl, folder: &str) -> Result<RestoreReport> {
        self.restore_from(container, folder, None)
    }

    /// A selective restore: the key `key` of the backup in `folder`, under the same rules.
    pub fn selective_key_restore(
        &self,
        container: &ContainerUrl,
        folder: &str,
        key: &str,
    ) -> Result<RestoreReport> {
        crate::model::validate_name("key", key)?;
        self.restore_from(container, folder, Some(key))
    }

    fn restore_from(
        &self,
        container: &ContainerUrl,
        folder: &str,
        only: Option<&str>,
    ) -> Result<RestoreReport> {
        self.require(DataAction::RestoreStart, "/")?;
        require_hsm(self, "full restore")?;
        let mut blobs = self.read_backup(container, folder)?;
        if let Some(key) = only {
            blobs.retain(|(name, _)| name.eq_ignore_ascii_case(key));
            if blobs.is_empty() {
                return Err(Error::bad_parameter(format!(
                    "the backup at {} holds no key named {key:?}",
                    container.folder_url(folder)
                )));
            }
        }
        // Every blob is opened and every name checked before anything is written.
        let keys = self.objects(ObjectKind::Key);
        let mut report = RestoreReport::default();
        let mut to_restore = Vec::new();
        let mut conflicts = Vec::new();
        for (name, blob) in blobs {
            let payload = keys.open_backup::<crate::keys::KeyVersion>(&blob)?;
            if !payload.name.eq_ignore_ascii_case(&name) {
                return Err(Error::InvalidBackup);
            }
            let backed_up: Vec<&str> = payload
                .versions
                .iter()
                .map(|v| v.version.as_str())
                .collect();
            match keys.live(&name) {
                Ok(live) if live.versions == backed_up && !live.managed => {
                    report.unchanged.push(name)
                }
                Ok(_) => conflicts.push(format!("{name} (changed since the backup)")),
                Err(Error::NotFound { .. }) => match keys.deleted(&name) {
                    Ok(_) => conflicts.push(format!("{name} (soft-deleted)")),
                    Err(Error::NotFound { .. } | Error::DeletedNotFound { .. }) => {
                        to_restore.push((name, blob))
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        if !conflicts.is_empty() {
            return Err(Error::bad_parameter(format!(
                "restore would replace keys that are in use here: {}; nothing was restored. \
                 Restore never overwrites or purges: delete and purge those keys (purge \
                 protection permitting), or restore into another vault",
                conflicts.join(", ")
            )));
        }
        let trusted = self.trusted();
        for (name, blob) in to_restore {
            trusted.restore_key(&blob)?;
            report.restored.push(name);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_urls_read_as_azure_and_azurite_write_them() {
        let u = ContainerUrl::parse("https://acct01.blob.core.windows.net/backup/").unwrap();
        assert_eq!(
            (u.account.as_str(), u.container.as_str()),
            ("acct01", "backup")
        );
        assert_eq!(u.url, "https://acct01.blob.core.windows.net/backup");
        assert_eq!(
            u.folder_url("mhsm-x-1"),
            "https://acct01.blob.core.windows.net/backup/mhsm-x-1"
        );
        let a = ContainerUrl::parse("http://127.0.0.1:10000/devstoreaccount1/my-backups").unwrap();
        assert_eq!(
            (a.account.as_str(), a.container.as_str()),
            ("devstoreaccount1", "my-backups")
        );
        assert_eq!(
            a.dir(Path::new("/d")),
            Path::new("/d/backups/devstoreaccount1/my-backups")
        );
        for bad in [
            "ftp://a.blob.core.windows.net/c",
            "https://acct.blob.core.windows.net/",
            "https://acct.blob.core.windows.net/c/d",
            "https://acct.blob.core.windows.net/..",
            "https://acct.blob.core.windows.net/UPPER",
            "https://a.blob.core.windows.net/backup",
            "https://acct.blob.core.windows.net/backup?sv=1",
            "http://localhost:10000/backup",
            "not a url",
        ] {
            assert!(ContainerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folders_are_one_segment_and_named_as_managed_hsm_names_them() {
        assert!(validate_folder("mhsm-hsm1-2026120216232200").is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "x y"] {
            assert!(validate_folder(bad).is_err(), "{bad:?}");
        }
        // 2020-09-01 17:32:33 UTC.
        assert_eq!(
            folder_name("account", 1_598_981_553, 13),
            "mhsm-account-2020090117323313"
        );
    }

    #[test]
    fn boolean_settings_take_true_or_false() {
        assert!(setting_definition("allowkeymanagementoperationsthrougharm").is_ok());
        assert!(setting_definition("NoSuchSetting").is_err());
    }
}
