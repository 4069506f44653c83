//! Several real nodes in one process over libp2p's memory transport: gossip
//! per postal code, convergence, catch-up sync, and hostile peers.

use std::sync::Arc;
use std::time::Duration;

use crdt_model::automerge::{Automerge, ObjType, ROOT, ReadDoc, transaction::Transactable};
use crdt_model::document::Edit;
use crdt_model::ids::EntityId;
use crdt_model::schema::{Field, Kind, Value};
use crdt_model::signed::SignedChange;
use libp2p::Multiaddr;
use node::identity::DataDir;
use node::local::{Join, Local};
use node::model::document::NewEntity;
use node::net::{self, Client, NetConfig};
use node::random::Xorshift;

struct Node {
    _temp: tempfile::TempDir,
    local: Arc<Local>,
    client: Client,
    task: tokio::task::JoinHandle<()>,
    address: Multiaddr,
}

fn config() -> NetConfig {
    NetConfig {
        listen: vec!["/memory/0".parse().unwrap()],
        bootstrap: Vec::new(),
        mdns: false,
        memory: true,
        sync_interval: Duration::from_secs(3600),
        heartbeat: Duration::from_millis(100),
        redial_interval: Duration::from_millis(200),
        relay: None,
        links: None,
        ..NetConfig::default()
    }
}

async fn start_network(
    local: &Arc<Local>,
    bootstrap: &[&Node],
) -> (Client, tokio::task::JoinHandle<()>, Multiaddr) {
    start_network_at(
        local,
        bootstrap.iter().map(|node| node.address.clone()).collect(),
    )
    .await
}

async fn start_network_at(
    local: &Arc<Local>,
    bootstrap: Vec<Multiaddr>,
) -> (Client, tokio::task::JoinHandle<()>, Multiaddr) {
    let mut config = config();
    config.bootstrap = bootstrap;
    let (client, task) = start_with(local, config).await;
    let status = client.status().await.unwrap();
    let address: Multiaddr = status.listen[0].parse().unwrap();
    (client, task, address)
}

/// Starts the network of `local`'s node with `config`, following its home
/// postal code.
async fn start_with(
    local: &Arc<Local>,
    config: NetConfig,
) -> (Client, tokio::task::JoinHandle<()>) {
    net::start(
        local.store.clone(),
        local.identity.network_seed,
        config,
        vec![local.profile.postal_key()],
    )
    .await
    .unwrap()
}

