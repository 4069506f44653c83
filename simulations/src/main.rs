//! Scenarios of many Communecter nodes in one process, printing their
//! figures as a table and as one line of JSON.
//!
//! ```sh
//! cargo run -p simulations --release -- propagation --nodes 500 --size 10000
//! cargo run -p simulations --release -- department
//! cargo run -p simulations --release -- my-scenario.toml
//! cargo run -p simulations --release -- sweep --nodes 100,250,500,1000
//! cargo run -p simulations --release -- department-sum shard-*.txt
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use simulations::runs;
use simulations::scenario::{BUILT_IN, Scenario};

/// Scenarios of many Communecter nodes in one process, printing their
/// figures as a table and as one line of JSON.
#[derive(Parser)]
#[command(
    name = "simulations",
    override_usage = "\
simulations <SCENARIO> [OPTIONS]
       simulations sweep [--nodes 100,250,500,1000] [--size BYTES] [--messages M]
                         [--slow-motion K] [--out FILE.png]
       simulations plot RESULTS.jsonl FILE.png
       simulations department-sum OUTPUT...
       simulations list"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the propagation scenario (mesh, then flooding) at each number
    /// of nodes, each in its own process, writes their JSON lines to
    /// FILE.jsonl beside the PNG, and plots them
    Sweep(Sweep),
    /// Plots the JSON lines of propagation runs (a sweep's FILE.jsonl) as a
    /// PNG
    Plot {
        /// The runs' JSON lines, one per run
        #[arg(value_name = "RESULTS.jsonl")]
        results: PathBuf,
        /// The PNG to write
        #[arg(value_name = "FILE.png")]
        out: PathBuf,
    },
    /// Sums department runs shard by shard: their outputs, one per shard
    DepartmentSum {
        /// The output of a department run (its last department report
        /// counts)
        #[arg(value_name = "OUTPUT", required = true)]
        outputs: Vec<PathBuf>,
    },
    /// Lists the built-in scenarios, each with what it shows
    List,
    /// A scenario to run, by name or path, and its overrides
    #[command(external_subcommand)]
    Scenario(Vec<String>),
}

/// The options of `simulations sweep`.
#[derive(Args)]
#[command(args_override_self = true, allow_negative_numbers = true)]
struct Sweep {
    /// Numbers of nodes, separated by commas
    #[arg(
        long,
        value_name = "N,N,…",
        value_delimiter = ',',
        action = ArgAction::Set,
        value_parser = whole::<u32>,
        default_value = "100,250,500,1000"
    )]
    nodes: Vec<u32>,
    /// Bytes each edit writes
    #[arg(long, value_name = "BYTES", value_parser = whole::<usize>, default_value = "1000")]
    size: usize,
    /// Messages timed at each number of nodes
    #[arg(long, value_name = "M", value_parser = whole::<usize>, default_value = "10")]
    messages: usize,
    /// Run the network K times slower than real, times divided by K
    /// (hundreds of nodes on a few cores)
    #[arg(long, value_name = "K", value_parser = real, default_value = "1")]
    slow_motion: f64,
    /// The PNG to write; the results go beside it, as FILE.jsonl
    #[arg(long, value_name = "FILE.png", default_value = "docs/propagation.png")]
    out: PathBuf,
}

/// Runs a scenario: a built-in one (see `simulations list`) or a .toml
/// file. The options override the scenario's values.
#[derive(Parser)]
#[command(args_override_self = true, allow_negative_numbers = true)]
struct Overrides {
    /// Nodes on the postal code
    #[arg(long, value_name = "N", value_parser = whole::<u32>)]
    nodes: Option<u32>,
    /// That postal code
    #[arg(long, value_name = "CODE")]
    postal_code: Option<String>,
    /// Every commune of a department instead (974, 48, 2A)
    #[arg(long, value_name = "CODE")]
    department: Option<String>,
    /// Share of the department's inhabitants running a node
    #[arg(long, value_name = "SHARE", value_parser = real)]
    adoption: Option<f64>,
    /// Of the department, only the I-th of N groups of postal codes with
    /// about as many nodes each
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Community relays
    #[arg(long, value_name = "N", value_parser = whole::<u32>)]
    relays: Option<u32>,
    /// One-way latency of every link, in milliseconds
    #[arg(long, value_name = "MS", value_parser = whole::<u64>)]
    latency_ms: Option<u64>,
    /// Bandwidth of every link, in megabits per second
    #[arg(long, value_name = "M", value_parser = real)]
    bandwidth_mbit: Option<f64>,
    /// Bytes each edit writes
    #[arg(long, value_name = "BYTES", value_parser = whole::<usize>)]
    size: Option<usize>,
    /// Messages timed (propagation)
    #[arg(long, value_name = "M", value_parser = whole::<usize>)]
    messages: Option<usize>,
    /// Seconds of edits (department, churn)
    #[arg(long, value_name = "S", value_parser = whole::<u64>)]
    duration_s: Option<u64>,
    /// Naive flooding instead of gossipsub's mesh
    #[arg(long)]
    flood: bool,
    /// Run the network K times slower than real, times divided by K
    /// (hundreds of nodes on a few cores)
    #[arg(long, value_name = "K", value_parser = real)]
    slow_motion: Option<f64>,
    /// Seed of every random choice
    #[arg(long, value_name = "S", value_parser = whole::<u64>)]
    seed: Option<u64>,
}

