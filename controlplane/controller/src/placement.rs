//! Which keys NetCRAQ slots should hold (issue 15): a pure decision over
//! the proxy's hottest keys (its Space-Saving sketch), the nodes'
//! `key_reads` and `key_writes` of the slots in use (over P4Runtime), and
//! etcd's Range rate (its `/metrics`). `netcraq ctl top` shows it; the
//! proxy's hot-read cache carries the moves out.
//!
//! Rates: the sketch says which share of single-key reads each hot key
//! takes; etcd's Range rate plus the reads the slots answered say how many
//! reads there are in all. A key's rate is its share of that total (an
//! over-estimate, as shares are taken among the hot keys only); a placed
//! key's rate is at least what its slot counted.
//!
//! Linearizability: a move is a step of the cache's protocol, not a data
//! change. Demotions come first, and a slot freed by a demotion is not
//! reused in the same round: the cache stops answering the old key from a
//! slot before the slot may be written with a new key, which is then read
//! from the chain only once its write has committed.

use netcraq_metrics::{label_bytes, Samples};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How placement decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacementSettings {
    /// Slots there are (keys NetCRAQ may hold for the cache): slots `0..capacity`.
    pub capacity: u16,
    /// Reads per second for which a key is worth a slot.
    pub min_rate: f64,
    /// A candidate takes a placed key's slot only when this many times
    /// hotter; a placed key leaves when its rate falls below
    /// `min_rate / hysteresis`. At least 1; 2 keeps keys of similar heat
    /// from swapping at every round.
    pub hysteresis: f64,
    /// A placed key written in more than this fraction of its slot's
    /// requests leaves: its reads would mostly wait for writes.
    pub max_write_fraction: f64,
}

impl Default for PlacementSettings {
    fn default() -> PlacementSettings {
        PlacementSettings { capacity: 1024, min_rate: 10.0, hysteresis: 2.0, max_write_fraction: 0.5 }
    }
}

/// A key the proxy reads, with its sketch estimate (recent reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotKey {
    pub key: Vec<u8>,
    pub reads: u64,
}

/// A key in a slot, with the requests the nodes counted for the slot over
/// the interval (`key_reads`, `key_writes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedKey {
    pub key: Vec<u8>,
    pub slot: u16,
    pub slot_reads: u64,
    pub slot_writes: u64,
}

/// What placement looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementInputs<'a> {
    pub hot: &'a [HotKey],
    pub placed: &'a [PlacedKey],
    /// etcd's Range calls per second (its `/metrics`).
    pub etcd_range_rate: f64,
    /// The interval, in seconds, over which the slots' counts were taken.
    pub interval_s: f64,
}

/// Why a key leaves its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoteReason {
    /// Its rate fell below `min_rate / hysteresis`.
    Cold,
    /// Written in more than `max_write_fraction` of its slot's requests.
    Written,
    /// A candidate `hysteresis` times hotter takes its place (next round).
    Displaced,
}

/// One step; demotions come before promotions.
#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    Demote { key: Vec<u8>, slot: u16, reason: DemoteReason },
    Promote { key: Vec<u8>, slot: u16, rate: f64 },
}

/// Each key's estimated reads per second: its share of the sketch's hot
/// keys times all reads (etcd's Ranges and the slots' reads); a placed key
/// at least its slot's reads.
pub fn key_rates(inputs: &PlacementInputs) -> HashMap<Vec<u8>, f64> {
    let interval = inputs.interval_s.max(f64::MIN_POSITIVE);
    let slot_rate = |p: &PlacedKey| p.slot_reads as f64 / interval;
    let total_rate = inputs.etcd_range_rate + inputs.placed.iter().map(slot_rate).sum::<f64>();
    let sketched: u64 = inputs.hot.iter().map(|h| h.reads).sum();
    let mut rates: HashMap<Vec<u8>, f64> = inputs
        .hot
        .iter()
        .filter(|_| sketched > 0)
        .map(|h| (h.key.clone(), total_rate * h.reads as f64 / sketched as f64))
        .collect();
    for placed in inputs.placed {
        let rate = rates.entry(placed.key.clone()).or_insert(0.0);
        *rate = rate.max(slot_rate(placed));
    }
    rates
}

