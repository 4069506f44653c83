//! `communecter import`: reads a file whole, sends its rows in batches
//! (to be checked only, in a dry run) and reports what became of them.

use anyhow::{Context, Result, bail};
use node::identity::DataDir;

use crate::{directory, print};

/// Rows sent to the store (or the node) at once: one transaction each.
const IMPORT_BATCH: usize = 1_000;

/// `communecter import`: reads the file whole, then sends its rows in
/// batches; a dry run sends them to be checked only.
pub(crate) fn import_file(
    dir: &DataDir,
    path: &std::path::Path,
    map: &[node::opendata::import::ColumnMapping],
    dry_run: bool,
    json: bool,
) -> Result<()> {
    use node::opendata::import::{self, Duplicates, MAX_IMPORT_BYTES, RowOutcome};
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_IMPORT_BYTES as u64 {
        bail!(
            "{} is too large ({size} bytes; at most 64 MiB): split it into several files and import each",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = import::read_mapped(&bytes, map).with_context(|| {
        format!(
            "{} cannot be imported; nothing was imported",
            path.display()
        )
    })?;
    let total = file.rows.len();
    if !json {
        eprintln!(
            "{} {} ({}, {total} rows).",
            if dry_run { "Checking" } else { "Importing" },
            path.display(),
            file.format
        );
        for warning in &file.warnings {
            eprintln!("  {warning}");
        }
    }
    let directory = directory(dir)?;
    let started = std::time::Instant::now();
    let mut progress = print::Progress::new("", "rows", print::Stream::Stderr);
    let mut outcomes = Vec::with_capacity(total);
    // A dry run stores nothing, so the node cannot know that a row repeats
    // one of an earlier batch: that is found here.
    let mut checked = Duplicates::default();
    // What a dry run would make: where, and a name, kind and postal code.
    let mut would_make: Vec<(&str, String)> = Vec::new();
    for batch in file.rows.chunks(IMPORT_BATCH) {
        let mut answers = directory.import(batch, dry_run).with_context(|| {
            if dry_run {
                format!(
                    "checking rows {}–{}; nothing was imported",
                    outcomes.len() + 1,
                    outcomes.len() + batch.len()
                )
            } else {
                format!(
                    "importing rows {}–{}; the {} rows before were imported",
                    outcomes.len() + 1,
                    outcomes.len() + batch.len(),
                    outcomes.len()
                )
            }
        })?;
        for (row, answer) in batch.iter().zip(answers.iter_mut()) {
            if let RowOutcome::Checked { .. } = answer
                && let Ok((new, _)) = import::new_entity(row)
            {
                if checked.contains(&new) {
                    *answer = RowOutcome::Duplicate;
                } else {
                    checked.insert(&new);
                    let postal_code = new.postal_code.as_deref().unwrap_or("your postal code");
                    // JSON rows are named by their name already.
                    let entity = if row.at.ends_with(&format!("({})", new.name)) {
                        format!("{}, {postal_code}", new.kind)
                    } else {
                        format!("{} ({}, {postal_code})", new.name, new.kind)
                    };
                    would_make.push((row.at.as_str(), entity));
                }
            }
        }
        outcomes.extend(answers);
        if !json {
            progress.show(outcomes.len(), total);
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let imported = outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome,
                RowOutcome::Imported { .. } | RowOutcome::Checked { .. }
            )
        })
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, RowOutcome::Duplicate))
        .count();
    let skipped = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, RowOutcome::Skipped { .. }))
        .count();
    let rejected: Vec<(&str, &str)> = file
        .rows
        .iter()
        .zip(&outcomes)
        .filter_map(|(row, outcome)| match outcome {
            RowOutcome::Rejected { reason } => Some((row.at.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    let left_out: Vec<(&str, &str)> = file
        .rows
        .iter()
        .zip(&outcomes)
        .flat_map(|(row, outcome)| match outcome {
            RowOutcome::Imported { warnings, .. } | RowOutcome::Checked { warnings } => warnings
                .iter()
                .map(|warning| (row.at.as_str(), warning.as_str()))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let rate = total as f64 / seconds.max(1e-9);
    if json {
        return print::json(&serde_json::json!({
            "file": path,
            "format": file.format,
            "dry_run": dry_run,
            "would_import": would_make.iter().map(|(at, what)| serde_json::json!({"at": at, "entity": what})).collect::<Vec<_>>(),
            "rows": total,
            "imported": imported,
            "duplicates": duplicates,
            "people_skipped": skipped,
            "rejected": rejected.iter().map(|(at, reason)| serde_json::json!({"at": at, "reason": reason})).collect::<Vec<_>>(),
            "warnings": file.warnings,
            "left_out": left_out.iter().map(|(at, warning)| serde_json::json!({"at": at, "warning": warning})).collect::<Vec<_>>(),
            "seconds": seconds,
            "rows_per_second": rate,
        }));
    }
    if dry_run {
        println!(
            "Dry run, nothing was stored: {imported} of {total} rows would be new entities; {duplicates} already there; {skipped} people skipped (they join by themselves); {} rejected.",
            rejected.len()
        );
        if !would_make.is_empty() {
            println!("New entities:");
            let would_make: Vec<(&str, &str)> = would_make
                .iter()
                .map(|(at, what)| (*at, what.as_str()))
                .collect();
            print_rows(&would_make);
        }
        if !rejected.is_empty() {
            println!("Rejected:");
        }
    } else {
        println!(
            "Imported {imported} new entities from {total} rows in {seconds:.1} s ({rate:.0} rows/s); {duplicates} already there; {skipped} people skipped (they join by themselves); {} rejected.",
            rejected.len()
        );
    }
    print_rows(&rejected);
    if !left_out.is_empty() {
        let values = if left_out.len() == 1 {
            "value"
        } else {
            "values"
        };
        println!(
            "{} {values} left out of {}:",
            left_out.len(),
            if dry_run {
                "the rows to import (the rest of each row would be kept)"
            } else {
                "imported rows (the rest of each row was kept)"
            },
        );
        print_rows(&left_out);
    }
    Ok(())
}

/// Prints the first 50 of `rows` (where, what), and how many more there are.
fn print_rows(rows: &[(&str, &str)]) {
    const SHOWN: usize = 50;
    for (at, what) in rows.iter().take(SHOWN) {
        println!("  {at}: {what}");
    }
    if rows.len() > SHOWN {
        println!(
            "  … and {} more (`--json` lists them all)",
            rows.len() - SHOWN
        );
    }
}
