//! The set of operations linearized so far, with a compact form for the memo.
//!
//! Operations are numbered in invocation order and linearized roughly in that
//! order, so a set is nearly always "everything below some index, plus a few
//! bits above it". The compact form keeps only the words between the first
//! word that is not full and the last word that is not empty, which keeps the
//! memo linear in the history's length instead of quadratic.

const WORD_BITS: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    /// Every word below this index is all ones.
    full_words: usize,
    /// Every word at or above this index is zero.
    used_words: usize,
}

/// A [`Bitset`]'s contents in compact form; equal sets have equal keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CompactSet {
    full_words: u32,
    middle_words: Box<[u64]>,
}

impl Bitset {
    pub(crate) fn with_capacity(bits: usize) -> Self {
        Bitset { words: vec![0; bits.div_ceil(WORD_BITS)], full_words: 0, used_words: 0 }
    }

    pub(crate) fn insert(&mut self, index: usize) {
        let word = index / WORD_BITS;
        self.words[word] |= 1 << (index % WORD_BITS);
        self.used_words = self.used_words.max(word + 1);
        while self.full_words < self.words.len() && self.words[self.full_words] == u64::MAX {
            self.full_words += 1;
        }
    }

    pub(crate) fn remove(&mut self, index: usize) {
        let word = index / WORD_BITS;
        self.words[word] &= !(1 << (index % WORD_BITS));
        self.full_words = self.full_words.min(word);
        while self.used_words > 0 && self.words[self.used_words - 1] == 0 {
            self.used_words -= 1;
        }
    }

    pub(crate) fn contains(&self, index: usize) -> bool {
        self.words[index / WORD_BITS] & (1 << (index % WORD_BITS)) != 0
    }

    pub(crate) fn compact(&self) -> CompactSet {
        let middle_end = self.used_words.max(self.full_words);
        CompactSet { full_words: self.full_words as u32, middle_words: self.words[self.full_words..middle_end].into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_built_in_different_orders_have_equal_compact_forms() {
        let mut ascending = Bitset::with_capacity(200);
        (0..130).for_each(|bit| ascending.insert(bit));
        ascending.insert(150);

        let mut scattered = Bitset::with_capacity(200);
        scattered.insert(199);
        scattered.insert(150);
        (0..130).rev().for_each(|bit| scattered.insert(bit));
        scattered.remove(199);

        assert_eq!(ascending.compact(), scattered.compact());
        assert_eq!(ascending.compact().full_words, 2);
        assert_eq!(ascending.compact().middle_words.len(), 1);
    }

    #[test]
    fn removing_a_bit_below_the_full_prefix_changes_the_compact_form() {
        let mut set = Bitset::with_capacity(128);
        (0..128).for_each(|bit| set.insert(bit));
        let full = set.compact();
        set.remove(3);
        assert_ne!(set.compact(), full);
        set.insert(3);
        assert_eq!(set.compact(), full);
    }

    #[test]
    fn the_empty_set_is_compact() {
        let mut set = Bitset::with_capacity(64);
        set.insert(5);
        set.remove(5);
        assert_eq!(set.compact(), Bitset::with_capacity(64).compact());
        assert!(set.compact().middle_words.is_empty());
    }
}
