//! `localhsm pkcs11 init-token`: sets a vault's PKCS#11 token PINs. The PINs are kept as
//! slow hashes in the vault's record ([`crate::crypto::pin`]), which no REST route reaches,
//! so this command opens the store itself, as the PKCS#11 module does.

use std::path::Path;
use std::process::ExitCode;

use zeroize::Zeroizing;

use super::args::{InitTokenArgs, Pkcs11Command};
use super::error::CliError;
use crate::crypto::pin::{hash_pin, MAX_PIN_LEN, MIN_PIN_LEN};
use crate::error::Error;
use crate::model::{TokenPins, DEFAULT_VAULT};

/// Runs a `pkcs11` command.
pub(super) fn run(dir: &Path, vault: Option<&str>, cmd: Pkcs11Command) -> ExitCode {
    let result = match cmd {
        Pkcs11Command::InitToken(args) => init_token(dir, vault.unwrap_or(DEFAULT_VAULT), args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_token(dir: &Path, vault: &str, args: InitTokenArgs) -> Result<(), CliError> {
    let so = Zeroizing::new(args.so_pin);
    let pin = Zeroizing::new(args.pin);
    for (what, p) in [("--so-pin", &so), ("--pin", &pin)] {
        if !(MIN_PIN_LEN..=MAX_PIN_LEN).contains(&p.len()) {
            return Err(CliError::bare(format!(
                "{what} must be {MIN_PIN_LEN} to {MAX_PIN_LEN} bytes long"
            )));
        }
    }
    let state = crate::server::open_dev_store(dir).map_err(|e| match e {
        Error::StoreLocked { .. } => CliError::new(
            format!("the store in {} is held by another process", dir.display()),
            "init-token opens the store itself (the PINs are not on the REST API): stop \
             `localhsm serve`, run it, and start the server again",
        ),
        e => CliError::from_store(&e, dir),
    })?;
    let hash = |p: &str| hash_pin(p.as_bytes()).map_err(|e| CliError::from_store(&e, dir));
    let pins = TokenPins {
        so: Some(hash(&so)?),
        user: Some(hash(&pin)?),
    };
    state
        .store
        .set_token_pins(vault, pins)
        .map_err(|e| CliError::from_store(&e, dir))?;
    println!("PKCS#11 token {vault}: SO PIN and user PIN set");
    Ok(())
}
