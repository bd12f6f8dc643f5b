//! The CLI as the store's owner: beside a running `localhsm serve`, with no `--token`, the
//! CLI reads the owner's credential the server wrote into the data directory
//! (`DIR/owner.token`) and sends it as its bearer token, so whoever holds the data
//! directory may do anything through the server, access control or not.
//!
//! Layer: faces (CLI). May import `server::owner` (the file's name) and `cli::error`; the
//! transport imports this. Invariant: the credential is used only from a file the user
//! owns and no one else can read or write (mode 0600 or narrower), and it never leaves
//! a zeroizing buffer except as the request's header.

use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use super::error::CliError;
use crate::server::owner::OWNER_FILE;

/// The owner's credential in `dir`: `None` when there is none (the server predates it, or
/// belongs to someone else who keeps it from us), an error when the file is there but
/// unsafe to use.
pub fn read_credential(dir: &Path) -> Result<Option<Zeroizing<String>>, CliError> {
    let path = dir.join(OWNER_FILE);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            tracing::debug!(path = %path.display(), error = %e, "no owner credential to use");
            return Ok(None);
        }
        Err(e) => {
            return Err(CliError::new(
                format!("cannot read the owner's credential {}: {e}", path.display()),
                "check the data directory's permissions, or pass --token",
            ))
        }
    };
    // The checks are on the opened file, so they hold for what is read.
    let meta = file.metadata().map_err(|e| {
        CliError::bare(format!(
            "cannot read the owner's credential {}: {e}",
            path.display()
        ))
    })?;
    check_private(&path, &meta)?;
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text).map_err(|e| {
        CliError::bare(format!(
            "cannot read the owner's credential {}: {e}",
            path.display()
        ))
    })?;
    let token = Zeroizing::new(text.trim().to_string());
    if token.is_empty() {
        return Err(CliError::new(
            format!("the owner's credential {} is empty", path.display()),
            "restart `localhsm serve` on this data directory; it writes a new one",
        ));
    }
    Ok(Some(token))
}

/// Refuses a credential file others could read or change, or that someone else owns.
#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt as _;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CliError::new(
            format!(
                "the owner's credential {} has mode {mode:04o}: others can read or change it, \
                 so the CLI will not use it",
                path.display()
            ),
            format!(
                "`chmod 600 {}`, or restart `localhsm serve` (it writes a new one with mode \
                 0600); --token acts as someone else",
                path.display()
            ),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(CliError::new(
            format!(
                "the owner's credential {} belongs to uid {}, not to you (uid {me}), so the \
                 CLI will not use it",
                path.display(),
                meta.uid()
            ),
            "run the CLI as the user who runs `localhsm serve`, or pass --token",
        ));
    }
    Ok(())
}

/// Elsewhere the data directory's own permissions protect the file.
#[cfg(not(unix))]
fn check_private(_: &Path, _: &std::fs::Metadata) -> Result<(), CliError> {
    Ok(())
}
