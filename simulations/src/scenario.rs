//! Scenario files: what a run simulates (nodes and how they spread over
//! postal codes, relays, links, edits, churn, partitions), in TOML. The
//! scenarios of `simulations/scenarios/` are built in; any other file may
//! be given by path.

use std::time::Duration;

use node::model::communes;
use node::net::NetConfig;
use node::net::links::Link;
use serde::{Deserialize, Serialize};

/// The built-in scenario files, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("propagation", include_str!("../scenarios/propagation.toml")),
    ("flooding", include_str!("../scenarios/flooding.toml")),
    ("department", include_str!("../scenarios/department.toml")),
    (
        "offline-week",
        include_str!("../scenarios/offline-week.toml"),
    ),
    ("churn", include_str!("../scenarios/churn.toml")),
    ("partition", include_str!("../scenarios/partition.toml")),
    ("newcomer", include_str!("../scenarios/newcomer.toml")),
    ("vote", include_str!("../scenarios/vote.toml")),
];

/// A scenario: what to run and on what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the run measures: `propagation`, `department`,
    /// `offline-week`, `churn`, `partition`, `newcomer` or `vote`.
    pub run: String,
    /// One line saying what the scenario is for.
    #[serde(default)]
    pub about: String,
    /// Seed of every random choice (who dials whom, who edits).
    #[serde(default = "one")]
    pub seed: u64,
    /// The links and the nodes' network settings.
    #[serde(default)]
    pub network: Network,
    /// The nodes.
    #[serde(default)]
    pub population: Population,
    /// What the citizens write.
    #[serde(default)]
    pub edits: Edits,
    /// Nodes leaving and coming back.
    #[serde(default)]
    pub churn: Churn,
    /// A split of the commune in two.
    #[serde(default)]
    pub partition: Partition,
    /// A room's vote.
    #[serde(default)]
    pub vote: Vote,
}

/// A room's vote: how many confirmed members vote, over how long.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vote {
    /// Members who vote, the first nodes of the postal code.
    pub voters: u32,
    /// Seconds over which the votes are cast.
    pub seconds: u64,
}

impl Default for Vote {
    fn default() -> Self {
        Self {
            voters: 150,
            seconds: 20,
        }
    }
}

fn one() -> u64 {
    1
}

/// Links between every two nodes, and how nodes use them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// One-way latency of every link, in milliseconds.
    pub latency_ms: u64,
    /// Extra latency, uniform in 0..jitter, in milliseconds.
    pub jitter_ms: u64,
    /// Probability that a segment is lost (and sent again 200 ms later).
    pub loss: f64,
    /// Bandwidth of every link in megabits per second; none for unlimited.
    pub bandwidth_mbit: Option<f64>,
    /// Running nodes of its postal code each node dials once when it
    /// starts (its bootstrap peers are the relays).
    pub dial: usize,
    /// Peers a node keeps beyond its gossip meshes (the node's default is
    /// 16).
    pub peer_target: usize,
    /// Naive flooding instead of gossipsub's mesh (comparison).
    pub flood: bool,
    /// Seconds between a node's catch-up syncs with its peers (the node's
    /// default is 300; a minute makes churn heal faster).
    pub sync_interval_s: u64,
    /// Seconds between a node's redials of lost peers and rendezvous
    /// discoveries (the node's default is 30; 2 makes churn heal faster).
    pub redial_s: u64,
    /// Runs the network this many times slower than real (link latency,
    /// jitter and transfer times, gossip heartbeat, sync, redial and ping
    /// intervals, the grace of newly met peers), and divides the times
    /// measured by it: with hundreds of nodes sharing two cores, each node
    /// then gets the CPU time it would have on a machine of its own.
    /// Processing on each hop then counts for `1 / slow_motion` of what it
    /// costs.
    pub slow_motion: f64,
}

impl Default for Network {
    fn default() -> Self {
        let net = crate::sim_net_config();
        Self {
            latency_ms: 100,
            jitter_ms: 0,
            loss: 0.0,
            bandwidth_mbit: None,
            dial: 3,
            peer_target: net.peer_target,
            flood: false,
            sync_interval_s: net.sync_interval.as_secs(),
            redial_s: net.redial_interval.as_secs(),
            slow_motion: 1.0,
        }
    }
}

