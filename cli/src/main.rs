//! `communecter`: the command-line tool of Communecter.
//!
//! The binary is thin: argument parsing and printing. The work is done by
//! the node library (store, ingest, identity) and crdt-model (entities).

mod args;
mod decide;
mod import;
mod logs;
mod moderate;
mod print;
mod prompt;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use args::{Cli, Command, EntityFields};
use clap::Parser;
use node::api::Directory;
use node::identity::DataDir;
use node::local::{Join, Local};
use node::model::communes::{self, Commune};
use node::model::document::NewEntity;
use node::model::document::{Edit, Entity};
use node::model::ids::EntityId;
use node::model::schema::{Field, Kind};
use node::opendata::Licence;
use node::opendata::export::Format;
use node::store::Filter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`communecter list | head`):
        // nothing more to say, as other command-line tools do.
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_id(text: &str) -> Result<EntityId> {
    text.trim()
        .parse()
        .with_context(|| format!("{text:?} is not an entity id (26 letters a-z and digits 2-7, as printed by `communecter list`)"))
}

fn parse_set(assignment: &str) -> Result<Edit> {
    let Some((name, value)) = assignment.split_once('=') else {
        bail!("--set takes FIELD=VALUE, got {assignment:?}");
    };
    let field: Field = name.parse()?;
    Ok(Edit::Set(field, field.parse_value(value)?))
}

