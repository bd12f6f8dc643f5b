//! The `localhsm` binary: see `localhsm --help`.

fn main() -> std::process::ExitCode {
    localhsm::cli::run()
}
