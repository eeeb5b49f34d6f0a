//! `netcraq ctl top --proxy-metrics URL --etcd-metrics URL`: the placement
//! view (docs/metrics.md, "Placement"): etcd's calls per second by method,
//! the proxy's counters and hottest keys, the keys placed in NetCRAQ slots
//! with their rates, and what placement would do next.

use netcraq_controller::placement::{
    decide, etcd_method_rates, key_rates, proxy_hot_keys, proxy_placed_slots, HotKey, Move, PlacedKey, PlacementInputs,
    PlacementSettings,
};
use netcraq_controller::stats::NodeCounters;
use netcraq_metrics::{bytes_label, parse, scrape, Samples};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The proxy's cache counters `top` reports when the proxy exports them.
const CACHE_HITS: &str = "netcraq_proxy_cache_hits_total";
const CACHE_MISSES: &str = "netcraq_proxy_cache_misses_total";

/// Where the view's inputs come from.
pub struct Sources<'a> {
    pub proxy: Option<&'a str>,
    pub etcd: Option<&'a str>,
}

/// A scrape of `url`, parsed.
pub fn scrape_samples(url: &str) -> Result<Samples, String> {
    parse(&scrape(url, SCRAPE_TIMEOUT)?).map_err(|e| format!("{url}: {e}"))
}

/// What the view shows, from two samples `interval_s` apart.
pub struct View {
    etcd_rates: BTreeMap<String, f64>,
    proxy: Samples,
    hot: Vec<HotKey>,
    placed: Vec<PlacedKey>,
    interval_s: f64,
    settings: PlacementSettings,
}

impl View {
    /// Takes the etcd scrapes and node counters from before and after the
    /// interval, and the proxy's scrape from after.
    pub fn new(
        etcd: Option<(Samples, Samples)>,
        proxy: Samples,
        nodes: (&[NodeCounters], &[NodeCounters]),
        interval_s: f64,
        settings: PlacementSettings,
    ) -> View {
        let etcd_rates = etcd.map(|(before, after)| etcd_method_rates(&before, &after, interval_s)).unwrap_or_default();
        let slot_delta = |per_node: fn(&NodeCounters) -> &Vec<u64>, slot: u16| -> u64 {
            let total = |all: &[NodeCounters]| {
                all.iter()
                    .map(|n| per_node(n).get(usize::from(slot)).copied().unwrap_or(0))
                    .fold(0u64, u64::wrapping_add)
            };
            total(nodes.1).wrapping_sub(total(nodes.0))
        };
        let placed = proxy_placed_slots(&proxy)
            .into_iter()
            .map(|(key, slot)| PlacedKey {
                key,
                slot,
                slot_reads: slot_delta(|n| &n.key_reads, slot),
                slot_writes: slot_delta(|n| &n.key_writes, slot),
            })
            .collect();
        View { etcd_rates, hot: proxy_hot_keys(&proxy), proxy, placed, interval_s, settings }
    }