fn run(cli: Cli) -> Result<()> {
    logs::install(match &cli.command {
        Command::Node { network, .. } | Command::Relay { network, .. } => network.log_format,
        _ => logs::LogFormat::Text,
    });
    let dir = DataDir::resolve(cli.data_dir.clone())?;
    let json = cli.json;
    match cli.command {
        Command::Init {
            postal_code,
            insee,
            name,
            email,
        } => {
            let join = Join {
                postal_code,
                insee,
                name,
                email,
            };
            let person = node::api::client::join(&dir, &join)?;
            if json {
                print::json(&person)
            } else {
                println!("Welcome, {}!", person.name());
                println!("Data directory: {}", dir.root().display());
                println!("Your profile:   {}", person.id);
                println!(
                    "Your commune:   {} {}",
                    person.address.postal_code,
                    person.address.locality.as_deref().unwrap_or_default()
                );
                println!("Your e-mail stays on this computer; your profile is public.");
                Ok(())
            }
        }
        Command::Add { kind, name, fields } => {
            let new = new_entity(kind, name, *fields)?;
            let entity = directory(&dir)?.add(&new)?;
            print::entity_written(&entity, "Added", json)
        }
        Command::Edit {
            id,
            set,
            clear,
            add_tag,
            remove_tag,
            add_admin,
            remove_admin,
            confirm_member,
            remove_member,
            open_edition,
        } => {
            let id = parse_id(&id)?;
            let mut edits = set
                .iter()
                .map(|s| parse_set(s))
                .collect::<Result<Vec<_>>>()?;
            for name in clear {
                edits.push(Edit::Clear(name.parse()?));
            }
            edits.extend(add_tag.into_iter().map(Edit::AddTag));
            edits.extend(remove_tag.into_iter().map(Edit::RemoveTag));
            edits.extend(add_admin.into_iter().map(Edit::AddAdmin));
            edits.extend(remove_admin.into_iter().map(Edit::RemoveAdmin));
            edits.extend(confirm_member.into_iter().map(Edit::ConfirmMember));
            edits.extend(remove_member.into_iter().map(Edit::RemoveMember));
            edits.extend(open_edition.map(Edit::SetOpenEdition));
            if edits.is_empty() {
                bail!(
                    "nothing to change: give --set FIELD=VALUE, --clear FIELD, --add-tag, --remove-tag, \
                     --add-admin, --remove-admin, --confirm-member, --remove-member or --open-edition"
                );
            }
            let entity = directory(&dir)?.edit(id, &edits)?;
            print::entity_written(&entity, "Edited", json)
        }
        Command::Link {
            id,
            relation,
            comment,
        } => {
            let id = parse_id(&id)?;
            let entity = directory(&dir)?.link(id, relation, comment)?;
            print::entity_written(&entity, "Linked", json)
        }
        Command::Unlink { id, relation } => {
            let id = parse_id(&id)?;
            let entity = directory(&dir)?.unlink(id, relation)?;
            print::entity_written(&entity, "Unlinked", json)
        }
        Command::List(args) => {
            let directory = directory(&dir)?;
            let listed = directory.list_json(&args.filter())?;
            if json {
                print::json(&serde_json::from_slice::<Vec<Entity>>(&listed)?)
            } else {
                print::rows(&serde_json::from_slice::<Vec<print::Row>>(&listed)?)
            }
        }
        Command::Search {
            text,
            filter,
            limit,
        } => print::entities(
            &directory(&dir)?.search(&text, &filter.filter(), limit)?,
            json,
        ),
        // A proposal's id is its proposer's key, a dot and a nonce.
        Command::Show { id, .. } if id.contains('.') => {
            decide::show(&*directory(&dir)?, id.trim(), false, json)
        }
        command @ (Command::Room { .. }
        | Command::Propose { .. }
        | Command::Amend { .. }
        | Command::Reword { .. }
        | Command::OpenVote { .. }
        | Command::Vote { .. }
        | Command::Close { .. }
        | Command::Action { .. }
        | Command::Tally { .. }) => decide::run(command, &dir, json),
        Command::Show { id, history } => {
            let id = parse_id(&id)?;
            let directory = directory(&dir)?;
            let entity = directory.entity(id)?;
            let history = if history {
                Some(directory.history(id)?)
            } else {
                None
            };
            print::entity(&entity, history.as_deref(), json)?;
            if !json && directory.moderation(id).is_ok_and(|m| m.state.hidden) {
                println!(
                    "Hidden by its community's decision: `communecter moderation {id}` says which."
                );
            }
            Ok(())
        }
        command @ (Command::Report { .. }
        | Command::Moderation { .. }
        | Command::Moderate { .. }) => moderate::run(command, &dir, json),
        Command::Block { author } => blocked(&dir, &author, true, json),
        Command::Unblock { author } => blocked(&dir, &author, false, json),
        Command::Delete { id } => {
            let id = parse_id(&id)?;
            let entity = directory(&dir)?.delete(id)?;
            print::entity_written(&entity, "Deleted", json)
        }
        Command::Status => print::status(&serde_json::to_value(directory(&dir)?.status()?)?, json),
        Command::Peers => print::peers(&serde_json::to_value(directory(&dir)?.peers()?)?, json),
        Command::Invite { qr } => {
            let invite = directory(&dir)?.invite()?;
            if json {
                return print::json(&invite);
            }
            if qr {
                let drawn = node::net::invite::qr_text(&invite.code).map_err(anyhow::Error::msg)?;
                println!("{drawn}");
            }
            println!(
                "Give this code to a neighbour; on their computer, `communecter join CODE` makes their node meet yours ({}, postal code {}), at:",
                invite.invite.peer_id, invite.invite.postal_code
            );
            for address in &invite.invite.addresses {
                println!("  {address}");
            }
            println!("{}", invite.code);
            Ok(())
        }
        Command::Join { code } => {
            let joined = directory(&dir)?.join(&code)?;
            if json {
                return print::json(&joined);
            }
            let when = if joined.dialled {
                "dialled it now, and will again at every start"
            } else {
                "will dial it when it starts"
            };
            println!(
                "Remembered the node {} of postal code {}: your node {when}.",
                joined.invite.peer_id, joined.invite.postal_code
            );
            Ok(())
        }
        Command::Relay {
            serve,
            network,
            addr_file,
            max_reservations,
            max_circuits,
            max_circuit_seconds,
            max_circuit_mib,
            name,
            announce,
        } => {
            let listen = vec![
                "/ip4/0.0.0.0/tcp/4001".parse()?,
                "/ip4/0.0.0.0/udp/4001/quic-v1".parse()?,
            ];
            let limits = node::net::RelayLimits {
                max_reservations,
                max_circuits,
                max_circuit_duration: std::time::Duration::from_secs(max_circuit_seconds),
                max_circuit_bytes: max_circuit_mib * 1024 * 1024,
                ..node::net::RelayLimits::default()
            };
            run_relay(node::relay::RelayConfig {
                dir,
                serve,
                net: node::net::NetConfig {
                    relay: Some(limits),
                    ..network.config(listen)
                },
                addr_file,
                entry: Some(node::relay::RelayEntry { name, announce }),
            })
        }
        Command::FollowPostalCode { postal_code } => {
            let followed = directory(&dir)?.follow(&postal_code)?;
            if json {
                print::json(&followed)
            } else {
                println!(
                    "Following {}; postal codes followed: {}.",
                    followed.following,
                    followed.postal_codes.join(", ")
                );
                Ok(())
            }
        }
        Command::Web { no_browser } => {
            if !dir.node_running() {
                bail!(
                    "the web map is served by the node: start it with `communecter node` (it opens the map itself)"
                );
            }
            let pairing = node::api::Remote::of(&dir)?.pairing()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pairing)?);
            } else {
                println!(
                    "Open this link once, within {} minutes, in the browser that should write:",
                    pairing.expires_in / 60
                );
                println!("  {}", pairing.url);
            }
            if !no_browser {
                open_browser(&pairing.url);
            }
            Ok(())
        }
        Command::Check => {
            if dir.node_running() {
                bail!(
                    "the node is running on this data directory; stop it, then run `communecter check`"
                );
            }
            let report = node::store::Store::open(&dir.store_path())?.check()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} documents, {} signed changes checked",
                    report.documents, report.changes
                );
                for problem in &report.problems {
                    println!("  {problem}");
                }
            }
            if !report.is_sound() {
                bail!(
                    "{} problems found: run `communecter repair` to rebuild the store from its signed changes",
                    report.problems.len()
                );
            }
            if !json {
                println!("The store is sound.");
            }
            Ok(())
        }
        Command::Repair => {
            if dir.node_running() {
                bail!(
                    "the node is running on this data directory; stop it, then run `communecter repair`"
                );
            }
            let report = node::ingest::repair::repair(&dir.store_path())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "Rebuilt: {} documents, {} signed changes kept, {} set aside.",
                    report.documents, report.kept, report.set_aside
                );
                println!(
                    "The damaged store is kept as {}.",
                    report.damaged_file.display()
                );
            }
            Ok(())
        }
        Command::Compact => {
            if dir.node_running() {
                bail!(
                    "the node is running on this data directory; stop it, then run `communecter compact`"
                );
            }
            let mut local = Local::open(&dir)?;
            let (before, after) = std::sync::Arc::get_mut(&mut local.store)
                .expect("nothing else holds the store")
                .compact(&dir.store_path())?;
            print::compacted(before, after, json)
        }
        Command::Communes { query, limit } => show_communes(&query, json, limit),
        Command::Export {
            format,
            filter,
            licence,
            output,
        } => {
            let directory = directory(&dir)?;
            match output {
                Some(path) => {
                    let bytes = export_to_file(
                        directory.as_ref(),
                        format,
                        &filter.filter(),
                        licence,
                        &path,
                    )?;
                    eprintln!(
                        "Exported to {} ({bytes} bytes, {}).",
                        path.display(),
                        licence.name()
                    );
                    Ok(())
                }
                None => {
                    print::streamed(|out| directory.export(format, &filter.filter(), licence, out))
                }
            }
        }
        Command::Import { file, dry_run, map } => {
            import::import_file(&dir, &file, &map, dry_run, json)
        }
        Command::Node {
            api,
            api_public,
            addr_file,
            network,
            offline,
            tiles,
            tiles_attribution,
            no_browser,
            postal_code,
            insee,
            name,
            email,
        } => {
            if !dir.is_initialized() {
                use std::io::IsTerminal;
                let join = match postal_code {
                    Some(postal_code) => Some(Join {
                        postal_code,
                        insee,
                        name,
                        email,
                    }),
                    // First run in a terminal: ask rather than start unjoined.
                    None if std::io::stdin().is_terminal() => Some(prompt::ask_join(
                        &mut std::io::stdin().lock(),
                        &mut std::io::stdout(),
                    )?),
                    None => None,
                };
                if let Some(join) = join {
                    let local = Local::init(&dir, &join)?;
                    println!("Joined: your profile is {}.", local.profile.person);
                }
            }
            let network = network.with_relay_list(&dir)?;
            let net = (!offline).then(|| network.config(node::net::NetConfig::default().listen));
            run_node(
                node::daemon::DaemonConfig {
                    dir,
                    api,
                    api_public,
                    addr_file,
                    net,
                    tiles: tiles.map(|url| match url.as_str() {
                        "none" => (String::new(), String::new()),
                        _ => (url, tiles_attribution.unwrap_or_default()),
                    }),
                },
                !no_browser,
            )
        }
    }
}

