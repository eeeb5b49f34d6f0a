//! The coherence protocol of hot reads, sans I/O (docs/kubernetes.md, "Hot
//! reads"): what a proxy keeps in NetCRAQ for a placed key, when a cached
//! answer may be served, and the steps of a write and of a restart.
//!
//! Every proxy has a slot of its own per placed key (one writer per slot,
//! since NetCRAQ's WRITE is a blind put): it marks its slot dirty before
//! sending a write of the key to etcd and clean, at a revision no older than
//! that write's, after etcd answered. A read serves the cached value at mod
//! revision `M` only when every proxy's slot is clean and the newest clean
//! revision among them is `M`: no proxy then has a write in flight, and no
//! write of the key committed after `M` (its writer's slot would be dirty or
//! newer). A restarted proxy first fences its previous incarnation's etcd
//! writes that may still be in flight (every write it sends compares its
//! fence key's mod revision), then observes the key and marks its slot clean.

/// What a proxy's NetCRAQ slot of a placed key says; 16 bytes, a NetCRAQ value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Record {
    /// Never written (NetCRAQ's registers start at zero), or not a record
    /// of this protocol: nothing may be served.
    Unknown,
    /// The slot's proxy may have a write of the key in flight to etcd; `fence`
    /// is the mod revision of its fence key, which names its incarnation.
    Dirty { tag: u32, fence: i64 },
    /// The slot's proxy has no write of the key in flight, and every write of
    /// it the proxy sent committed at or before `revision`.
    Clean { tag: u32, revision: i64 },
}

// State 0, with every other byte: unknown (NetCRAQ's registers start at zero).
const DIRTY: u8 = 1;
const CLEAN: u8 = 2;

impl Record {
    /// Byte 0 the state, bytes 4..8 the key's tag, bytes 8..16 the revision
    /// or fence, big-endian; the rest zero.
    pub fn to_bytes(self) -> [u8; 16] {
        let (state, tag, number) = match self {
            Record::Unknown => return [0; 16],
            Record::Dirty { tag, fence } => (DIRTY, tag, fence),
            Record::Clean { tag, revision } => (CLEAN, tag, revision),
        };
        let mut bytes = [0; 16];
        bytes[0] = state;
        bytes[4..8].copy_from_slice(&tag.to_be_bytes());
        bytes[8..16].copy_from_slice(&number.to_be_bytes());
        bytes
    }

    /// The record in a slot's bytes; anything this protocol did not write
    /// (a stray value, another program's slot) reads as [`Record::Unknown`].
    pub fn from_bytes(bytes: [u8; 16]) -> Record {
        let tag = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"));
        let number = i64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        match (bytes[0], bytes[1..4] == [0; 3], number > 0) {
            (DIRTY, true, true) => Record::Dirty { tag, fence: number },
            (CLEAN, true, true) => Record::Clean { tag, revision: number },
            _ => Record::Unknown,
        }
    }
}

/// A short fingerprint of an etcd key, in every record of its slots: proxies
/// whose placements disagree about a slot never trust each other's records.
pub fn key_tag(key: &[u8]) -> u32 {
    // FNV-1a, 32 bits.
    key.iter().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
}

/// What a cached key holds, as far as the decision needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cached {
    pub mod_revision: i64,
    /// etcd's lease of the key; 0 for none.
    pub lease: i64,
}

/// Whether a single-key latest Range of a placed key is answered from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the cached value: it is the key's latest.
    Hit,
    Miss(Miss),
}

/// Why a read goes to etcd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// Some proxy may have a write of the key in flight.
    Dirty,
    /// Some slot was never written, or holds another key's record.
    Unknown,
    /// The proxy holds no value of the key, or one with a lease.
    NotCached,
    /// The cached value is not the one the slots name.
    Stale,
}

/// Decides a read from every proxy's record of the key (in any order) and
/// what this proxy has cached.
pub fn judge_read(tag: u32, records: &[Record], cached: Option<Cached>) -> Verdict {
    let mut newest = None;
    for record in records {
        match *record {
            Record::Clean { tag: t, revision } if t == tag => newest = newest.max(Some(revision)),
            Record::Dirty { tag: t, .. } if t == tag => return Verdict::Miss(Miss::Dirty),
            _ => return Verdict::Miss(Miss::Unknown),
        }
    }
    match (cached, newest) {
        (Some(cached), _) if cached.lease != 0 => Verdict::Miss(Miss::NotCached),
        (None, _) => Verdict::Miss(Miss::NotCached),
        (Some(cached), Some(newest)) if cached.mod_revision == newest => Verdict::Hit,
        _ => Verdict::Miss(Miss::Stale),
    }
}

/// Whether a value etcd returned may be cached: it exists and has no lease
/// (a lease's expiry deletes the key without a write through a proxy).
pub fn cacheable(lease: i64) -> bool {
    lease == 0
}

