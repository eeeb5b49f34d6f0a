//! The blocking client against a chain of one on loopback.

mod responder;

use std::time::{Duration, Instant};

use netcraq_client::{parse_value, Client, ClientError, ClientOptions, ReadReply, RequestKind, WriteReply};
use netcraq_wire::Op;
use responder::{Faults, Responder};

fn options(timeout_ms: u64, retries: u32) -> ClientOptions {
    ClientOptions { timeout: Duration::from_millis(timeout_ms), retries, ..ClientOptions::default() }
}

fn client_of(responder: &Responder, options: ClientOptions) -> Client {
    Client::new(responder.addr(), options)
}

fn value(text: &str) -> [u8; 16] {
    parse_value(text).unwrap()
}

/// The `version` field of every WRITE the responder received.
fn write_versions(responder: &Responder) -> Vec<u8> {
    responder.requests().iter().filter(|request| request.op == Op::Write).map(|request| request.version).collect()
}

#[test]
fn a_read_returns_what_the_last_write_stored() {
    let responder = Responder::start(Faults::default());
    let mut client = client_of(&responder, ClientOptions::default());

    assert_eq!(client.read(5).unwrap(), ReadReply { version: 0, value: [0; 16] });
    assert_eq!(client.write(5, value("first")).unwrap(), WriteReply { version: 1 });
    assert_eq!(client.write(5, value("second")).unwrap(), WriteReply { version: 2 });
    assert_eq!(client.read(5).unwrap(), ReadReply { version: 2, value: value("second") });
    assert_eq!(client.read(6).unwrap().value, [0; 16]);
    assert_eq!(client.stats().retransmissions, 0);
}

#[test]
fn a_read_times_out_after_every_attempt() {
    let responder = Responder::start(Faults { drop_first_requests: usize::MAX, ..Faults::default() });
    let mut client = client_of(&responder, options(10, 3));

    let started = Instant::now();
    let error = client.read(1).unwrap_err();

    assert!(matches!(error, ClientError::Timeout { kind: RequestKind::Read, key: 1, attempts: 4, .. }), "{error:?}");
    let expected = format!(
        "no reply from {} to READ of key 1 after 4 attempts: is the chain up, and does this host have a route to it?",
        client.node()
    );
    assert_eq!(error.to_string(), expected);
    assert!(started.elapsed() >= Duration::from_millis(40));
    assert_eq!(responder.requests().len(), 4);
    assert_eq!(client.stats().retransmissions, 3);
}

#[test]
fn a_write_that_times_out_has_an_unknown_outcome_and_retransmissions_carry_version_1() {
    let responder = Responder::start(Faults { drop_first_requests: usize::MAX, ..Faults::default() });
    let mut client = client_of(&responder, options(5, 3));

    let error = client.write(1, value("x")).unwrap_err();

    assert!(matches!(error, ClientError::Timeout { kind: RequestKind::Write, attempts: 4, .. }), "{error:?}");
    assert!(error.write_may_have_applied());
    assert!(error.to_string().contains("may or may not have been applied"), "{error}");
    assert_eq!(write_versions(&responder), [0, 1, 1, 1]);
    assert!(responder.requests().iter().all(|request| request.value == value("x")));
}

#[test]
fn a_write_whose_replies_were_lost_is_applied_once() {
    let responder = Responder::start(Faults { drop_first_replies: 2, ..Faults::default() });
    let mut client = client_of(&responder, options(10, 5));

    assert_eq!(client.write(3, value("once")).unwrap(), WriteReply { version: 1 });

    assert_eq!(write_versions(&responder), [0, 1, 1]);
    assert_eq!(responder.register(3).version, 1);
    assert_eq!(client.stats().retransmissions, 2);
}

#[test]
fn a_write_whose_first_transmission_was_lost_has_an_unknown_outcome() {
    let responder = Responder::start(Faults { drop_first_requests: 1, ..Faults::default() });
    let mut client = client_of(&responder, options(10, 5));

    let error = client.write(3, value("lost")).unwrap_err();

    assert!(matches!(error, ClientError::OutcomeUnknown { key: 3 }), "{error:?}");
    assert!(error.write_may_have_applied());
    assert!(error.to_string().contains("may or may not have been applied"), "{error}");
    assert_eq!(write_versions(&responder), [0, 1], "no retransmission after the answer");
}

