//! What a client run records: one entry per operation, in any order.

/// Bytes in a register value (the NetCRAQ header's `value`).
pub const VALUE_LEN: usize = 16;

/// A register value.
pub type Value = [u8; VALUE_LEN];

/// A key: the index of one independent register.
pub type Key = u16;

/// Who issued an operation. Only used to describe operations in explanations.
pub type ClientId = u32;

/// What an operation did and what it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read that returned `value`. Reads that failed are not recorded.
    Read { value: Value },
    /// A write the store acknowledged.
    Write { value: Value },
    /// A write whose outcome is unknown (it timed out, or the store answered
    /// OUTCOME_UNKNOWN): it may take effect at any point after its invocation,
    /// or never.
    IndeterminateWrite { value: Value },
}

/// One operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    pub client: ClientId,
    pub key: Key,
    /// When the request was first sent.
    pub invoke_ns: u64,
    /// When the reply arrived. For an [`Action::IndeterminateWrite`], when the
    /// client gave up: recorded for explanations only, since the write may
    /// take effect later, the checker treats it as never returning.
    pub return_ns: u64,
    pub action: Action,
}

impl Operation {
    pub fn read(client: ClientId, key: Key, invoke_ns: u64, return_ns: u64, value: Value) -> Self {
        Operation { client, key, invoke_ns, return_ns, action: Action::Read { value } }
    }

    pub fn write(client: ClientId, key: Key, invoke_ns: u64, return_ns: u64, value: Value) -> Self {
        Operation { client, key, invoke_ns, return_ns, action: Action::Write { value } }
    }

    pub fn indeterminate_write(client: ClientId, key: Key, invoke_ns: u64, gave_up_ns: u64, value: Value) -> Self {
        Operation { client, key, invoke_ns, return_ns: gave_up_ns, action: Action::IndeterminateWrite { value } }
    }

    /// Whether the operation certainly took effect before `return_ns`.
    pub fn is_determinate(&self) -> bool {
        !matches!(self.action, Action::IndeterminateWrite { .. })
    }
}

/// What every register holds before the history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialValue {
    /// All zeros, as in a freshly started store.
    #[default]
    Zeros,
    /// Unknown (a store that earlier runs wrote to): the first reads of a key
    /// may return anything, as long as they agree with each other.
    Unknown,
}

/// A recorded history: operations on any number of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    initial_value: InitialValue,
    operations: Vec<Operation>,
}

impl History {
    /// An empty history of registers that start all zeros.
    pub fn new() -> Self {
        History::default()
    }

    pub fn with_initial_value(initial_value: InitialValue) -> Self {
        History { initial_value, operations: Vec::new() }
    }

    pub fn initial_value(&self) -> InitialValue {
        self.initial_value
    }

    /// Adds an operation.
    ///
    /// # Panics
    ///
    /// If the operation returned before it was invoked: that is a recording
    /// bug, and no verdict about such a history would mean anything.
    pub fn push(&mut self, operation: Operation) {
        assert!(
            operation.invoke_ns <= operation.return_ns,
            "operation returned ({} ns) before it was invoked ({} ns)",
            operation.return_ns,
            operation.invoke_ns
        );
        self.operations.push(operation);
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

impl FromIterator<Operation> for History {
    fn from_iter<I: IntoIterator<Item = Operation>>(operations: I) -> Self {
        let mut history = History::new();
        operations.into_iter().for_each(|operation| history.push(operation));
        history
    }
}
