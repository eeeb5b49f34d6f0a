//! Linearizability checking of recorded key-value histories.
