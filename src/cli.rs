//! The `localhsm` command line: `serve`, and commands that manage vaults and keys in a data
//! directory (through a running server when one holds the directory).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Default listen address of `localhsm serve`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8443";

/// A local stand-in for Azure Key Vault and Managed HSM.
///
/// Run `localhsm serve` and point any Azure Key Vault SDK at https://localhost:8443.
/// The other commands manage the same store directly, or through the running server.
#[derive(Debug, Parser)]
#[command(name = "localhsm", version, propagate_version = true)]
pub struct Cli {
    /// Data directory of the store [default: the user's data directory, e.g. ~/.local/share/localhsm].
    #[arg(long, global = true, env = "LOCALHSM_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// What to do.
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
    ///
    /// Example: localhsm serve --addr 127.0.0.1:8443
    Serve(ServeArgs),
    /// Print a development bearer token (an unsigned JWT) naming a caller.
    ///
    /// Example: localhsm token --oid 11111111-2222-3333-4444-555555555555 --upn dev@example.com
    Token(TokenArgs),
}

/// `localhsm serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: std::net::SocketAddr,
    /// Your own TLS certificate (PEM); default: one generated into DIR/tls/.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
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

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCALHSM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir = data_dir(cli.data);
    match cli.command {
        Command::Serve(args) => serve(dir, args),
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