/// The moves that bring the placement closer to the hottest keys: cold and
/// written keys demoted, free slots filled with the hottest candidates
/// above `min_rate`, and placed keys displaced by candidates `hysteresis`
/// times hotter (their slots are filled in a later round).
pub fn decide(inputs: &PlacementInputs, settings: &PlacementSettings) -> Vec<Move> {
    let rates = key_rates(inputs);
    let rate = |key: &[u8]| rates.get(key).copied().unwrap_or(0.0);
    let hysteresis = settings.hysteresis.max(1.0);
    let mut moves = Vec::new();
    let mut staying: Vec<&PlacedKey> = Vec::new();
    for placed in inputs.placed {
        let requests = placed.slot_reads + placed.slot_writes;
        let written = requests > 0 && placed.slot_writes as f64 > settings.max_write_fraction * requests as f64;
        let reason = if written {
            Some(DemoteReason::Written)
        } else if rate(&placed.key) < settings.min_rate / hysteresis {
            Some(DemoteReason::Cold)
        } else {
            None
        };
        match reason {
            Some(reason) => moves.push(Move::Demote { key: placed.key.clone(), slot: placed.slot, reason }),
            None => staying.push(placed),
        }
    }
    let placed_keys: BTreeSet<&[u8]> = inputs.placed.iter().map(|p| p.key.as_slice()).collect();
    let mut candidates: Vec<(&[u8], f64)> = inputs
        .hot
        .iter()
        .map(|h| (h.key.as_slice(), rate(&h.key)))
        .filter(|(key, rate)| !placed_keys.contains(key) && *rate >= settings.min_rate)
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let used: BTreeSet<u16> = inputs.placed.iter().map(|p| p.slot).collect();
    let mut free = (0..settings.capacity).filter(|slot| !used.contains(slot));
    let mut candidates = candidates.into_iter().peekable();
    while let Some(slot) = candidates.peek().and_then(|_| free.next()) {
        let (key, rate) = candidates.next().expect("peeked");
        moves.push(Move::Promote { key: key.to_vec(), slot, rate });
    }
    // No free slot left: the hottest remaining candidates against the coldest placed keys.
    staying.sort_by(|a, b| rate(&a.key).total_cmp(&rate(&b.key)).then_with(|| a.slot.cmp(&b.slot)));
    for (placed, (_, candidate_rate)) in staying.into_iter().zip(candidates) {
        if candidate_rate <= hysteresis * rate(&placed.key) {
            break;
        }
        moves.push(Move::Demote { key: placed.key.clone(), slot: placed.slot, reason: DemoteReason::Displaced });
    }
    moves.sort_by_key(|m| matches!(m, Move::Promote { .. }));
    moves
}

/// The proxy's gauge of its hot keys' estimated reads (label `key`).
pub const PROXY_HOT_KEY_READS: &str = "netcraq_proxy_hot_key_reads";
/// The gauge the proxy's cache exports per placed key (label `key`, value: the slot).
pub const PROXY_PLACED_SLOT: &str = "netcraq_proxy_placed_slot";
/// etcd's count of gRPC calls started, by `grpc_service` and `grpc_method`.
pub const ETCD_CALLS_STARTED: &str = "grpc_server_started_total";

/// The proxy's hot keys from a scrape of its `/metrics`, hottest first.
pub fn proxy_hot_keys(proxy: &Samples) -> Vec<HotKey> {
    let mut hot: Vec<HotKey> = proxy
        .matching(PROXY_HOT_KEY_READS, &[])
        .filter_map(|s| Some(HotKey { key: label_bytes(s.label("key")?), reads: s.value.max(0.0) as u64 }))
        .collect();
    hot.sort_by(|a, b| b.reads.cmp(&a.reads).then_with(|| a.key.cmp(&b.key)));
    hot
}

/// The keys the proxy's cache has placed, with their slots.
pub fn proxy_placed_slots(proxy: &Samples) -> Vec<(Vec<u8>, u16)> {
    proxy
        .matching(PROXY_PLACED_SLOT, &[])
        .filter(|s| (0.0..=f64::from(u16::MAX)).contains(&s.value))
        .filter_map(|s| Some((label_bytes(s.label("key")?), s.value as u16)))
        .collect()
}