impl Network {
    /// Sets how the nodes use the network: peer target, gossip, and the
    /// node's timers, slowed down with the links.
    pub fn configure(&self, net: &mut NetConfig) {
        let slow = self.slow_motion;
        let node = NetConfig::default();
        net.peer_target = self.peer_target;
        net.flood = self.flood;
        net.heartbeat = node.heartbeat.mul_f64(slow);
        net.peer_grace = node.peer_grace.mul_f64(slow);
        net.ping_interval = node.ping_interval.mul_f64(slow);
        net.sync_interval = Duration::from_secs(self.sync_interval_s).mul_f64(slow);
        net.redial_interval = Duration::from_secs(self.redial_s).mul_f64(slow);
    }

    /// The link every pair of nodes gets.
    pub fn link(&self) -> Link {
        let slow = self.slow_motion;
        Link {
            latency: Duration::from_millis(self.latency_ms).mul_f64(slow),
            jitter: Duration::from_millis(self.jitter_ms).mul_f64(slow),
            bytes_per_second: self
                .bandwidth_mbit
                .map(|mbit| (mbit * 1_000_000.0 / 8.0 / slow) as u64),
            loss: self.loss,
        }
    }
}

/// The nodes: a number of nodes on one postal code, or a department's
/// communes at an adoption rate of their inhabitants.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Population {
    /// Nodes on `postal_code` (when no department is given).
    pub nodes: u32,
    /// The postal code of those nodes.
    pub postal_code: String,
    /// A department code (`974`, `48`, `2A`): its communes' inhabitants
    /// at `adoption` give the nodes of each postal code.
    pub department: Option<String>,
    /// Share of the inhabitants who run a node (0.005 to 0.05 expected).
    pub adoption: f64,
    /// Community relays, each serving every postal code of the run.
    pub relays: u32,
    /// Of a department, only shard `i` of `n` (`"1/10"`): its postal codes
    /// dealt into `n` groups of about as many nodes each. A department
    /// too large for one machine runs shard after shard: its postal codes
    /// exchange nothing but through the relays, so a node's figures are
    /// those of the whole department, and the relays' add up over the
    /// shards.
    pub shard: Option<String>,
}

impl Default for Population {
    fn default() -> Self {
        Self {
            nodes: 100,
            postal_code: "97400".into(),
            department: None,
            adoption: 0.01,
            relays: 0,
            shard: None,
        }
    }
}

impl Population {
    /// Nodes per postal code, largest first.
    pub fn postal_codes(&self) -> Result<Vec<(String, u32)>, String> {
        match &self.department {
            None => Ok(vec![(self.postal_code.clone(), self.nodes)]),
            Some(department) => {
                let codes = department_population(department, self.adoption)?;
                match &self.shard {
                    None => Ok(codes),
                    Some(shard) => {
                        let (i, n) = parse_shard(shard)?;
                        Ok(deal(codes, n).swap_remove(i - 1))
                    }
                }
            }
        }
    }
}

/// `"i/n"`, with 1 ≤ i ≤ n.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("a shard is i/n with 1 ≤ i ≤ n (\"1/10\"), not {text:?}");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Deals postal codes (largest first) into `n` groups of about as many
/// nodes: each code goes to the group with the fewest nodes so far.
fn deal(codes: Vec<(String, u32)>, n: usize) -> Vec<Vec<(String, u32)>> {
    let mut groups: Vec<Vec<(String, u32)>> = vec![Vec::new(); n];
    let mut totals = vec![0u32; n];
    for code in codes {
        let lightest = (0..n).min_by_key(|&g| (totals[g], g)).unwrap_or(0);
        totals[lightest] += code.1;
        groups[lightest].push(code);
    }
    groups
}