#[test]
fn a_write_refused_by_a_full_window_was_not_applied() {
    let responder = Responder::start(Faults { refuse_first_writes: 1, ..Faults::default() });
    let mut client = client_of(&responder, options(10, 5));

    let error = client.write(3, value("refused")).unwrap_err();

    assert!(matches!(error, ClientError::WindowFull { key: 3 }), "{error:?}");
    assert!(!error.write_may_have_applied());
    assert!(error.to_string().contains("was not applied"), "{error}");
    assert_eq!(write_versions(&responder), [0], "no retransmission after the answer");
    assert_eq!(client.write(3, value("later")).unwrap(), WriteReply { version: 1 });
}

#[test]
fn a_slow_reply_completes_the_write_once() {
    let responder = Responder::start(Faults { reply_delay: Duration::from_millis(30), ..Faults::default() });
    let mut client = client_of(&responder, options(20, 5));

    assert_eq!(client.write(4, value("slow")).unwrap(), WriteReply { version: 1 });
    assert_eq!(responder.register(4).version, 1);
    assert_eq!(client.read(4).unwrap().value, value("slow"));
}

#[test]
fn a_key_out_of_range_is_reported_without_retrying() {
    let responder = Responder::start(Faults { key_range: 0..100, ..Faults::default() });
    let mut client = client_of(&responder, options(10, 5));

    let read_error = client.read(100).unwrap_err();
    let write_error = client.write(200, value("no")).unwrap_err();

    assert!(matches!(read_error, ClientError::KeyOutOfRange { key: 100 }), "{read_error:?}");
    assert!(matches!(write_error, ClientError::KeyOutOfRange { key: 200 }), "{write_error:?}");
    assert!(!write_error.write_may_have_applied());
    assert_eq!(read_error.to_string(), "key 100 is outside the node's key range; nothing was changed");
    assert_eq!(responder.requests().len(), 2);
}

#[test]
fn replies_with_a_wrong_key_or_value_are_counted_and_ignored() {
    let faults = Faults { send_wrong_replies_first: true, ..Faults::default() };
    let responder = Responder::start(faults);
    let mut client = client_of(&responder, options(50, 2));

    assert_eq!(client.write(8, value("right")).unwrap(), WriteReply { version: 1 });
    assert_eq!(client.read(8).unwrap().value, value("right"));

    // Per operation: a READ_REPLY of key 9 and a WRITE_REPLY with a wrong value.
    assert_eq!(client.stats().ignored_replies, 4);
    assert_eq!(client.stats().retransmissions, 0);
}

#[test]
fn a_duplicate_reply_is_not_taken_for_the_next_operations_reply() {
    let responder = Responder::start(Faults { duplicate_replies: true, ..Faults::default() });
    let mut client = client_of(&responder, ClientOptions::default());

    client.write(2, value("old")).unwrap();
    assert_eq!(client.read(2).unwrap().value, value("old"));
    client.write(2, value("new")).unwrap();
    assert_eq!(client.read(2).unwrap().value, value("new"));
    assert_eq!(client.read(2).unwrap().value, value("new"));
}

#[test]
fn a_late_duplicate_read_reply_is_not_taken_for_a_later_reads_reply() {
    let responder = Responder::start(Faults { resend_last_read_reply: true, ..Faults::default() });
    let mut client = client_of(&responder, ClientOptions::default());

    client.write(2, value("old")).unwrap();
    assert_eq!(client.read(2).unwrap().value, value("old"));
    client.write(2, value("new")).unwrap();
    // The responder re-sends the READ_REPLY "old" before answering this read.
    assert_eq!(client.read(2).unwrap(), ReadReply { version: 2, value: value("new") });
    assert_eq!(responder.late_duplicates_sent(), 2);
}

#[test]
fn a_socket_error_names_the_node() {
    let mut client = Client::new("0.0.0.0:0".parse().unwrap(), options(5, 0));
    let error = client.read(1).unwrap_err();
    assert!(matches!(error, ClientError::Io { .. }), "{error:?}");
    assert!(error.to_string().starts_with("I/O error talking to 0.0.0.0:0: "), "{error}");
}
