//! The P4Runtime server over 127.0.0.1: a real node (the core) polled by a
//! thread as a node's poll loop would, served by the real server, driven by
//! the client and by raw gRPC where the exact status matters. Every test is
//! bounded in time.

mod support;

use netcraq_core::control::{CounterId, RegisterId};
use netcraq_core::CONTROLLER_PORT;
use netcraq_core::{FabricPort, Mode, NodeConfig, Outcome, Role, Route, DEFAULT_KEY_CAPACITY};
use netcraq_p4runtime::entities::{decode_bits, encode_bits};
use netcraq_p4runtime::proto::p4::v1 as p4;
use netcraq_p4runtime::proto::p4::v1::entity::Entity;
use netcraq_p4runtime::proto::p4::v1::update::Type::{Delete, Insert, Modify};
use netcraq_p4runtime_client::{entity, update};
use netcraq_p4runtime_client::{ClientError, P4RuntimeClient, Standing};
use netcraq_wire::{Ipv4Addr, MacAddr};
use netcraq_wire::{NetcraqFrame, Op};
use std::time::Duration;
use support::{bounded, controller_frame, read_frame, renew_frame, route, solo_config, Fixture};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

fn table(entry: p4::TableEntry) -> Entity {
    Entity::TableEntry(entry)
}

/// The failures of a Write refused as a whole or in part: `(index, code)`.
fn failures(error: ClientError) -> Vec<(usize, Code)> {
    match error {
        ClientError::Write { failures, .. } => failures.into_iter().map(|(i, code, _)| (i, code)).collect(),
        other => panic!("expected per-update failures, got {other}"),
    }
}

/// Writes one update and returns the code it failed with.
async fn refused(client: &mut P4RuntimeClient, update: p4::Update) -> Code {
    let error = client.write(vec![update]).await.expect_err("the update is refused");
    let found = failures(error);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].1
}

async fn read_code(client: &mut P4RuntimeClient, entities: Vec<p4::Entity>) -> Code {
    client.read(entities).await.expect_err("the read is refused").code()
}

async fn read_routes(fixture: &Fixture, client: &mut P4RuntimeClient) -> Vec<Route> {
    let query = p4::TableEntry { table_id: fixture.ids.ipv4_route, ..Default::default() };
    let found = client.read(vec![entity(table(query))]).await.expect("read routes");
    found
        .iter()
        .map(|e| match &e.entity {
            Some(Entity::TableEntry(entry)) => {
                fixture.ids.parse_route_entry(&fixture.index, entry).expect("valid entry")
            }
            other => panic!("not a table entry: {other:?}"),
        })
        .collect()
}

async fn read_fabric_ports(fixture: &Fixture, client: &mut P4RuntimeClient) -> Vec<FabricPort> {
    let query = p4::TableEntry { table_id: fixture.ids.fabric_port, ..Default::default() };
    let found = client.read(vec![entity(table(query))]).await.expect("read fabric ports");
    let entries = found.iter().filter_map(|e| match &e.entity {
        Some(Entity::TableEntry(entry)) => Some(fixture.ids.parse_fabric_port_entry(&fixture.index, entry)),
        _ => None,
    });
    entries.collect::<Result<Vec<_>, _>>().expect("fabric port entries")
}

async fn read_config(fixture: &Fixture, client: &mut P4RuntimeClient) -> Option<NodeConfig> {
    let query = p4::TableEntry { table_id: fixture.ids.node_config, is_default_action: true, ..Default::default() };
    let found = client.read(vec![entity(table(query))]).await.expect("read node_config");
    match found.as_slice() {
        [p4::Entity { entity: Some(Entity::TableEntry(entry)) }] => {
            assert!(entry.is_default_action);
            fixture.ids.parse_config_entry(&fixture.index, entry).expect("valid entry")
        }
        other => panic!("expected the default entry, got {other:?}"),
    }
}

fn arbitration(election_id: u128, device_id: u64) -> p4::StreamMessageRequest {
    p4::StreamMessageRequest {
        update: Some(p4::stream_message_request::Update::Arbitration(p4::MasterArbitrationUpdate {
            device_id,
            role: None,
            election_id: Some(p4::Uint128 { high: (election_id >> 64) as u64, low: election_id as u64 }),
            status: None,
        })),
    }
}

/// A raw StreamChannel: its sender (kept to hold the stream open) and its answers.
struct RawStream {
    _requests: tokio::sync::mpsc::Sender<p4::StreamMessageRequest>,
    answers: tonic::Streaming<p4::StreamMessageResponse>,
}

impl RawStream {
    async fn open(fixture: &Fixture, election_id: u128, device_id: u64) -> RawStream {
        let (requests, outbound) = tokio::sync::mpsc::channel(4);
        requests.send(arbitration(election_id, device_id)).await.unwrap();
        let answers = fixture.raw().await.stream_channel(ReceiverStream::new(outbound)).await.unwrap().into_inner();
        RawStream { _requests: requests, answers }
    }