/// etcd's calls per second by method (`Range`, `Put`, `Txn`, ...) between
/// two scrapes of its `/metrics` taken `interval_s` apart.
pub fn etcd_method_rates(before: &Samples, after: &Samples, interval_s: f64) -> BTreeMap<String, f64> {
    let per_method = |samples: &Samples| {
        let mut calls: BTreeMap<String, f64> = BTreeMap::new();
        for sample in samples.matching(ETCD_CALLS_STARTED, &[]) {
            if let Some(method) = sample.label("grpc_method") {
                *calls.entry(method.to_string()).or_default() += sample.value;
            }
        }
        calls
    };
    let (before, after) = (per_method(before), per_method(after));
    after
        .into_iter()
        .map(|(method, calls)| {
            let delta = calls - before.get(&method).copied().unwrap_or(0.0);
            (method, delta.max(0.0) / interval_s.max(f64::MIN_POSITIVE))
        })
        .collect()
}

/// The placement proxies follow (`netcraq proxy --placement-from URL`):
/// each placed key's first slot. With `proxies` proxies a key has slots
/// `slot..slot + proxies`, and first slots are multiples of `proxies`.
/// As JSON: `{"keys": [{"key": "/registry/...", "slot": 0}, ...]}`, keys
/// written as [`netcraq_metrics::bytes_label`] writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedPlacement {
    pub keys: BTreeMap<Vec<u8>, u16>,
}