/// The record a writer puts in its slot once etcd answered its write, which
/// committed, if it changed the key, at the response's `revision`: that
/// revision when the write may have changed the key, or when the slot was
/// not clean before; otherwise the clean record it held before the write.
/// Either is no older than any write of the key the proxy sent.
pub fn clean_after_write(tag: u32, revision: i64, may_have_changed_key: bool, before: Record) -> Record {
    match before {
        Record::Clean { tag: t, .. } if t == tag && !may_have_changed_key => before,
        _ => Record::Clean { tag, revision },
    }
}

/// The record a restarted proxy puts in its slot once its fence is in
/// place: the key's mod revision as etcd then reported it, or the
/// response's revision when the key does not exist.
pub fn clean_after_restart(tag: u32, observed_mod_revision: Option<i64>, response_revision: i64) -> Record {
    Record::Clean { tag, revision: observed_mod_revision.unwrap_or(response_revision) }
}

/// The steps of a write of placed keys through a proxy, in order; a crash
/// may stop it after any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WriteStep {
    /// Take the key's write lock in this proxy (one write of a key at a time
    /// per proxy, so its slot is written in order).
    Lock,
    /// NetCRAQ WRITE of [`Record::Dirty`] to the proxy's slot.
    MarkDirty,
    /// The client's request, inside a Txn that compares the proxy's fence.
    Commit,
    /// NetCRAQ WRITE of [`clean_after_write`]; then answer the client.
    MarkClean,
}

/// The steps of a proxy's start, before it writes or serves placed keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RestartStep {
    /// Put the proxy's fence key: a write of an earlier incarnation still
    /// in flight to etcd now fails its compare.
    Fence,
    /// A linearizable Range of each placed key.
    Observe,
    /// NetCRAQ WRITE of [`clean_after_restart`].
    MarkClean,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: u32 = 7;

    #[test]
    fn records_round_trip_and_strays_are_unknown() {
        for record in
            [Record::Unknown, Record::Dirty { tag: TAG, fence: 9 }, Record::Clean { tag: u32::MAX, revision: 1 << 40 }]
        {
            assert_eq!(Record::from_bytes(record.to_bytes()), record);
        }
        assert_eq!(Record::from_bytes(*b"hello, netcraq!!"), Record::Unknown);
        let mut zero_revision = Record::Clean { tag: TAG, revision: 1 }.to_bytes();
        zero_revision[15] = 0;
        assert_eq!(Record::from_bytes(zero_revision), Record::Unknown);
    }

    #[test]
    fn a_read_hits_only_when_every_slot_is_clean_and_the_newest_is_cached() {
        let clean = |revision| Record::Clean { tag: TAG, revision };
        let cached = |mod_revision| Some(Cached { mod_revision, lease: 0 });
        assert_eq!(judge_read(TAG, &[clean(5), clean(3)], cached(5)), Verdict::Hit);
        assert_eq!(judge_read(TAG, &[clean(5), clean(3)], cached(3)), Verdict::Miss(Miss::Stale));
        let dirty = Record::Dirty { tag: TAG, fence: 2 };
        assert_eq!(judge_read(TAG, &[clean(5), dirty], cached(5)), Verdict::Miss(Miss::Dirty));
        assert_eq!(judge_read(TAG, &[clean(5), Record::Unknown], cached(5)), Verdict::Miss(Miss::Unknown));
        let other_key = Record::Clean { tag: TAG + 1, revision: 5 };
        assert_eq!(judge_read(TAG, &[clean(5), other_key], cached(5)), Verdict::Miss(Miss::Unknown));
        assert_eq!(judge_read(TAG, &[clean(5)], None), Verdict::Miss(Miss::NotCached));
        let leased = Some(Cached { mod_revision: 5, lease: 3 });
        assert_eq!(judge_read(TAG, &[clean(5)], leased), Verdict::Miss(Miss::NotCached));
    }

    #[test]
    fn a_writer_cleans_at_its_revision_unless_the_key_surely_did_not_change() {
        let before = Record::Clean { tag: TAG, revision: 4 };
        assert_eq!(clean_after_write(TAG, 9, true, before), Record::Clean { tag: TAG, revision: 9 });
        assert_eq!(clean_after_write(TAG, 9, false, before), before);
        let dirty = Record::Dirty { tag: TAG, fence: 2 };
        assert_eq!(clean_after_write(TAG, 9, false, dirty), Record::Clean { tag: TAG, revision: 9 });
        assert_eq!(clean_after_restart(TAG, None, 12), Record::Clean { tag: TAG, revision: 12 });
        assert_eq!(clean_after_restart(TAG, Some(3), 12), Record::Clean { tag: TAG, revision: 3 });
    }

    #[test]
    fn tags_tell_keys_apart() {
        assert_ne!(key_tag(b"/registry/a"), key_tag(b"/registry/b"));
        assert_eq!(key_tag(b""), 0x811c_9dc5);
    }
}