    /// Sends one message on the stream.
    async fn send(&self, message: p4::StreamMessageRequest) {
        self._requests.send(message).await.expect("the stream is open");
    }

    /// The next arbitration status code and the election id it names, or the stream's error code.
    async fn next(&mut self) -> Result<(Code, Option<u128>), Code> {
        match self.answers.message().await {
            Ok(Some(p4::StreamMessageResponse {
                update: Some(p4::stream_message_response::Update::Arbitration(a)),
            })) => {
                let id = a.election_id.map(|v| (u128::from(v.high) << 64) | u128::from(v.low));
                Ok((Code::from(a.status.expect("status").code), id))
            }
            Ok(other) => panic!("unexpected stream message {other:?}"),
            Err(status) => Err(status.code()),
        }
    }
}

#[test]
fn arbitration_makes_the_highest_election_id_primary_and_only_the_primary_writes() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let config_update = || update(Modify, table(ids.config_entry(Some(&solo_config()))));

        let mut first = RawStream::open(&fixture, 10, 1).await;
        assert_eq!(first.next().await, Ok((Code::Ok, Some(10))), "the first controller is primary");
        let mut second = RawStream::open(&fixture, 20, 1).await;
        assert_eq!(second.next().await, Ok((Code::Ok, Some(20))), "a higher id takes over");
        assert_eq!(first.next().await, Ok((Code::AlreadyExists, Some(20))), "the old primary learns it is a backup");
        let mut low = RawStream::open(&fixture, 5, 1).await;
        assert_eq!(low.next().await, Ok((Code::AlreadyExists, Some(20))), "a lower id is a backup");

        // Writes carry the election id: only the primary's is accepted.
        let mut client = fixture.client().await;
        let write = |election_id: u128| p4::WriteRequest {
            device_id: 1,
            election_id: Some(p4::Uint128 { high: 0, low: election_id as u64 }),
            updates: vec![config_update()],
            ..Default::default()
        };
        let mut raw = fixture.raw().await;
        assert_eq!(raw.write(write(10)).await.unwrap_err().code(), Code::PermissionDenied);
        raw.write(write(20)).await.expect("the primary writes");
        let wrong_device = p4::WriteRequest { device_id: 7, ..write(20) };
        assert_eq!(raw.write(wrong_device).await.unwrap_err().code(), Code::NotFound);
        assert_eq!(read_config(&fixture, &mut client).await, Some(solo_config()), "backups may read");

        // An id in use by another live controller is refused, ending the stream.
        let mut twin = RawStream::open(&fixture, 10, 1).await;
        assert_eq!(twin.next().await, Err(Code::InvalidArgument));
        let mut other_device = RawStream::open(&fixture, 30, 9).await;
        assert_eq!(other_device.next().await, Err(Code::NotFound));

        // The primary goes away: no primary (NOT_FOUND) until someone claims an id >= 20.
        drop(second);
        assert_eq!(first.next().await, Ok((Code::NotFound, Some(20))));
        assert_eq!(low.next().await, Ok((Code::NotFound, Some(20))));
        assert_eq!(raw.write(write(20)).await.unwrap_err().code(), Code::PermissionDenied, "its id is dead");
        let mut third = fixture.client().await;
        let lower = third.become_primary(15).await.expect_err("15 < 20, the highest seen");
        assert!(matches!(lower, ClientError::NotPrimary { highest: Some(20), .. }), "{lower}");
        assert!(lower.to_string().contains("higher election id"), "says what to do: {lower}");
        let mut fourth = fixture.primary(21).await;
        assert_eq!(fourth.standing(), Standing::Primary);
        assert_eq!(first.next().await, Ok((Code::AlreadyExists, Some(21))));
        fourth.write(vec![config_update()]).await.expect("the new primary writes");
        let mut backup = fixture.client().await;
        let denied = backup.write(vec![config_update()]).await.expect_err("no election id");
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied}");
    });
}

fn packet_out(payload: Vec<u8>) -> p4::StreamMessageRequest {
    p4::StreamMessageRequest { update: Some(p4::stream_message_request::Update::Packet(p4::PacketOut { payload })) }
}