    fn inputs(&self) -> PlacementInputs<'_> {
        PlacementInputs {
            hot: &self.hot,
            placed: &self.placed,
            etcd_range_rate: self.etcd_rates.get("Range").copied().unwrap_or(0.0),
            interval_s: self.interval_s,
        }
    }

    /// Of the proxy's cache-answerable Ranges, the share its cache answered, when it says.
    fn cache_hit_rate(&self) -> Option<f64> {
        let hits = self.proxy.sum(CACHE_HITS, &[])?;
        let misses = self.proxy.sum(CACHE_MISSES, &[]).unwrap_or(0.0);
        (hits + misses > 0.0).then(|| hits / (hits + misses))
    }

    pub fn json(&self, limit: usize) -> Value {
        let rates = key_rates(&self.inputs());
        let rate = |key: &[u8]| rates.get(key).copied().unwrap_or(0.0);
        let moves: Vec<Value> = decide(&self.inputs(), &self.settings).iter().map(move_json).collect();
        json!({
            "interval_s": self.interval_s,
            "etcd_rates": self.etcd_rates,
            "cache_hit_rate": self.cache_hit_rate(),
            "placed": self.placed.iter().map(|p| json!({
                "key": bytes_label(&p.key), "slot": p.slot, "reads": p.slot_reads, "writes": p.slot_writes,
                "rate": rate(&p.key),
            })).collect::<Vec<_>>(),
            "candidates": self.hot.iter().take(limit).map(|h| json!({
                "key": bytes_label(&h.key), "estimated_reads": h.reads, "rate": rate(&h.key),
            })).collect::<Vec<_>>(),
            "moves": moves,
        })
    }

    pub fn print(&self, sources: &Sources, limit: usize) {
        let rates = key_rates(&self.inputs());
        let rate = |key: &[u8]| rates.get(key).copied().unwrap_or(0.0);
        println!();
        if let Some(url) = sources.etcd {
            let calls: Vec<String> = self
                .etcd_rates
                .iter()
                .filter(|(_, r)| **r > 0.0)
                .map(|(method, r)| format!("{method} {r:.1}"))
                .collect();
            let calls = if calls.is_empty() { "none".to_string() } else { calls.join(", ") };
            println!("etcd ({url}): calls/s over {:.1} s: {calls}", self.interval_s);
        }
        if let Some(url) = sources.proxy {
            let count = |name: &str| self.proxy.sum(name, &[]).map_or("-".to_string(), |v| format!("{v:.0}"));
            let hit_rate = self.cache_hit_rate().map_or("-".to_string(), |r| format!("{:.1} %", r * 100.0));
            println!(
                "proxy ({url}): Ranges forwarded {}, cache candidates {}, cache hit rate {hit_rate}",
                count("netcraq_proxy_ranges_forwarded_total"),
                count("netcraq_proxy_cache_candidates_total"),
            );
        }
        let moves = decide(&self.inputs(), &self.settings);
        println!("placed keys ({} of {} slots):", self.placed.len(), self.settings.capacity);
        println!("{:>6} {:>10} {:>10} {:>10}  key", "slot", "reads/s", "writes/s", "est. rate");
        for placed in &self.placed {
            let per_second = |count: u64| count as f64 / self.interval_s.max(f64::MIN_POSITIVE);
            println!(
                "{:>6} {:>10.1} {:>10.1} {:>10.1}  {}",
                placed.slot,
                per_second(placed.slot_reads),
                per_second(placed.slot_writes),
                rate(&placed.key),
                bytes_label(&placed.key)
            );
        }
        if self.placed.is_empty() {
            println!("{:>6}", "(none)");
        }
        println!("candidates: the proxy's hottest keys (min {} reads/s for a slot):", self.settings.min_rate);
        println!("{:>10} {:>10}  {:<28} key", "est. reads", "rate/s", "placement");
        for hot in self.hot.iter().take(limit) {
            let decision = moves.iter().find_map(|m| match m {
                Move::Promote { key, slot, .. } if *key == hot.key => Some(format!("promote to slot {slot}")),
                Move::Demote { key, slot, reason } if *key == hot.key => {
                    Some(format!("demote from {slot} ({reason:?})"))
                }
                _ => None,
            });
            let placed = self.placed.iter().any(|p| p.key == hot.key);
            let decision = decision.unwrap_or_else(|| if placed { "placed".into() } else { "-".into() });
            println!("{:>10} {:>10.1}  {:<28} {}", hot.reads, rate(&hot.key), decision, bytes_label(&hot.key));
        }
        if self.hot.is_empty() {
            println!("{:>10}", "(none)");
        }
    }
}

fn move_json(step: &Move) -> Value {
    match step {
        Move::Promote { key, slot, rate } => json!({ "promote": bytes_label(key), "slot": slot, "rate": rate }),
        Move::Demote { key, slot, reason } => {
            json!({ "demote": bytes_label(key), "slot": slot, "reason": format!("{reason:?}").to_lowercase() })
        }
    }
}