/// What Mallory sends against the entity `id` whose document is `doc`: a
/// change granting herself admin rights, validly signed (unauthorized), and
/// the same with a broken signature (forged).
fn hostile_envelopes(doc: &Automerge, id: EntityId, mallory: &Local) -> (Vec<u8>, Vec<u8>) {
    let mut fork = doc.fork();
    fork.set_actor(mallory.identity.actor(mallory.profile.device).actor_id());
    let admins = match fork.get(ROOT, "admins").unwrap() {
        Some((crdt_model::automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("admins: {other:?}"),
    };
    let mut tx = fork.transaction();
    tx.put(&admins, mallory.identity.author().to_string(), true)
        .unwrap();
    tx.commit();
    let change = fork.get_last_local_change().unwrap().clone();
    let unauthorized = SignedChange::sign(
        &mallory.identity.signing_key,
        id,
        "97400",
        change.raw_bytes(),
    )
    .unwrap()
    .encode();
    let mut forged = unauthorized.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    (unauthorized, forged)
}

/// A citizen who joined `postal_code`, with a data directory of their own.
fn joined(postal_code: &str, name: &str) -> (tempfile::TempDir, Arc<Local>) {
    let temp = tempfile::tempdir().unwrap();
    let dir = DataDir::resolve(Some(temp.path().join("home"))).unwrap();
    let local = Local::init(
        &dir,
        &Join {
            postal_code: postal_code.into(),
            name: Some(name.into()),
            ..Join::default()
        },
    )
    .unwrap();
    (temp, Arc::new(local))
}

/// A joined node in `postal_code`, dialling `bootstrap`.
async fn node(postal_code: &str, name: &str, bootstrap: &[&Node]) -> Node {
    let (temp, local) = joined(postal_code, name);
    let (client, task, address) = start_network(&local, bootstrap).await;
    Node {
        _temp: temp,
        local,
        client,
        task,
        address,
    }
}

/// Waits until `condition` holds, for at most 20 seconds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the asynchronous `condition` holds, for at most 20 seconds.
async fn eventually_async<F: std::future::Future<Output = bool>>(
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops a node's network (`whose`, for the message) and waits until it
/// has.
async fn stop(task: &tokio::task::JoinHandle<()>, whose: &str) {
    task.abort();
    eventually(&format!("{whose} network stopped"), || task.is_finished()).await;
}

async fn add(node: &Node, name: &str) -> EntityId {
    add_as(&node.local, name).await
}

async fn add_as(local: &Arc<Local>, name: &str) -> EntityId {
    let local = local.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        local
            .add(&NewEntity::new(Kind::Organization, name, Vec::new()))
            .unwrap()
            .id
    })
    .await
    .unwrap()
}

async fn edit(node: &Node, id: EntityId, edits: Vec<Edit>) {
    let local = node.local.clone();
    tokio::task::spawn_blocking(move || local.edit(id, &edits).unwrap())
        .await
        .unwrap();
}

fn heads(node: &Node, id: &EntityId) -> Option<Vec<crdt_model::automerge::ChangeHash>> {
    let doc = node.local.store.document(id).unwrap()?;
    let mut heads = doc.get_heads();
    heads.sort();
    Some(heads)
}

fn has(node: &Node, id: &EntityId) -> bool {
    node.local.store.entity(id).unwrap().is_some()
}

/// Waits until every node has the same heads for `id`.
async fn converged(nodes: &[&Node], id: EntityId) {
    eventually("identical heads everywhere", || {
        let first = heads(nodes[0], &id);
        first.is_some() && nodes.iter().all(|node| heads(node, &id) == first)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reach_the_postal_code_converge_and_late_nodes_catch_up() {
    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    let c = node("97400", "Chloé", &[&a]).await;
    // Saint-Pierre: another postal code, on the same network.
    let d = node("97410", "Dylan", &[&a, &b]).await;
    // Let subscriptions spread and meshes form.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // An edit on A reaches B and C, not D.
    let garage = add(&a, "Garage Payet").await;
    eventually("B and C receive the garage", || {
        has(&b, &garage) && has(&c, &garage)
    })
    .await;
    let in_saint_pierre = add(&d, "Boulangerie du Port").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!has(&d, &garage), "D does not follow 97400");
    for node in [&a, &b, &c] {
        assert!(!has(node, &in_saint_pierre));
    }

    // Concurrent edits on B and C converge everywhere.
    tokio::join!(
        edit(
            &b,
            garage,
            vec![Edit::Link {
                relation: crdt_model::document::Relation::Recommends,
                comment: Some("Très honnête".into()),
            }]
        ),
        edit(
            &c,
            garage,
            vec![Edit::Link {
                relation: crdt_model::document::Relation::Follows,
                comment: None,
            }]
        ),
    );
    converged(&[&a, &b, &c], garage).await;
    let entity = a.local.store.entity(&garage).unwrap().unwrap();
    assert_eq!(entity.links.len(), 2);

    // A node started after the edits catches up by sync.
    let e = node("97400", "Émile", &[&b]).await;
    converged(&[&a, &b, &c, &e], garage).await;

    // C is cut off while A and B edit; it catches up on reconnecting.
    stop(&c.task, "C's").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    edit(
        &a,
        garage,
        vec![Edit::Set(Field::Category, Value::Text("garage".into()))],
    )
    .await;
    let creche = add(&b, "Crèche Les Camélias").await;
    eventually("A and B share the crèche", || has(&a, &creche)).await;
    assert!(!has(&c, &creche));
    let (c_client, _c_task, _) = start_network(&c.local, &[&a]).await;
    converged(&[&a, &b, &c, &e], garage).await;
    converged(&[&a, &b, &c, &e], creche).await;
    let status = c_client.status().await.unwrap();
    assert_eq!(status.topics[0].postal_key, "97400");
    assert!(status.topics[0].peers >= 1);
    assert!(d.local.store.entity(&creche).unwrap().is_none());
}

/// Bruno recommends the garage; Anne and Bruno end with the same heads.
async fn honest_edit_converges(a: &Node, b: &Node, garage: EntityId) {
    edit(
        b,
        garage,
        vec![Edit::Link {
            relation: crdt_model::document::Relation::Recommends,
            comment: None,
        }],
    )
    .await;
    converged(&[a, b], garage).await;
}

/// Anne, Bruno dialling her, and Mallory dialling her too, all holding
/// Anne's garage.
async fn anne_bruno_and_mallory() -> (Node, Node, Node, EntityId) {
    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    let mallory = node("97400", "Mallory", &[&a]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let garage = add(&a, "Garage Payet").await;
    eventually("everyone has the garage", || {
        has(&b, &garage) && has(&mallory, &garage)
    })
    .await;
    (a, b, mallory, garage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_rejected_and_scored_down() {
    let (a, b, mallory, garage) = anne_bruno_and_mallory().await;

    // Garbage, a forged signature, and a change Mallory may not make.
    mallory
        .client
        .publish_raw("97400", b"not an envelope at all".to_vec())
        .await
        .unwrap();
    let doc = mallory.local.store.document(&garage).unwrap().unwrap();
    let (unauthorized, forged) = hostile_envelopes(&doc, garage, &mallory.local);
    mallory.client.publish_raw("97400", forged).await.unwrap();
    mallory
        .client
        .publish_raw("97400", unauthorized)
        .await
        .unwrap();

    let mallory_id = mallory.client.peer_id().to_string();
    let mut rejected;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = a.client.status().await.unwrap();
        rejected = status.rejected.clone();
        let score = status
            .peers
            .iter()
            .find(|peer| peer.peer_id == mallory_id)
            .and_then(|peer| peer.score);
        if rejected.values().sum::<u64>() >= 3 && score.is_some_and(|score| score < 0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "A did not reject and score down Mallory: {rejected:?}, score {score:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rejected.contains_key("Malformed"), "{rejected:?}");
    assert!(rejected.contains_key("BadSignature"), "{rejected:?}");
    assert!(rejected.contains_key("Unauthorized"), "{rejected:?}");
    let entity = a.local.store.entity(&garage).unwrap().unwrap();
    assert!(!entity.admins.contains(&mallory.local.identity.author()));
    assert!(a.local.store.counts().unwrap().quarantined >= 1);

    // The honest nodes keep converging.
    honest_edit_converges(&a, &b, garage).await;
    assert_eq!(
        a.local.store.entity(&garage).unwrap().unwrap().links.len(),
        1
    );
}

/// The floods found by trying a node as an attacker: made-up announcements
/// of large changes (which the node used to accept and forward at once,
/// each starting a pull) and garbage. Nothing of it travels on, the
/// flooding peer is disconnected and refused, and honest edits still
/// arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_disconnected_and_nothing_it_sent_travels() {
    let (a, b, mallory, garage) = anne_bruno_and_mallory().await;

    let mut random = Xorshift::new(7);
    for n in 0..300u32 {
        let mut announcement = net::ANNOUNCE_MAGIC.to_vec();
        announcement.extend((0..48).map(|_| random.below(256) as u8));
        mallory
            .client
            .publish_raw("97400", announcement)
            .await
            .unwrap();
        if n % 3 == 0 {
            let garbage = format!("not an envelope {n}").into_bytes();
            mallory.client.publish_raw("97400", garbage).await.unwrap();
        }
    }

    let mallory_id = mallory.client.peer_id().to_string();
    eventually_async("A disconnects and refuses Mallory", || async {
        let status = a.client.status().await.unwrap();
        status.connections_closed.banned >= 1
            && !status.peers.iter().any(|peer| peer.peer_id == mallory_id)
    })
    .await;
    let status = a.client.status().await.unwrap();
    assert!(
        status
            .rejected
            .get("FalseAnnouncement")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        status.rejected
    );
    // A forwarded none of it: B would have pulled and refused it.
    let at_b = b.client.status().await.unwrap().rejected;
    assert!(at_b.is_empty(), "B heard some of it: {at_b:?}");

    // Mallory stays out for a while, the honest nodes keep converging.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = a.client.status().await.unwrap();
    assert!(!status.peers.iter().any(|peer| peer.peer_id == mallory_id));
    honest_edit_converges(&a, &b, garage).await;
}

/// A valid but abusive author: Mallory creates entities far faster than
/// anyone edits by hand. Her node gossips them all; the others validate
/// her burst, then slow her to her budget (counted), while an honest
/// citizen's edit made meanwhile arrives at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_creating_entities_in_bulk_is_slowed_and_others_are_not() {
    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    let mallory = node("97400", "Mallory", &[&a]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let local = mallory.local.clone();
    let created = tokio::task::spawn_blocking(move || {
        (0..700)
            .map(|n| {
                local
                    .add(&NewEntity::new(
                        Kind::Organization,
                        format!("Publicité {n}"),
                        Vec::new(),
                    ))
                    .unwrap()
                    .id
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let garage = add(&b, "Garage Payet").await;
    eventually("A has the honest garage", || has(&a, &garage)).await;
    eventually_async("A slowed Mallory", || async {
        a.client.status().await.unwrap().slowed > 0
    })
    .await;
    let at_a = created.iter().filter(|id| has(&a, id)).count();
    assert!(
        at_a < created.len(),
        "A took all {at_a} of Mallory's entities by gossip at once"
    );
    let status = a.client.status().await.unwrap();
    assert!(
        status.rejected.is_empty(),
        "slowed, not refused: {:?}",
        status.rejected
    );
}

/// Text that compresses badly: varied characters of four UTF-8 bytes.
fn incompressible(seed: u32, chars: usize) -> String {
    let mut random = Xorshift::new(u64::from(seed).wrapping_mul(2_654_435_761));
    (0..chars)
        .map(|_| char::from_u32(0x1F300 + random.below(0x200) as u32).unwrap_or('x'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_too_large_for_gossip_is_announced_and_pulled() {
    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let theatre = add(&a, "Théâtre des Sables").await;
    eventually("B has the theatre", || has(&b, &theatre)).await;
    // One change rewriting the long description several times.
    let edits: Vec<Edit> = (0..4)
        .map(|n| Edit::Set(Field::Description, Value::Text(incompressible(n, 7_000))))
        .collect();
    edit(&a, theatre, edits).await;
    let largest = a
        .local
        .store
        .envelopes(&theatre)
        .unwrap()
        .iter()
        .map(Vec::len)
        .max()
        .unwrap();
    assert!(
        largest > net::GOSSIP_MAX_BYTES,
        "the test change is only {largest} bytes"
    );
    converged(&[&a, &b], theatre).await;
    assert_eq!(
        b.local
            .store
            .entity(&theatre)
            .unwrap()
            .unwrap()
            .text(Field::Description),
        Some(incompressible(3, 7_000).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_connect_over_quic_and_tcp_on_loopback() {
    let mut nodes = Vec::new();
    for (name, listen) in [
        ("Anne", "/ip4/127.0.0.1/udp/0/quic-v1"),
        ("Bruno", "/ip4/127.0.0.1/tcp/0"),
    ] {
        let (temp, local) = joined("97400", name);
        let mut config = NetConfig {
            listen: vec![
                listen.parse().unwrap(),
                "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            ],
            mdns: false,
            heartbeat: Duration::from_millis(100),
            ..NetConfig::default()
        };
        if let Some(first) = nodes.first() {
            let first: &Node = first;
            // Dial Anne over QUIC only.
            config.bootstrap = vec![first.address.clone()];
        }
        let (client, task) = start_with(&local, config).await;
        let status = client.status().await.unwrap();
        // Anne is reached at her QUIC address.
        let address: Multiaddr = status
            .listen
            .iter()
            .find(|address| address.contains("/quic-v1/"))
            .unwrap_or(&status.listen[0])
            .parse()
            .unwrap();
        nodes.push(Node {
            _temp: temp,
            local,
            client,
            task,
            address,
        });
    }
    assert!(nodes[0].address.to_string().contains("/quic-v1/"));
    let garage = add(&nodes[1], "Garage Payet").await;
    eventually("Anne gets Bruno's garage over QUIC", || {
        has(&nodes[0], &garage)
    })
    .await;
    let peers = nodes[1].client.status().await.unwrap().peers;
    assert_eq!(peers.len(), 1);
    assert!(
        peers[0]
            .addrs
            .iter()
            .any(|address| address.contains("/quic-v1")),
        "{:?}",
        peers[0].addrs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_met_are_dialled_again_at_the_next_start() {
    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    eventually("B remembers A", || {
        b.local
            .store
            .remembered_peers()
            .unwrap()
            .iter()
            .any(|(peer, _, _)| *peer == a.client.peer_id().to_string())
    })
    .await;
    stop(&b.task, "B's").await;
    let garage = add(&a, "Garage Payet").await;
    // No bootstrap this time: B finds A among the peers it remembers, and
    // catches up.
    let (b_client, _task, _) = start_network(&b.local, &[]).await;
    eventually("B gets the garage from the remembered A", || {
        has(&b, &garage)
    })
    .await;
    let peers = b_client.status().await.unwrap().peers;
    assert!(
        peers
            .iter()
            .any(|peer| peer.peer_id == a.client.peer_id().to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_peer_that_is_down_is_dialled_again_until_it_is_up() {
    let (_anne_home, anne) = joined("97400", "Anne");
    let anne_id = libp2p::identity::Keypair::ed25519_from_bytes(anne.identity.network_seed)
        .unwrap()
        .public()
        .to_peer_id();
    let address: Multiaddr = format!("/memory/7411974/p2p/{anne_id}").parse().unwrap();
    // Bruno starts first: Anne's node is not up, the first dial fails.
    let (_bruno_home, bruno) = joined("97400", "Bruno");
    let (_b_client, _b_task, _) = start_network_at(&bruno, vec![address]).await;
    let garage = add_as(&bruno, "Garage Payet").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Anne comes up at that address and dials nobody: Bruno dials again.
    let mut config = config();
    config.listen = vec!["/memory/7411974".parse().unwrap()];
    let (_client, _task) = start_with(&anne, config).await;
    eventually("Anne gets Bruno's garage once Bruno redials", || {
        anne.store.entity(&garage).unwrap().is_some()
    })
    .await;
}

/// A community relay on the memory transport, serving `serve`, with the
/// default limits.
async fn relay(serve: &[&str]) -> (tempfile::TempDir, node::relay::Relay, Multiaddr) {
    relay_with(serve, net::RelayLimits::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_keeps_the_directory_while_its_authors_are_away() {
    let (_relay_home, relay, relay_address) = relay(&["974"]).await;
    assert!(relay.postal_keys.contains(&"97400".to_owned()));
    let (_anne_home, anne) = joined("97400", "Anne");
    let (_a_client, a_task, _) = start_network_at(&anne, vec![relay_address.clone()]).await;
    let garage = add_as(&anne, "Garage Payet").await;
    eventually("the relay stores Anne's garage", || {
        relay.store.entity(&garage).unwrap().is_some()
    })
    .await;
    // Anne's laptop is closed; Bruno joins later, knowing only the relay.
    stop(&a_task, "Anne's").await;
    let (_bruno_home, bruno) = joined("97400", "Bruno");
    let (b_client, _b_task, _) = start_network_at(&bruno, vec![relay_address]).await;
    eventually("Bruno gets Anne's garage from the relay", || {
        bruno.store.entity(&garage).unwrap().is_some()
    })
    .await;
    let peers = b_client.status().await.unwrap().peers;
    assert_eq!(peers.len(), 1, "only the relay: {peers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_a_postal_code_meet_at_the_relay_rendezvous() {
    let (_relay_home, relay, relay_address) = relay(&["97400"]).await;
    let (_anne_home, anne) = joined("97400", "Anne");
    let (a_client, _a_task, _) = start_network_at(&anne, vec![relay_address.clone()]).await;
    let (_bruno_home, bruno) = joined("97400", "Bruno");
    let (b_client, _b_task, _) = start_network_at(&bruno, vec![relay_address]).await;
    let relay_id = relay.client.peer_id().to_string();
    let bruno_id = b_client.peer_id().to_string();
    let mut direct = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !direct {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Anne and Bruno did not meet through the rendezvous"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let peers = a_client.status().await.unwrap().peers;
        direct = peers
            .iter()
            .any(|peer| peer.peer_id == bruno_id && !peer.relayed);
        assert!(peers.iter().any(|peer| peer.peer_id == relay_id));
    }
    let garage = add_as(&anne, "Garage Payet").await;
    eventually("Bruno gets Anne's garage", || {
        bruno.store.entity(&garage).unwrap().is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_learns_a_relay_from_a_peer_and_dials_it_after_restart() {
    let temp = tempfile::tempdir().unwrap();
    let relay = node::relay::Relay::start(node::relay::RelayConfig {
        dir: DataDir::resolve(Some(temp.path().join("relay"))).unwrap(),
        serve: vec!["97400".into()],
        net: NetConfig {
            relay: Some(net::RelayLimits::default()),
            ..config()
        },
        addr_file: None,
        entry: Some(node::relay::RelayEntry {
            name: "Relais du Tampon".into(),
            announce: Vec::new(),
        }),
    })
    .await
    .unwrap();
    let relay_id = relay.client.peer_id();
    let relay_address: Multiaddr = relay.status().await.unwrap().listen[0].parse().unwrap();
    // Anne knows the relay; Bruno knows only Anne.
    let (_anne_home, anne) = joined("97400", "Anne");
    let (_a_client, a_task, anne_address) = start_network_at(&anne, vec![relay_address]).await;
    let (_bruno_home, bruno) = joined("97400", "Bruno");
    let (b_client, b_task, _) = start_network_at(&bruno, vec![anne_address]).await;
    eventually_async("Bruno learns the relay from its entry", || async {
        b_client.status().await.unwrap().relays_learnt == [relay_id.to_string()]
    })
    .await;
    let entries = bruno
        .store
        .list(&node::store::Filter {
            kind: Some(Kind::Relay),
            postal_key: Some("97400".into()),
            tag: None,
            hidden: false,
        })
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].name(), "Relais du Tampon");
    assert_eq!(
        net::relays::peer_of(&entries[0].creator),
        Some(relay_id),
        "the entry is signed by the relay's network key"
    );
    eventually_async("Bruno dials the relay", || async {
        let peers = b_client.status().await.unwrap().peers;
        peers
            .iter()
            .any(|peer| peer.peer_id == relay_id.to_string())
    })
    .await;
    // Anne goes away, Bruno restarts with no bootstrap: the relay it
    // remembers is dialled, and brings what Anne added meanwhile.
    stop(&b_task, "Bruno's").await;
    let garage = add_as(&anne, "Garage Payet").await;
    eventually("the relay stores Anne's garage", || {
        relay.store.entity(&garage).unwrap().is_some()
    })
    .await;
    stop(&a_task, "Anne's").await;
    let (b_client, _b_task, _) = start_network_at(&bruno, Vec::new()).await;
    eventually("Bruno gets the garage from the relay", || {
        bruno.store.entity(&garage).unwrap().is_some()
    })
    .await;
    let peers = b_client.status().await.unwrap().peers;
    assert!(
        peers
            .iter()
            .any(|peer| peer.peer_id == relay_id.to_string()),
        "{peers:?}"
    );
}

/// A bare gossipsub peer that dials only `address`: no identify, no
/// Kademlia, no rendezvous, so nobody else meets it.
async fn attacker(address: Multiaddr, topic: &str) -> libp2p::Swarm<libp2p::gossipsub::Behaviour> {
    use libp2p::Transport;
    use libp2p::futures::StreamExt;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            // The nodes' memory connections open with the link model's
            // greeting (instant links here).
            let links = node::net::links::Links::new(node::net::links::Link::default());
            libp2p::core::transport::MemoryTransport::default()
                .and_then(move |connection, _| node::net::links::connect(connection, 666, links))
                .upgrade(libp2p::core::upgrade::Version::V1)
                .authenticate(libp2p::noise::Config::new(key).unwrap())
                .multiplex(libp2p::yamux::Config::default())
        })
        .unwrap()
        .with_behaviour(|key| {
            libp2p::gossipsub::Behaviour::new(
                libp2p::gossipsub::MessageAuthenticity::Signed(key.clone()),
                libp2p::gossipsub::Config::default(),
            )
            .unwrap()
        })
        .unwrap()
        .with_swarm_config(|config| config.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm
        .behaviour_mut()
        .subscribe(&libp2p::gossipsub::IdentTopic::new(topic))
        .unwrap();
    swarm.dial(address).unwrap();
    // Run it until a peer follows the topic.
    let subscribed = |swarm: &libp2p::Swarm<libp2p::gossipsub::Behaviour>| {
        swarm
            .behaviour()
            .all_peers()
            .any(|(_, topics)| !topics.is_empty())
    };
    while !subscribed(&swarm) {
        tokio::select! {
            _ = swarm.select_next_some() => {}
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    swarm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_forged_and_unauthorized_changes_and_does_not_forward_them() {
    use libp2p::futures::StreamExt;
    let (_relay_home, relay, relay_address) = relay(&["974"]).await;
    let (_anne_home, anne) = joined("97400", "Anne");
    let (a_client, _a_task, _) = start_network_at(&anne, vec![relay_address.clone()]).await;
    let (_mallory_home, mallory) = joined("97400", "Mallory");
    let garage = add_as(&anne, "Garage Payet").await;
    eventually("the relay stores the garage", || {
        relay.store.entity(&garage).unwrap().is_some()
    })
    .await;

    // Mallory writes an admin grant for herself on Anne's garage, forges a
    // signature, and sends garbage, connected to the relay alone.
    let doc = anne.store.document(&garage).unwrap().unwrap();
    let (unauthorized, forged) = hostile_envelopes(&doc, garage, &mallory);
    let topic = net::topic("97400");
    let mut swarm = attacker(relay_address, &topic.to_string()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for data in [b"garbage".to_vec(), forged, unauthorized] {
        swarm.behaviour_mut().publish(topic.clone(), data).unwrap();
    }
    let mut relay_rejected;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::select! {
            _ = swarm.select_next_some() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        relay_rejected = relay.status().await.unwrap().rejected;
        if relay_rejected.values().sum::<u64>() >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not refuse Mallory's messages: {relay_rejected:?}"
        );
    }
    for fault in ["Malformed", "BadSignature", "Unauthorized"] {
        assert!(relay_rejected.contains_key(fault), "{relay_rejected:?}");
    }
    let mallory_key = mallory.identity.author();
    assert!(
        !relay
            .store
            .entity(&garage)
            .unwrap()
            .unwrap()
            .admins
            .contains(&mallory_key)
    );
    assert!(relay.store.counts().unwrap().quarantined >= 1);
    let attacker_id = swarm.local_peer_id().to_string();
    let score = relay
        .status()
        .await
        .unwrap()
        .peers
        .iter()
        .find(|peer| peer.peer_id == attacker_id)
        .and_then(|peer| peer.score);
    assert!(score.is_some_and(|score| score < 0.0), "{score:?}");
    // Nothing reached Anne, who is connected to the relay only.
    let settle = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < settle {
        tokio::select! {
            _ = swarm.select_next_some() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    let anne_status = a_client.status().await.unwrap();
    assert!(
        anne_status.rejected.is_empty(),
        "{:?}",
        anne_status.rejected
    );
    assert!(
        anne_status
            .peers
            .iter()
            .all(|peer| peer.peer_id != attacker_id)
    );
    assert!(
        !anne
            .store
            .entity(&garage)
            .unwrap()
            .unwrap()
            .admins
            .contains(&mallory_key)
    );
}

/// A relay on the memory transport, serving `serve`, with `limits`.
async fn relay_with(
    serve: &[&str],
    limits: net::RelayLimits,
) -> (tempfile::TempDir, node::relay::Relay, Multiaddr) {
    let temp = tempfile::tempdir().unwrap();
    let relay = node::relay::Relay::start(node::relay::RelayConfig {
        dir: DataDir::resolve(Some(temp.path().join("relay"))).unwrap(),
        serve: serve.iter().map(|s| (*s).to_owned()).collect(),
        net: NetConfig {
            relay: Some(limits),
            ..config()
        },
        addr_file: None,
        entry: None,
    })
    .await
    .unwrap();
    let address = relay.status().await.unwrap().listen[0].parse().unwrap();
    (temp, relay, address)
}

/// A node with no address of its own, as behind a home router: it dials
/// the relay and others reach it only through a circuit of the relay.
async fn behind_nat(postal_code: &str, name: &str, relay: &Multiaddr) -> Node {
    let (temp, local) = joined(postal_code, name);
    let (client, task) = start_with(
        &local,
        NetConfig {
            listen: Vec::new(),
            bootstrap: vec![relay.clone()],
            ..config()
        },
    )
    .await;
    Node {
        _temp: temp,
        local,
        client,
        task,
        address: relay.clone(),
    }
}

/// Waits until `node` is connected to `other` through a relay circuit
/// only.
async fn relayed_to(node: &Node, other: &Node) {
    let other = other.client.peer_id().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let peers = node.client.status().await.unwrap().peers;
        if let Some(peer) = peers.iter().find(|peer| peer.peer_id == other) {
            assert!(peer.relayed, "a direct connection: {peer:?}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never connected through the relay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn relay_status(relay: &node::relay::Relay) -> net::RelayStatus {
    relay.status().await.unwrap().relay.expect("relay status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_carrying_more_than_the_byte_limit_is_cut_and_others_keep_working() {
    // The relay serves neither 97400 nor 97420: what crosses it between
    // nodes of those postal codes goes through circuits.
    let (_relay_home, relay, relay_address) = relay_with(
        &["97480"],
        net::RelayLimits {
            max_circuit_bytes: 64 * 1024,
            ..net::RelayLimits::default()
        },
    )
    .await;
    let anne = behind_nat("97400", "Anne", &relay_address).await;
    let theatre = add(&anne, "Théâtre des Sables").await;
    let edits: Vec<Edit> = (0..8)
        .map(|n| Edit::Set(Field::Description, Value::Text(incompressible(n, 7_000))))
        .collect();
    edit(&anne, theatre, edits).await;
    // Bruno's catch-up sync pulls about 220 KB through the circuit.
    let bruno = behind_nat("97400", "Bruno", &relay_address).await;
    eventually_async("a circuit cut at the byte limit", || async {
        relay_status(&relay).await.cut_bytes > 0
    })
    .await;
    assert!(!has(&bruno, &theatre), "the theatre crossed the byte limit");
    // Two other citizens still meet and gossip through the same relay.
    let chloe = behind_nat("97420", "Chloé", &relay_address).await;
    let david = behind_nat("97420", "David", &relay_address).await;
    relayed_to(&david, &chloe).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let bakery = add(&chloe, "Boulangerie du Port").await;
    eventually("David gets Chloé's bakery through the relay", || {
        has(&david, &bakery)
    })
    .await;
    let status = relay_status(&relay).await;
    assert!(status.circuits_opened >= 2, "{status:?}");
    assert!(status.reservations >= 4, "{status:?}");
    assert!(!has(&bruno, &theatre), "the theatre crossed the byte limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_is_cut_at_its_duration_limit_and_dialled_again() {
    let (_relay_home, relay, relay_address) = relay_with(
        &["97480"],
        net::RelayLimits {
            max_circuit_duration: Duration::from_secs(1),
            ..net::RelayLimits::default()
        },
    )
    .await;
    let chloe = behind_nat("97420", "Chloé", &relay_address).await;
    let david = behind_nat("97420", "David", &relay_address).await;
    relayed_to(&david, &chloe).await;
    eventually_async("a circuit cut at its duration limit", || async {
        relay_status(&relay).await.cut_duration > 0
    })
    .await;
    // The nodes meet again through a new circuit, and gossip still flows.
    let bakery = add(&chloe, "Boulangerie du Port").await;
    eventually("David gets Chloé's bakery", || has(&david, &bakery)).await;
    let status = relay_status(&relay).await;
    assert!(status.circuits_opened >= 2, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_its_target_of_peers_closing_first_those_of_other_postal_codes() {
    let (temp, local) = joined("97400", "Anne");
    let mut config = config();
    config.peer_target = 3;
    config.peer_grace = Duration::from_millis(500);
    let (hub_client, hub_task) = start_with(&local, config).await;
    let hub_address: Multiaddr = hub_client.status().await.unwrap().listen[0]
        .parse()
        .unwrap();
    let hub = Node {
        _temp: temp,
        local,
        client: hub_client,
        task: hub_task,
        address: hub_address,
    };
    // Two neighbours of the same postal code, five nodes of another one.
    let mut others = Vec::new();
    for n in 0..2 {
        others.push(node("97400", &format!("Voisin {n}"), &[&hub]).await);
    }
    for n in 0..5 {
        others.push(node("97410", &format!("Saint-Pierrois {n}"), &[&hub]).await);
    }
    eventually_async("the hub met all seven", || async {
        hub.client.status().await.unwrap().peers.len() == 7
    })
    .await;
    // Trimming runs every 5 s: the hub comes down to its target, keeping
    // its neighbours. (The others dial it again, as their only bootstrap
    // peer, and are closed again.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let trimmed = loop {
        let status = hub.client.status().await.unwrap();
        if status.peers.len() == 3 {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub still has {} peers",
            status.peers.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let neighbours = trimmed
        .peers
        .iter()
        .filter(|peer| peer.postal_keys.contains(&"97400".to_owned()))
        .count();
    assert_eq!(neighbours, 2, "{:?}", trimmed.peers);
    drop(others);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_a_sync_brought_are_passed_on_by_gossip() {
    // Bruno and Chloé meet and sync first; Anne, who wrote while her
    // network was off, then meets Bruno only.
    let bruno = node("97400", "Bruno", &[]).await;
    let chloe = node("97400", "Chloé", &[&bruno]).await;
    eventually("Chloé holds Bruno's profile", || {
        has(&chloe, &bruno.local.profile.person)
    })
    .await;
    let (temp, anne) = joined("97400", "Anne");
    let written = add_as(&anne, "Jardin partagé").await;
    let (client, task, address) = start_network(&anne, &[&bruno]).await;
    let anne = Node {
        _temp: temp,
        local: anne,
        client,
        task,
        address,
    };
    // Bruno pulls Anne's two documents by catch-up sync and publishes them:
    // Chloé, who never meets Anne and syncs only every hour, gets them by
    // gossip.
    eventually("Chloé holds what Anne wrote offline", || {
        has(&chloe, &written) && has(&chloe, &anne.local.profile.person)
    })
    .await;
    let chloe_status = chloe.client.status().await.unwrap();
    let anne_id = anne.client.peer_id().to_string();
    assert!(
        chloe_status
            .peers
            .iter()
            .all(|peer| peer.peer_id != anne_id),
        "Chloé never met Anne"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_coming_back_pulls_each_missed_change_once() {
    // Bruno, Chloé and Denis share twenty documents Anne has not seen; she
    // then meets the three of them at once.
    let bruno = node("97400", "Bruno", &[]).await;
    let chloe = node("97400", "Chloé", &[&bruno]).await;
    let denis = node("97400", "Denis", &[&bruno, &chloe]).await;
    let mut written = Vec::new();
    for n in 0..20 {
        written.push(add(&bruno, &format!("Association {n}")).await);
    }
    for id in &written {
        converged(&[&bruno, &chloe, &denis], *id).await;
    }
    let anne = node("97400", "Anne", &[&bruno, &chloe, &denis]).await;
    eventually("Anne holds the twenty documents", || {
        written.iter().all(|id| has(&anne, id))
    })
    .await;
    let peers = [&bruno, &chloe, &denis].map(|node| node.client.peer_id().to_string());
    // Each of the three peers' sessions ended (those that waited their
    // turn found nothing left to pull).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reports = loop {
        let status = anne.client.status().await.unwrap();
        let reports: Vec<_> = status
            .peers
            .iter()
            .filter(|peer| peers.contains(&peer.peer_id))
            .flat_map(|peer| peer.syncs.iter().filter_map(|sync| sync.report.clone()))
            .collect();
        if reports.len() == 3 {
            break reports;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out: Anne syncs with the three of them ({} so far)",
            reports.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let received: usize = reports.iter().map(|report| report.received).sum();
    let applied: usize = reports.iter().map(|report| report.applied).sum();
    assert!(
        applied >= 23,
        "three profiles and twenty documents: {applied}"
    );
    let per_session: Vec<(usize, usize)> = reports
        .iter()
        .map(|report| (report.received, report.applied))
        .collect();
    assert_eq!(
        received, applied,
        "every change pulled once, not once per peer (received, applied): {per_session:?}"
    );
}

/// A change written by `local`'s citizen on `doc` with any operations
/// under the proposal `proposal` (bypassing their own node's checks, as a
/// hostile or broken peer would), signed by them.
fn raw_decision(
    doc: &Automerge,
    room: EntityId,
    local: &Local,
    proposal: &str,
    write: impl FnOnce(
        &mut crdt_model::automerge::transaction::Transaction<'_>,
        &crdt_model::automerge::ObjId,
    ),
) -> Vec<u8> {
    let mut fork = doc.fork();
    fork.set_actor(local.identity.actor(local.profile.device).actor_id());
    let proposals = fork.get(ROOT, "proposals").unwrap().unwrap().1;
    let obj = fork.get(&proposals, proposal).unwrap().unwrap().1;
    let mut tx = fork.transaction();
    write(&mut tx, &obj);
    tx.commit();
    let change = fork.get_last_local_change().unwrap().clone();
    SignedChange::sign(
        &local.identity.signing_key,
        room,
        "97400",
        change.raw_bytes(),
    )
    .unwrap()
    .encode()
}

/// The map at `path` under the proposal `obj`.
fn map_in(
    tx: &crdt_model::automerge::transaction::Transaction<'_>,
    obj: &crdt_model::automerge::ObjId,
    path: &[&str],
) -> crdt_model::automerge::ObjId {
    let mut map = obj.clone();
    for name in path {
        map = tx.get(&map, *name).unwrap().unwrap().1;
    }
    map
}

/// The Unauthorized changes a node has counted from its peers.
async fn unauthorized(node: &Node) -> u64 {
    let status = node.client.status().await.unwrap();
    status.rejected.get("Unauthorized").copied().unwrap_or(0)
}

/// A room of confirmed members on three nodes: a second vote, a vote by
/// someone who does not take part, closings before the end (in one's own
/// slot and in the admin's), and a vote after the closing, each validly
/// signed and sent by its author's node, are refused by every node; they
/// all count the same votes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_decisions_are_refused_on_every_node() {
    use crdt_model::decide::{Decision, NewProposal, Outcome, Stage};

    // Mallory dials both, so that each receives her changes first hand
    // (a node forwards nothing it refused).
    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    let mallory = node("97400", "Mallory", &[&a, &b]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let bruno = b.local.identity.author();
    let decide = |node: &Node, room: Option<EntityId>, decision: Decision| {
        let local = node.local.clone();
        tokio::task::spawn_blocking(move || local.decide(room, &decision).unwrap())
    };
    let local = a.local.clone();
    let room = tokio::task::spawn_blocking(move || {
        local
            .add(&NewEntity::new(Kind::Room, "Assemblée", Vec::new()))
            .unwrap()
            .id
    })
    .await
    .unwrap();
    eventually("everyone has the room", || {
        has(&b, &room) && has(&mallory, &room)
    })
    .await;
    edit(
        &b,
        room,
        vec![Edit::Link {
            relation: crdt_model::document::Relation::Member,
            comment: None,
        }],
    )
    .await;
    converged(&[&a, &b, &mallory], room).await;
    edit(&a, room, vec![Edit::ConfirmMember(bruno)]).await;
    let made = decide(
        &a,
        Some(room),
        Decision::Propose {
            nonce: [0; 8],
            proposal: NewProposal {
                title: "Bancs au parc".into(),
                text: "Installer deux bancs.".into(),
                vote_until: Some(node::local::now_ms() + 86_400_000),
                ..NewProposal::default()
            },
        },
    )
    .await
    .unwrap();
    let proposal = made.made.unwrap();
    converged(&[&a, &b, &mallory], room).await;
    let vote = |choice: &str| Decision::Vote {
        proposal: proposal.clone(),
        choice: choice.into(),
    };
    decide(&b, None, vote("yes")).await.unwrap();
    converged(&[&a, &b, &mallory], room).await;
    let before = [unauthorized(&a).await, unauthorized(&b).await];

    // Bruno's node sends a second vote of his; Mallory, who is no confirmed
    // member, votes and closes, in her slot and in Anne's.
    let doc = b.local.store.document(&room).unwrap().unwrap();
    let again = raw_decision(&doc, room, &b.local, &proposal, |tx, obj| {
        let votes = map_in(tx, obj, &["votes"]);
        tx.put(&votes, bruno.to_string(), "no").unwrap();
    });
    b.client.publish_raw("97400", again).await.unwrap();
    let doc = mallory.local.store.document(&room).unwrap().unwrap();
    let mallory_key = mallory.local.identity.author().to_string();
    let anne_key = a.local.identity.author().to_string();
    let hostile = [
        raw_decision(&doc, room, &mallory.local, &proposal, |tx, obj| {
            let votes = map_in(tx, obj, &["votes"]);
            tx.put(&votes, mallory_key.as_str(), "no").unwrap();
        }),
        raw_decision(&doc, room, &mallory.local, &proposal, |tx, obj| {
            let closers = map_in(tx, obj, &["closings", "vote"]);
            tx.put(
                &closers,
                mallory_key.as_str(),
                crdt_model::automerge::ScalarValue::Timestamp(0),
            )
            .unwrap();
        }),
        raw_decision(&doc, room, &mallory.local, &proposal, |tx, obj| {
            let closers = map_in(tx, obj, &["closings", "vote"]);
            tx.put(
                &closers,
                anne_key.as_str(),
                crdt_model::automerge::ScalarValue::Timestamp(0),
            )
            .unwrap();
        }),
    ];
    for envelope in hostile {
        mallory.client.publish_raw("97400", envelope).await.unwrap();
    }
    eventually_async("Anne's node refuses the four", || async {
        unauthorized(&a).await >= before[0] + 4
    })
    .await;
    eventually_async("Bruno's node refuses Mallory's three", || async {
        unauthorized(&b).await >= before[1] + 3
    })
    .await;

    // Anne closes; a vote sent after the closing is refused too.
    decide(
        &a,
        None,
        Decision::Close {
            proposal: proposal.clone(),
            stage: Stage::Vote,
        },
    )
    .await
    .unwrap();
    converged(&[&a, &b, &mallory], room).await;
    let doc = b.local.store.document(&room).unwrap().unwrap();
    let late = raw_decision(&doc, room, &a.local, &proposal, |tx, obj| {
        let votes = map_in(tx, obj, &["votes"]);
        tx.put(&votes, anne_key.as_str(), "no").unwrap();
    });
    let before_late = unauthorized(&b).await;
    a.client.publish_raw("97400", late).await.unwrap();
    eventually_async("Bruno's node refuses the late vote", || async {
        unauthorized(&b).await > before_late
    })
    .await;

    // The same tally everywhere: Bruno's one vote.
    let tallies: Vec<_> = [&a, &b, &mallory]
        .iter()
        .map(|node| node.local.tally(&proposal, true).unwrap())
        .collect();
    for report in &tallies {
        assert_eq!(report.tally, tallies[0].tally);
        assert_eq!(report.verified.as_ref().map(|v| v.same), Some(true));
    }
    let counted = &tallies[0].tally.counted;
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(
        (counted[0].voter, counted[0].choice.as_str()),
        (bruno, "yes")
    );
    assert_eq!(tallies[0].tally.outcome, Outcome::Adopted);
    assert_eq!(
        tallies[0].tally.closing.as_ref().map(|closing| closing.by),
        Some(a.local.identity.author())
    );
}

/// Bruno blocks Mallory: her new entity is neither stored by his node nor
/// forwarded to Anne, whose only peer is Bruno; Anne's entity still
/// reaches him, and Mallory's changes come again once he unblocks her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_authors_changes_are_neither_stored_nor_forwarded() {
    let b = node("97400", "Bruno", &[]).await;
    let a = node("97400", "Anne", &[&b]).await;
    let mallory = node("97400", "Mallory", &[&b]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mallory_key = mallory.local.identity.author();
    let before = add(&mallory, "Annonce d'avant").await;
    eventually("her entity from before reaches Bruno", || has(&b, &before)).await;
    let blocked = b.local.block(&mallory_key, true).unwrap();
    assert_eq!(blocked, [mallory_key.to_string()]);
    // What she wrote before stays stored, left out of Bruno's lists.
    let list = |filter: &node::store::Filter| {
        let mut out = Vec::new();
        b.local.write_list_json(filter, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(!list(&Default::default()).contains(&before.to_string()));
    let with_hidden = node::store::Filter {
        hidden: true,
        ..Default::default()
    };
    assert!(list(&with_hidden).contains(&before.to_string()));
    assert!(b.local.entity(before).is_ok(), "shown on request");
    assert!(matches!(
        b.local.block(&b.local.identity.author(), true),
        Err(node::local::LocalError::BlockSelf)
    ));

    let spam = add(&mallory, "Publicité").await;
    let honest = add(&a, "Boulangerie").await;
    eventually("Anne's entity reaches Bruno", || has(&b, &honest)).await;
    eventually_async("Bruno's node refuses Mallory's", || async {
        let status = b.client.status().await.unwrap();
        status.rejected.get("Blocked").copied().unwrap_or(0) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!has(&b, &spam), "a blocked author's entity is not stored");
    let anne_peers = a.client.status().await.unwrap().peers;
    let mallory_peer = mallory.client.peer_id().to_string();
    if !anne_peers.iter().any(|peer| peer.peer_id == mallory_peer) {
        assert!(!has(&a, &spam), "nor forwarded by the blocker");
    }
    // Not held against the peer who sent it.
    let score = b
        .client
        .status()
        .await
        .unwrap()
        .peers
        .iter()
        .find(|peer| peer.peer_id == mallory_peer)
        .and_then(|peer| peer.score);
    assert!(score.is_none_or(|score| score >= 0.0), "{score:?}");

    // Unblocked: her next change comes through.
    assert!(b.local.block(&mallory_key, false).unwrap().is_empty());
    assert!(list(&Default::default()).contains(&before.to_string()));
    let later = add(&mallory, "Vide-grenier").await;
    eventually("Mallory's later entity reaches Bruno", || has(&b, &later)).await;
}

/// Three reports open a moderation vote; adopted, the entity is hidden on
/// every node (still shown on request) and a later decision restores it;
/// refused, its reports are cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_reports_open_a_moderation_vote_whose_outcome_every_node_applies() {
    use crdt_model::decide::moderation::{Asks, Effect};
    use crdt_model::decide::{Decision, Stage};

    let a = node("97400", "Anne", &[]).await;
    let b = node("97400", "Bruno", &[&a]).await;
    let c = node("97400", "Chloé", &[&a, &b]).await;
    let all = [&a, &b, &c];
    tokio::time::sleep(Duration::from_millis(800)).await;
    let local = a.local.clone();
    let room = tokio::task::spawn_blocking(move || {
        local
            .add(&NewEntity::new(
                Kind::Room,
                "Modération",
                vec![Edit::Set(Field::Moderation, Value::Bool(true))],
            ))
            .unwrap()
            .id
    })
    .await
    .unwrap();
    eventually("everyone has the room", || has(&b, &room) && has(&c, &room)).await;
    for member in [&b, &c] {
        let link = Edit::Link {
            relation: crdt_model::document::Relation::Member,
            comment: None,
        };
        edit(member, room, vec![link]).await;
        converged(&all, room).await;
        edit(
            &a,
            room,
            vec![Edit::ConfirmMember(member.local.identity.author())],
        )
        .await;
    }
    converged(&all, room).await;
    let call = |node: &Node, work: Box<dyn FnOnce(&Local) + Send>| {
        let local = node.local.clone();
        async move {
            tokio::task::spawn_blocking(move || work(&local))
                .await
                .unwrap()
        }
    };
    let listed = |node: &Node, id: EntityId| {
        let mut out = Vec::new();
        node.local
            .write_list_json(&node::store::Filter::default(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap().contains(&id.to_string())
    };

    // Reports one by one, each seen by all before the next: the third
    // reporter's node opens the vote.
    let report_all = async |item: EntityId| -> String {
        let mut opened = None;
        for (n, node) in all.iter().enumerate() {
            let (tx, rx) = std::sync::mpsc::channel();
            call(
                node,
                Box::new(move |local| {
                    let report = local
                        .report_entity(item, Some(format!("insultes, {n}")))
                        .unwrap();
                    tx.send(report).unwrap();
                }),
            )
            .await;
            let report = rx.recv().unwrap();
            assert_eq!(report.state.counted.len(), n + 1);
            assert_eq!(report.opened.is_some(), n == 2, "{report:?}");
            opened = report.opened;
            converged(&all, item).await;
        }
        converged(&all, room).await;
        opened.unwrap()
    };
    let vote_and_close = async |proposal: String, choices: [&'static str; 3]| {
        for (node, choice) in all.iter().zip(choices) {
            let decision = Decision::Vote {
                proposal: proposal.clone(),
                choice: choice.into(),
            };
            call(
                node,
                Box::new(move |local| {
                    local.decide(None, &decision).unwrap();
                }),
            )
            .await;
        }
        converged(&all, room).await;
        let close = Decision::Close {
            proposal,
            stage: Stage::Vote,
        };
        call(
            &a,
            Box::new(move |local| {
                local.decide(None, &close).unwrap();
            }),
        )
        .await;
        converged(&all, room).await;
    };

    // Adopted by all three: hidden everywhere, kept and shown on request.
    let abusive = add(&b, "Garage des insultes").await;
    eventually("everyone has it", || all.iter().all(|n| has(n, &abusive))).await;
    let proposal = report_all(abusive).await;
    vote_and_close(proposal.clone(), ["yes", "yes", "yes"]).await;
    for node in all {
        let state = node.local.moderation(abusive).unwrap().state;
        assert!(state.hidden && !state.flagged, "{state:?}");
        assert_eq!(state.steps[0].effect, Effect::Hidden);
        assert!(node.local.hidden().unwrap().contains(&abusive));
        assert!(!listed(node, abusive), "left out of the list");
        assert!(node.local.entity(abusive).is_ok(), "shown on request");
        let with_hidden = node::store::Filter {
            hidden: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        node.local.write_list_json(&with_hidden, &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(&abusive.to_string())
        );
    }

    // Restored by a later decision: shown again on every node.
    let (tx, rx) = std::sync::mpsc::channel();
    call(
        &b,
        Box::new(move |local| {
            tx.send(local.moderate(abusive, Asks::Restore).unwrap())
                .unwrap();
        }),
    )
    .await;
    let restore = rx.recv().unwrap().opened.unwrap();
    converged(&all, room).await;
    vote_and_close(restore, ["yes", "yes", "yes"]).await;
    for node in all {
        let state = node.local.moderation(abusive).unwrap().state;
        assert!(!state.hidden && state.counted.is_empty(), "{state:?}");
        assert!(listed(node, abusive));
    }

    // Refused (one yes of three): kept, its reports cleared everywhere.
    let bakery = add(&c, "Boulangerie").await;
    eventually("everyone has it", || all.iter().all(|n| has(n, &bakery))).await;
    let proposal = report_all(bakery).await;
    vote_and_close(proposal, ["yes", "no", "no"]).await;
    for node in all {
        let state = node.local.moderation(bakery).unwrap().state;
        assert!(!state.hidden && !state.flagged, "{state:?}");
        assert_eq!((state.counted.len(), state.cleared.len()), (0, 3));
        assert_eq!(state.steps[0].effect, Effect::Kept);
        assert!(listed(node, bakery));
    }
}
