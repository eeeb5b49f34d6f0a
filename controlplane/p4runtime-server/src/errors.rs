//! A node's refusals and failures as P4Runtime error codes.

use netcraq_core::control::{ControlError, ControlResponse};
use netcraq_core::{FabricPortError, KeyGroupError, RouteError};
use netcraq_p4runtime::P4Error;
use tonic::{Code, Status};

/// The RPC-wide error for an answer the handler did not expect.
pub fn unexpected(answer: Result<ControlResponse, ControlError>) -> Status {
    match answer {
        Err(error) => node_unavailable(error),
        Ok(other) => Status::internal(format!("the node answered {other:?}")),
    }
}

/// The RPC-wide error for a node's refusal, or when its poll loop cannot take the request.
pub fn node_unavailable(error: ControlError) -> Status {
    let P4Error { code, message } = control_error(error);
    Status::new(code, message)
}

/// A node's refusal as a P4Runtime error code.
pub fn control_error(error: ControlError) -> P4Error {
    let code = match &error {
        ControlError::Config(_) => Code::InvalidArgument,
        ControlError::Route(RouteError::Duplicate) => Code::AlreadyExists,
        ControlError::Route(RouteError::NotFound) => Code::NotFound,
        ControlError::Route(RouteError::Full) => Code::ResourceExhausted,
        ControlError::Route(RouteError::BadPrefix) => Code::InvalidArgument,
        ControlError::FabricPort(FabricPortError::Duplicate) => Code::AlreadyExists,
        ControlError::FabricPort(FabricPortError::NotFound) => Code::NotFound,
        ControlError::FabricPort(FabricPortError::Full) => Code::ResourceExhausted,
        ControlError::KeyGroup(KeyGroupError::Duplicate) => Code::AlreadyExists,
        ControlError::KeyGroup(KeyGroupError::NotFound) => Code::NotFound,
        ControlError::KeyGroup(KeyGroupError::Full) => Code::ResourceExhausted,
        ControlError::KeyGroup(KeyGroupError::BadPrefix | KeyGroupError::Chain(_)) => Code::InvalidArgument,
        ControlError::KeyGroup(KeyGroupError::BeyondCapacity { .. }) => Code::OutOfRange,
        ControlError::IndexOutOfRange { .. } | ControlError::ValueTooWide { .. } => Code::OutOfRange,
        ControlError::PacketOutTooLong(_) => Code::InvalidArgument,
        ControlError::BadBatch(_) | ControlError::LcoresDiffer(_) => Code::Internal,
        ControlError::Busy | ControlError::NodeStopped => Code::Unavailable,
        ControlError::TimedOut(_) => Code::DeadlineExceeded,
    };
    P4Error::new(code, error.to_string())
}
