//! `localhsm store backup` and `localhsm store restore`: a sealed copy of the whole store,
//! made through the running server when one holds the data directory (as the store's owner,
//! `GET /management/store/backup`) or by opening the store in-process, and a restore into a
//! data directory no server holds.
//!
//! Layer: faces (CLI). May import `api` (the route), the core (`Store`, `store`),
//! `server::owner` (the private-file writer) and `cli::{args, client, error, output,
//! transport}`; nothing imports it but [`crate::cli`]. Invariant: the backup file is written
//! whole or not at all, mode 0600, and holds only what the store sealed.

use std::path::Path;

use serde_json::json;

use super::args::StoreCommand;
use super::client::{Client, Status};
use super::error::CliError;
use super::output::Printer;
use super::transport::Transport;
use crate::api::Op;
use crate::store::{MasterKeySource, DB_DIR};

/// `localhsm store backup|restore`.
pub fn run(
    dir: &Path,
    token: Option<String>,
    p: &Printer,
    cmd: StoreCommand,
) -> Result<Status, CliError> {
    match cmd {
        StoreCommand::Backup { file } => backup(dir, token, p, &file),
        StoreCommand::Restore { file, force } => restore(dir, p, &file, force),
        #[allow(unreachable_patterns, reason = "the group holds other commands too")]
        _ => Err(CliError::bare("not a backup or restore command")),
    }
}

fn backup(dir: &Path, token: Option<String>, p: &Printer, file: &Path) -> Result<Status, CliError> {
    // Opening an empty directory would make a new store there just to copy it.
    if !dir.join(DB_DIR).exists() {
        return Err(CliError::new(
            format!("there is no store in {} to back up", dir.display()),
            "name the store's data directory with --data DIR (or LOCALHSM_DATA)",
        ));
    }
    let client = Client::new(Transport::open(dir)?, None, token)?;
    let sealed = client.call_bytes(Op::StoreBackup, &[])?;
    crate::server::owner::write_private(file, &sealed).map_err(|e| {
        CliError::new(
            format!("cannot write the backup to {}: {e}", file.display()),
            "check that the directory exists and that you may write to it",
        )
    })?;
    if let Some(parent) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    let answer = json!({
        "file": file.display().to_string(),
        "bytes": sealed.len(),
        "dataDirectory": dir.display().to_string(),
    });
    p.show_with(&answer, |_| {
        format!(
            "Backed up the store in {} to {} ({} bytes, sealed under its master key).\n\
             Keep the master key ({}/master.key, or LOCALHSM_MASTER_KEY) apart from the backup: \
             without it the backup cannot be restored.\n",
            dir.display(),
            file.display(),
            sealed.len(),
            dir.display()
        )
    });
    Ok(Status::Done)
}

fn restore(dir: &Path, p: &Printer, file: &Path, force: bool) -> Result<Status, CliError> {
    let bytes = super::input::file(file, "the backup")?;
    let report = crate::Store::restore(dir, &bytes, MasterKeySource::Default, force).map_err(
        |e| match e {
            crate::Error::StoreBackup { .. } => CliError::bare(e.to_string()),
            other => CliError::from_store(&other, dir),
        },
    )?;
    let answer = json!({
        "file": file.display().to_string(),
        "dataDirectory": dir.display().to_string(),
        "records": report.records,
        "vaults": report.vaults,
        "replaced": report.replaced,
    });
    p.show_with(&answer, |_| {
        format!(
            "Restored {} records ({} vault(s): {}) from {} into {}{}.\n",
            report.records,
            report.vaults.len(),
            report.vaults.join(", "),
            file.display(),
            dir.display(),
            if report.replaced {
                ", replacing the store that was there"
            } else {
                ""
            }
        )
    });
    Ok(Status::Done)
}
