//! Histories as JSON in Porcupine's conventions (docs/linearizability.md),
//! so that a checker nobody here wrote can verify what ours verified.

use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::history::{Action, ClientId, History, InitialValue, Key, Operation, Value, VALUE_LEN};

/// The `format` field of a history file; a new name when the format changes.
pub const HISTORY_FORMAT: &str = "netcraq-history/1";

/// The environment variable naming the directory tests save the histories
/// they check in (see [`save_history_if_requested`]).
pub const HISTORY_DIR_VAR: &str = "NETCRAQ_HISTORY_DIR";

/// Why a history could not be written or read as JSON.
#[derive(Debug)]
pub enum HistoryJsonError {
    /// A time beyond Porcupine's int64 nanoseconds.
    TimeOutOfRange {
        ns: u64,
    },
    /// Not JSON, or not shaped as the format says.
    Syntax(serde_json::Error),
    /// The `format` field names another format.
    Format(String),
    /// Operation `index` (counted from 0) breaks a rule of the format.
    Operation {
        index: usize,
        reason: &'static str,
    },
    Io(std::io::Error),
}

impl Display for HistoryJsonError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            HistoryJsonError::TimeOutOfRange { ns } => write!(f, "time {ns} ns does not fit Porcupine's int64"),
            HistoryJsonError::Syntax(error) => write!(f, "not a history in the JSON format: {error}"),
            HistoryJsonError::Format(format) => write!(f, "format {format:?} is not {HISTORY_FORMAT:?}"),
            HistoryJsonError::Operation { index, reason } => write!(f, "operation {index}: {reason}"),
            HistoryJsonError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for HistoryJsonError {}

impl From<std::io::Error> for HistoryJsonError {
    fn from(error: std::io::Error) -> Self {
        HistoryJsonError::Io(error)
    }
}

impl From<serde_json::Error> for HistoryJsonError {
    fn from(error: serde_json::Error) -> Self {
        HistoryJsonError::Syntax(error)
    }
}

/// The whole file. Written by hand, one operation a line, by
/// [`History::to_porcupine_json`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryFile {
    format: String,
    initial_value: InitialValue,
    operations: Vec<PorcupineOperation>,
}

/// A `porcupine.Operation` as Go's `encoding/json` writes and reads it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PorcupineOperation {
    client_id: ClientId,
    input: Input,
    call: i64,
    output: Output,
    #[serde(rename = "Return")]
    return_at: i64,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Input {
    Read { key: Key },
    Write { key: Key, value: HexValue },
}

/// A read's `{"value"}` or a write's `{"outcome"}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Output {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<HexValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<WriteOutcome>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum WriteOutcome {
    Ok,
    Unknown,
}

/// Porcupine ignores metadata; ours keeps when a client gave up on a write,
/// since `Return` then says something else. Other fields are allowed.
#[derive(Serialize, Deserialize)]
struct Metadata {
    #[serde(default)]
    gave_up_ns: Option<u64>,
}

/// A value as 32 hex digits (lowercase when written, either case read).
struct HexValue(Value);

impl Serialize for HexValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex = self.0.iter().fold(String::with_capacity(2 * VALUE_LEN), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
        serializer.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for HexValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        let invalid = || D::Error::custom(format!("value {hex:?} is not {} hex digits", 2 * VALUE_LEN));
        if hex.len() != 2 * VALUE_LEN || !hex.is_ascii() {
            return Err(invalid());
        }
        let mut value = Value::default();
        for (byte, digits) in value.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let digits = std::str::from_utf8(digits).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| invalid())?;
        }
        Ok(HexValue(value))
    }
}

impl History {
    /// The history in the JSON format of docs/linearizability.md: Porcupine
    /// operations, one a line. A write whose outcome is unknown returns
    /// after every other time in the history, as Porcupine expects.
    pub fn to_porcupine_json(&self) -> Result<String, HistoryJsonError> {
        let latest_ns = self.operations().iter().map(|operation| operation.return_ns).max().unwrap_or(0);
        let unknown_outcome_return_ns = latest_ns.saturating_add(1);
        let mut json = format!(
            "{{\"format\":{},\"initial_value\":{},\"operations\":[",
            serde_json::to_string(HISTORY_FORMAT)?,
            serde_json::to_string(&self.initial_value())?
        );
        for (index, operation) in self.operations().iter().enumerate() {
            json.push_str(if index == 0 { "\n" } else { ",\n" });
            json.push_str(&serde_json::to_string(&to_porcupine(operation, unknown_outcome_return_ns)?)?);
        }
        json.push_str("\n]}\n");
        Ok(json)
    }