/// A whole number of 0 or more.
fn whole<T: FromStr>(value: &str) -> Result<T, String> {
    let value = value.trim();
    value.parse().map_err(|_| {
        if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
            "is too large".to_owned()
        } else {
            "must be a whole number".to_owned()
        }
    })
}

/// A finite real number of 0 or more.
fn real(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| "must be a number of 0 or more".to_owned())
}

/// Why a command failed.
enum Failure {
    /// A wrong argument, or a file that cannot be used: exit code 2.
    Usage(String),
    /// A simulation that failed: exit code 1.
    Simulation(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Usage(message)
    }
}

fn main() -> ExitCode {
    let mut cli = cli();
    let matches = cli.get_matches_mut();
    let command = Cli::from_arg_matches(&matches)
        .unwrap_or_else(|error| error.format(&mut cli).exit())
        .command;
    let result = match command {
        None => {
            print!("{}", cli.render_help());
            Ok(())
        }
        Some(Command::List) => {
            for (name, text) in BUILT_IN {
                let about = Scenario::parse(text).map(|s| s.about).unwrap_or_default();
                println!("{name:<14} {about}");
            }
            Ok(())
        }
        Some(Command::Sweep(options)) => sweep(&options).map_err(Failure::from),
        Some(Command::DepartmentSum { outputs }) => department_sum(&outputs).map_err(Failure::from),
        Some(Command::Plot { results, out }) => plot_file(&results, &out).map_err(Failure::from),
        Some(Command::Scenario(args)) => run_scenario(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
        Err(Failure::Simulation(message)) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// The command line, its help ending with how to run a scenario and the
/// options that override its values.
fn cli() -> clap::Command {
    let options = Overrides::command()
        .disable_help_flag(true)
        .help_template("{options}")
        .render_help();
    Cli::command().after_help(format!(
        "\
SCENARIO is a built-in scenario (see `simulations list`) or a .toml file;
`simulations <SCENARIO> [OPTIONS]` runs it and prints its figures as a table,
then as one line of JSON. OPTIONS override the scenario's values (see also
`simulations <SCENARIO> --help`):
{}",
        options.ansi()
    ))
}

/// Runs a scenario: `args` is its name or path, then its overrides.
fn run_scenario(args: &[String]) -> Result<(), Failure> {
    let scenario = scenario(args)?;
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(runs::run(&scenario))
        .map_err(|error| Failure::Simulation(format!("simulation failed: {error}")))?;
    for line in &report.lines {
        println!("{line}");
    }
    println!("{}", report.json);
    Ok(())
}

/// A scenario by name or path, with the command line's overrides: `args`
/// is the name or path, then the overrides.
fn scenario(args: &[String]) -> Result<Scenario, String> {
    let name = args.first().map_or("SCENARIO", String::as_str);
    let loaded = Scenario::load(name);
    let mut command = Overrides::command().bin_name(format!("simulations {name}"));
    if let Ok(scenario) = &loaded
        && !scenario.about.is_empty()
    {
        command = command.before_help(format!("{name}: {}", scenario.about));
    }
    let overrides = command
        .try_get_matches_from_mut(args)
        .and_then(|matches| Overrides::from_arg_matches(&matches))
        .unwrap_or_else(|error| error.format(&mut command).exit());
    let mut scenario = loaded?;
    let Overrides {
        nodes,
        postal_code,
        department,
        adoption,
        shard,
        relays,
        latency_ms,
        bandwidth_mbit,
        size,
        messages,
        duration_s,
        flood,
        slow_motion,
        seed,
    } = overrides;
    let population = &mut scenario.population;
    population.nodes = nodes.unwrap_or(population.nodes);
    population.postal_code = postal_code.unwrap_or(std::mem::take(&mut population.postal_code));
    population.department = department.or(population.department.take());
    population.adoption = adoption.unwrap_or(population.adoption);
    population.shard = shard.or(population.shard.take());
    population.relays = relays.unwrap_or(population.relays);
    let network = &mut scenario.network;
    network.latency_ms = latency_ms.unwrap_or(network.latency_ms);
    network.bandwidth_mbit = bandwidth_mbit.or(network.bandwidth_mbit);
    network.slow_motion = slow_motion.unwrap_or(network.slow_motion);
    network.flood |= flood;
    let edits = &mut scenario.edits;
    edits.size_bytes = size.unwrap_or(edits.size_bytes);
    edits.messages = messages.unwrap_or(edits.messages);
    edits.duration_s = duration_s.unwrap_or(edits.duration_s);
    scenario.seed = seed.unwrap_or(scenario.seed);
    scenario.check()?;
    Ok(scenario)
}

/// Runs the propagation scenario (mesh, then flooding) at each number of
/// nodes, each in its own process, writes their JSON to a results file
/// beside the PNG, and plots them.
fn sweep(options: &Sweep) -> Result<(), String> {
    let Sweep {
        nodes,
        size,
        messages,
        slow_motion,
        out,
    } = options;
    let (size, messages, slow_motion) = (
        size.to_string(),
        messages.to_string(),
        slow_motion.to_string(),
    );
    let results = out.with_extension("jsonl");
    let me = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut lines = Vec::new();
    for n in nodes {
        for scenario in ["propagation", "flooding"] {
            eprintln!("{scenario} with {n} nodes…");
            let output = std::process::Command::new(&me)
                .args([
                    scenario,
                    "--nodes",
                    &n.to_string(),
                    "--size",
                    &size,
                    "--messages",
                    &messages,
                    "--slow-motion",
                    &slow_motion,
                ])
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|error| format!("cannot run {}: {error}", me.display()))?;
            let text = String::from_utf8_lossy(&output.stdout);
            print!("{text}");
            if !output.status.success() {
                return Err(format!("{scenario} with {n} nodes failed"));
            }
            if let Some(json) = text.lines().last() {
                lines.push(json.to_owned());
            }
        }
    }
    std::fs::write(&results, lines.join("\n") + "\n")
        .map_err(|error| format!("cannot write {}: {error}", results.display()))?;
    plot_file(&results, out)
}

/// Sums department runs' outputs, shard by shard: the JSON line of each
/// file (the last line that holds a department report).
fn department_sum(files: &[PathBuf]) -> Result<(), String> {
    let mut runs = Vec::new();
    for path in files {
        let file = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {file}: {error}"))?;
        let run = text
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|run| run["scenario"] == "department")
            .ok_or_else(|| format!("{file}: no department report in it"))?;
        runs.push(run);
    }
    let report = runs::sum_department(&runs)?;
    for line in &report.lines {
        println!("{line}");
    }
    println!("{}", report.json);
    Ok(())
}

