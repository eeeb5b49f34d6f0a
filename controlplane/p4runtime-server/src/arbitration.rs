//! Arbitration of the default role (spec §5), as a pure state machine: it
//! says which controllers to notify and what to tell them; the service
//! sends the notices.

use netcraq_p4runtime::proto::google::rpc;
use netcraq_p4runtime::proto::p4::v1 as p4;
use std::collections::HashMap;
use tonic::{Code, Status};

/// Controllers (open StreamChannels) at once; more are refused (RESOURCE_EXHAUSTED).
pub const MAX_CONTROLLERS: usize = 16;

/// One controller: where its notices go (its StreamChannel) and the
/// election id it claimed.
struct Controller<N> {
    election_id: u128,
    notices: N,
}

/// The controller with the highest election id ever seen is primary; when
/// it leaves, there is no primary until a controller claims an id at least
/// as high. Controllers are known by their stream number.
pub struct Arbitration<N> {
    controllers: HashMap<u64, Controller<N>>,
    primary: Option<u64>,
    highest_seen: Option<u128>,
}

impl<N> Default for Arbitration<N> {
    fn default() -> Self {
        Arbitration { controllers: HashMap::new(), primary: None, highest_seen: None }
    }
}

impl<N> Arbitration<N> {
    pub fn primary_election_id(&self) -> Option<u128> {
        self.primary.and_then(|stream| self.controllers.get(&stream)).map(|c| c.election_id)
    }

    pub fn is_primary(&self, stream: u64) -> bool {
        self.primary == Some(stream)
    }

    /// Where the notices of controller `stream` go.
    pub fn notices(&self, stream: u64) -> Option<&N> {
        self.controllers.get(&stream).map(|c| &c.notices)
    }

    /// The notice for controller `stream`: the highest id seen, and OK to the
    /// primary, ALREADY_EXISTS to backups, NOT_FOUND to all when no primary.
    pub fn notice(&self, device_id: u64, stream: u64) -> p4::StreamMessageResponse {
        let (code, message) = match self.primary {
            Some(primary) if primary == stream => (Code::Ok, "primary"),
            Some(_) => (Code::AlreadyExists, "backup: another controller is primary"),
            None => (Code::NotFound, "backup: no controller is primary"),
        };
        let update = p4::MasterArbitrationUpdate {
            device_id,
            role: None,
            election_id: self.highest_seen.map(uint128),
            status: Some(rpc::Status { code: code as i32, message: message.to_string(), details: vec![] }),
        };
        p4::StreamMessageResponse { update: Some(p4::stream_message_response::Update::Arbitration(update)) }
    }

    fn all(&self) -> Vec<u64> {
        self.controllers.keys().copied().collect()
    }

    /// Applies one MasterArbitrationUpdate from `stream`, whose notices go
    /// to `notices`; returns the controllers to notify. An error terminates
    /// the stream.
    pub fn update(&mut self, stream: u64, election_id: u128, notices: N) -> Result<Vec<u64>, Status> {
        if self.controllers.iter().any(|(other, c)| *other != stream && c.election_id == election_id) {
            return Err(Status::invalid_argument(format!(
                "election id {election_id} is already used by another controller: pick another"
            )));
        }
        if !self.controllers.contains_key(&stream) && self.controllers.len() >= MAX_CONTROLLERS {
            return Err(Status::resource_exhausted(format!("{MAX_CONTROLLERS} controllers are connected already")));
        }
        let was_primary = self.primary == Some(stream);
        self.controllers.insert(stream, Controller { election_id, notices });
        if self.highest_seen.is_none_or(|highest| election_id >= highest) {
            self.highest_seen = Some(election_id);
            self.primary = Some(stream);
            // Everyone learns of the (possibly new) primary: the old primary
            // that it is a backup now, the others who is primary.
            Ok(self.all())
        } else if was_primary {
            // The primary lowered its id below the highest seen: it steps down.
            self.primary = None;
            Ok(self.all())
        } else {
            Ok(vec![stream])
        }
    }

    /// Forgets controller `stream`; returns the controllers to notify.
    pub fn disconnect(&mut self, stream: u64) -> Vec<u64> {
        match self.controllers.remove(&stream).is_some() && self.primary == Some(stream) {
            true => {
                self.primary = None;
                self.all()
            }
            false => vec![],
        }
    }
}

pub fn uint128(value: u128) -> p4::Uint128 {
    p4::Uint128 { high: (value >> 64) as u64, low: value as u64 }
}

pub fn from_uint128(value: Option<&p4::Uint128>) -> Option<u128> {
    value.map(|v| (u128::from(v.high) << 64) | u128::from(v.low))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(notice: &p4::StreamMessageResponse) -> Code {
        match &notice.update {
            Some(p4::stream_message_response::Update::Arbitration(update)) => {
                Code::from(update.status.as_ref().unwrap().code)
            }
            other => panic!("not an arbitration notice: {other:?}"),
        }
    }

    fn sorted(mut streams: Vec<u64>) -> Vec<u64> {
        streams.sort_unstable();
        streams
    }

    #[test]
    fn the_highest_election_id_is_primary_and_everyone_hears_of_a_new_one() {
        let mut arbitration = Arbitration::<()>::default();
        assert_eq!(arbitration.update(1, 5, ()).ok(), Some(vec![1]));
        assert_eq!(arbitration.update(2, 3, ()).ok(), Some(vec![2]));
        assert_eq!(
            (status_of(&arbitration.notice(1, 1)), status_of(&arbitration.notice(1, 2))),
            (Code::Ok, Code::AlreadyExists)
        );
        assert_eq!(sorted(arbitration.update(2, 7, ()).unwrap()), vec![1, 2]);
        assert_eq!(arbitration.primary_election_id(), Some(7));
        assert_eq!(status_of(&arbitration.notice(1, 1)), Code::AlreadyExists);
    }

    #[test]
    fn a_taken_election_id_and_too_many_controllers_are_refused() {
        let mut arbitration = Arbitration::<()>::default();
        arbitration.update(1, 5, ()).unwrap();
        assert_eq!(arbitration.update(2, 5, ()).unwrap_err().code(), Code::InvalidArgument);
        for stream in 2..=MAX_CONTROLLERS as u64 {
            arbitration.update(stream, u128::from(stream) + 10, ()).unwrap();
        }
        assert_eq!(arbitration.update(99, 99, ()).unwrap_err().code(), Code::ResourceExhausted);
    }

    #[test]
    fn without_its_primary_nobody_is_primary_until_one_claims_as_high() {
        let mut arbitration = Arbitration::<()>::default();
        arbitration.update(1, 5, ()).unwrap();
        arbitration.update(2, 3, ()).unwrap();
        assert_eq!(arbitration.disconnect(2), Vec::<u64>::new());
        arbitration.update(2, 3, ()).unwrap();
        assert_eq!(arbitration.disconnect(1), vec![2]);
        assert_eq!((arbitration.primary_election_id(), status_of(&arbitration.notice(1, 2))), (None, Code::NotFound));
        assert_eq!(arbitration.update(2, 4, ()).ok(), Some(vec![2]));
        assert_eq!(arbitration.primary_election_id(), None);
        assert_eq!(arbitration.update(2, 5, ()).ok(), Some(vec![2]));
        assert_eq!(arbitration.primary_election_id(), Some(5));
    }
}
