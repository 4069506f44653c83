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

use std::path::PathBuf;

use simulations::runs;
use simulations::scenario::{BUILT_IN, Scenario};

const USAGE: &str = "\
usage: simulations <SCENARIO> [OPTIONS]
       simulations sweep [--nodes 100,250,500,1000] [--size BYTES] [--messages M]
                         [--slow-motion K] [--out FILE.png]
       simulations plot RESULTS.jsonl FILE.png
       simulations department-sum OUTPUT...  (outputs of department runs, one per shard)
       simulations list

SCENARIO is a built-in scenario (see `simulations list`) or a .toml file.
OPTIONS override the scenario's values:
  --nodes N            nodes on the postal code
  --postal-code CODE   that postal code
  --department CODE    every commune of a department instead (974, 48, 2A)
  --adoption SHARE     share of the department's inhabitants running a node
  --shard I/N          of the department, only the I-th of N groups of
                       postal codes with about as many nodes each
  --relays N           community relays
  --latency-ms MS      one-way latency of every link
  --bandwidth-mbit M   bandwidth of every link
  --size BYTES         bytes each edit writes
  --messages M         messages timed (propagation)
  --duration-s S       seconds of edits (department, churn)
  --flood              naive flooding instead of gossipsub's mesh
  --slow-motion K      run the network K times slower than real, times
                       divided by K (hundreds of nodes on a few cores)
  --seed S             seed of every random choice";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some("list") => {
            for (name, text) in BUILT_IN {
                let about = Scenario::parse(text).map(|s| s.about).unwrap_or_default();
                println!("{name:<14} {about}");
            }
            Ok(())
        }
        Some("sweep") => sweep(&args[1..]),
        Some("department-sum") => department_sum(&args[1..]),
        Some("plot") => match &args[1..] {
            [results, out] => plot_file(results, out),
            _ => Err(format!("plot needs a results file and a PNG path\n{USAGE}")),
        },
        Some(name) => scenario(name, &args[1..]).and_then(|scenario| {
            let report = runtime
                .block_on(runs::run(&scenario))
                .map_err(|error| format!("simulation failed: {error}"))?;
            for line in &report.lines {
                println!("{line}");
            }
            println!("{}", report.json);
            Ok(())
        }),
    };
    if let Err(message) = result {
        eprintln!("{message}");
        std::process::exit(if message.starts_with("simulation failed") {
            1
        } else {
            2
        });
    }
}

/// A scenario by name or path, with the command line's overrides.
fn scenario(name: &str, args: &[String]) -> Result<Scenario, String> {
    let mut scenario = Scenario::load(name)?;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--flood" {
            scenario.network.flood = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let whole = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{what} must be a whole number, not {value:?}"))
        };
        let real = |what: &str| -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{what} must be a number, not {value:?}"))
        };
        match flag.as_str() {
            "--nodes" => scenario.population.nodes = whole(flag)? as u32,
            "--postal-code" => scenario.population.postal_code = value.clone(),
            "--department" => scenario.population.department = Some(value.clone()),
            "--adoption" => scenario.population.adoption = real(flag)?,
            "--relays" => scenario.population.relays = whole(flag)? as u32,
            "--shard" => scenario.population.shard = Some(value.clone()),
            "--latency-ms" => scenario.network.latency_ms = whole(flag)?,
            "--bandwidth-mbit" => scenario.network.bandwidth_mbit = Some(real(flag)?),
            "--slow-motion" => scenario.network.slow_motion = real(flag)?,
            "--size" => scenario.edits.size_bytes = whole(flag)? as usize,
            "--messages" => scenario.edits.messages = whole(flag)? as usize,
            "--duration-s" => scenario.edits.duration_s = whole(flag)?,
            "--seed" => scenario.seed = whole(flag)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    scenario.check()?;
    Ok(scenario)
}

/// Runs the propagation scenario (mesh, then flooding) at each number of
/// nodes, each in its own process, appends their JSON to a results file
/// beside the PNG, and plots them.
fn sweep(args: &[String]) -> Result<(), String> {
    let mut nodes = vec![100, 250, 500, 1_000];
    let mut size = "1000".to_owned();
    let mut messages = "10".to_owned();
    let mut slow_motion = "1".to_owned();
    let mut out = PathBuf::from("docs/propagation.png");
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--nodes" => {
                nodes = value
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<u32>()
                            .map_err(|_| format!("--nodes: {n:?} is not a number"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--size" => size = value.clone(),
            "--messages" => messages = value.clone(),
            "--slow-motion" => slow_motion = value.clone(),
            "--out" => out = PathBuf::from(value),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    let results = out.with_extension("jsonl");
    let me = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut lines = Vec::new();
    for n in &nodes {
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
    plot_file(&results.to_string_lossy(), &out.to_string_lossy())
}

/// Sums department runs' outputs, shard by shard: the JSON line of each
/// file (the last line that holds a department report).
fn department_sum(files: &[String]) -> Result<(), String> {
    if files.is_empty() {
        return Err(format!(
            "department-sum needs the outputs of department runs\n{USAGE}"
        ));
    }
    let mut runs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
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

fn plot_file(results: &str, out: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(results)
        .map_err(|error| format!("cannot read {results}: {error}"))?;
    let runs: Vec<serde_json::Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{results}: {error}"))?;
    simulations::plot::propagation(&runs, std::path::Path::new(out))?;
    eprintln!("wrote {out}");
    Ok(())
}