/// The nodes per postal code of `department` when `adoption` of each
/// commune's inhabitants run one (rounded per commune, shared evenly among
/// a commune's postal codes), largest first; postal codes left with no
/// node are left out.
pub fn department_population(
    department: &str,
    adoption: f64,
) -> Result<Vec<(String, u32)>, String> {
    if !(0.0..=1.0).contains(&adoption) {
        return Err(format!("adoption must lie between 0 and 1, not {adoption}"));
    }
    let table = communes::table();
    let department = department.trim().to_uppercase();
    // A commune split in arrondissements (Paris, Lyon, Marseille) counts
    // through them only.
    let divided: std::collections::HashSet<&str> =
        table.iter().filter_map(|commune| commune.parent).collect();
    let mut per_code: std::collections::BTreeMap<String, u32> = Default::default();
    let mut communes_found = 0;
    for commune in table.iter() {
        if commune.department != department || divided.contains(commune.insee) {
            continue;
        }
        communes_found += 1;
        let nodes = (f64::from(commune.population) * adoption).round() as u32;
        let codes = commune.postal_codes;
        if codes.is_empty() {
            continue;
        }
        let share = nodes / codes.len() as u32;
        let extra = nodes as usize % codes.len();
        for (n, code) in codes.iter().enumerate() {
            *per_code.entry((*code).to_owned()).or_default() += share + u32::from(n < extra);
        }
    }
    if communes_found == 0 {
        return Err(format!(
            "{department} is not a department code of the communes table (try 974, 48 or 2A)"
        ));
    }
    let mut codes: Vec<(String, u32)> = per_code.into_iter().filter(|(_, n)| *n > 0).collect();
    codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(codes)
}

/// What the citizens write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Edits {
    /// Messages timed one after the other (propagation).
    pub messages: usize,
    /// Bytes of text each edit writes.
    pub size_bytes: usize,
    /// Edits a citizen makes per day (department).
    pub per_citizen_per_day: f64,
    /// Simulated time runs this many times faster than the commune's
    /// life: the edits of `time_scale` seconds come in one second (links
    /// keep their real latency).
    pub time_scale: f64,
    /// How long edits go on, in seconds of the run (department, churn).
    pub duration_s: u64,
    /// Seconds of quiet measured before the edits, nobody editing
    /// (department).
    pub quiet_s: u64,
    /// Differences to catch up, in edits made while a node is away
    /// (offline-week).
    pub offline: Vec<usize>,
    /// Documents the relay holds when a newcomer joins (newcomer).
    pub documents: usize,
}

impl Default for Edits {
    fn default() -> Self {
        Self {
            messages: 10,
            size_bytes: 1_000,
            per_citizen_per_day: 2.0,
            time_scale: 60.0,
            duration_s: 60,
            quiet_s: 60,
            offline: vec![10, 100, 1_000],
            documents: 10_000,
        }
    }
}

/// Nodes leaving and coming back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Churn {
    /// Share of the nodes that leave.
    pub fraction: f64,
    /// How long they stay away, in seconds.
    pub offline_s: u64,
}

impl Default for Churn {
    fn default() -> Self {
        Self {
            fraction: 0.2,
            offline_s: 20,
        }
    }
}

/// A split of the commune in two halves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Partition {
    /// How long the halves stay apart, in seconds.
    pub seconds: u64,
}

impl Default for Partition {
    fn default() -> Self {
        Self { seconds: 5 }
    }
}

impl Scenario {
    /// Reads a scenario from TOML.
    pub fn parse(text: &str) -> Result<Self, String> {
        let scenario: Self = toml::from_str(text).map_err(|error| error.to_string())?;
        scenario.check()?;
        Ok(scenario)
    }