/// The node of `dir`: its running daemon's API, or else its store.
/// Blocks or unblocks an author, and says who is blocked.
fn blocked(
    dir: &DataDir,
    author: &node::model::ids::AuthorKey,
    block: bool,
    json: bool,
) -> Result<()> {
    let blocked = directory(dir)?.block(author, block)?;
    if json {
        return print::json(&serde_json::json!({ "blocked": blocked }));
    }
    let verb = if block { "Blocked" } else { "Unblocked" };
    println!(
        "{verb} {author}; {} author(s) blocked on this node.",
        blocked.len()
    );
    Ok(())
}

fn directory(dir: &DataDir) -> Result<Box<dyn Directory>> {
    Ok(node::api::client::open(dir)?)
}

/// Exports into `path` through a file beside it, renamed over `path` once
/// the export is whole: a failed export leaves no cut file behind, and an
/// earlier file stays as it was. Returns the bytes written.
fn export_to_file(
    directory: &dyn Directory,
    format: Format,
    filter: &Filter,
    licence: Licence,
    path: &Path,
) -> Result<u64> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let written = (|| -> Result<u64> {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("writing {}", partial.display()))?;
        let mut out = print::Counted::new(std::io::BufWriter::new(file));
        directory.export(format, filter, licence, &mut out)?;
        let bytes = out.count();
        out.into_inner()
            .into_inner()
            .map_err(|error| error.into_error())
            .and_then(|file| file.sync_all())
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(bytes)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Opens `url` in the desktop's browser, if there is one; failing is fine.
fn open_browser(url: &str) {
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["cmd", "/C", "start", ""]
    } else {
        &["xdg-open"]
    };
    let _ = std::process::Command::new(opener[0])
        .args(&opener[1..])
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn run_node(config: node::daemon::DaemonConfig, browser: bool) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let joined = config.dir.is_initialized();
        let dir = config.dir.root().display().to_string();
        let daemon = node::daemon::Daemon::start(config).await?;
        println!("Communecter node");
        println!("  data directory: {dir}");
        let web = format!("http://{}/", daemon.address());
        println!("  web map:        {web}");
        // The page carries no secret: the browser that should write is
        // paired by a one-time link (another one: `communecter web`).
        let pairing = daemon.state().pairing_link().ok();
        if let Some(link) = &pairing {
            println!("  to write there: {link} (once, within 10 minutes)");
        }
        println!("  local API:      http://{}", daemon.address());
        if let Some(network) = daemon.network().await {
            println!("  peer id:        {}", network.peer_id);
            for address in &network.listen {
                println!("  listening on:   {address}");
            }
            for topic in &network.topics {
                println!("  following:      {}", topic.postal_key);
            }
        }
        if !joined {
            println!(
                "  not joined yet: run `communecter init --postal-code <your postal code>` in another terminal"
            );
        }
        println!("Press Ctrl-C to stop.");
        use std::io::IsTerminal;
        if browser && std::io::stdout().is_terminal() {
            open_browser(pairing.as_deref().unwrap_or(&web));
        }
        tokio::spawn(show_sync_progress(daemon.state()));
        daemon.serve(node::daemon::stop_signal()).await?;
        println!("Stopped.");
        Ok(())
    })
}

