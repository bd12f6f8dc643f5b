//! `localhsm store verify` and `localhsm store repair`: the integrity checks of the store
//! (see [`crate::repair`]) reported, and the repair that keeps what is intact.
//!
//! Layer: faces (CLI). Imports [`crate::repair`], the store's types and
//! `cli::{args, client, error, output}`; nothing imports it but [`crate::cli`]. Both
//! commands open the store themselves, so they need the data directory free of a running
//! server.

use std::path::Path;

use serde_json::{json, Value};

use super::args::StoreCommand;
use super::client::Status;
use super::error::CliError;
use super::output::Printer;
use crate::error::Error;
use crate::repair::{RepairReport, UndoneRemoval, VerifyReport};
use crate::store::{JournalEvent, MasterKeySource};

/// `localhsm store verify|repair`.
pub fn run(dir: &Path, p: &Printer, cmd: StoreCommand) -> Result<Status, CliError> {
    match cmd {
        StoreCommand::Verify {} => verify(dir, p),
        StoreCommand::Repair { accept_loss } => repair(dir, p, accept_loss),
        #[allow(unreachable_patterns, reason = "the group holds other commands too")]
        _ => Err(CliError::bare("not a verify or repair command")),
    }
}

/// The error of an open, with what to do about it.
fn open_error(e: &Error, dir: &Path) -> CliError {
    match e {
        Error::StoreLocked { .. } => CliError::new(
            e.to_string(),
            format!(
                "stop `localhsm serve` on {} first: verify and repair need the store to \
                 themselves",
                dir.display()
            ),
        ),
        _ => CliError::from_store(e, dir),
    }
}

fn event(e: JournalEvent) -> &'static str {
    match e {
        JournalEvent::Deleted => "deleted",
        JournalEvent::Recovered => "recovered",
        JournalEvent::Purged => "purged",
    }
}

fn undone_json(u: &UndoneRemoval) -> Value {
    json!({
        "kind": u.kind.map_or("vault", |k| k.noun()),
        "id": u.id,
        "event": event(u.event),
        "commit": u.counter,
    })
}

fn undone_line(u: &UndoneRemoval) -> String {
    format!(
        "{} {} ({} at commit {})",
        u.kind.map_or("vault", |k| k.noun()),
        u.id,
        event(u.event),
        u.counter
    )
}

fn report_json(r: &VerifyReport) -> Value {
    json!({
        "dataDir": r.dir.display().to_string(),
        "ok": r.is_clean(),
        "problems": r.integrity.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "databaseCommit": r.integrity.counter,
        "anchorCommit": r.integrity.anchor.map(|a| a.counter),
        "commitsLost": r.commits_lost(),
        "records": r.integrity.records.iter()
            .map(|(t, n)| (t.name().to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>(),
        "journal": {
            "entries": r.journal_entries,
            "problem": r.journal_problem,
        },
        "badRecords": r.bad_records.iter()
            .map(|b| json!({"table": b.table, "key": b.key, "problem": b.why}))
            .collect::<Vec<_>>(),
        "deletedButLive": r.undone_removals.iter().map(undone_json).collect::<Vec<_>>(),
    })
}

fn report_text(r: &VerifyReport) -> String {
    let mut out = format!("store in {}\n", r.dir.display());
    out.push_str(&format!("database: commit {}\n", r.integrity.counter));
    match r.integrity.anchor {
        Some(a) => out.push_str(&format!(
            "anchor:   commit {} (store.journal: {} bytes anchored, {} lines verify)\n",
            a.counter, a.journal_len, r.journal_entries
        )),
        None => out.push_str("anchor:   none that authenticates\n"),
    }
    out.push_str("records:\n");
    for (t, n) in &r.integrity.records {
        out.push_str(&format!("  {:<22} {n}\n", t.name()));
    }
    if r.is_clean() {
        out.push_str("all checks pass: this is the state the store last acknowledged\n");
        return out;
    }
    out.push_str("problems:\n");
    for p in &r.integrity.problems {
        out.push_str(&format!("  the store {p}\n"));
    }
    if r.commits_lost() > 0 {
        out.push_str(&format!(
            "  {} acknowledged commit(s) are not in the database\n",
            r.commits_lost()
        ));
    }
    if let Some(j) = &r.journal_problem {
        out.push_str(&format!("  {j}\n"));
    }
    for b in &r.bad_records {
        out.push_str(&format!("  record {}/{}: {}\n", b.table, b.key, b.why));
    }
    for u in &r.undone_removals {
        out.push_str(&format!(
            "  {} is live in the database, but was {} after its state\n",
            undone_line(u),
            event(u.event)
        ));
    }
    out.push_str(&format!(
        "to recover: restore a backup (`localhsm store restore FILE --force --data {d}`), or \
         keep what is intact with `localhsm store repair --data {d}`\n",
        d = r.dir.display()
    ));
    out
}

fn verify(dir: &Path, p: &Printer) -> Result<Status, CliError> {
    let report =
        crate::repair::verify(dir, MasterKeySource::Default).map_err(|e| open_error(&e, dir))?;
    p.show_with(&report_json(&report), |_| report_text(&report));
    Ok(if report.is_clean() {
        Status::Done
    } else {
        Status::Negative
    })
}

fn repair_text(r: &RepairReport) -> String {
    if r.new_store {
        return format!(
            "the database was gone: started a new, empty store (commit {}); the old anchor \
             and journal are kept beside it as store.anchor.lost-* and store.journal.lost-*\n",
            r.counter
        );
    }
    let mut out = String::new();
    if let Some(before) = &r.before {
        out.push_str(&report_text(before));
        if before.commits_lost() > 0 {
            out.push_str(&format!(
                "lost: {} acknowledged commit(s) (what they created or changed is gone)\n",
                before.commits_lost()
            ));
        }
    }
    for b in &r.dropped {
        out.push_str(&format!(
            "dropped record {}/{} ({})\n",
            b.table, b.key, b.why
        ));
    }
    for u in &r.soft_deleted {
        out.push_str(&format!(
            "soft-deleted {} (the journal says it was {} at commit {}); recover it if it \
             should be live\n",
            undone_line(u),
            event(u.event),
            u.counter
        ));
    }
    for (u, why) in &r.not_applied {
        out.push_str(&format!(
            "could not soft-delete {}: {why}\n",
            undone_line(u)
        ));
    }
    out.push_str(&format!(
        "repaired: the store is anchored at commit {} and opens again\n",
        r.counter
    ));
    out
}

fn repair(dir: &Path, p: &Printer, accept_loss: bool) -> Result<Status, CliError> {
    let report = crate::repair::repair(dir, || MasterKeySource::Default, accept_loss)
        .map_err(|e| open_error(&e, dir))?;
    let value = json!({
        "newStore": report.new_store,
        "before": report.before.as_ref().map(report_json),
        "commitsLost": report.before.as_ref().map_or(0, VerifyReport::commits_lost),
        "dropped": report.dropped.iter()
            .map(|b| json!({"table": b.table, "key": b.key, "problem": b.why}))
            .collect::<Vec<_>>(),
        "softDeleted": report.soft_deleted.iter().map(undone_json).collect::<Vec<_>>(),
        "notApplied": report.not_applied.iter()
            .map(|(u, why)| json!({"object": undone_json(u), "problem": why}))
            .collect::<Vec<_>>(),
        "commit": report.counter,
    });
    p.show_with(&value, |_| repair_text(&report));
    Ok(Status::Done)
}
