//! The `localhsm` command line: `serve`, `token`, and commands that manage vaults, keys,
//! secrets and certificates in a data directory.
//!
//! The vault, key and deleted-key commands are a REST client of the Key Vault API with one
//! code path and two transports ([`transport`]): when no server holds the data directory,
//! the CLI opens the store and sends each request through the server's router in-process;
//! when a running `localhsm serve` holds it, the CLI sends the same requests to that server
//! over HTTPS (the server records its address in `DIR/server.json`).
//!
//! Layer: faces. May import [`crate::api`] (the wire contract both faces share),
//! [`crate::server`] (its router for the in-process transport, the development token) and
//! the core's types; nothing imports the CLI but `main`. Its modules import one another
//! only downwards: this file dispatches to the command modules (`commands`, `access`,
//! `secrets`, `certificates`), which use [`client`], which uses [`transport`] (`pkcs11` alone
//! opens the store itself: the token PINs are on no REST route); `args`,
//! `output`, `input`, `dates`, `error` and `certificates::grammar` (which `args` names) are
//! leaves.

mod access;
mod admin;
mod apply;
pub mod args;
pub mod certificates;
pub mod client;
pub mod commands;
mod env;
pub mod error;
mod input;
pub mod output;
mod owner;
mod pkcs11;
pub mod policies;
mod secrets;
mod store_backup;
mod store_integrity;
pub mod transport;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, OutputFormat, ServeArgs, TokenArgs, DEFAULT_ADDR};
pub use client::{Client, Status};
pub use error::CliError;
use output::Printer;
use transport::Transport;

/// The storage engine's own records are off, whatever `LOCALHSM_LOG` asks for: sled writes
/// debug and trace records from epoch-deferred destructors, which can run while a thread's
/// locals are torn down, where the log formatter cannot reach its buffer and the process
/// aborts; and its error records are `Debug` text (`Io(Os { code: 28, .. })`). The store's
/// backend logs what sled reports, in words.
pub const QUIET_ENGINE: &str = "sled=off";

/// The data directory: `--data`, else the user's data directory.
pub fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    if let Some(d) = arg {
        return d;
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("localhsm")
}

/// Parses the command line and runs it. Exit status: 0 on success, 1 on errors (and on a
/// signature that does not verify), 2 on usage errors.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCALHSM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter.add_directive(QUIET_ENGINE.parse().expect("a valid directive")))
        .with_writer(std::io::stderr)
        .init();
    let dir = data_dir(cli.data);
    match cli.command {
        Command::Serve(args) => serve(dir, args),
        Command::Env(_) => env::run(&dir, cli.vault),
        // Vectors need no store or server.
        Command::Vectors(cmd) => crate::vectors::cli::run(cmd, cli.output == OutputFormat::Json),
        // A restore must find the store closed, and a backup reaches it its own way.
        Command::Store(
            cmd @ (args::StoreCommand::Backup { .. } | args::StoreCommand::Restore { .. }),
        ) => finish(store_backup::run(
            &dir,
            cli.token,
            &Printer { format: cli.output },
            cmd,
        )),
        // Both open the store themselves, refusing nothing, so they need it free.
        Command::Store(
            cmd @ (args::StoreCommand::Verify {} | args::StoreCommand::Repair { .. }),
        ) => finish(store_integrity::run(
            &dir,
            &Printer { format: cli.output },
            cmd,
        )),
        // The PINs live in the vault's record, which no REST route reaches.
        Command::Pkcs11(cmd) => pkcs11::run(&dir, cli.vault.as_deref(), cmd),
        Command::Token(args) => {
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            println!(
                "{}",
                crate::server::auth::mint_token(
                    &args.oid,
                    args.upn.as_deref(),
                    args.tenant.as_deref(),
                    now
                )
            );
            ExitCode::SUCCESS
        }
        command => {
            let printer = Printer { format: cli.output };
            let dev_clock = matches!(&command, Command::TimeShift(a) if a.dev_clock);
            let result = Transport::open(&dir)
                .inspect(|t| {
                    if dev_clock {
                        t.allow_time_shift();
                    }
                })
                .and_then(|t| Client::new(t, cli.vault, cli.token))
                .and_then(|client| rest(&client, &printer, command));
            finish(result)
        }
    }
}

/// The exit status of a command that ended with `result`, its error printed.
fn finish(result: Result<Status, CliError>) -> ExitCode {
    match result {
        Ok(Status::Done) => ExitCode::SUCCESS,
        Ok(Status::Negative) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that talks to the store through the REST API.
fn rest(c: &Client, p: &Printer, command: Command) -> Result<Status, CliError> {
    match command {
        Command::Vault(cmd) => commands::vault(c, p, cmd),
        Command::Key(cmd) => commands::key(c, p, cmd),
        Command::Secret(cmd) => secrets::secret(c, p, cmd),
        Command::Cert(cmd) => certificates::cert(c, p, cmd),
        Command::Deleted(cmd) if cmd.kind() == args::DeletedKind::Secret => {
            secrets::deleted(c, p, cmd)
        }
        Command::Deleted(cmd) if cmd.kind() == args::DeletedKind::Certificate => {
            certificates::deleted(c, p, cmd)
        }
        Command::Deleted(cmd) => commands::deleted(c, p, cmd),
        Command::TimeShift(a) => commands::time_shift(c, p, a),
        Command::Apply(a) => apply::apply(c, p, a),
        Command::Role(cmd) => access::role(c, p, cmd),
        Command::Log(cmd) => access::log(c, p, cmd),
        Command::CustomerData(cmd) => access::customer_data(c, p, cmd),
        Command::Setting(cmd) => admin::setting(c, p, cmd),
        Command::Backup(cmd) => admin::backup(c, p, cmd),
        Command::AccessPolicy(cmd) => policies::access_policy(c, p, cmd),
        Command::Serve(_)
        | Command::Token(_)
        | Command::Vectors(_)
        | Command::Env(_)
        | Command::Store(_)
        | Command::Pkcs11(_) => Err(CliError::bare(
            "serve, token, vectors, env, store and pkcs11 do not talk to the store through the REST API",
        )),
    }
}

fn serve(dir: PathBuf, args: ServeArgs) -> ExitCode {
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::server::tls::TlsFiles { cert, key }),
        _ => None,
    };
    let opts = crate::server::ServeOptions {
        data_dir: dir,
        addr: args.addr,
        tls,
        access: crate::AccessPolicy {
            enforce: args.enforce_rbac,
            admins: args.admin,
        },
        dev_clock: args.dev_clock,
        seed: args.seed,
        strict_api_version: args.strict_api_version,
        limits: crate::server::listener::ConnectionLimits {
            max_connections: args.max_connections as usize,
            handshake_timeout: args.handshake_timeout,
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            idle_timeout: args.idle_timeout,
        },
        identity: crate::server::identity::LocalIdentity {
            oid: args.identity_oid,
            upn: args.identity_upn,
            tid: args.identity_tid,
        },
        store: args.store,
        store_timeout: args.store_timeout,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::server::serve(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
