//! The spec's status of a failed Write, both ways: the server sends one
//! `p4.v1.Error` per update in the details of a `google.rpc.Status`, and the
//! client reads which updates failed back from them.

use crate::entities::P4Error;
use crate::proto::google::rpc;
use crate::proto::p4::v1 as p4;
use prost::Message;
use tonic::{Code, Status};

const TYPE_URL_P4_ERROR: &str = "type.googleapis.com/p4.v1.Error";

/// The spec's Write failure: UNKNOWN, with one p4.v1.Error per update (OK
/// for those that succeeded) in a google.rpc.Status in the status details.
/// At least one of `outcomes` must have failed.
pub fn write_failure(outcomes: &[Result<(), P4Error>]) -> Status {
    let failed: Vec<(usize, &P4Error)> =
        outcomes.iter().enumerate().filter_map(|(i, o)| o.as_ref().err().map(|e| (i, e))).collect();
    let (first_index, first) = failed[0];
    let message = format!(
        "Write failure: {} of {} updates failed; update {first_index}: {:?}: {}",
        failed.len(),
        outcomes.len(),
        first.code,
        first.message
    );
    let details = outcomes
        .iter()
        .map(|outcome| {
            let error = match outcome {
                Ok(()) => p4::Error { canonical_code: Code::Ok as i32, ..Default::default() },
                Err(e) => p4::Error { canonical_code: e.code as i32, message: e.message.clone(), ..Default::default() },
            };
            prost_types::Any { type_url: TYPE_URL_P4_ERROR.to_string(), value: error.encode_to_vec() }
        })
        .collect();
    let status = rpc::Status { code: Code::Unknown as i32, message: message.clone(), details };
    Status::with_details(Code::Unknown, message, status.encode_to_vec().into())
}

/// The per-update errors of a failed Write, decoded from its status details:
/// `(update index, code, message)` of each failed update.
pub fn write_errors(status: &Status) -> Vec<(usize, Code, String)> {
    let Ok(details) = rpc::Status::decode(status.details()) else { return vec![] };
    details
        .details
        .iter()
        .enumerate()
        .filter(|(_, any)| any.type_url.ends_with("p4.v1.Error"))
        .filter_map(|(index, any)| p4::Error::decode(any.value.as_slice()).ok().map(|e| (index, e)))
        .filter(|(_, error)| error.canonical_code != Code::Ok as i32)
        .map(|(index, error)| (index, Code::from(error.canonical_code), error.message))
        .collect()
}