impl PublishedPlacement {
    pub fn to_json(&self) -> String {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|(key, slot)| serde_json::json!({ "key": netcraq_metrics::bytes_label(key), "slot": slot }))
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// The placement in `text`, checked for `proxies` proxies and slots
    /// `0..slots`: every key's slots in range, aligned, and its own.
    pub fn from_json(text: &str, proxies: u16, slots: u16) -> Result<PublishedPlacement, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            key: String,
            slot: u16,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Document {
            keys: Vec<Entry>,
        }
        let document: Document = serde_json::from_str(text).map_err(|e| format!("not a placement: {e}"))?;
        let mut keys = BTreeMap::new();
        let mut used = BTreeSet::new();
        for Entry { key, slot } in document.keys {
            if key.is_empty() {
                return Err("an empty key".into());
            }
            if slot % proxies.max(1) != 0 || u32::from(slot) + u32::from(proxies) > u32::from(slots) {
                return Err(format!(
                    "{key}: slot {slot} is not a multiple of {proxies} proxies with its slots below {slots}"
                ));
            }
            if !used.insert(slot) || keys.insert(netcraq_metrics::label_bytes(&key), slot).is_some() {
                return Err(format!("{key}: its key or slot {slot} is placed twice"));
            }
        }
        Ok(PublishedPlacement { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(keys: &[(&str, u64)]) -> Vec<HotKey> {
        keys.iter().map(|(k, r)| HotKey { key: k.as_bytes().to_vec(), reads: *r }).collect()
    }

    fn placed(key: &str, slot: u16, slot_reads: u64, slot_writes: u64) -> PlacedKey {
        PlacedKey { key: key.as_bytes().to_vec(), slot, slot_reads, slot_writes }
    }

    fn settings(capacity: u16) -> PlacementSettings {
        PlacementSettings { capacity, min_rate: 10.0, hysteresis: 2.0, max_write_fraction: 0.5 }
    }

    fn promoted(moves: &[Move]) -> Vec<(&str, u16)> {
        moves
            .iter()
            .filter_map(|m| match m {
                Move::Promote { key, slot, .. } => Some((std::str::from_utf8(key).unwrap(), *slot)),
                _ => None,
            })
            .collect()
    }

    fn demoted(moves: &[Move]) -> Vec<(&str, DemoteReason)> {
        moves
            .iter()
            .filter_map(|m| match m {
                Move::Demote { key, reason, .. } => Some((std::str::from_utf8(key).unwrap(), *reason)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rates_are_shares_of_all_reads_and_at_least_a_slots_own_count() {
        let hot = hot(&[("a", 60), ("b", 40)]);
        let placed = [placed("c", 0, 200, 0)];
        let inputs = PlacementInputs { hot: &hot, placed: &placed, etcd_range_rate: 800.0, interval_s: 2.0 };
        let rates = key_rates(&inputs);
        assert_eq!(rates[b"a".as_slice()], 540.0, "60 % of 800 + 100 reads/s");
        assert_eq!(rates[b"b".as_slice()], 360.0);
        assert_eq!(rates[b"c".as_slice()], 100.0, "not in the sketch: its slot's 200 reads over 2 s");
    }

    #[test]
    fn free_slots_take_the_hottest_keys_above_the_minimum() {
        let hot = hot(&[("warm", 30), ("hot", 60), ("cold", 1)]);
        let inputs = PlacementInputs { hot: &hot, placed: &[], etcd_range_rate: 91.0, interval_s: 1.0 };
        let moves = decide(&inputs, &settings(1));
        assert_eq!(promoted(&moves), [("hot", 0)], "one slot: the hottest; cold (1/s) is under min_rate anyway");
        let moves = decide(&inputs, &settings(8));
        assert_eq!(promoted(&moves), [("hot", 0), ("warm", 1)]);
    }

    #[test]
    fn hysteresis_keeps_similar_keys_in_place_and_lets_much_hotter_ones_displace() {
        let placed = [placed("old", 0, 100, 0)];
        let similar = hot(&[("old", 50), ("new", 60)]);
        let inputs = PlacementInputs { hot: &similar, placed: &placed, etcd_range_rate: 0.0, interval_s: 1.0 };
        assert_eq!(decide(&inputs, &settings(1)), [], "new is not twice as hot as old");
        let much_hotter = hot(&[("old", 10), ("new", 90)]);
        let inputs = PlacementInputs { hot: &much_hotter, placed: &placed, etcd_range_rate: 900.0, interval_s: 1.0 };
        let moves = decide(&inputs, &settings(1));
        assert_eq!(demoted(&moves), [("old", DemoteReason::Displaced)]);
        assert_eq!(promoted(&moves), [], "its slot is reused in a later round only");
    }

    #[test]
    fn cold_and_written_keys_leave_first_and_their_slots_wait_a_round() {
        let placed = [placed("cold", 0, 1, 0), placed("written", 1, 10, 30), placed("fine", 2, 50, 1)];
        let hot = hot(&[("fine", 50), ("next", 50)]);
        let inputs = PlacementInputs { hot: &hot, placed: &placed, etcd_range_rate: 40.0, interval_s: 1.0 };
        let moves = decide(&inputs, &settings(4));
        assert_eq!(demoted(&moves), [("cold", DemoteReason::Cold), ("written", DemoteReason::Written)]);
        assert_eq!(promoted(&moves), [("next", 3)], "slot 3 was free; 0 and 1 are freed only now");
        assert!(matches!(moves.last(), Some(Move::Promote { .. })), "demotions first");
    }

    #[test]
    fn inputs_are_read_from_scrapes() {
        let proxy = netcraq_metrics::parse(
            "netcraq_proxy_hot_key_reads{key=\"/a\"} 3\nnetcraq_proxy_hot_key_reads{key=\"0xff\"} 9\n\
             netcraq_proxy_placed_slot{key=\"/a\"} 7\n",
        )
        .unwrap();
        let expected = [HotKey { key: vec![0xff], reads: 9 }, HotKey { key: b"/a".to_vec(), reads: 3 }];
        assert_eq!(proxy_hot_keys(&proxy), expected);
        assert_eq!(proxy_placed_slots(&proxy), [(b"/a".to_vec(), 7)]);
        let etcd = |range: u32, put: u32| {
            netcraq_metrics::parse(&format!(
                "grpc_server_started_total{{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"}} {range}\n\
                 grpc_server_started_total{{grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"}} {put}\n"
            ))
            .unwrap()
        };
        let rates = etcd_method_rates(&etcd(10, 4), &etcd(30, 5), 2.0);
        assert_eq!((rates["Range"], rates["Put"]), (10.0, 0.5));
    }

    #[test]
    fn published_placements_round_trip_and_bad_ones_are_refused() {
        let placement = PublishedPlacement { keys: BTreeMap::from([(b"/a".to_vec(), 0), (vec![0xff], 2)]) };
        assert_eq!(PublishedPlacement::from_json(&placement.to_json(), 2, 4), Ok(placement));
        let refused = |text: &str| PublishedPlacement::from_json(text, 2, 4).unwrap_err();
        assert!(refused("[]").starts_with("not a placement"));
        assert!(refused(r#"{"keys":[{"key":"/a","slot":1}]}"#).contains("multiple of 2"));
        assert!(refused(r#"{"keys":[{"key":"/a","slot":4}]}"#).contains("below 4"));
        assert!(refused(r#"{"keys":[{"key":"/a","slot":0},{"key":"/b","slot":0}]}"#).contains("twice"));
        assert!(refused(r#"{"keys":[{"key":"/a","slot":0},{"key":"/a","slot":2}]}"#).contains("twice"));
        assert!(refused(r#"{"keys":[{"key":"","slot":0}]}"#).contains("empty"));
    }
}
