//! `communecter`: the command-line tool of Communecter.
//!
//! The binary is thin: argument parsing and printing. What it shows comes
//! from the node and crdt-model libraries.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use node::model::communes::{self, Commune};

/// Communecter: the peer-to-peer directory of your commune.
#[derive(Parser)]
#[command(name = "communecter", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Look up French communes by postal code, INSEE code or name.
    ///
    /// Examples:
    ///   communecter communes 97400
    ///   communecter communes 2A004
    ///   communecter communes "saint denis" --json
    #[command(verbatim_doc_comment)]
    Communes {
        /// A postal code (97400), an INSEE code (97411) or part of a name.
        query: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Most communes to show for a name search.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Run a node with its local map (not available yet in this version).
    ///
    /// Example:
    ///   communecter node
    #[command(verbatim_doc_comment)]
    Node,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Communes { query, json, limit } => show_communes(&query, json, limit),
        Command::Node => bail!(
            "not yet: this version has the data model only; the node, its store and its \
             web map come with the next release. Try `communecter communes 97400`."
        ),
    }
}

fn lookup(query: &str, limit: usize) -> Vec<&'static Commune> {
    let table = communes::table();
    let query = query.trim();
    let by_postal = table.by_postal_code(query);
    if !by_postal.is_empty() {
        return by_postal.to_vec();
    }
    if let Some(commune) = table.by_insee(query) {
        return vec![commune];
    }
    table.search(query, limit)
}

fn show_communes(query: &str, json: bool, limit: usize) -> Result<()> {
    let found = lookup(query, limit);
    if found.is_empty() {
        bail!(
            "no commune matches {query:?}: give a French postal code (5 digits, like 97400), \
             an INSEE code (like 97411) or part of a commune's name"
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    println!(
        "{:<6} {:<32} {:<24} {:<5} {:>10}",
        "INSEE", "NAME", "POSTAL CODES", "DEPT", "POPULATION"
    );
    for commune in found {
        let mut codes = commune.postal_codes.join(",");
        if codes.len() > 24 {
            codes.truncate(21);
            codes.push_str("...");
        }
        println!(
            "{:<6} {:<32} {:<24} {:<5} {:>10}",
            commune.insee, commune.name, codes, commune.department, commune.population
        );
    }
    Ok(())
}