/// Shows the progress of large catch-up syncs (a newcomer's first sync)
/// on the node's terminal.
async fn show_sync_progress(state: std::sync::Arc<node::api::ApiState>) {
    /// Smaller syncs finish before a bar is worth drawing.
    const LARGE: usize = 200;
    let mut shown: Option<print::Progress> = None;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let Some(network) = state.network_status().await else {
            continue;
        };
        match network.syncing.iter().find(|sync| sync.total >= LARGE) {
            Some(sync) => shown
                .get_or_insert_with(|| {
                    let label = format!("Syncing {} ", sync.postal_key);
                    print::Progress::new(label, "documents", print::Stream::Stdout)
                })
                .show(sync.done, sync.total),
            None => {
                if let Some(mut progress) = shown.take() {
                    progress.finish();
                    println!("Synced.");
                }
            }
        }
    }
}

fn run_relay(config: node::relay::RelayConfig) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let dir = config.dir.root().display().to_string();
        let relay = node::relay::Relay::start(config).await?;
        let status = relay.status().await?;
        println!("Communecter relay");
        println!("  data directory: {dir}");
        println!("  peer id:        {}", status.peer_id);
        for address in &status.listen {
            println!("  listening on:   {address}");
        }
        println!(
            "  serving:        {} postal codes ({})",
            relay.postal_keys.len(),
            relay.postal_keys.join(", ")
        );
        println!("Give citizens one of these addresses for `communecter node --bootstrap`.");
        println!("Press Ctrl-C to stop.");
        let client = relay.client.clone();
        let report = tokio::spawn(report_relay(client));
        let served = relay.serve(node::daemon::stop_signal()).await;
        report.abort();
        served?;
        println!("Stopped.");
        Ok(())
    })
}