/// The count of `outcome` read over P4Runtime, once it reaches `expected`
/// (frames are processed by the poll thread), or what it is after 5 s.
async fn outcome_count(fixture: &Fixture, client: &mut P4RuntimeClient, outcome: Outcome, expected: i64) -> i64 {
    let query =
        Entity::CounterEntry(fixture.ids.counter_entry(CounterId::Outcomes, Some(outcome.index() as u32), None));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let found = client.read(vec![entity(query.clone())]).await.expect("read the counter");
        let count = match found.as_slice() {
            [p4::Entity { entity: Some(Entity::CounterEntry(c)) }] => c.data.as_ref().map_or(0, |d| d.packet_count),
            other => panic!("{other:?}"),
        };
        if count == expected || tokio::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A head of epoch `epoch` whose successor is 10.0.0.2 (port 2) and tail 10.0.0.3.
fn head_config(epoch: u32) -> NodeConfig {
    NodeConfig {
        role: Role::Head,
        successor_ip: [10, 0, 0, 2].into(),
        tail_ip: [10, 0, 0, 3].into(),
        epoch,
        ..solo_config()
    }
}

/// Becomes primary and configures the node as `head`, with the controller
/// port and a route to its successor; the primary's client.
async fn configure_head(fixture: &Fixture, head: &NodeConfig) -> P4RuntimeClient {
    let ids = &fixture.ids;
    let controller =
        FabricPort { port: CONTROLLER_PORT, from_predecessor: false, from_successor: false, from_controller: true };
    let mut primary = fixture.primary(10).await;
    primary
        .write(vec![
            update(Insert, table(ids.fabric_port_entry(&controller))),
            update(Insert, table(ids.route_entry(&route([10, 0, 0, 0], 24, 2)))),
            update(Modify, table(ids.config_entry(Some(head)))),
        ])
        .await
        .expect("configured");
    primary
}

/// A sweep's PacketOuts, written without waiting, reach the node in fewer
/// calls than frames, and every one is processed, in the order sent.
#[test]
fn packet_outs_sent_back_to_back_reach_the_node_together_and_in_order() {
    let fixture = Fixture::start();
    bounded(async {
        let epoch = 3;
        let head = head_config(epoch);
        let mut primary = configure_head(&fixture, &head).await;
        let keys = head.key_hi as u16;
        for key in 0..keys {
            primary.packet_out(controller_frame(Op::Sweep, key, epoch)).await.expect("sent");
        }
        for key in 0..keys {
            let (_, frame) = fixture.next_emitted(Duration::from_secs(5)).expect("every SWEEP sends its SYNC");
            let sync = NetcraqFrame::parse(&frame).expect("a NetCRAQ frame");
            assert_eq!((sync.header.op, sync.header.key), (Op::Sync, key), "in the order sent");
        }
        // The server counts a call's frames when the poll loop's answer
        // reaches it, which may be after the frames went out.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut counters = fixture.server.counters().snapshot();
        while counters.packets_out < u64::from(keys) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            counters = fixture.server.counters().snapshot();
        }
        assert_eq!((counters.packets_out, counters.packets_out_refused), (u64::from(keys), 0), "{counters:?}");
        assert!(counters.packet_out_calls < u64::from(keys) / 2, "frames share calls: {counters:?}");
    });
}

#[test]
fn packet_out_from_the_primary_enters_by_the_controller_port_and_others_are_refused() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let epoch = 3;
        let mut primary = configure_head(&fixture, &NodeConfig { lease_ticks: 100, ..head_config(epoch) }).await;

        // A clock read, lease_clock read back, and a renewal from it (§9.3).
        primary.packet_out(controller_frame(Op::Renew, 0, epoch)).await.expect("sent");
        assert_eq!(outcome_count(&fixture, &mut primary, Outcome::RenewClockOnly, 1).await, 1, "clock read");
        let clock = ids.register_entry(RegisterId::LeaseClock, Some(0), None);
        let found = primary.read(vec![entity(Entity::RegisterEntry(clock))]).await.expect("read lease_clock");
        let Some(Entity::RegisterEntry(entry)) = &found[0].entity else { panic!("a register entry: {found:?}") };
        let Some(p4::p4_data::Data::Bitstring(bits)) = entry.data.as_ref().and_then(|d| d.data.clone()) else {
            panic!("a bitstring: {entry:?}")
        };
        let clock = decode_bits(&bits, 32, "lease_clock").expect("32 bits") as u32;
        primary.packet_out(renew_frame(clock.wrapping_add(100), epoch)).await.expect("sent");
        assert_eq!(outcome_count(&fixture, &mut primary, Outcome::LeaseRenewed, 1).await, 1, "renewed");

        // A SWEEP of a clean key at a HEAD: its copy (SYNC) leaves for the successor.
        primary.packet_out(controller_frame(Op::Sweep, 5, epoch)).await.expect("sent");
        let (port, frame) = fixture.next_emitted(Duration::from_secs(5)).expect("the sweep sends a frame");
        let sync = NetcraqFrame::parse(&frame).expect("a NetCRAQ frame");
        assert_eq!((port, sync.header.op, sync.header.key, sync.epoch), (2, Op::Sync, 5, epoch));

        // A backup's PacketOut: a StreamError, and nothing injected.
        let mut backup = RawStream::open(&fixture, 5, 1).await;
        assert_eq!(backup.next().await, Ok((Code::AlreadyExists, Some(10))));
        backup.send(packet_out(controller_frame(Op::Renew, 0, epoch))).await;
        match backup.answers.message().await {
            Ok(Some(p4::StreamMessageResponse { update: Some(p4::stream_message_response::Update::Error(e)) })) => {
                assert_eq!(Code::from(e.canonical_code), Code::PermissionDenied, "{e:?}");
            }
            other => panic!("expected a StreamError, got {other:?}"),
        }
        let mut client = fixture.client().await;
        let refused = client.packet_out(controller_frame(Op::Renew, 0, epoch)).await.expect_err("not primary");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");

        // A payload too long is refused by the node; the primary hears of it on its next PacketOut.
        primary.packet_out(vec![0; 257]).await.expect("sent: the refusal comes later");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let reported = loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            match primary.packet_out(controller_frame(Op::Renew, 0, epoch)).await {
                Err(error) => break error,
                Ok(()) => assert!(tokio::time::Instant::now() < deadline, "the refusal is reported"),
            }
        };
        assert_eq!(reported.code(), Code::InvalidArgument, "{reported}");
        assert!(reported.to_string().contains("at most 256"), "{reported}");
        let counters = fixture.server.counters().snapshot();
        assert_eq!(counters.packets_out_refused, 2, "the backup's and the long one: {counters:?}");
        assert!(counters.packets_out >= 2, "the RENEW and the SWEEP at least: {counters:?}");
        assert!(fixture.next_emitted(Duration::from_millis(100)).is_none(), "nothing else was sent");
    });
}