    /// Reads a history written in the JSON format of docs/linearizability.md.
    pub fn from_porcupine_json(json: &str) -> Result<History, HistoryJsonError> {
        let file: HistoryFile = serde_json::from_str(json)?;
        if file.format != HISTORY_FORMAT {
            return Err(HistoryJsonError::Format(file.format));
        }
        let latest_call = file.operations.iter().map(|operation| operation.call).max().unwrap_or(0);
        let mut history = History::with_initial_value(file.initial_value);
        for (index, operation) in file.operations.iter().enumerate() {
            let operation = from_porcupine(operation, latest_call)
                .map_err(|reason| HistoryJsonError::Operation { index, reason })?;
            history.push(operation);
        }
        Ok(history)
    }
}

fn to_porcupine(operation: &Operation, unknown_outcome_return_ns: u64) -> Result<PorcupineOperation, HistoryJsonError> {
    let key = operation.key;
    let (input, output, return_ns, metadata) = match operation.action {
        Action::Read { value } => {
            (Input::Read { key }, Output { value: Some(HexValue(value)), outcome: None }, operation.return_ns, None)
        }
        Action::Write { value } => (
            Input::Write { key, value: HexValue(value) },
            Output { value: None, outcome: Some(WriteOutcome::Ok) },
            operation.return_ns,
            None,
        ),
        Action::IndeterminateWrite { value } => (
            Input::Write { key, value: HexValue(value) },
            Output { value: None, outcome: Some(WriteOutcome::Unknown) },
            unknown_outcome_return_ns,
            Some(Metadata { gave_up_ns: Some(operation.return_ns) }),
        ),
    };
    Ok(PorcupineOperation {
        client_id: operation.client,
        input,
        call: porcupine_time(operation.invoke_ns)?,
        output,
        return_at: porcupine_time(return_ns)?,
        metadata,
    })
}

fn porcupine_time(ns: u64) -> Result<i64, HistoryJsonError> {
    i64::try_from(ns).map_err(|_| HistoryJsonError::TimeOutOfRange { ns })
}

/// One operation of a file. A write whose outcome is unknown must return no
/// earlier than the latest invocation, or Porcupine would read the history
/// differently from this checker, which lets such a write never take effect.
fn from_porcupine(operation: &PorcupineOperation, latest_call: i64) -> Result<Operation, &'static str> {
    let invoke_ns = u64::try_from(operation.call).map_err(|_| "Call is negative")?;
    let return_ns = u64::try_from(operation.return_at).map_err(|_| "Return is negative")?;
    if return_ns < invoke_ns {
        return Err("Return is before Call");
    }
    let client = operation.client_id;
    match (&operation.input, &operation.output) {
        (&Input::Read { key }, Output { value: Some(value), outcome: None }) => {
            Ok(Operation::read(client, key, invoke_ns, return_ns, value.0))
        }
        (&Input::Write { key, ref value }, Output { value: None, outcome: Some(WriteOutcome::Ok) }) => {
            Ok(Operation::write(client, key, invoke_ns, return_ns, value.0))
        }
        (&Input::Write { key, ref value }, Output { value: None, outcome: Some(WriteOutcome::Unknown) }) => {
            if operation.return_at < latest_call {
                return Err("a write whose outcome is unknown returns before another operation is invoked");
            }
            let gave_up_ns = operation.metadata.as_ref().and_then(|metadata| metadata.gave_up_ns).unwrap_or(return_ns);
            if gave_up_ns < invoke_ns {
                return Err("gave_up_ns is before Call");
            }
            Ok(Operation::indeterminate_write(client, key, invoke_ns, gave_up_ns, value.0))
        }
        (Input::Read { .. }, _) => Err("a read's Output must be {\"value\": ...} alone"),
        (Input::Write { .. }, _) => Err("a write's Output must be {\"outcome\": \"ok\" or \"unknown\"} alone"),
    }
}

/// Saves `history` as `<name>.json` in the directory [`HISTORY_DIR_VAR`]
/// names, when it is set, and returns the path; does nothing otherwise. A
/// name this process saved before gets a suffix (`-2`, `-3`, ...) instead of
/// overwriting; characters other than ASCII letters, digits, `-` and `_`
/// become `-`.
pub fn save_history_if_requested(history: &History, name: &str) -> Result<Option<PathBuf>, HistoryJsonError> {
    let Some(dir) = std::env::var_os(HISTORY_DIR_VAR).filter(|dir| !dir.is_empty()) else {
        return Ok(None);
    };
    let json = history.to_porcupine_json()?;
    std::fs::create_dir_all(&dir)?;
    let path = Path::new(&dir).join(unique_file_name(name));
    std::fs::write(&path, json)?;
    Ok(Some(path))
}

fn unique_file_name(name: &str) -> String {
    static SAVED: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let stem: String = name.chars().map(|c| if allowed(c) { c } else { '-' }).collect();
    let mut saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner);
    let count = saved.entry(stem.clone()).or_insert(0);
    *count += 1;
    match *count {
        1 => format!("{stem}.json"),
        n => format!("{stem}-{n}.json"),
    }
}