/// Prints one line about the relay's work each minute it changed, for its
/// operator's logs.
async fn report_relay(client: node::net::Client) {
    let mut last = String::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let Ok(status) = client.status().await else {
            return;
        };
        let line = print::relay_line(&status);
        if line != last {
            println!("{line}");
            last = line;
        }
    }
}

/// The new entity the command-line fields describe.
fn new_entity(kind: Kind, name: String, fields: EntityFields) -> Result<NewEntity> {
    let mut edits = Vec::new();
    let type_field = match kind {
        Kind::Organization => Some(Field::OrganizationType),
        Kind::Event => Some(Field::EventType),
        Kind::Place => Some(Field::PlaceType),
        Kind::Project | Kind::Person | Kind::Relay | Kind::Room => None,
    };
    if let (Some(value), None) = (&fields.kind_type, type_field) {
        bail!("a {kind} has no --type (got {value:?})");
    }
    for (field, value) in [
        (Field::Category, fields.category),
        (Field::Street, fields.street),
        (Field::ShortDescription, fields.short_description),
        (Field::Description, fields.description),
        (Field::Url, fields.url),
        (Field::Start, fields.start),
        (Field::End, fields.end),
    ]
    .into_iter()
    .chain(type_field.map(|field| (field, fields.kind_type)))
    {
        if let Some(value) = value {
            edits.push(Edit::Set(field, field.parse_value(&value)?));
        }
    }
    if let (Some(lat), Some(lon)) = (fields.lat, fields.lon) {
        edits.push(Edit::SetGeo { lat, lon });
    }
    edits.extend(fields.tag.into_iter().map(Edit::AddTag));
    for assignment in &fields.set {
        edits.push(parse_set(assignment)?);
    }
    Ok(NewEntity {
        kind,
        name,
        postal_code: fields.postal_code,
        country: Some(fields.country),
        open_edition: Some(!fields.closed),
        edits,
    })
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
        return print::json(&found);
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