#[test]
fn routes_are_inserted_modified_read_and_deleted() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let mut client = fixture.primary(1).await;
        let (a, b, default) = (route([10, 0, 0, 0], 8, 1), route([10, 0, 1, 0], 24, 2), route([0, 0, 0, 0], 0, 3));
        let inserts = [a, b, default].iter().map(|r| update(Insert, table(ids.route_entry(r)))).collect();
        client.write(inserts).await.expect("inserts");
        assert_eq!(read_routes(&fixture, &mut client).await, vec![b, a, default], "longest prefix first");

        let moved = Route { port: 7, mac: MacAddr([2, 0, 0, 0, 9, 77]), ..a };
        client.write(vec![update(Modify, table(ids.route_entry(&moved)))]).await.expect("modify");
        let filter = p4::TableEntry { action: None, ..ids.route_entry(&a) };
        let found = client.read(vec![entity(table(filter))]).await.expect("read one");
        assert_eq!(found.len(), 1);
        let Some(Entity::TableEntry(entry)) = &found[0].entity else { panic!() };
        assert_eq!(ids.parse_route_entry(&fixture.index, entry), Ok(moved));
        // Canonical bitstrings on the wire: 10.0.0.0 is 4 bytes, port 7 one byte.
        let Some(p4::field_match::FieldMatchType::Lpm(lpm)) = &entry.r#match[0].field_match_type else { panic!() };
        assert_eq!((lpm.value.clone(), lpm.prefix_len), (vec![10, 0, 0, 0], 8));

        client.write(vec![update(Delete, table(ids.route_key(b.prefix, b.prefix_len)))]).await.expect("delete");
        assert_eq!(read_routes(&fixture, &mut client).await, vec![moved, default]);

        // Wildcard read over all tables: keyed entries only (node_config has none).
        let all = client.read(vec![entity(table(p4::TableEntry::default()))]).await.expect("read all tables");
        assert_eq!(all.len(), 2);
        // The default entry of ipv4_route is its const no_route.
        let query = p4::TableEntry { table_id: ids.ipv4_route, is_default_action: true, ..Default::default() };
        let found = client.read(vec![entity(table(query))]).await.expect("read default");
        assert_eq!(found, vec![entity(table(ids.route_default_entry()))]);
    });
}

