//! The RPCs a node serves: Write, Read, the pipeline config and the
//! StreamChannel's messages, translated through the shared entities.

use crate::arbitration::from_uint128;
use crate::counters::bump;
use crate::errors::{control_error, node_unavailable, unexpected};
use crate::service::{Notices, Shared, MAX_UPDATES_PER_WRITE, READ_CHUNK_ENTITIES};
use netcraq_core::control::{ControlRequest, ControlResponse};
use netcraq_core::{FabricPort, KeyGroup, Route};
use netcraq_p4runtime::entities::TableRead;
use netcraq_p4runtime::p4info::first_difference;
use netcraq_p4runtime::proto::p4::v1 as p4;
use netcraq_p4runtime::write_status::write_failure;
use netcraq_p4runtime::P4Error;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tonic::{Code, Status};

impl Shared {
    pub(crate) async fn write(&self, request: p4::WriteRequest) -> Result<p4::WriteResponse, Status> {
        self.check_device(request.device_id)?;
        self.check_role(&request.role)?;
        self.check_primary(request.election_id.as_ref())?;
        if request.atomicity != p4::write_request::Atomicity::ContinueOnError as i32 {
            return Err(Status::unimplemented("only CONTINUE_ON_ERROR atomicity is served"));
        }
        if request.updates.len() > MAX_UPDATES_PER_WRITE {
            return Err(Status::resource_exhausted(format!(
                "{} updates in one Write: send at most {MAX_UPDATES_PER_WRITE} per batch",
                request.updates.len()
            )));
        }
        let mut outcomes: Vec<Result<(), P4Error>> = Vec::with_capacity(request.updates.len());
        let mut batch = Vec::new();
        for update in &request.updates {
            let kind = p4::update::Type::try_from(update.r#type).unwrap_or(p4::update::Type::Unspecified);
            let decoded = match update.entity.as_ref() {
                Some(entity) => self.ids.update_request(&self.index, kind, entity),
                None => Err(P4Error::invalid("the update has no entity")),
            };
            match decoded {
                Ok(request) => {
                    batch.push(request);
                    outcomes.push(Ok(()));
                }
                Err(error) => outcomes.push(Err(error)),
            }
        }
        if !batch.is_empty() {
            let results = match self.call(ControlRequest::Batch(batch)).await {
                Ok(ControlResponse::Batch(results)) => results,
                Ok(other) => return Err(Status::internal(format!("the node answered a batch with {other:?}"))),
                Err(error) => return Err(node_unavailable(error)),
            };
            let mut results = results.into_iter();
            for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
                match results.next() {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => *outcome = Err(control_error(error)),
                    // The node must answer every request of the batch.
                    None => *outcome = Err(P4Error::new(Code::Internal, "the node gave no answer for this update")),
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.is_err()).count() as u64;
        self.counters.updates_failed.fetch_add(failed, Ordering::Relaxed);
        self.counters.updates_applied.fetch_add(outcomes.len() as u64 - failed, Ordering::Relaxed);
        match failed {
            0 => Ok(p4::WriteResponse {}),
            _ => Err(write_failure(&outcomes)),
        }
    }

    pub(crate) fn set_pipeline(&self, request: p4::SetForwardingPipelineConfigRequest) -> Result<(), Status> {
        use p4::set_forwarding_pipeline_config_request::Action;
        self.check_device(request.device_id)?;
        self.check_role(&request.role)?;
        self.check_primary(request.election_id.as_ref())?;
        let action = Action::try_from(request.action).unwrap_or(Action::Unspecified);
        let config = match (action, request.config) {
            (Action::Unspecified, _) => {
                return Err(Status::invalid_argument("action is UNSPECIFIED: use VERIFY_AND_COMMIT"))
            }
            // The node's pipeline is always saved and committed: COMMIT alone has nothing to do.
            (Action::Commit, None) => return Ok(()),
            (_, None) => return Err(Status::invalid_argument("no config given")),
            (_, Some(config)) => config,
        };
        let ours = self.index.p4info();
        let theirs = config
            .p4info
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("P4Info mismatch: the config has no P4Info"))?;
        if let Some(difference) = first_difference(ours, theirs) {
            return Err(Status::invalid_argument(format!(
                "P4Info mismatch: {difference}. This node runs a fixed pipeline: send p4/netcraq.p4info.txtpb \
                 (or read it with GetForwardingPipelineConfig)"
            )));
        }
        if action != Action::Verify {
            *self.cookie.lock().unwrap_or_else(|p| p.into_inner()) = config.cookie.map(|c| c.cookie);
        }
        Ok(())
    }

    pub(crate) fn get_pipeline(
        &self,
        request: p4::GetForwardingPipelineConfigRequest,
    ) -> Result<p4::ForwardingPipelineConfig, Status> {
        use p4::get_forwarding_pipeline_config_request::ResponseType;
        self.check_device(request.device_id)?;
        let cookie = self
            .cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|cookie| p4::forwarding_pipeline_config::Cookie { cookie });
        let p4info = match ResponseType::try_from(request.response_type).unwrap_or(ResponseType::All) {
            ResponseType::All | ResponseType::P4infoAndCookie => Some(self.index.p4info().clone()),
            ResponseType::CookieOnly | ResponseType::DeviceConfigAndCookie => None,
        };
        Ok(p4::ForwardingPipelineConfig { p4info, p4_device_config: vec![], cookie })
    }

