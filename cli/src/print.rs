//! Printing: human tables by default, JSON with `--json`.

use std::io::Write;

use anyhow::Result;
use node::model::document::Entity;
use node::model::ids::EntityId;
use node::model::schema::{Kind, Value, postal_key};
use node::store::HistoryEntry;
use serde::{Deserialize, Serialize};

/// Prints any value as pretty JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// What a table row shows of an entity, read from its JSON without the
/// rest (descriptions, links, history) that a list does not print.
#[derive(Deserialize)]
pub(crate) struct Row {
    id: EntityId,
    kind: Kind,
    fields: RowFields,
    address: RowAddress,
}

#[derive(Deserialize)]
struct RowFields {
    #[serde(default)]
    name: String,
    category: Option<String>,
    organization_type: Option<String>,
    event_type: Option<String>,
    place_type: Option<String>,
}

#[derive(Deserialize)]
struct RowAddress {
    postal_code: String,
    country: String,
}

impl Row {
    /// The first of category, organization, event or place type.
    fn label(&self) -> &str {
        let fields = &self.fields;
        [
            &fields.category,
            &fields.organization_type,
            &fields.event_type,
            &fields.place_type,
        ]
        .into_iter()
        .find_map(Option::as_deref)
        .unwrap_or_default()
    }
}

impl From<&Entity> for Row {
    fn from(entity: &Entity) -> Self {
        let text = |name: &str| match entity.fields.get(name) {
            Some(Value::Text(text)) => Some(text.clone()),
            _ => None,
        };
        Row {
            id: entity.id,
            kind: entity.kind,
            fields: RowFields {
                name: entity.name().to_owned(),
                category: text("category"),
                organization_type: text("organization_type"),
                event_type: text("event_type"),
                place_type: text("place_type"),
            },
            address: RowAddress {
                postal_code: entity.address.postal_code.clone(),
                country: entity.address.country.clone(),
            },
        }
    }
}

/// A list of entities: a table, or JSON with `--json`.
pub(crate) fn entities(entities: &[Entity], as_json: bool) -> Result<()> {
    if as_json {
        return json(entities);
    }
    rows(&entities.iter().map(Row::from).collect::<Vec<_>>())
}

/// A list of entities as a table.
pub(crate) fn rows(rows: &[Row]) -> Result<()> {
    if rows.is_empty() {
        println!("Nothing found.");
        return Ok(());
    }
    // Stdout is line-buffered: buffer the table, or each row is a write.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{:<26}  {:<12}  {:<34}  {:<18}  {:<6}",
        "ID", "KIND", "NAME", "CATEGORY", "POSTAL"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<26}  {:<12}  {:<34}  {:<18}  {:<6}",
            row.id,
            row.kind.as_str(),
            cut(&row.fields.name, 34),
            cut(row.label(), 18),
            postal_key(&row.address.postal_code, &row.address.country)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The entity an add/edit/link wrote.