#[test]
fn fabric_ports_are_inserted_modified_read_and_deleted() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let mut client = fixture.primary(1).await;
        let (a, b) = (
            FabricPort { port: 2, from_predecessor: true, from_successor: false, from_controller: false },
            FabricPort { port: 1, from_predecessor: false, from_successor: true, from_controller: true },
        );
        client
            .write(vec![
                update(Insert, table(ids.fabric_port_entry(&a))),
                update(Insert, table(ids.fabric_port_entry(&b))),
            ])
            .await
            .expect("inserts");
        assert_eq!(read_fabric_ports(&fixture, &mut client).await, vec![b, a], "in port order");
        let both = FabricPort { from_successor: true, ..a };
        client.write(vec![update(Modify, table(ids.fabric_port_entry(&both)))]).await.expect("modify");
        let filter = p4::TableEntry { action: None, ..ids.fabric_port_entry(&a) };
        let found = client.read(vec![entity(table(filter))]).await.expect("read one");
        assert_eq!(found, vec![entity(table(ids.fabric_port_entry(&both)))]);
        assert_eq!(refused(&mut client, update(Insert, table(ids.fabric_port_entry(&b)))).await, Code::AlreadyExists);
        client.write(vec![update(Delete, table(ids.fabric_port_key(b.port)))]).await.expect("delete");
        assert_eq!(read_fabric_ports(&fixture, &mut client).await, vec![both]);
        assert_eq!(refused(&mut client, update(Delete, table(ids.fabric_port_key(b.port)))).await, Code::NotFound);
        // No entry means an edge port: the default is the const edge_port.
        let edge = ids.fabric_port_default_entry();
        assert_eq!(refused(&mut client, update(Modify, table(edge.clone()))).await, Code::PermissionDenied);
        let query = p4::TableEntry { table_id: ids.fabric_port, is_default_action: true, ..Default::default() };
        assert_eq!(client.read(vec![entity(table(query))]).await.expect("read default"), vec![entity(table(edge))]);
    });
}

#[test]
fn node_config_is_set_read_and_reset_through_its_default_entry() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let mut client = fixture.primary(1).await;
        assert_eq!(read_config(&fixture, &mut client).await, None, "unconfigured at start");
        client.write(vec![update(Modify, table(ids.config_entry(Some(&solo_config()))))]).await.expect("set");
        assert_eq!(read_config(&fixture, &mut client).await, Some(solo_config()));
        let head = NodeConfig {
            role: Role::Head,
            mode: Mode::Cr,
            tail_ip: [10, 0, 0, 3].into(),
            successor_ip: [10, 0, 0, 2].into(),
            key_hi: 65536,
            ..solo_config()
        };
        client.write(vec![update(Modify, table(ids.config_entry(Some(&head))))]).await.expect("change");
        assert_eq!(read_config(&fixture, &mut client).await, Some(head));
        // MODIFY without an action resets the default entry: unconfigured.
        let reset = p4::TableEntry { action: None, ..ids.config_entry(None) };
        client.write(vec![update(Modify, table(reset))]).await.expect("reset");
        assert_eq!(read_config(&fixture, &mut client).await, None);
        client.write(vec![update(Modify, table(ids.config_entry(Some(&head))))]).await.expect("set again");
        client.write(vec![update(Modify, table(ids.config_entry(None)))]).await.expect("unconfigured action");
        assert_eq!(read_config(&fixture, &mut client).await, None);
    });
}

