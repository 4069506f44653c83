//! The `communecter` binary as a citizen runs it: commands on one data
//! directory, and the nodes and relays it starts.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::netns::Namespace;
use crate::poll::poll;

/// Network flags that keep a test node on loopback, off the LAN.
const LOOPBACK: [&str; 3] = ["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"];

/// How long a node or relay may take to write its address file: one starts
/// in well under a second, fifty at once on two cores (the `relay_load`
/// bench) take longer.
const STARTING: Duration = Duration::from_secs(60);

/// How long a node may take to stop once asked to.
const STOPPING: Duration = Duration::from_secs(30);

/// How often a starting or stopping process is looked at again: starts are
/// timed by the benches, so this is short (reading a file is cheap).
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// The `communecter` binary on one data directory (given as
/// `COMMUNECTER_HOME`, as a citizen would set it), optionally inside a
/// network namespace.
#[derive(Clone, Debug)]
pub struct Communecter {
    program: PathBuf,
    home: PathBuf,
    namespace: Option<Namespace>,
}

impl Communecter {
    /// The binary at `program` (the tests' `env!("CARGO_BIN_EXE_communecter")`)
    /// on the data directory `home`, which it creates when needed.
    pub fn new(program: impl Into<PathBuf>, home: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            home: home.into(),
            namespace: None,
        }
    }

    /// The same, run inside `namespace`.
    pub fn inside(self, namespace: &Namespace) -> Self {
        Self {
            namespace: Some(namespace.clone()),
            ..self
        }
    }

    /// The data directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The command `communecter args…`, not started, with no input and its
    /// output discarded unless the caller says otherwise.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match &self.namespace {
            Some(namespace) => namespace.command(&self.program),
            None => Command::new(&self.program),
        };
        command
            .args(args)
            .env("COMMUNECTER_HOME", &self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Runs `communecter args…` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("the communecter binary runs")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs a command with `--json` that must succeed; returns its answer.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{args:?}: not JSON: {stdout}"))
    }

    /// Runs a command that must fail as a user error (exit code 1);
    /// returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "{args:?} should have failed");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        String::from_utf8(output.stderr).expect("UTF-8 output")
    }

    /// Whether `communecter list filters…` shows the entity `id` (as it
    /// does once a change has reached this citizen's node).
    pub fn lists(&self, id: &str, filters: &[&str]) -> bool {
        let mut args = vec!["list"];
        args.extend(filters);
        self.json(&args)
            .as_array()
            .expect("a list")
            .iter()
            .any(|entity| entity["id"] == id)
    }

    /// The command of a node with its API and network on loopback that
    /// writes its addresses to `addr_file`; `extra` flags follow.
    pub fn node(&self, addr_file: &Path, extra: &[&str]) -> Command {
        let mut command = self.command(&["node", "--api", "127.0.0.1:0"]);
        command
            .args(LOOPBACK)
            .arg("--addr-file")
            .arg(addr_file)
            .args(extra);
        command
    }

    /// Starts [`node`](Self::node) and returns once its API answers (its
    /// address file is written).
    pub fn start_node(&self, addr_file: &Path, extra: &[&str]) -> Process {
        let mut node = Process::spawn(&mut self.node(addr_file, extra));
        node.published(addr_file, |_| true);
        node
    }

    /// The command of a relay serving `postal_code` on loopback that
    /// writes its addresses to `addr_file`.
    pub fn relay(&self, addr_file: &Path, postal_code: &str) -> Command {
        let mut command = self.command(&["relay", "--serve", postal_code]);
        command.args(LOOPBACK).arg("--addr-file").arg(addr_file);
        command
    }
}

/// A child process (a node, a relay, a driver), killed when dropped, also
/// when the test fails.
#[derive(Debug)]
pub struct Process(Child);

impl Process {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Self {
        Self(
            command
                .spawn()
                .unwrap_or_else(|error| panic!("{command:?} does not start: {error}")),
        )
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// The address file a node or relay writes (its API address, then also
    /// its peer id and listen addresses once the network runs), once
    /// `ready` holds of it. Panics if the process ends first or the file
    /// is not ready within a minute.
    pub fn published(&mut self, addr_file: &Path, ready: impl Fn(&Value) -> bool) -> Value {
        let mut published = Value::Null;
        let written = poll(STARTING, LOOK_EVERY, || {
            if let Some(status) = self.0.try_wait().expect("the process can be waited for") {
                panic!(
                    "the process ended ({status}) before {} was ready",
                    addr_file.display()
                );
            }
            let Some(read) = std::fs::read_to_string(addr_file)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
            else {
                return false;
            };
            published = read;
            ready(&published)
        });
        assert!(written, "{} not written", addr_file.display());
        published
    }

    /// The address file once the network runs (it holds the peer id and
    /// listen addresses).
    pub fn network_addresses(&mut self, addr_file: &Path) -> Value {
        self.published(addr_file, |published| published["peer_id"].is_string())
    }

    /// Sends SIGTERM (a service manager's stop) and waits for the process
    /// to end.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "kill -TERM {pid}");
        let mut status = None;
        let stopped = poll(STOPPING, LOOK_EVERY, || {
            status = self.0.try_wait().expect("the process can be waited for");
            status.is_some()
        });
        assert!(stopped, "the process did not stop on SIGTERM");
        status.expect("stopped")
    }

    /// What the process wrote to its stderr (which must have been piped),
    /// read to its end: call it once the process has stopped.
    pub fn stderr(&mut self) -> String {
        let mut stderr = String::new();
        self.0
            .stderr
            .as_mut()
            .expect("stderr was piped")
            .read_to_string(&mut stderr)
            .expect("stderr is UTF-8");
        stderr
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn the_address_file_is_read_once_ready() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("addr.json");
        let script = format!(
            r#"echo '{{"api": "x"}}' > {0}; sleep 0.2; echo '{{"api": "x", "peer_id": "p"}}' > {0}; sleep 60"#,
            file.display()
        );
        let mut process = Process::spawn(&mut shell(&script));
        assert_eq!(process.network_addresses(&file)["peer_id"], "p");
    }

    #[test]
    #[should_panic(expected = "before")]
    fn a_process_that_ends_before_writing_its_address_file_is_reported() {
        let temp = tempfile::tempdir().unwrap();
        Process::spawn(&mut shell("exit 3")).published(&temp.path().join("addr.json"), |_| true);
    }

    #[test]
    fn terminate_sends_sigterm() {
        let mut process = Process::spawn(&mut shell(
            "trap 'exit 7' TERM; while :; do sleep 0.05; done",
        ));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(process.terminate().code(), Some(7));
    }

    #[test]
    fn commands_run_on_their_data_directory() {
        let temp = tempfile::tempdir().unwrap();
        let env = Communecter::new("env", temp.path().join("home"));
        let expected = format!("COMMUNECTER_HOME={}", env.home().display());
        assert!(env.ok(&[]).lines().any(|line| line == expected));
        let fails = Communecter::new("false", temp.path());
        assert_eq!(fails.fails(&[]), "");
    }
}
