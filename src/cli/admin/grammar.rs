//! The grammar of `localhsm setting` and `localhsm backup`: commands, options and help
//! texts. Parsing only; what the commands do is in [`super`].
//!
//! Layer: faces (CLI), a leaf: imports `clap` and nothing of the CLI, so `cli::args` can
//! name [`SettingCommand`] and [`BackupCommand`] without a circle.

use clap::Subcommand;

/// `localhsm setting ...`.
#[derive(Debug, Subcommand)]
pub enum SettingCommand {
    /// List the Managed HSM's account settings with their values.
    #[command(after_help = "Example:\n  localhsm setting list --vault hsm1")]
    List,
    /// Show one setting.
    #[command(
        after_help = "Example:\n  localhsm setting get AllowKeyManagementOperationsThroughARM"
    )]
    Get {
        /// The setting's name.
        name: String,
    },
    /// Change a setting (a boolean takes true or false).
    #[command(
        after_help = "Example:\n  localhsm setting set AllowKeyManagementOperationsThroughARM true"
    )]
    Set {
        /// The setting's name.
        name: String,
        /// Its new value.
        value: String,
    },
}

/// `localhsm backup ...`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up every key of the Managed HSM (--vault) into a new folder of a blob container.
    ///
    /// Nothing leaves the machine: the folder is DATA/backups/ACCOUNT/CONTAINER/FOLDER in
    /// the data directory, named from the container URL as `begin_backup` is given it, so
    /// code that backs up to Azure Storage and restores from it runs unchanged. Each key is
    /// kept as its sealed backup blob, which only this store can open. Prints the folder's
    /// URL, which `backup restore` (and the SDKs' begin_restore) take.
    #[command(
        after_help = "Example:\n  localhsm backup create --container https://myaccount.blob.core.windows.net/backups"
    )]
    Create {
        /// The blob container's URL: https://ACCOUNT.blob.core.windows.net/CONTAINER.
        #[arg(long)]
        container: String,
    },
    /// Restore the keys of a full backup (or, with --key, one of them) into the vault.
    ///
    /// Never overwrites or purges: a key already present with exactly the backup's versions
    /// is left as it is; if any key of the backup is in the way (changed since, or
    /// soft-deleted), nothing is restored and the keys in the way are named.
    #[command(
        after_help = "Example:\n  localhsm backup restore https://myaccount.blob.core.windows.net/backups/mhsm-default-2026120216232200\n  localhsm backup restore FOLDER_URL --key signer"
    )]
    Restore {
        /// The backup folder's URL, as `backup create` printed it.
        folder_url: String,
        /// Restore only this key.
        #[arg(long)]
        key: Option<String>,
    },
}
