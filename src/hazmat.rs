//! Operations that let private key material leave the store. Kept apart so that a reader of
//! a calling program can find every such use.

use crate::error::Result;
use crate::model::KeyBundle;
use crate::vault::Vault;

/// The key bundle with the private JWK of an exportable key version (the current one when
/// `version` is `None`). Refused with [`crate::Error::NotExportable`] for other keys.
pub fn export_private_key(vault: &Vault, name: &str, version: Option<&str>) -> Result<KeyBundle> {
    vault.export_private(name, version)
}
