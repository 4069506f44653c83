//! The command line's arguments: every command, its flags and their help
//! (clap), the contract scripts rely on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use node::model::document::Relation;
use node::model::ids::AuthorKey;
use node::model::schema::Kind;
use node::store::Filter;

use crate::logs;

/// Communecter: the peer-to-peer directory of your commune.
#[derive(Parser)]
#[command(name = "communecter", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Data directory (default: $COMMUNECTER_HOME, else the platform's data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What `communecter room` does.
#[derive(Subcommand)]
pub(crate) enum RoomAction {
    /// Make a room in an organization, a project, or a postal code's commune.
    ///
    /// Example:
    ///   communecter room create --in <ORGANIZATION ID> --name "Assemblée générale" --who members
    #[command(verbatim_doc_comment)]
    Create {
        /// What it belongs to: an entity id, or a postal code (the commune's room).
        #[arg(long = "in", value_name = "ID|POSTAL_CODE")]
        parent: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// Who takes part: confirmed-members (members an admin confirmed), members,
        /// citizens (of the postal code) or anyone. Anyone can make many keys:
        /// a commune-wide room should keep confirmed members.
        #[arg(long, default_value = "confirmed-members")]
        who: String,
        /// Make it the postal code's moderation room, where its confirmed
        /// members decide on reported entities (the oldest such room counts).
        #[arg(long)]
        moderation: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum ActionCommand {
    /// Add an action to an adopted proposal (its proposer or a room admin).
    Add {
        /// The proposal's id.
        proposal: String,
        /// What is to be done (one line, at most 120 characters).
        #[arg(long)]
        title: String,
        /// When it starts: a date (2026-12-20T09:00, UTC unless an offset is given) or a delay (2d).
        #[arg(long, value_name = "DATE")]
        start: Option<String>,
        /// When it ends, after the start.
        #[arg(long, value_name = "DATE")]
        end: Option<String>,
    },
    /// Set an action's status: todo, done or disabled (its author or a room admin).
    Status {
        /// The proposal's id.
        proposal: String,
        /// The action's id.
        action: String,
        /// todo, done or disabled.
        status: String,
    },
    /// Volunteer for an action (those who take part in the room).
    Volunteer {
        /// The proposal's id.
        proposal: String,
        /// The action's id.
        action: String,
        /// Withdraw instead.
        #[arg(long)]
        withdraw: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Join: create your keys and your public profile in your commune.
    ///
    /// Example:
    ///   communecter init --postal-code 97400 --name "Marie" --email marie@example.org
    #[command(verbatim_doc_comment)]
    Init {
        /// Your postal code (5 digits).
        #[arg(long)]
        postal_code: String,
        /// Your commune's INSEE code, when several communes share the postal
        /// code (for a code a city shares with one arrondissement, 75011,
        /// the arrondissement unless this says the city, 75056).
        #[arg(long)]
        insee: Option<String>,
        /// Your display name (public).
        #[arg(long)]
        name: Option<String>,
        /// Your e-mail: kept on this computer only, never published.
        #[arg(long)]
        email: Option<String>,
    },
    /// Add an organization, project, event or place.
    ///
    /// Examples:
    ///   communecter add organization --name "Garage Payet" --type local_business --category garage --tag mécanique
    ///   communecter add event --name "Concert au kiosque" --start 2026-12-20T19:00 --lat -20.88 --lon 55.45
    #[command(verbatim_doc_comment)]
    Add {
        /// organization, project, event or place.
        kind: Kind,
        /// Its name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        fields: Box<EntityFields>,
    },
    /// Change fields of an entity; admins also manage admins and members.
    ///
    /// Examples:
    ///   communecter edit <ID> --set description="Ouvert le dimanche" --add-tag bio
    ///   communecter edit <ID> --confirm-member <AUTHOR KEY> --open-edition false
    #[command(verbatim_doc_comment)]
    Edit {
        /// The entity id.
        id: String,
        /// FIELD=VALUE (repeatable); `communecter edit --help` lists fields.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Remove an optional field.
        #[arg(long = "clear", value_name = "FIELD")]
        clear: Vec<String>,
        /// Add a tag.
        #[arg(long)]
        add_tag: Vec<String>,
        /// Remove a tag.
        #[arg(long)]
        remove_tag: Vec<String>,
        /// Make someone an admin, by author key (admins only).
        #[arg(long, value_name = "KEY")]
        add_admin: Vec<AuthorKey>,
        /// Remove an admin, by author key (admins only; never the last one).
        #[arg(long, value_name = "KEY")]
        remove_admin: Vec<AuthorKey>,
        /// Confirm a member's request, by author key (admins only).
        #[arg(long, value_name = "KEY")]
        confirm_member: Vec<AuthorKey>,
        /// Remove a member, or refuse a request, by author key (admins only).
        #[arg(long, value_name = "KEY")]
        remove_member: Vec<AuthorKey>,
        /// Open (true) or close (false) the description to everyone's edits (admins only).
        #[arg(long, value_name = "BOOL")]
        open_edition: Option<bool>,
    },
    /// Say you are a member, contributor or attendee, that you follow or recommend it.
    ///
    /// Examples:
    ///   communecter link <ID> recommends --comment "Travail soigné"
    ///   communecter link <ID> member
    #[command(verbatim_doc_comment)]
    Link {
        /// The entity id.
        id: String,
        /// member, contributor, attendee, follows or recommends.
        relation: Relation,
        /// A short comment (shown with recommendations).
        #[arg(long)]
        comment: Option<String>,
    },
    /// Withdraw one of your links.
    ///
    /// Example:
    ///   communecter unlink <ID> recommends
    #[command(verbatim_doc_comment)]
    Unlink {
        /// The entity id.
        id: String,
        /// The relation to withdraw.
        relation: Relation,
    },
    /// List entities.
    ///
    /// Example:
    ///   communecter list --kind organization --postal-code 97400
    #[command(verbatim_doc_comment)]
    List(ListArgs),
    /// Search names, categories, tags and descriptions (accents and case ignored).
    ///
    /// Example:
    ///   communecter search boulangerie
    #[command(verbatim_doc_comment)]
    Search {
        /// Words to look for.
        text: String,
        #[command(flatten)]
        filter: ListArgs,
        /// Most results.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one entity.
    ///
    /// Example:
    ///   communecter show <ID> --history
    #[command(verbatim_doc_comment)]
    Show {
        /// The entity id, or a proposal's id (then its tally).
        id: String,
        /// Also list its changes: who, when.
        #[arg(long)]
        history: bool,
    },
    /// Report an entity to its admins and to the commune (abuse, wrong data), with a reason.
    ///
    /// Three reports by distinct persons flag it: the third reporter's node opens a
    /// moderation vote in the postal code's moderation room (48 hours, 75 %).
    ///
    /// Examples:
    ///   communecter report <ID> --reason "Fermé depuis 2024"
    ///   communecter report <ID> --withdraw
    #[command(verbatim_doc_comment)]
    Report {
        /// The entity id.
        id: String,
        /// Why (at most 500 characters).
        #[arg(long, required_unless_present = "withdraw")]
        reason: Option<String>,
        /// Withdraw your report instead.
        #[arg(long, conflicts_with = "reason")]
        withdraw: bool,
    },
    /// Where an entity stands in moderation, or the moderation queue (flagged, voted on, hidden).
    ///
    /// Examples:
    ///   communecter moderation
    ///   communecter moderation --postal-code 97400
    ///   communecter moderation <ID>
    #[command(verbatim_doc_comment)]
    Moderation {
        /// The entity id; none: the queue.
        id: Option<String>,
        /// The queue of this postal code only.
        #[arg(long, conflicts_with = "id")]
        postal_code: Option<String>,
    },
    /// Open a moderation vote on an entity by hand: to hide it, or (--restore) to show it again.
    ///
    /// Examples:
    ///   communecter moderate <ID>
    ///   communecter moderate <ID> --restore
    #[command(verbatim_doc_comment)]
    Moderate {
        /// The entity id.
        id: String,
        /// Ask to show the hidden entity again (for those who take part in the room).
        #[arg(long)]
        restore: bool,
    },
    /// Block an author for yourself: their changes are no longer stored nor forwarded by your node.
    ///
    /// Example:
    ///   communecter block <AUTHOR KEY>
    #[command(verbatim_doc_comment)]
    Block {
        /// The author's key (64 hex digits, as `show --json` lists them).
        author: AuthorKey,
    },
    /// Unblock an author: their changes are stored and forwarded again.
    ///
    /// Example:
    ///   communecter unblock <AUTHOR KEY>
    #[command(verbatim_doc_comment)]
    Unblock {
        /// The author's key.
        author: AuthorKey,
    },
    /// Rooms, where citizens decide together.
    ///
    /// Example:
    ///   communecter room create --in 97400 --name "Conseil de quartier" --who confirmed-members
    #[command(verbatim_doc_comment)]
    Room {
        #[command(subcommand)]
        action: RoomAction,
    },
    /// Propose something to decide, in a room.
    ///
    /// Examples:
    ///   communecter propose <ROOM> --title "Jardin le dimanche" --text "Ouvrir le jardin le dimanche." --vote-until 7d
    ///   communecter propose <ROOM> --title "Quel jour ?" --text "…" --choices samedi,dimanche --amend-until 2d --vote-until 9d
    #[command(verbatim_doc_comment)]
    Propose {
        /// The room's id.
        room: String,
        /// The title (one line, at most 120 characters).
        #[arg(long)]
        title: String,
        /// The text (at most 8,000 characters).
        #[arg(long)]
        text: String,
        /// The choices, separated by commas (default: yes, no); blank is always possible.
        #[arg(long, value_delimiter = ',')]
        choices: Vec<String>,
        /// Percent of the expressed votes a choice needs, strictly more (1 to 99).
        #[arg(long, default_value_t = 50)]
        majority: u8,
        /// Least number of counted votes, blank ones included.
        #[arg(long)]
        quorum: Option<u32>,
        /// End of the amendment period: a date (2026-12-20T19:00, UTC unless an
        /// offset is given) or a delay (48h, 7d). None: no amendments, the vote opens now.
        #[arg(long, value_name = "DATE")]
        amend_until: Option<String>,
        /// End of the vote, the same way. None: only an admin closes it.
        #[arg(long, value_name = "DATE")]
        vote_until: Option<String>,
        /// Let voters change their vote while it is open.
        #[arg(long)]
        votes_can_change: bool,
        /// Show voters' names on screen (votes are signed and public either way).
        #[arg(long)]
        names_shown: bool,
    },
    /// Propose an amendment to a proposal, while amendments are open.
    ///
    /// Example:
    ///   communecter amend <PROPOSAL> --text "Et le samedi aussi."
    #[command(verbatim_doc_comment)]
    Amend {
        /// The proposal's id.
        proposal: String,
        /// The amendment's text.
        #[arg(long)]
        text: String,
    },
    /// Rewrite your proposal (folding adopted amendments in), before the vote opens.
    ///
    /// Example:
    ///   communecter reword <PROPOSAL> --text "Ouvrir le jardin le samedi et le dimanche."
    #[command(verbatim_doc_comment)]
    Reword {
        /// The proposal's id.
        proposal: String,
        /// A new title.
        #[arg(long)]
        title: Option<String>,
        /// A new text.
        #[arg(long)]
        text: Option<String>,
    },
    /// Open the vote once amendments are closed (the proposer or a room admin).
    ///
    /// Example:
    ///   communecter open-vote <PROPOSAL>
    #[command(verbatim_doc_comment)]
    OpenVote {
        /// The proposal's id.
        proposal: String,
    },
    /// Vote on a proposal (yes, no, blank or one of its choices), or on an amendment.
    ///
    /// Examples:
    ///   communecter vote <PROPOSAL> yes
    ///   communecter vote <PROPOSAL> no --amendment <AMENDMENT>
    #[command(verbatim_doc_comment)]
    Vote {
        /// The proposal's id.
        proposal: String,
        /// yes, no, blank or one of the proposal's choices.
        choice: String,
        /// Vote on this amendment of the proposal instead (yes, no or blank).
        #[arg(long, value_name = "AMENDMENT")]
        amendment: Option<String>,
    },
    /// The actions that follow an adopted proposal: add one, set its status, volunteer.
    ///
    /// Examples:
    ///   communecter action add <PROPOSAL> --title "Faire les clés" --start 2026-12-20T09:00 --end 2026-12-20T12:00
    ///   communecter action status <PROPOSAL> <ACTION> done
    ///   communecter action volunteer <PROPOSAL> <ACTION>
    #[command(verbatim_doc_comment)]
    Action {
        #[command(subcommand)]
        action: ActionCommand,
    },
    /// Close the vote (or the amendments): a room admin, or anyone taking part once the declared end has passed.
    ///
    /// Example:
    ///   communecter close <PROPOSAL>
    #[command(verbatim_doc_comment)]
    Close {
        /// The proposal's id.
        proposal: String,
        /// Close the amendment period instead of the vote.
        #[arg(long)]
        amendments: bool,
    },
    /// A proposal's result: where it stands, the counts, your vote, the outcome.
    ///
    /// Example:
    ///   communecter tally <PROPOSAL> --verify
    #[command(verbatim_doc_comment)]
    Tally {
        /// The proposal's id.
        proposal: String,
        /// Recompute it from the room's signed changes, each checked again, and list every counted vote.
        #[arg(long)]
        verify: bool,
    },
    /// Mark an entity deleted (admins only; its history is kept).
    ///
    /// Example:
    ///   communecter delete <ID>
    #[command(verbatim_doc_comment)]
    Delete {
        /// The entity id.
        id: String,
    },
    /// What this node holds and who you are.
    ///
    /// Example:
    ///   communecter status --json
    #[command(verbatim_doc_comment)]
    Status,
    /// Run a community relay: an always-on copy of the postal codes it
    /// serves, a meeting point for their nodes, and a relay for nodes
    /// behind NATs. It owns nothing and checks everything it stores.
    ///
    /// It needs its own data directory (no identity, no profile: only a
    /// network key and a store). Give its printed addresses to citizens for
    /// `communecter node --bootstrap`.
    ///
    /// Example:
    ///   communecter --data-dir /var/lib/communecter-relay relay --serve 974
    #[command(verbatim_doc_comment)]
    Relay {
        /// A postal code (97400) or a department (974, 2A) to serve
        /// (repeatable).
        #[arg(long, required = true, value_name = "CODE")]
        serve: Vec<String>,
        #[command(flatten)]
        network: NetworkArgs,
        /// Write the peer id and listen addresses to this file.
        #[arg(long, value_name = "FILE")]
        addr_file: Option<PathBuf>,
        /// Nodes reachable through the relay at once.
        #[arg(long, default_value_t = 512)]
        max_reservations: usize,
        /// Relayed connections at once.
        #[arg(long, default_value_t = 64)]
        max_circuits: usize,
        /// Longest life of a relayed connection, in seconds.
        #[arg(long, default_value_t = 600)]
        max_circuit_seconds: u64,
        /// Most data a relayed connection carries, in MiB.
        #[arg(long, default_value_t = 64)]
        max_circuit_mib: u64,
        /// The relay's name in the entry it writes in each postal code it
        /// serves (nodes there learn it from any peer).
        #[arg(long, default_value = "Relais communautaire", value_name = "NAME")]
        name: String,
        /// An address to write first in the relay's entries: a DNS name
        /// (/dns4/relais.example.org/tcp/4001) or a public address the
        /// machine does not see, behind a port forward (repeatable). The
        /// addresses it listens on that others may reach follow.
        #[arg(long, value_name = "MULTIADDR")]
        announce: Vec<node::net::Multiaddr>,
    },
    /// The peers the running node is connected to, with their postal codes
    /// and their last sync.
    ///
    /// Example:
    ///   communecter peers --json
    #[command(verbatim_doc_comment)]
    Peers,
    /// Print an invite: a code that a neighbour gives `communecter join`
    /// so that their node meets yours, without typing an address. It
    /// carries your node's peer id, the addresses it listens on and your
    /// postal code; the node must be running. The code is the last line.
    ///
    /// Examples:
    ///   communecter invite
    ///   communecter invite --qr
    ///   communecter invite --json
    #[command(verbatim_doc_comment)]
    Invite {
        /// Also draw the code as a QR code, for a neighbour's phone to
        /// scan (the web map shows it too).
        #[arg(long)]
        qr: bool,
    },
    /// Meet the node of an invite code: remembered, dialled now if your
    /// node runs, and at every start (your node need not be running, or
    /// even started yet once you have joined with `init`).
    ///
    /// Example:
    ///   communecter join cmn1au4tonbqgat…
    #[command(verbatim_doc_comment)]
    Join {
        /// The invite code, as given (any case; dashes and spaces ignored).
        code: String,
    },
    /// Also follow another postal code: its directory is kept on this node
    /// and synced with its neighbours.
    ///
    /// Example:
    ///   communecter follow-postal-code 97410
    #[command(verbatim_doc_comment)]
    FollowPostalCode {
        /// A French postal code.
        postal_code: String,
    },
    /// Check the store against its signed changes (stop the node first).
    ///
    /// Every signed change must verify, every document hold its changes,
    /// every cached entity pass its checksum and be what its document
    /// reads as. Exits with 1 when something is wrong: then `repair`.
    ///
    /// Example:
    ///   communecter check
    #[command(verbatim_doc_comment)]
    Check,
    /// Rebuild the store from its signed changes (stop the node first).
    ///
    /// Every change that still decodes is checked again and stored in a
    /// new file, with your profile and the peers met; caches and indexes
    /// are made afresh. The damaged file is kept beside, renamed.
    ///
    /// Example:
    ///   communecter repair
    #[command(verbatim_doc_comment)]
    Repair,
    /// Give back the free space of the store file (stop the node first).
    ///
    /// Rewritten documents, caches and indexes leave free pages behind;
    /// compacting rewrites the file without them.
    ///
    /// Example:
    ///   communecter compact
    #[command(verbatim_doc_comment)]
    Compact,
    /// Export the directory as open data, under an open licence, to a file
    /// or standard output. E-mails are never part of it. The CSV columns
    /// are listed in docs/USER-GUIDE.md.
    ///
    /// Examples:
    ///   communecter export --format geojson --output carte.geojson
    ///   communecter export --format csv --kind organization --postal-code 97400
    ///   communecter export --format jsonld --licence odbl-1.0
    #[command(verbatim_doc_comment)]
    Export {
        /// json ({meta, entities}), jsonld (schema.org), geojson or csv.
        #[arg(long, default_value = "json")]
        format: node::opendata::export::Format,
        #[command(flatten)]
        filter: ListArgs,
        /// The open licence: etalab-2.0 (Licence Ouverte) or odbl-1.0.
        #[arg(long, default_value = "etalab-2.0")]
        licence: node::opendata::Licence,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import entities from an open data file, in your name: the JSON,
    /// JSON-LD, GeoJSON and CSV of `communecter export`, Communecter's
    /// own JSON, or a spreadsheet saved as CSV (French or English column
    /// names). Each row is checked: bad rows are reported with their
    /// reason and skipped, a bad value is left out with a warning and the
    /// rest of its row kept, rows naming something already there (same
    /// name, same address or position) are skipped.
    ///
    /// Examples:
    ///   communecter import associations.csv --dry-run
    ///   communecter import commerces.csv --map "Enseigne=name" --map "Activité=category"
    #[command(verbatim_doc_comment)]
    Import {
        /// The file.
        file: PathBuf,
        /// Check every row and print what would be imported, storing
        /// nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read a spreadsheet's COLUMN as FIELD (name, kind, type, tags,
        /// street, postal_code, locality, lat, lon, url, telephone,
        /// category, description…); repeat for several columns.
        #[arg(long = "map", value_name = "COLUMN=FIELD")]
        map: Vec<node::opendata::import::ColumnMapping>,
    },
    /// Look up French communes by postal code, INSEE code or name.
    ///
    /// Examples:
    ///   communecter communes 97400
    ///   communecter communes "saint denis" --json
    #[command(verbatim_doc_comment)]
    Communes {
        /// A postal code (97400), an INSEE code (97411) or part of a name.
        query: String,
        /// Most communes to show for a name search.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Open the web map, able to write, in this computer's browser.
    ///
    /// Asks the running node for a one-time link (usable once, within ten
    /// minutes) that pairs the browser opening it; the page itself carries
    /// no secret, so other users of this computer and other sites cannot
    /// write. Prints the link, and opens it unless --no-browser.
    ///
    /// Examples:
    ///   communecter web
    ///   communecter web --no-browser
    #[command(verbatim_doc_comment)]
    Web {
        /// Print the link without opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Run the node: it owns the data directory and serves the local API.
    ///
    /// While it runs, the other commands go through its API. Stop it with
    /// Ctrl-C. On the first run it asks for your postal code when run in a
    /// terminal, or joins at once with --postal-code.
    ///
    /// Examples:
    ///   communecter node
    ///   communecter node --postal-code 97400 --name Marie
    ///   communecter node --api 127.0.0.1:0 --addr-file /tmp/node.json
    #[command(verbatim_doc_comment)]
    Node {
        /// Address of the local API.
        #[arg(long, default_value = node::daemon::DEFAULT_API)]
        api: std::net::SocketAddr,
        /// Allow an API address reachable from other machines.
        #[arg(long)]
        api_public: bool,
        /// Write the API address, peer id and listen addresses to this file
        /// once listening.
        #[arg(long, value_name = "FILE")]
        addr_file: Option<PathBuf>,
        #[command(flatten)]
        network: NetworkArgs,
        /// Run without any network (the local API only).
        #[arg(long)]
        offline: bool,
        /// Map tiles of the web map: a URL template with {z}, {x} and {y}
        /// (default: OpenStreetMap's), or `none` for a blank background.
        #[arg(long, value_name = "URL")]
        tiles: Option<String>,
        /// With --tiles: the credit the tile provider asks for (HTML).
        #[arg(long, value_name = "TEXT", requires = "tiles")]
        tiles_attribution: Option<String>,
        /// Do not open the web map in a browser at start.
        #[arg(long)]
        no_browser: bool,
        /// Join first, with this postal code, if this data directory has no identity yet.
        #[arg(long)]
        postal_code: Option<String>,
        /// With --postal-code: the commune's INSEE code when several share it.
        #[arg(long, requires = "postal_code")]
        insee: Option<String>,
        /// With --postal-code: your display name.
        #[arg(long, requires = "postal_code")]
        name: Option<String>,
        /// With --postal-code: your e-mail (kept on this computer only).
        #[arg(long, requires = "postal_code")]
        email: Option<String>,
    },
}

/// Fields accepted when adding an entity.
#[derive(Args)]
pub(crate) struct EntityFields {
    /// Postal code (default: yours).
    #[arg(long)]
    pub(crate) postal_code: Option<String>,
    /// Country code (default: FR).
    #[arg(long, default_value = "FR")]
    pub(crate) country: String,
    /// Type: for an organization ngo, local_business, group or government
    /// (or their schema.org names, any case: NGO, LocalBusiness,
    /// Organization, GovernmentOrganization); for an event or a place,
    /// free text.
    #[arg(long = "type")]
    pub(crate) kind_type: Option<String>,
    /// Category of an organization (garage, crèche, bakery…).
    #[arg(long)]
    pub(crate) category: Option<String>,
    /// Street line of the address.
    #[arg(long)]
    pub(crate) street: Option<String>,
    /// Latitude in degrees.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    pub(crate) lat: Option<f64>,
    /// Longitude in degrees.
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    pub(crate) lon: Option<f64>,
    /// A tag (repeatable).
    #[arg(long)]
    pub(crate) tag: Vec<String>,
    /// One or two sentences.
    #[arg(long)]
    pub(crate) short_description: Option<String>,
    /// Longer description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Web site.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Start date (YYYY-MM-DD or YYYY-MM-DDTHH:MM).
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// End date.
    #[arg(long)]
    pub(crate) end: Option<String>,
    /// Any other field, FIELD=VALUE (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(crate) set: Vec<String>,
    /// Admins only may edit it (default: anyone may edit its description).
    #[arg(long)]
    pub(crate) closed: bool,
}

/// Network flags of `node` and `relay`.
#[derive(Args)]
pub(crate) struct NetworkArgs {
    /// A network address to listen on (repeatable; default: for a node, a
    /// free TCP port and a free QUIC port on every interface; for a relay,
    /// TCP and QUIC port 4001 on every interface).
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) listen: Vec<node::net::Multiaddr>,
    /// A peer to connect to at start, such as a community relay
    /// (repeatable), e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) bootstrap: Vec<node::net::Multiaddr>,
    /// A list of community relays to connect to at start: one multiaddr
    /// (ending with /p2p/PEER_ID) or invite code per line, `#` for
    /// comments (default: relays.txt in the data directory, if there is
    /// one).
    #[arg(long, value_name = "FILE")]
    pub(crate) relays: Option<std::path::PathBuf>,
    /// Do not look for neighbours on the local network (mDNS).
    #[arg(long)]
    pub(crate) no_mdns: bool,
    /// How log lines are written to stderr: `text`, or `json` (one object
    /// per line) for a log collector. What is logged follows RUST_LOG
    /// (default: `warn,node=info,communecter=info`).
    #[arg(long, value_enum, default_value_t = logs::LogFormat::Text)]
    pub(crate) log_format: logs::LogFormat,
}

impl NetworkArgs {
    /// Adds the community relays of `--relays FILE`, or of the data
    /// directory's list, to the peers dialled at start.
    pub(crate) fn with_relay_list(mut self, dir: &node::identity::DataDir) -> anyhow::Result<Self> {
        use anyhow::Context;
        let (path, given) = match &self.relays {
            Some(path) => (path.clone(), true),
            None => (dir.root().join(node::net::invite::RELAY_LIST), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if !given && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(self);
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the relay list {}", path.display()));
            }
        };
        let relays = node::net::invite::read_relay_list(&text)
            .map_err(|error| anyhow::anyhow!("the relay list {}: {error}", path.display()))?;
        self.bootstrap.extend(relays);
        Ok(self)
    }

    /// The network: these flags over the defaults, listening on
    /// `default_listen` when no --listen is given.
    pub(crate) fn config(self, default_listen: Vec<node::net::Multiaddr>) -> node::net::NetConfig {
        node::net::NetConfig {
            listen: if self.listen.is_empty() {
                default_listen
            } else {
                self.listen
            },
            bootstrap: self.bootstrap,
            mdns: !self.no_mdns,
            ..node::net::NetConfig::default()
        }
    }
}

/// Filters of `list` and `search`.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only this kind.
    #[arg(long)]
    pub(crate) kind: Option<Kind>,
    /// Only this postal code.
    #[arg(long)]
    pub(crate) postal_code: Option<String>,
    /// Only with this tag.
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Also the entities their community decided to hide (moderation), and those of authors you blocked.
    #[arg(long)]
    pub(crate) hidden: bool,
}

impl ListArgs {
    pub(crate) fn filter(&self) -> Filter {
        Filter {
            kind: self.kind,
            postal_key: self.postal_code.clone(),
            tag: self.tag.clone(),
            hidden: self.hidden,
        }
    }
}