#[test]
fn counters_and_registers_are_read_and_registers_written() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let mut client = fixture.primary(1).await;
        // Unconfigured, the node drops and counts every frame.
        for _ in 0..3 {
            fixture.inject(read_frame(5));
        }
        client.write(vec![update(Modify, table(ids.config_entry(Some(&solo_config()))))]).await.expect("config");
        let value = u128::from_be_bytes(*b"written-over-p4r");
        let writes = vec![
            update(Modify, Entity::RegisterEntry(ids.register_entry(RegisterId::KvValue, Some(5), Some(value)))),
            update(Modify, Entity::RegisterEntry(ids.register_entry(RegisterId::KvVersion, Some(5), Some(9)))),
            update(Modify, Entity::RegisterEntry(ids.register_entry(RegisterId::KvAcked, Some(5), Some(9)))),
        ];
        client.write(writes).await.expect("register writes");
        fixture.inject(read_frame(5));
        fixture.inject(read_frame(5));

        let outcome =
            |o: Outcome| Entity::CounterEntry(ids.counter_entry(CounterId::Outcomes, Some(o.index() as u32), None));
        let key_reads = Entity::CounterEntry(ids.counter_entry(CounterId::KeyReads, Some(5), None));
        let expected = [(outcome(Outcome::DropUnconfigured), 3), (outcome(Outcome::ReadLocal), 2), (key_reads, 2)];
        // The frames are processed by the poll thread: wait for the counts.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let query = expected.iter().map(|(e, _)| entity(e.clone())).collect();
            let found = client.read(query).await.expect("read counters");
            let packets: Vec<i64> = found
                .iter()
                .map(|e| match &e.entity {
                    Some(Entity::CounterEntry(c)) => c.data.as_ref().expect("data").packet_count,
                    other => panic!("{other:?}"),
                })
                .collect();
            if packets == [3, 2, 2] {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "counters {packets:?}, expected [3, 2, 2]");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // Whole counter: every index, in order.
        let all =
            client.read(vec![entity(Entity::CounterEntry(ids.counter_entry(CounterId::Outcomes, None, None)))]).await;
        let all = all.expect("read all outcomes");
        assert_eq!(all.len(), Outcome::COUNT);
        // All counters at once (id 0): 30 + 65536 + 65536 entries, over several messages.
        let everything = client.read(vec![entity(Entity::CounterEntry(p4::CounterEntry::default()))]).await;
        assert_eq!(everything.expect("read all counters").len(), Outcome::COUNT + 2 * DEFAULT_KEY_CAPACITY);

        // Registers: one index as written, a whole array (65536 entries), all registers.
        let found = client
            .read(vec![entity(Entity::RegisterEntry(ids.register_entry(RegisterId::KvValue, Some(5), None)))])
            .await;
        let found = found.expect("read register");
        let Some(Entity::RegisterEntry(entry)) = &found[0].entity else { panic!() };
        let data = entry.data.as_ref().and_then(|d| d.data.clone());
        assert_eq!(data, Some(p4::p4_data::Data::Bitstring(encode_bits(value))));
        let versions = client
            .read(vec![entity(Entity::RegisterEntry(ids.register_entry(RegisterId::KvVersion, None, None)))])
            .await;
        let versions = versions.expect("read whole register");
        assert_eq!(versions.len(), DEFAULT_KEY_CAPACITY);
        let nine = versions.iter().filter(|e| matches!(&e.entity, Some(Entity::RegisterEntry(r)) if r.data.as_ref().and_then(|d| d.data.clone()) == Some(p4::p4_data::Data::Bitstring(vec![9])))).count();
        assert_eq!(nine, 1, "only key 5 holds version 9");
        // Wildcard write: every index of kv_writer_port.
        let everywhere = ids.register_entry(RegisterId::KvWriterPort, None, Some(0x1234));
        client.write(vec![update(Modify, Entity::RegisterEntry(everywhere))]).await.expect("wildcard write");
        let one = client
            .read(vec![entity(Entity::RegisterEntry(ids.register_entry(RegisterId::KvWriterPort, Some(65535), None)))])
            .await;
        let Some(Entity::RegisterEntry(entry)) = &one.expect("read")[0].entity else { panic!() };
        assert_eq!(
            entry.data.as_ref().and_then(|d| d.data.clone()),
            Some(p4::p4_data::Data::Bitstring(vec![0x12, 0x34]))
        );
    });
}