pub(crate) fn entity_written(entity: &Entity, verb: &str, as_json: bool) -> Result<()> {
    if as_json {
        return json(entity);
    }
    println!("{verb} {} {}: {}", entity.kind, entity.id, entity.name());
    Ok(())
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
fn utc(seconds: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ`
    let iso = node::opendata::iso8601(seconds.saturating_mul(1000));
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// One entity in full.
pub(crate) fn entity(
    entity: &Entity,
    history: Option<&[HistoryEntry]>,
    as_json: bool,
) -> Result<()> {
    if as_json {
        let mut value = serde_json::to_value(entity)?;
        if let Some(history) = history {
            value["history"] = serde_json::to_value(history)?;
        }
        return json(&value);
    }
    println!("{} ({})", entity.name(), entity.kind);
    if entity.deleted {
        println!("  [deleted]");
    }
    println!("  {:<18} {}", "id:", entity.id);
    for (name, value) in &entity.fields {
        if name == "name" {
            continue;
        }
        let text = match value {
            Value::Text(text) => text.clone(),
            Value::Bool(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
        };
        println!(
            "  {:<18} {}",
            format!("{name}:"),
            text.replace('\n', "\n                     ")
        );
    }
    let address = &entity.address;
    println!(
        "  {:<18} {}{} {} ({})",
        "address:",
        address
            .street
            .as_deref()
            .map(|street| format!("{street}, "))
            .unwrap_or_default(),
        address.postal_code,
        address.locality.as_deref().unwrap_or_default(),
        address.country
    );
    if let Some(geo) = entity.geo {
        println!("  {:<18} {}, {}", "position:", geo.lat, geo.lon);
    }
    if !entity.tags.is_empty() {
        let tags: Vec<&str> = entity.tags.iter().map(String::as_str).collect();
        println!("  {:<18} {}", "tags:", tags.join(", "));
    }
    println!(
        "  {:<18} {}",
        "edition:",
        if entity.open_edition {
            "open to everyone"
        } else {
            "admins only"
        }
    );
    println!("  {:<18} {}", "admins:", entity.admins.len());
    for link in &entity.links {
        let pending = match (link.confirmed, link.removed) {
            (true, _) => "",
            (false, true) => " (removed)",
            (false, false) => " (pending)",
        };
        let comment = link
            .comment
            .as_deref()
            .map(|comment| format!(": {comment}"))
            .unwrap_or_default();
        let who = link.person;
        println!(
            "  {:<18} {who}{pending}{comment}",
            format!("{}:", link.relation.as_str())
        );
    }
    if let Some(history) = history {
        println!("  history:");
        for entry in history {
            println!(
                "    {}  {}  by {}…  {} operations",
                utc(entry.time),
                &entry.hash[..12],
                &entry.author[..12.min(entry.author.len())],
                entry.operations
            );
        }
    }
    Ok(())
}

/// The node's status (the JSON of `Local::status` or `GET /api/status`).
pub(crate) fn status(status: &serde_json::Value, as_json: bool) -> Result<()> {
    if as_json {
        return json(status);
    }
    let text = |key: &str| status[key].as_str().unwrap_or("-").to_owned();
    if status["joined"] == false {
        println!("Data directory: {}", text("data_dir"));
        println!("Not joined yet: run `communecter init --postal-code <your postal code>`.");
        if let Some(api) = status["api"].as_str() {
            println!("Node:           running, local API at {api}");
        }
        return Ok(());
    }
    let store = &status["store"];
    println!("Data directory: {}", text("data_dir"));
    println!("Author key:     {}", text("author"));
    println!("Your profile:   {}", text("person"));
    println!("Postal code:    {}", text("postal_code"));
    println!(
        "Store:          {} documents, {} changes, {} pending, {} quarantined, {} KiB",
        store["documents"],
        store["changes"],
        store["pending"],
        store["quarantined"],
        store["bytes"].as_u64().unwrap_or(0) / 1024
    );
    let follows: Vec<&str> = status["follows"]
        .as_array()
        .map(|keys| keys.iter().filter_map(|key| key.as_str()).collect())
        .unwrap_or_default();
    if !follows.is_empty() {
        println!("Also follows:   {}", follows.join(", "));
    }
    match status["api"].as_str() {
        Some(api) => println!("Node:           running, local API at {api}"),
        None => println!("Node:           not running (commands use the store directly)"),
    }
    let network = &status["network"];
    if network == "stopped" {
        let why = status["network_error"]
            .as_str()
            .unwrap_or("no reason given");
        println!("Network:        stopped ({why}); restart the node");
        return Ok(());
    }
    if !network.is_object() {
        println!("Network:        offline");
        return Ok(());
    }
    println!(
        "Network:        peer {}, {} connected peers",
        network["peer_id"].as_str().unwrap_or("-"),
        network["peers"]
    );
    for address in network["listen"].as_array().into_iter().flatten() {
        println!("  listening on {}", address.as_str().unwrap_or("-"));
    }
    let punching = &network["hole_punching"];
    let attempts =
        punching["succeeded"].as_u64().unwrap_or(0) + punching["failed"].as_u64().unwrap_or(0);
    if network["relayed_peers"].as_u64().unwrap_or(0) > 0 || attempts > 0 {
        print!(
            "  {} peers through a relay; hole punching: {} direct, {} failed",
            network["relayed_peers"], punching["succeeded"], punching["failed"]
        );
        match punching["last_error"].as_str() {
            Some(error) => println!(" (last: {error})"),
            None => println!(),
        }
    }
    for topic in network["postal_codes"].as_array().into_iter().flatten() {
        let last_sync = topic["last_sync"]
            .as_i64()
            .map(utc)
            .unwrap_or_else(|| "never".into());
        println!(
            "  {}: {} documents, {} peers, last sync {last_sync}",
            topic["postal_code"].as_str().unwrap_or("-"),
            topic["documents"],
            topic["peers"]
        );
    }
    for sync in network["syncing"].as_array().into_iter().flatten() {
        println!(
            "  syncing {} from {}: {} of {} documents",
            sync["postal_key"].as_str().unwrap_or("-"),
            sync["peer_id"].as_str().unwrap_or("-"),
            sync["done"],
            sync["total"]
        );
    }
    Ok(())
}

/// Writes to standard output what `write` writes, as it writes it. A
/// reader that stops reading (`| head`) ends it quietly.
pub(crate) fn streamed(
    write: impl FnOnce(&mut dyn Write) -> Result<(), node::api::client::ClientError>,
) -> Result<()> {
    let mut out = Piped {
        out: std::io::stdout().lock(),
        closed: false,
    };
    match write(&mut out)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(out.flush()?))
    {
        Err(_) if out.closed => Ok(()),
        other => other,
    }
}

/// Standard output, remembering whether its reader went away.
struct Piped<W> {
    out: W,
    closed: bool,
}

impl<W: Write> Write for Piped<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(bytes);
        self.closed |=
            matches!(&written, Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe);
        written
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.out.flush();
        self.closed |=
            matches!(&flushed, Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe);
        flushed
    }
}

/// A writer that counts the bytes written through it.
pub(crate) struct Counted<W> {
    out: W,
    count: u64,
}

impl<W> Counted<W> {
    pub(crate) fn new(out: W) -> Self {
        Self { out, count: 0 }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(bytes)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Where a [`Progress`] is drawn.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Progress of long work: a bar redrawn in place on a terminal; elsewhere
/// (a log, a pipe) a line at the start and at each further tenth.
pub(crate) struct Progress {
    label: String,
    unit: &'static str,
    stream: Stream,
    terminal: bool,
    drawn: bool,
    tenth: Option<usize>,
}

impl Progress {
    /// Bars of `unit`s after `label` (empty, or ending with a space).
    pub(crate) fn new(label: impl Into<String>, unit: &'static str, stream: Stream) -> Self {
        use std::io::IsTerminal;
        let terminal = match stream {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        };
        Self {
            label: label.into(),
            unit,
            stream,
            terminal,
            drawn: false,
            tenth: None,
        }
    }

    pub(crate) fn show(&mut self, done: usize, total: usize) {
        let line = format!("{}{}", self.label, progress_bar(done, total, self.unit));
        if self.terminal {
            self.write(&format!("\r{line}"));
        } else {
            let tenth = (done * 10).checked_div(total).unwrap_or(10);
            if self.tenth == Some(tenth) {
                return;
            }
            self.tenth = Some(tenth);
            self.write(&format!("{line}\n"));
        }
        self.drawn = true;
    }

    /// Ends the bar's line (on a terminal).
    pub(crate) fn finish(&mut self) {
        if self.terminal && self.drawn {
            self.write("\n");
        }
        self.drawn = false;
        self.tenth = None;
    }

    fn write(&self, text: &str) {
        let mut out: Box<dyn Write> = match self.stream {
            Stream::Stdout => Box::new(std::io::stdout().lock()),
            Stream::Stderr => Box::new(std::io::stderr().lock()),
        };
        // Progress is a courtesy: a closed stream does not stop the work.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

/// A one-line progress bar of `unit`s, `[#####     ] 512 / 10000 documents`.
pub(crate) fn progress_bar(done: usize, total: usize, unit: &str) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    format!(
        "[{}{}] {done} / {total} {unit}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    )
}

/// One line of a relay's log: its peers and what its relay server does.
pub(crate) fn relay_line(status: &node::net::NetStatus) -> String {
    let relay = status.relay.clone().unwrap_or_default();
    let rejected: u64 = status.rejected.values().sum();
    format!(
        "peers {} · reservations {} · circuits {} (opened {}, cut at byte limit {}, at time limit {}) · refused {} · gossip rejected {rejected}",
        status.peers.len(),
        relay.reservations,
        relay.circuits,
        relay.circuits_opened,
        relay.cut_bytes,
        relay.cut_duration,
        relay.refused,
    )
}

/// Connected peers.
pub(crate) fn peers(peers: &serde_json::Value, as_json: bool) -> Result<()> {
    if as_json {
        return json(peers);
    }
    let list = peers.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        println!("No peer connected.");
        return Ok(());
    }
    println!(
        "{:<54}  {:<16}  {:>7}  LAST SYNC",
        "PEER", "POSTAL CODES", "SCORE"
    );
    for peer in list {
        let keys: Vec<&str> = peer["postal_keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|key| key.as_str())
            .collect();
        let score = peer["score"]
            .as_f64()
            .map(|score| format!("{score:.1}"))
            .unwrap_or_else(|| "-".into());
        let last = peer["syncs"]
            .as_array()
            .into_iter()
            .flatten()
            .max_by_key(|sync| sync["at"].as_i64().unwrap_or(0))
            .map(|sync| {
                let at = utc(sync["at"].as_i64().unwrap_or(0));
                match sync["error"].as_str() {
                    Some(error) => format!("{at}, failed: {error}"),
                    None => format!(
                        "{at}, {} documents differed, {} changes applied",
                        sync["report"]["differing"], sync["report"]["applied"]
                    ),
                }
            })
            .unwrap_or_else(|| "not yet".into());
        println!(
            "{:<54}  {:<16}  {:>7}  {last}",
            peer["peer_id"].as_str().unwrap_or("-"),
            cut(&keys.join(","), 16),
            score
        );
    }
    Ok(())
}

/// What compacting the store gave back.
pub(crate) fn compacted(before: u64, after: u64, as_json: bool) -> Result<()> {
    if as_json {
        return json(&serde_json::json!({"bytes_before": before, "bytes_after": after}));
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "Store compacted: {:.1} MiB → {:.1} MiB.",
        mib(before),
        mib(after)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{progress_bar, relay_line, utc};

    #[test]
    fn times_read_in_utc() {
        assert_eq!(utc(1_764_000_000), "2025-11-24 16:00 UTC");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn progress_bars_fill_with_the_work_done() {
        assert_eq!(
            progress_bar(0, 10_000, "documents"),
            format!("[{}] 0 / 10000 documents", " ".repeat(30))
        );
        assert_eq!(
            progress_bar(5_000, 10_000, "documents"),
            format!(
                "[{}{}] 5000 / 10000 documents",
                "#".repeat(15),
                " ".repeat(15)
            )
        );
        assert!(
            progress_bar(10_000, 10_000, "documents").starts_with(&format!("[{}]", "#".repeat(30)))
        );
        assert!(progress_bar(0, 0, "rows").starts_with(&format!("[{}]", "#".repeat(30))));
    }

    #[test]
    fn the_relay_line_counts_circuits_and_refusals() {
        let status = node::net::NetStatus {
            peer_id: "p".into(),
            listen: Vec::new(),
            topics: Vec::new(),
            peers: Vec::new(),
            rejected: [("Unauthorized".to_owned(), 2), ("Malformed".to_owned(), 1)].into(),
            slowed: 0,
            connections_opened: 0,
            connections_closed: node::net::ClosedConnections::default(),
            hole_punching: node::net::HolePunching::default(),
            sync_requests: 0,
            sync_request_bytes: 0,
            syncing: Vec::new(),
            relays_learnt: Vec::new(),
            relay: Some(node::net::RelayStatus {
                reservations: 5,
                circuits: 2,
                circuits_opened: 40,
                refused: 3,
                cut_bytes: 1,
                cut_duration: 4,
            }),
        };
        assert_eq!(
            relay_line(&status),
            "peers 0 · reservations 5 · circuits 2 (opened 40, cut at byte limit 1, at time limit 4) · refused 3 · gossip rejected 3"
        );
    }
}
