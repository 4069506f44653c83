//! Several computers on one machine: Linux network namespaces joined by
//! virtual Ethernet pairs, as the LAN and NAT tests build them.
//!
//! Namespaces are named after the test, the process and a counter, so
//! tests running at once (in one binary or several) never share one; the
//! devices are created straight inside their namespaces, so their names
//! (`eth0`, `wan`…) need only be unique there. Creating namespaces needs
//! root: tests check [`is_root`] (and [`can`] for the tools they use)
//! first, and say that they skip otherwise.

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Networks made by this process so far, to name the next one.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

/// Whether `tool` is installed (it runs with `-V`).
pub fn can(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `program args…`, which must succeed.
fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    assert!(status.success(), "{program} {}", args.join(" "));
}

/// The namespaces of one test, removed (with the devices, addresses and
/// firewall rules they hold) when dropped. Drop the processes running in
/// them first.
#[derive(Debug)]
pub struct Network {
    prefix: String,
    namespaces: Vec<Namespace>,
}

impl Network {
    /// An empty network for the test `test` (a short word: `lan`, `nat`).
    pub fn new(test: &str) -> Self {
        let n = NETWORKS.fetch_add(1, Ordering::Relaxed);
        Self {
            prefix: format!("cm-{test}-{}-{n}", std::process::id()),
            namespaces: Vec::new(),
        }
    }

    /// A new namespace, `what` in this network, with its loopback up.
    pub fn namespace(&mut self, what: &str) -> Namespace {
        let namespace = Namespace {
            name: format!("{}-{what}", self.prefix),
        };
        run("ip", &["netns", "add", &namespace.name]);
        self.namespaces.push(namespace.clone());
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// A virtual Ethernet pair, both ends up: `device_a` in `a`, `device_b`
    /// in `b`.
    pub fn link(&self, (a, device_a): (&Namespace, &str), (b, device_b): (&Namespace, &str)) {
        run(
            "ip",
            &[
                "link", "add", "name", device_a, "netns", &a.name, "type", "veth", "peer", "name",
                device_b, "netns", &b.name,
            ],
        );
        a.ip(&["link", "set", device_a, "up"]);
        b.ip(&["link", "set", device_b, "up"]);
    }

    /// One Ethernet segment joining `computers`: a bridge in a namespace of
    /// its own, with a virtual Ethernet pair to each computer's `eth0`.
    pub fn switch(&mut self, computers: &[&Namespace]) {
        let switch = self.namespace("switch");
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        switch.ip(&["link", "set", "br0", "up"]);
        for (n, computer) in computers.iter().enumerate() {
            let port = format!("port{n}");
            self.link((computer, "eth0"), (&switch, &port));
            switch.ip(&["link", "set", &port, "master", "br0"]);
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", &namespace.name])
                .status();
        }
    }
}

/// One namespace of a [`Network`]: a computer or a router.
#[derive(Clone, Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// `ip args…` on this namespace's devices, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend(args);
        run("ip", &all);
    }

    /// Runs `program args…` inside the namespace; it must succeed.
    pub fn run(&self, program: &str, args: &[&str]) {
        let status = self
            .command(program)
            .args(args)
            .status()
            .unwrap_or_else(|error| panic!("{program} runs: {error}"));
        assert!(
            status.success(),
            "{program} {} in {}",
            args.join(" "),
            self.name
        );
    }

    /// The command `program`, to run inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(name: &str) -> bool {
        let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|line| line.split_whitespace().next() == Some(name))
    }

    #[test]
    fn two_linked_namespaces_reach_each_other_and_are_removed_on_drop() {
        if !is_root() || !can("ip") || !can("ping") {
            eprintln!("skipped: needs root, ip and ping");
            return;
        }
        let mut network = Network::new("netns");
        let (a, b) = (network.namespace("a"), network.namespace("b"));
        network.link((&a, "eth0"), (&b, "eth0"));
        a.ip(&["addr", "add", "10.78.0.1/24", "dev", "eth0"]);
        b.ip(&["addr", "add", "10.78.0.2/24", "dev", "eth0"]);
        let ping = a
            .command("ping")
            .args(["-c", "1", "-W", "5", "10.78.0.2"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ping.success(), "a does not reach b");
        let names = [a.name.clone(), b.name.clone()];
        assert!(names.iter().all(|name| exists(name)));
        drop(network);
        assert!(names.iter().all(|name| !exists(name)));
    }

    #[test]
    fn networks_of_one_process_have_their_own_names() {
        assert_ne!(Network::new("lan").prefix, Network::new("lan").prefix);
    }
}