    /// A built-in scenario by name, or a scenario file by path.
    pub fn load(name_or_path: &str) -> Result<Self, String> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Self::parse(text).map_err(|error| format!("scenario {name_or_path}: {error}"));
        }
        let path = std::path::Path::new(name_or_path);
        if path.extension().is_some_and(|ext| ext == "toml") {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {name_or_path}: {error}"))?;
            return Self::parse(&text).map_err(|error| format!("{name_or_path}: {error}"));
        }
        let names: Vec<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
        Err(format!(
            "unknown scenario {name_or_path:?}: give one of {} or a .toml file",
            names.join(", ")
        ))
    }

    /// Refuses values a run cannot use.
    pub fn check(&self) -> Result<(), String> {
        const RUNS: [&str; 7] = [
            "propagation",
            "department",
            "offline-week",
            "churn",
            "partition",
            "newcomer",
            "vote",
        ];
        if !RUNS.contains(&self.run.as_str()) {
            return Err(format!(
                "run = {:?} is not one of {}",
                self.run,
                RUNS.join(", ")
            ));
        }
        if self.population.department.is_none() && self.population.nodes < 2 {
            return Err("a simulation needs at least 2 nodes".into());
        }
        if self.network.sync_interval_s == 0 || self.network.redial_s == 0 {
            return Err("network.sync_interval_s and network.redial_s must be at least 1".into());
        }
        if !(1.0..=1000.0).contains(&self.network.slow_motion) {
            return Err("network.slow_motion must lie between 1 and 1000".into());
        }
        if !(0.0..=1.0).contains(&self.network.loss) {
            return Err("network.loss must lie between 0 and 1".into());
        }
        if !(0.0..1.0).contains(&self.churn.fraction) {
            return Err("churn.fraction must lie between 0 and 1 (excluded)".into());
        }
        if self.edits.time_scale <= 0.0 || self.edits.per_citizen_per_day < 0.0 {
            return Err(
                "edits.time_scale must be positive and per_citizen_per_day not negative".into(),
            );
        }
        if !node::model::communes::table().is_known_postal_code(&self.population.postal_code) {
            return Err(format!(
                "population.postal_code {} is not a French postal code",
                self.population.postal_code
            ));
        }
        if self.population.shard.is_some() && self.population.department.is_none() {
            return Err("population.shard splits a department: give one".into());
        }
        match self.population.postal_codes() {
            Ok(codes) if codes.is_empty() => Err("this shard holds no postal code".into()),
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_scenario_parses() {
        for (name, text) in BUILT_IN {
            let scenario = Scenario::parse(text).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(!scenario.about.is_empty(), "{name} says what it is for");
        }
    }

    #[test]
    fn unknown_keys_and_runs_are_refused() {
        assert!(Scenario::parse("run = \"propagation\"\nnodes = 3").is_err());
        assert!(Scenario::parse("run = \"teleport\"").is_err());
        assert!(Scenario::parse("run = \"churn\"\n[churn]\nfraction = 1.5").is_err());
        assert!(Scenario::load("nowhere").is_err());
    }

    #[test]
    fn la_reunion_at_one_percent_follows_its_communes() {
        let codes = department_population("974", 0.01).unwrap();
        let total: u32 = codes.iter().map(|(_, n)| n).sum();
        let inhabitants: u32 = communes::table()
            .iter()
            .filter(|commune| commune.department == "974")
            .map(|commune| commune.population)
            .sum();
        // Rounding per commune moves the total by at most half a node each.
        let expected = f64::from(inhabitants) * 0.01;
        assert!((f64::from(total) - expected).abs() <= 24.0 * 0.5 + 1.0);
        // Saint-Denis' postal codes lead, a small commune has a handful.
        assert!(codes[0].1 > 10 * codes.last().unwrap().1);
        assert!(codes.iter().all(|(code, _)| code.starts_with("974")));
    }

    #[test]
    fn shards_share_a_department_evenly() {
        let whole = department_population("974", 0.01).unwrap();
        let total: u32 = whole.iter().map(|(_, n)| n).sum();
        let population = |shard: &str| Population {
            department: Some("974".into()),
            adoption: 0.01,
            shard: Some(shard.into()),
            ..Population::default()
        };
        let mut seen: Vec<(String, u32)> = Vec::new();
        for i in 1..=4 {
            let shard = population(&format!("{i}/4")).postal_codes().unwrap();
            let nodes: u32 = shard.iter().map(|(_, n)| n).sum();
            // Within the largest postal code of an even quarter.
            assert!(
                nodes.abs_diff(total / 4) <= whole[0].1,
                "shard {i}: {nodes} of {total}"
            );
            seen.extend(shard);
        }
        seen.sort();
        let mut expected = whole.clone();
        expected.sort();
        assert_eq!(seen, expected, "every postal code in exactly one shard");
        for bad in ["0/4", "5/4", "1", "a/b"] {
            assert!(population(bad).postal_codes().is_err(), "{bad}");
        }
    }

    #[test]
    fn paris_counts_through_its_arrondissements() {
        let codes = department_population("75", 0.001).unwrap();
        let total: u32 = codes.iter().map(|(_, n)| n).sum();
        // About 2.1 million inhabitants, not twice that.
        assert!((1_500..3_000).contains(&total), "{total}");
        assert!(department_population("999", 0.01).is_err());
        assert!(department_population("974", 2.0).is_err());
    }
}
