//! A community relay serving 50 clients, every one a real `communecter
//! node` process on loopback: the relay's memory and CPU while the clients
//! join a postal code of 10,000 documents all at once, then while they
//! edit. Every client must end with the same documents.
//!
//! Run with `cargo bench -p communecter --bench relay_load`
//! (`CLIENTS=20 DOCUMENTS=1000 EDIT_SECONDS=10` for a smaller run).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node::identity::DataDir;
use node::ingest;
use node::model::sample;
use node::store::Origin;
use node::store::Store;
use serde_json::Value;

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

/// Child processes, killed when dropped (also when the benchmark fails).
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// Waits for a JSON file a process writes once it listens.
fn wait_for_json(path: &Path, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(value) = serde_json::from_str(&text)
        {
            return value;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{} exited: {status}", path.display());
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET `path` of a node's local API, as JSON.
fn get(api: &str, path: &str) -> Option<Value> {
    let authority = api.strip_prefix("http://")?;
    let mut stream = std::net::TcpStream::connect(authority).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

/// The documents a client holds for the postal code, from its status.
fn documents(api: &str) -> Option<u64> {
    get(api, "/api/status")?["network"]["postal_codes"]
        .as_array()?
        .iter()
        .find(|topic| topic["postal_code"] == POSTAL_CODE)?["documents"]
        .as_u64()
}

fn spawn(args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("communecter")
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

    let mut processes = Processes(Vec::new());
    let relay_addr_file = root.join("relay.json");
    let relay_dir_arg = relay_dir.display().to_string();
    let addr_file_arg = relay_addr_file.display().to_string();
    let mut relay = spawn(
        &[
            "--data-dir",
            &relay_dir_arg,
            "relay",
            "--serve",
            POSTAL_CODE,
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--addr-file",
            &addr_file_arg,
        ],
        &root.join("relay.log"),
    );
    let published = wait_for_json(&relay_addr_file, &mut relay);
    let relay_pid = relay.id();
    processes.0.push(relay);
    let relay_address = published["listen"][0]
        .as_str()
        .expect("relay address")
        .to_owned();
    std::thread::sleep(Duration::from_secs(1));
    let idle = usage(relay_pid, ticks);

    // Every client joins at once.
    let joining = Instant::now();
    let mut apis = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for n in 0..clients {
        let dir = root.join(format!("client{n}"));
        let addr_file = root.join(format!("client{n}.json"));
        let name = format!("Client {n}");
        let child = spawn(
            &[
                "--data-dir",
                &dir.display().to_string(),
                "node",
                "--postal-code",
                POSTAL_CODE,
                "--name",
                &name,
                "--api",
                "127.0.0.1:0",
                "--addr-file",
                &addr_file.display().to_string(),
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--bootstrap",
                &relay_address,
                "--no-mdns",
            ],
            &root.join(format!("client{n}.log")),
        );
        processes.0.push(child);
        let last = processes.0.len() - 1;
        let published = wait_for_json(&addr_file, &mut processes.0[last]);
        apis.push(published["api"].as_str().expect("api address").to_owned());
        dirs.push(dir);
    }
    let mut peak_rss = idle.rss_kib;
    let wait_for = |wanted: &dyn Fn(&[u64]) -> bool, what: &str, peak_rss: &mut u64| {
        let deadline = Instant::now() + Duration::from_secs(1200);
        loop {
            *peak_rss = (*peak_rss).max(usage(relay_pid, ticks).rss_kib);
            let counts: Vec<u64> = apis.iter().map(|api| documents(api).unwrap_or(0)).collect();
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
        let dir = &dirs[edits % clients];
        let status = Command::new(BIN)
            .args([
                "--data-dir",
                &dir.display().to_string(),
                "add",
                "organization",
                "--name",
            ])
            .arg(format!("Commerce {edits}"))
            .stdout(Stdio::null())
            .status()
            .expect("communecter add");
        assert!(status.success(), "communecter add failed");
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