    /// Answers the entities of one Read, in order, in chunks.
    pub(crate) async fn read(
        &self,
        entities: Vec<p4::Entity>,
        out: mpsc::Sender<Result<p4::ReadResponse, Status>>,
    ) -> Result<(), Status> {
        let mut chunk = Vec::with_capacity(READ_CHUNK_ENTITIES);
        for entity in &entities {
            for found in self.read_entity(entity).await? {
                chunk.push(found);
                if chunk.len() == READ_CHUNK_ENTITIES {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK_ENTITIES));
                    if out.send(Ok(p4::ReadResponse { entities: full })).await.is_err() {
                        return Ok(()); // The reader went away.
                    }
                }
            }
        }
        let _ = out.send(Ok(p4::ReadResponse { entities: chunk })).await;
        Ok(())
    }

    /// The entries of one table that `read` asks for.
    async fn read_table(&self, table: u32, read: &TableRead) -> Result<Vec<p4::TableEntry>, Status> {
        let ids = &self.ids;
        if table == ids.node_config {
            // Keyless: only its default entry exists.
            if !read.default_entries {
                return Ok(vec![]);
            }
            return match self.call(ControlRequest::ReadConfig).await {
                Ok(ControlResponse::Config(config)) => Ok(vec![ids.config_entry(config.as_ref())]),
                other => Err(unexpected(other)),
            };
        }
        if table == ids.fabric_port {
            if read.default_entries {
                return Ok(vec![ids.fabric_port_default_entry()]);
            }
            let ports = match self.call(ControlRequest::ReadFabricPorts).await {
                Ok(ControlResponse::FabricPorts(ports)) => ports,
                other => return Err(unexpected(other)),
            };
            let wanted = |f: &&FabricPort| read.fabric_port_filter.is_none_or(|port| f.port == port);
            return Ok(ports.iter().filter(wanted).map(|f| ids.fabric_port_entry(f)).collect());
        }
        if table == ids.key_group {
            if read.default_entries {
                return Ok(vec![ids.key_group_default_entry()]);
            }
            let groups = match self.call(ControlRequest::ReadKeyGroups).await {
                Ok(ControlResponse::KeyGroups(groups)) => groups,
                other => return Err(unexpected(other)),
            };
            let wanted =
                |g: &&KeyGroup| read.key_group_filter.is_none_or(|(key, len)| g.key == key && g.prefix_len == len);
            return Ok(groups.iter().filter(wanted).map(|g| ids.key_group_entry(g)).collect());
        }
        if read.default_entries {
            return Ok(vec![ids.route_default_entry()]);
        }
        let routes = match self.call(ControlRequest::ReadRoutes).await {
            Ok(ControlResponse::Routes(routes)) => routes,
            other => return Err(unexpected(other)),
        };
        let wanted =
            |r: &&Route| read.route_filter.is_none_or(|(prefix, len)| r.prefix == prefix && r.prefix_len == len);
        Ok(routes.iter().filter(wanted).map(|r| ids.route_entry(r)).collect())
    }

    async fn read_entity(&self, entity: &p4::Entity) -> Result<Vec<p4::Entity>, Status> {
        use p4::entity::Entity;
        let ids = &self.ids;
        let mut found = Vec::new();
        match entity.entity.as_ref() {
            None => return Err(Status::invalid_argument("an entity to read is empty: set one of its kinds")),
            Some(Entity::TableEntry(entry)) => {
                let read = ids.table_read(&self.index, entry)?;
                for table in &read.tables {
                    let entries = self.read_table(*table, &read).await?;
                    found.extend(entries.into_iter().map(Entity::TableEntry));
                }
            }
            Some(Entity::CounterEntry(entry)) => {
                for (counter, index) in ids.counter_reads(&self.index, entry)? {
                    let (first, packets) = match self.call(ControlRequest::ReadCounter { counter, index }).await {
                        Ok(ControlResponse::Counter { first_index, packets }) => (first_index, packets),
                        other => return Err(unexpected(other)),
                    };
                    found.extend(packets.iter().enumerate().map(|(offset, packets)| {
                        Entity::CounterEntry(ids.counter_entry(counter, Some(first + offset as u32), Some(*packets)))
                    }));
                }
            }
            Some(Entity::RegisterEntry(entry)) => {
                for (register, index) in ids.register_reads(&self.index, entry)? {
                    let (first, values) = match self.call(ControlRequest::ReadRegister { register, index }).await {
                        Ok(ControlResponse::Register { first_index, values }) => (first_index, values),
                        other => return Err(unexpected(other)),
                    };
                    found.extend(values.iter().enumerate().map(|(offset, value)| {
                        Entity::RegisterEntry(ids.register_entry(register, Some(first + offset as u32), Some(*value)))
                    }));
                }
            }
            Some(other) => return Err(netcraq_p4runtime::entities::not_served(other).into()),
        }
        Ok(found.into_iter().map(|entity| p4::Entity { entity: Some(entity) }).collect())
    }

    /// One message of a controller's StreamChannel. An error ends the stream.
    pub(crate) async fn on_stream_message(
        &self,
        stream: u64,
        message: p4::StreamMessageRequest,
        notices: &Notices,
    ) -> Result<(), Status> {
        use p4::stream_message_request::Update;
        match message.update {
            Some(Update::Arbitration(update)) => {
                self.check_device(update.device_id)?;
                let role = update.role.as_ref().map_or("", |r| r.name.as_str());
                self.check_role(role)?;
                if update.role.as_ref().is_some_and(|r| r.config.is_some()) {
                    return Err(Status::invalid_argument("role config is not served: leave role.config unset"));
                }
                // An unset election id claims nothing: the lowest id, a backup
                // unless nobody ever claimed more.
                let election_id = from_uint128(update.election_id.as_ref()).unwrap_or(0);
                let mut arbitration = self.arbitration();
                let streams = arbitration.update(stream, election_id, notices.clone())?;
                self.notify(&arbitration, streams);
                Ok(())
            }
            Some(Update::Packet(packet)) => {
                self.packets_out(stream, vec![packet.payload], notices).await;
                Ok(())
            }
            Some(other) => {
                let what = match other {
                    Update::DigestAck(_) => "DigestListAck (the program has no digests)",
                    _ => "this stream message",
                };
                self.stream_error(notices, Status::unimplemented(format!("this node does not serve {what}")));
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Injects PacketOut frames into the node, by its controller port, in
    /// one call to its poll loop: only from the primary, whose stream this
    /// is. Each refused frame is counted; the controller hears of the
    /// refusals in a StreamError per frame refused by the node, or one for
    /// the whole call when the node took none of them.
    pub(crate) async fn packets_out(&self, stream: u64, frames: Vec<Vec<u8>>, notices: &Notices) {
        let count = frames.len() as u64;
        let refused = |status: Status| {
            self.counters.packets_out_refused.fetch_add(count, Ordering::Relaxed);
            tracing::info!(code = ?status.code(), message = status.message(), frames = count, "PacketOut refused");
            self.stream_error(notices, status);
        };
        if !self.arbitration().is_primary(stream) {
            self.counters.not_primary.fetch_add(count, Ordering::Relaxed);
            return refused(Status::permission_denied(
                "PacketOut from a controller that is not primary: only the primary may send frames",
            ));
        }
        let batch = ControlRequest::Batch(frames.into_iter().map(ControlRequest::PacketOut).collect());
        bump(&self.counters.packet_out_calls);
        let results = match self.call(batch).await {
            Ok(ControlResponse::Batch(results)) if results.len() as u64 == count => results,
            other => return refused(unexpected(other)),
        };
        for result in results {
            match result {
                Ok(ControlResponse::Done) => bump(&self.counters.packets_out),
                other => {
                    bump(&self.counters.packets_out_refused);
                    let status = unexpected(other);
                    tracing::info!(code = ?status.code(), message = status.message(), "PacketOut refused");
                    self.stream_error(notices, status);
                }
            }
        }
    }

    /// Tells the controller of `notices` that one of its stream messages
    /// failed, without ending its stream.
    fn stream_error(&self, notices: &Notices, status: Status) {
        let error = p4::StreamError {
            canonical_code: status.code() as i32,
            message: status.message().to_string(),
            ..Default::default()
        };
        let response = p4::StreamMessageResponse { update: Some(p4::stream_message_response::Update::Error(error)) };
        if notices.try_send(Ok(response)).is_err() {
            bump(&self.counters.notices_dropped);
        }
    }
}