fn plot_file(results: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(results)
        .map_err(|error| format!("cannot read {}: {error}", results.display()))?;
    let runs: Vec<serde_json::Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{}: {error}", results.display()))?;
    simulations::plot::propagation(&runs, out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_are_well_formed() {
        cli().debug_assert();
        Overrides::command().debug_assert();
    }

    #[test]
    fn a_scenario_takes_its_overrides() {
        let args = ["propagation", "--nodes", "7", "--nodes", "9", "--flood"].map(String::from);
        let overridden = scenario(&args).unwrap();
        assert_eq!(overridden.population.nodes, 9);
        assert!(overridden.network.flood);
        let args = ["propagation", "--slow-motion", "0.5"].map(String::from);
        assert!(scenario(&args).unwrap_err().contains("slow_motion"));
    }

    #[test]
    fn a_sweep_has_its_defaults() {
        let Some(Command::Sweep(sweep)) = Cli::try_parse_from(["simulations", "sweep"])
            .unwrap()
            .command
        else {
            panic!("not a sweep");
        };
        assert_eq!(sweep.nodes, [100, 250, 500, 1_000]);
        assert_eq!(
            (sweep.size, sweep.messages, sweep.slow_motion),
            (1000, 10, 1.0)
        );
        assert_eq!(sweep.out, Path::new("docs/propagation.png"));
        let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Some(Command::Sweep(sweep)) => sweep.nodes,
            _ => panic!("not a sweep"),
        };
        assert_eq!(
            parse(&["simulations", "sweep", "--nodes", "10, 20", "--nodes", "30"]),
            [30]
        );
    }

    #[test]
    fn wrong_values_are_refused() {
        for args in [
            &["simulations", "sweep", "--nodes", "10,x"][..],
            &["simulations", "sweep", "--slow-motion", "-1"],
            &["simulations", "department-sum"],
            &["simulations", "plot", "results.jsonl"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        for args in [
            &["propagation", "--nodes", "x"][..],
            &["propagation", "--adoption", "-0.5"],
            &["propagation", "--bandwidth-mbit", "NaN"],
            &["propagation", "--bogus"],
        ] {
            assert!(Overrides::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