#[test]
fn every_invalid_update_is_refused_with_the_spec_code() {
    let fixture = Fixture::start();
    bounded(async {
        let ids = &fixture.ids;
        let mut client = fixture.primary(1).await;
        let good = route([10, 0, 0, 0], 8, 1);
        client.write(vec![update(Insert, table(ids.route_entry(&good)))]).await.expect("insert");

        let with_action = |entry: p4::TableEntry, action_id: u32, params: Vec<(u32, Vec<u8>)>| p4::TableEntry {
            action: Some(p4::TableAction {
                r#type: Some(p4::table_action::Type::Action(p4::Action {
                    action_id,
                    params: params.into_iter().map(|(param_id, value)| p4::action::Param { param_id, value }).collect(),
                })),
            }),
            ..entry
        };
        let with_lpm = |value: Vec<u8>, prefix_len: i32| p4::TableEntry {
            r#match: vec![p4::FieldMatch {
                field_id: 1,
                field_match_type: Some(p4::field_match::FieldMatchType::Lpm(p4::field_match::Lpm {
                    value,
                    prefix_len,
                })),
            }],
            ..ids.route_entry(&route([11, 0, 0, 0], 8, 1))
        };
        let hop = ids.route_entry(&route([11, 0, 0, 0], 8, 1));
        let config = ids.config_entry(Some(&solo_config()));
        let no_ip = ids.config_entry(Some(&NodeConfig { own_ip: Ipv4Addr::UNSPECIFIED, ..solo_config() }));
        let mut bad_role = config.clone();
        if let Some(p4::table_action::Type::Action(action)) = bad_role.action.as_mut().and_then(|a| a.r#type.as_mut()) {
            action.params[2].value = vec![9];
        }
        let register = |index: i64, value: Vec<u8>| {
            Entity::RegisterEntry(p4::RegisterEntry {
                register_id: ids.register_id(RegisterId::KvVersion),
                index: Some(p4::Index { index }),
                data: Some(p4::P4Data { data: Some(p4::p4_data::Data::Bitstring(value)) }),
            })
        };
        let clone_session = Entity::PacketReplicationEngineEntry(p4::PacketReplicationEngineEntry {
            r#type: Some(p4::packet_replication_engine_entry::Type::CloneSessionEntry(p4::CloneSessionEntry {
                session_id: 5,
                ..Default::default()
            })),
        });
        let cases: Vec<(&str, p4::Update, Code)> = vec![
            (
                "unknown table",
                update(Insert, table(p4::TableEntry { table_id: 0x02ffffff, ..hop.clone() })),
                Code::NotFound,
            ),
            ("unknown action", update(Insert, table(with_action(hop.clone(), 0x01ffffff, vec![]))), Code::NotFound),
            (
                "action of another table",
                update(Insert, table(with_action(hop.clone(), ids.set_config, vec![]))),
                Code::InvalidArgument,
            ),
            (
                "missing parameter",
                update(Insert, table(with_action(hop.clone(), ids.set_next_hop, vec![(1, vec![1])]))),
                Code::InvalidArgument,
            ),
            (
                "unknown parameter",
                update(
                    Insert,
                    table(with_action(hop.clone(), ids.set_next_hop, vec![(1, vec![1]), (2, vec![2]), (3, vec![0])])),
                ),
                Code::InvalidArgument,
            ),
            (
                "port wider than 16 bits",
                update(
                    Insert,
                    table(with_action(hop.clone(), ids.set_next_hop, vec![(1, vec![1, 0, 0]), (2, vec![2])])),
                ),
                Code::OutOfRange,
            ),
            (
                "empty bitstring",
                update(Insert, table(with_action(hop.clone(), ids.set_next_hop, vec![(1, vec![]), (2, vec![2])]))),
                Code::OutOfRange,
            ),
            (
                "host bits beyond the prefix",
                update(Insert, table(with_lpm(vec![11, 0, 0, 1], 8))),
                Code::InvalidArgument,
            ),
            ("prefix length 33", update(Insert, table(with_lpm(vec![11, 0, 0, 0], 33))), Code::InvalidArgument),
            ("prefix length 0 sent", update(Insert, table(with_lpm(vec![0], 0))), Code::InvalidArgument),
            ("address wider than 32 bits", update(Insert, table(with_lpm(vec![1, 11, 0, 0, 0], 8))), Code::OutOfRange),
            (
                "priority on an LPM table",
                update(Insert, table(p4::TableEntry { priority: 10, ..hop.clone() })),
                Code::InvalidArgument,
            ),
            (
                "no_route entry",
                update(Insert, table(with_action(hop.clone(), ids.no_route, vec![]))),
                Code::Unimplemented,
            ),
            ("duplicate insert", update(Insert, table(ids.route_entry(&good))), Code::AlreadyExists),
            (
                "delete of a missing entry",
                update(Delete, table(ids.route_key([12, 0, 0, 0].into(), 8))),
                Code::NotFound,
            ),
            (
                "modify of a missing entry",
                update(Modify, table(ids.route_entry(&route([12, 0, 0, 0], 8, 1)))),
                Code::NotFound,
            ),
            ("const default action", update(Modify, table(ids.route_default_entry())), Code::PermissionDenied),
            ("insert of a default entry", update(Insert, table(config.clone())), Code::InvalidArgument),
            (
                "keyed entry in keyless node_config",
                update(Insert, table(p4::TableEntry { is_default_action: false, ..config.clone() })),
                Code::InvalidArgument,
            ),
            ("unknown role", update(Modify, table(bad_role)), Code::InvalidArgument),
            ("config refused by the node", update(Modify, table(no_ip)), Code::InvalidArgument),
            ("register value too wide", update(Modify, register(3, vec![1, 0])), Code::OutOfRange),
            ("register index beyond its size", update(Modify, register(65536, vec![1])), Code::OutOfRange),
            ("negative register index", update(Modify, register(-1, vec![1])), Code::InvalidArgument),
            ("register insert", update(Insert, register(3, vec![1])), Code::InvalidArgument),
            (
                "counter write",
                update(Modify, Entity::CounterEntry(ids.counter_entry(CounterId::Outcomes, Some(0), Some(1)))),
                Code::Unimplemented,
            ),
            (
                "unknown counter",
                update(Modify, Entity::CounterEntry(p4::CounterEntry { counter_id: 0x12ffffff, ..Default::default() })),
                Code::NotFound,
            ),
            ("clone session", update(Insert, clone_session.clone()), Code::Unimplemented),
            ("meter", update(Modify, Entity::MeterEntry(p4::MeterEntry::default())), Code::Unimplemented),
            (
                "unspecified update type",
                p4::Update { r#type: 0, ..update(Insert, table(hop.clone())) },
                Code::InvalidArgument,
            ),
            ("no entity", p4::Update { r#type: Insert as i32, entity: None }, Code::InvalidArgument),
        ];
        for (case, update, code) in cases {
            assert_eq!(refused(&mut client, update).await, code, "{case}");
        }

        // A batch: every update is tried, each failure reported at its index.
        let batch = vec![
            update(Insert, table(ids.route_entry(&route([13, 0, 0, 0], 8, 1)))),
            update(Insert, table(ids.route_entry(&good))),
            update(Insert, table(ids.route_entry(&route([14, 0, 0, 0], 8, 1)))),
            update(Insert, clone_session.clone()),
        ];
        let error = client.write(batch).await.expect_err("two updates fail");
        assert!(error.to_string().contains("update 1: AlreadyExists"), "{error}");
        assert_eq!(failures(error), vec![(1, Code::AlreadyExists), (3, Code::Unimplemented)]);
        assert_eq!(read_routes(&fixture, &mut client).await.len(), 3, "the good updates of the batch applied");

        // Reads refuse what they cannot answer, for the whole RPC.
        assert_eq!(read_code(&mut client, vec![entity(clone_session)]).await, Code::Unimplemented);
        let unknown = p4::TableEntry { table_id: 0x02ffffff, ..Default::default() };
        assert_eq!(read_code(&mut client, vec![entity(table(unknown))]).await, Code::NotFound);
        let counter = p4::CounterEntry { counter_id: 0x12ffffff, ..Default::default() };
        assert_eq!(read_code(&mut client, vec![entity(Entity::CounterEntry(counter))]).await, Code::NotFound);
        let beyond = ids.counter_entry(CounterId::Outcomes, Some(Outcome::COUNT as u32), None);
        assert_eq!(read_code(&mut client, vec![entity(Entity::CounterEntry(beyond))]).await, Code::OutOfRange);
        assert_eq!(read_code(&mut client, vec![p4::Entity { entity: None }]).await, Code::InvalidArgument);

        let counters = fixture.server.counters().snapshot();
        assert!(counters.updates_failed >= 33 && counters.rpcs_failed >= 37, "failures are counted: {counters:?}");
    });
}

