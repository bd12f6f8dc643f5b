//! `localhsm apply FILE`: reads and checks a seed file here (so its errors name the line
//! before anything is sent), then sends its text and the files it names to the store, in
//! process or through the running server, which checks it again and applies it
//! ([`crate::seed`]).
//!
//! Layer: faces (CLI). May import `seed`, `api` and `cli::{client, output, error, args}`.

use serde_json::Value;

use super::args::ApplyArgs;
use super::client::{read, Client, Status};
use super::error::CliError;
use super::output::Printer;
use crate::api::Op;
use crate::seed::{ApplyRequest, SeedReport};

/// Applies the seed file.
pub fn apply(c: &Client, p: &Printer, args: ApplyArgs) -> Result<Status, CliError> {
    let file = crate::seed::read_file(&args.file).map_err(|e| {
        CliError::new(
            e.to_string(),
            "nothing was changed; fix the file and apply it again (`localhsm apply --help` \
             shows the format)",
        )
    })?;
    let request = ApplyRequest {
        format: file.format,
        text: file.text,
        files: file.parsed.files,
    };
    let answer = c.call_with(Op::SeedApply, &[], &request)?;
    p.show_with(&answer, view);
    Ok(Status::Done)
}

fn view(answer: &Value) -> String {
    let Ok(report) = read::<SeedReport>(answer) else {
        return format!("{answer}\n");
    };
    let mut out = String::new();
    for c in &report.created {
        out += &format!("created    {c}\n");
    }
    for u in &report.unchanged {
        out += &format!("unchanged  {u}\n");
    }
    out += &format!(
        "{} created, {} unchanged\n",
        report.created.len(),
        report.unchanged.len()
    );
    out
}
