//! A community relay serving 50 clients, every one a real `communecter
//! node` process on loopback: the relay's memory and CPU while the clients
//! join a postal code of 10,000 documents all at once, then while they
//! edit. Every client must end with the same documents.
//!
//! Run with `cargo bench -p communecter --bench relay_load`
//! (`CLIENTS=20 DOCUMENTS=1000 EDIT_SECONDS=10` for a smaller run).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use node::identity::DataDir;
use node::ingest;
use node::model::sample;
use node::store::Origin;
use node::store::Store;
use support::{Communecter, Process, http};

const BIN: &str = env!("CARGO_BIN_EXE_communecter");
const POSTAL_CODE: &str = "97400";
/// One edit somewhere in the postal code every this often.
const EDIT_EVERY: Duration = Duration::from_millis(500);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A process's resident memory now and at its peak, in KiB, and its CPU
/// time (user + system) in seconds.
#[derive(Clone, Copy, Debug)]
struct Usage {
    rss_kib: u64,
    peak_kib: u64,
    cpu_seconds: f64,
}

fn clock_ticks() -> f64 {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

fn usage(pid: u32, ticks: f64) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    // Fields after the command name, which is in parentheses: state is
    // field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cpu: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    Usage {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
        cpu_seconds: cpu / ticks,
    }
}

/// The documents a client holds for the postal code, from its status.
fn documents(client: &http::Client, api: &str) -> Option<u64> {
    client.get(&format!("{api}/api/status")).ok()?.json().ok()?["network"]["postal_codes"]
        .as_array()?
        .iter()
        .find(|topic| topic["postal_code"] == POSTAL_CODE)?["documents"]
        .as_u64()
}

/// Starts `command` with its stdout and stderr to the file `log`.
fn spawn_logging(command: &mut Command, log: &Path) -> Process {
    let log = std::fs::File::create(log).expect("log file");
    Process::spawn(
        command
            .stdout(log.try_clone().expect("log file"))
            .stderr(log),
    )
}

fn main() {
    let clients = setting("CLIENTS", 50);
    let directory = setting("DOCUMENTS", 10_000);
    let editing_for = Duration::from_secs(setting("EDIT_SECONDS", 60) as u64);
    let ticks = clock_ticks();
    let temp = tempfile::tempdir().expect("temporary directory");
    let root = temp.path();

    // The relay's store holds the postal code's directory already.
    let relay_dir = root.join("relay");
    let started = Instant::now();
    {
        let dir = DataDir::resolve(Some(relay_dir.clone())).expect("data directory");
        std::fs::create_dir_all(dir.root()).expect("relay directory");
        let store = Store::open(&dir.store_path()).expect("relay store");
        let (key, _) = sample::author(9);
        for batch in sample::directory(&key, POSTAL_CODE, directory).chunks(500) {
            ingest::ingest(&store, Origin::Local, batch).expect("ingest");
        }
    }
    println!(
        "setup: the relay holds {directory} documents of {POSTAL_CODE} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let mut processes = Vec::new();
    let relay_addr_file = root.join("relay.json");
    let relay_home = Communecter::new(BIN, &relay_dir);
    let mut relay = spawn_logging(
        &mut relay_home.relay(&relay_addr_file, POSTAL_CODE),
        &root.join("relay.log"),
    );
    let published = relay.published(&relay_addr_file, |_| true);
    let relay_pid = relay.id();
    processes.push(relay);
    let relay_address = published["listen"][0]
        .as_str()
        .expect("relay address")
        .to_owned();
    std::thread::sleep(Duration::from_secs(1));
    let idle = usage(relay_pid, ticks);

    // Every client joins at once.
    let joining = Instant::now();
    let mut apis = Vec::new();
    let mut homes = Vec::new();
    for n in 0..clients {
        let client = Communecter::new(BIN, root.join(format!("client{n}")));
        let addr_file = root.join(format!("client{n}.json"));
        let name = format!("Client {n}");
        let mut node = spawn_logging(
            &mut client.node(
                &addr_file,
                &[
                    "--postal-code",
                    POSTAL_CODE,
                    "--name",
                    &name,
                    "--bootstrap",
                    &relay_address,
                ],
            ),
            &root.join(format!("client{n}.log")),
        );
        let published = node.published(&addr_file, |_| true);
        processes.push(node);
        apis.push(published["api"].as_str().expect("api address").to_owned());
        homes.push(client);
    }
    let http = http::Client::new();
    let mut peak_rss = idle.rss_kib;
    let wait_for = |wanted: &dyn Fn(&[u64]) -> bool, what: &str, peak_rss: &mut u64| {
        let deadline = Instant::now() + Duration::from_secs(1200);
        loop {
            *peak_rss = (*peak_rss).max(usage(relay_pid, ticks).rss_kib);
            let counts: Vec<u64> = apis
                .iter()
                .map(|api| documents(&http, api).unwrap_or(0))
                .collect();
            if wanted(&counts) {
                return counts;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: timed out; documents per client: {counts:?}"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    wait_for(
        &|counts| counts.iter().all(|&count| count >= directory as u64),
        "joining",
        &mut peak_rss,
    );
    let joined = joining.elapsed();
    let after_join = usage(relay_pid, ticks);

    // Then the commune edits: one new entity every EDIT_EVERY, from each
    // client in turn.
    let editing = Instant::now();
    let mut edits = 0usize;
    while editing.elapsed() < editing_for {
        homes[edits % clients].ok(&[
            "add",
            "organization",
            "--name",
            &format!("Commerce {edits}"),
        ]);
        edits += 1;
        peak_rss = peak_rss.max(usage(relay_pid, ticks).rss_kib);
        std::thread::sleep(EDIT_EVERY);
    }
    let edited = editing.elapsed();
    let after_edits = usage(relay_pid, ticks);
    // Every client ends with the directory, the clients' own profiles and
    // every edit.
    let wanted = (directory + clients + edits) as u64;
    let converging = Instant::now();
    wait_for(
        &|counts| counts.iter().all(|&count| count == wanted),
        "converging",
        &mut peak_rss,
    );
    let converged = converging.elapsed();
    let end = usage(relay_pid, ticks);

    println!();
    println!("relay serving {clients} clients, {directory} documents, 2 cores, loopback:");
    println!(
        "{:<34} {:>10} {:>12} {:>10} {:>12}",
        "phase", "seconds", "relay CPU s", "relay CPU", "relay RSS"
    );
    let row = |phase: &str, seconds: f64, from: Usage, to: Usage| {
        let cpu = to.cpu_seconds - from.cpu_seconds;
        println!(
            "{phase:<34} {seconds:>10.1} {cpu:>12.2} {:>9.1}% {:>9.1} MiB",
            100.0 * cpu / seconds,
            to.rss_kib as f64 / 1024.0
        );
    };
    println!(
        "{:<34} {:>10} {:>12} {:>10} {:>9.1} MiB",
        "idle, holding the directory",
        "-",
        "-",
        "-",
        idle.rss_kib as f64 / 1024.0
    );
    row(
        &format!("{clients} newcomers join at once"),
        joined.as_secs_f64(),
        idle,
        after_join,
    );
    row(
        &format!("{edits} edits in {:.0} s", edited.as_secs_f64()),
        edited.as_secs_f64(),
        after_join,
        after_edits,
    );
    row(
        "until every client converged",
        converged.as_secs_f64(),
        after_edits,
        end,
    );
    println!(
        "relay peak RSS: {:.1} MiB (sampled {:.1} MiB); every client holds {wanted} documents",
        end.peak_kib as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    drop(processes);
}