#[test]
fn the_pipeline_is_the_nodes_own_p4info_and_nothing_else() {
    let fixture = Fixture::start();
    bounded(async {
        let mut backup = fixture.client().await;
        let ours = backup.get_p4info().await.expect("get");
        assert_eq!(&ours, fixture.index.p4info(), "GetForwardingPipelineConfig returns the embedded P4Info");
        let denied = backup.set_pipeline_config(ours.clone(), vec![]).await.expect_err("not primary");
        assert_eq!(denied.code(), Code::PermissionDenied);

        let mut primary = fixture.primary(3).await;
        primary.set_pipeline_config(ours.clone(), vec![]).await.expect("its own P4Info is accepted");
        let mut other = ours.clone();
        other.tables[1].size = 2048;
        let mismatch = primary.set_pipeline_config(other, vec![]).await.expect_err("mismatch");
        assert_eq!(mismatch.code(), Code::InvalidArgument);
        assert!(mismatch.to_string().contains("P4Info mismatch"), "{mismatch}");
        let mut renamed = ours.clone();
        let missing = renamed.registers.pop().and_then(|r| r.preamble).expect("a register").name;
        let mismatch = primary.set_pipeline_config(renamed, vec![]).await.expect_err("mismatch");
        assert!(mismatch.to_string().contains(&missing), "names the difference ({missing}): {mismatch}");
        assert_eq!(primary.capabilities().await.expect("capabilities"), "1.4.0");
    });
}

#[test]
fn a_connection_to_nowhere_fails_in_time_and_names_the_address() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let error = P4RuntimeClient::connect(&address, 1, Duration::from_secs(2)).await.err().expect("nothing listens");
        assert!(error.to_string().contains(&address) && error.to_string().contains("--p4runtime"), "{error}");
    });
}

#[test]
fn a_server_on_a_unix_socket_is_reached_with_a_unix_address() {
    let fixture = Fixture::start();
    let socket = std::env::temp_dir().join(format!("netcraq-p4rt-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let tcp = fixture.address();
    bounded(async {
        // A relay from the socket to the server's TCP port: BMv2 listens on
        // such a socket when it runs in a network namespace.
        let listener = tokio::net::UnixListener::bind(&socket).expect("binds the socket");
        tokio::spawn(async move {
            while let Ok((mut unix, _)) = listener.accept().await {
                let tcp = tcp.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(tcp).await {
                        let _ = tokio::io::copy_bidirectional(&mut unix, &mut server).await;
                    }
                });
            }
        });
        let address = format!("unix:{}", socket.display());
        let mut client =
            P4RuntimeClient::connect(&address, 1, support::CALL_TIMEOUT).await.expect("connects over the socket");
        client.become_primary(4).await.expect("primary over the socket");
        assert_eq!(&client.get_p4info().await.expect("get"), fixture.index.p4info());
        let missing = format!("unix:{}.missing", socket.display());
        let error = P4RuntimeClient::connect(&missing, 1, Duration::from_secs(2)).await.err().expect("no such socket");
        assert!(error.to_string().contains(&missing), "{error}");
    });
    std::fs::remove_file(&socket).expect("socket removed");
}
