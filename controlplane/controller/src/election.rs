//! Leadership of a deployment through etcd (`docs/controller.md`, "High
//! availability: leadership in etcd"). Controllers campaign with etcd's
//! election API for `<prefix>/<deployment>/leader`, each holding a lease it
//! keeps alive; the winner's key revision is its P4Runtime election id. A
//! leader stops considering itself leader a safety margin before its lease
//! can expire at etcd, by its own monotonic clock, so that it has stopped
//! writing before a standby can win.

use crate::state_store::{bounded, deployment_key, describe, StoreError};
use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, Identity, LeaseKeepAliveStream, LeaseKeeper, TlsOptions,
    WatchOptions,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The prefix of every key the controller writes, by default.
pub const DEFAULT_PREFIX: &str = "/netcraq";
/// A leader's lease TTL, by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);
/// etcd's shortest lease (1.5 election timeouts of 1 s, rounded up): it
/// silently lengthens shorter ones, which would break the leader's deadline.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(2);
/// How long before its lease can expire a leader stops leading, by default.
pub const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_millis(500);
/// How long connecting to etcd may take, by default.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one etcd request may take, by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The interval of HTTP/2 pings that find a dead etcd connection while a
/// standby's campaign waits on it.
const CONNECTION_PING: Duration = Duration::from_secs(1);

/// How the controller reaches etcd and leads there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// etcd client URLs (`http://host:port`, `https://host:port` with TLS, or `host:port`).
    pub endpoints: Vec<String>,
    /// The prefix of every key: starts with '/', does not end with one.
    pub prefix: String,
    /// The TTL of a candidate's lease, whole seconds, at least [`MIN_LEASE_TTL`].
    pub lease_ttl: Duration,
    /// How long before its lease can expire a leader stops leading: covers
    /// clock rate differences and the time to stop writing; below a third of
    /// the TTL, so that two keep-alives fit before the deadline.
    pub safety_margin: Duration,
    /// TLS to etcd, if configured.
    pub tls: Option<EtcdTls>,
    /// How long connecting may take.
    pub dial_timeout: Duration,
    /// How long one request may take (a campaign waits as long as it must).
    pub request_timeout: Duration,
}

/// TLS to etcd: the CA that signed etcd's certificate and, when etcd asks
/// for one (`--client-cert-auth`), the controller's certificate and key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    pub ca: PathBuf,
    pub client_cert_and_key: Option<(PathBuf, PathBuf)>,
}

impl EtcdOptions {
    /// Options for `endpoints`, everything else by default.
    pub fn new(endpoints: Vec<String>) -> EtcdOptions {
        EtcdOptions {
            endpoints,
            prefix: DEFAULT_PREFIX.to_string(),
            lease_ttl: DEFAULT_LEASE_TTL,
            safety_margin: DEFAULT_SAFETY_MARGIN,
            tls: None,
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Refuses options that cannot work, saying why.
    pub fn validate(&self) -> Result<(), StoreError> {
        let refuse = |problem: String| Err(StoreError::Options(problem));
        if self.endpoints.is_empty() {
            return refuse("no etcd endpoint given".into());
        }
        if !self.prefix.starts_with('/') || self.prefix.ends_with('/') {
            return refuse(format!("prefix {:?} must start with '/' and not end with one", self.prefix));
        }
        if self.lease_ttl < MIN_LEASE_TTL {
            return refuse(format!("lease TTL {:?} is below etcd's minimum of {MIN_LEASE_TTL:?}", self.lease_ttl));
        }
        if self.lease_ttl.subsec_nanos() != 0 {
            return refuse(format!("lease TTL {:?} is not whole seconds, as etcd counts it", self.lease_ttl));
        }
        if self.safety_margin.is_zero() || self.safety_margin >= self.lease_ttl / 3 {
            return refuse(format!(
                "safety margin {:?} must be above zero and below a third of the lease TTL {:?}",
                self.safety_margin, self.lease_ttl
            ));
        }
        let tls = self.tls.is_some();
        for endpoint in &self.endpoints {
            if tls && endpoint.starts_with("http://") {
                return refuse(format!("endpoint {endpoint} is http:// but TLS is configured: use https://"));
            }
            if !tls && endpoint.starts_with("https://") {
                return refuse(format!("endpoint {endpoint} is https:// but no TLS CA is configured"));
            }
        }
        Ok(())
    }
}

impl EtcdTls {
    /// The TLS configuration, read from the files; a file that cannot be
    /// read or holds no PEM of its kind is named.
    fn client_config(&self) -> Result<TlsOptions, StoreError> {
        let ca = Certificate::from_pem(read_pem(&self.ca, "CERTIFICATE")?);
        let mut config = TlsOptions::new().ca_certificate(ca);
        if let Some((cert, key)) = &self.client_cert_and_key {
            config = config.identity(Identity::from_pem(read_pem(cert, "CERTIFICATE")?, read_pem(key, "PRIVATE KEY")?));
        }
        Ok(config)
    }
}

fn read_pem(path: &Path, kind: &str) -> Result<Vec<u8>, StoreError> {
    let problem = |problem: String| StoreError::TlsFile { path: path.to_path_buf(), problem };
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    if !text.lines().any(|line| line.starts_with("-----BEGIN ") && line.contains(kind)) {
        return Err(problem(format!("holds no PEM {kind}")));
    }
    Ok(text.into_bytes())
}

/// A client of the etcd cluster at `options.endpoints`, once one of them
/// answered (`Client::connect` itself contacts nobody).
pub async fn connect(options: &EtcdOptions) -> Result<Client, StoreError> {
    options.validate()?;
    let mut connect_options = ConnectOptions::new()
        .with_connect_timeout(options.dial_timeout)
        .with_keep_alive(CONNECTION_PING, options.dial_timeout)
        .with_keep_alive_while_idle(true)
        .with_require_leader(true);
    if let Some(tls) = &options.tls {
        connect_options = connect_options.with_tls(tls.client_config()?);
    }
    let unreachable = |detail: String| StoreError::Unreachable { endpoints: options.endpoints.clone(), detail };
    let mut client =
        Client::connect(&options.endpoints, Some(connect_options)).await.map_err(|e| unreachable(describe(&e)))?;
    let limit = options.dial_timeout + options.request_timeout;
    match bounded("status", limit, client.status()).await {
        Ok(_) => Ok(client),
        Err(StoreError::Etcd { detail, .. }) => Err(unreachable(detail)),
        Err(other) => Err(other),
    }
}

/// Why a leader stopped leading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// It resigned.
    Resigned,
    /// No keep-alive was acknowledged before its deadline: the lease may
    /// expire at etcd soon, so it stopped first.
    KeepAliveOverdue,
    /// etcd answered a keep-alive: lease not found (expired or revoked).
    LeaseGone,
    /// Its leader key was deleted from etcd.
    KeyDeleted,
}

/// What a leader knows of its standing: leading until a deadline, or lost for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    LeadingUntil(Instant),
    Lost(LossReason),
}

impl Standing {
    /// Leading at `now`: until when; or why not.
    fn at(self, now: Instant) -> Result<Instant, LossReason> {
        match self {
            Standing::LeadingUntil(deadline) if now < deadline => Ok(deadline),
            Standing::LeadingUntil(_) => Err(LossReason::KeepAliveOverdue),
            Standing::Lost(reason) => Err(reason),
        }
    }
}

/// The leader's deadline arithmetic, by its own monotonic clock. etcd
/// renews a lease for its TTL when a keep-alive arrives, which is after the
/// controller sent it: so the lease lives at least until `sent + ttl`, and
/// the leader leads until `sent + ttl - margin` of the last keep-alive
/// acknowledged.
#[derive(Debug, Clone, Copy)]
struct LeaseClock {
    ttl: Duration,
    margin: Duration,
}

impl LeaseClock {
    /// Until when a lease renewed for `ttl` by a keep-alive sent at `sent` lets its holder lead.
    fn leading_until(&self, sent: Instant, ttl: Duration) -> Instant {
        sent + ttl.min(self.ttl).saturating_sub(self.margin)
    }

    /// When to renew after a keep-alive sent at `sent` was acknowledged: three times per TTL.
    fn next_keepalive(&self, sent: Instant) -> Instant {
        sent + self.ttl / 3
    }

    /// When to try again after a keep-alive failed at `now`.
    fn retry_at(&self, now: Instant) -> Instant {
        now + self.ttl / 12
    }

    /// How long a keep-alive started at `now` may take: a third of a TTL,
    /// and never past the deadline.
    fn attempt_limit(&self, now: Instant, deadline: Instant) -> Instant {
        (now + self.ttl / 3).min(deadline)
    }
}

/// The standing a leader's tasks update; once lost, it stays lost.
type StandingSender = Arc<watch::Sender<Standing>>;

/// The standing now; the lock of the channel is released before it returns.
fn standing_now(standing: &StandingSender) -> Result<Instant, LossReason> {
    let current = *standing.borrow();
    current.at(Instant::now())
}

/// Marks the standing lost for `reason`, unless it already is.
fn step_down(standing: &StandingSender, reason: LossReason) {
    standing.send_if_modified(|current| match current {
        Standing::LeadingUntil(_) => {
            *current = Standing::Lost(reason);
            true
        }
        Standing::Lost(_) => false,
    });
}

/// Moves the deadline on to `until`, unless it already passed: a leader
/// that was not leading for a moment does not lead again.
fn extend(standing: &StandingSender, until: Instant) {
    let now = Instant::now();
    standing.send_if_modified(|current| match current {
        Standing::LeadingUntil(deadline) if now < *deadline && until > *deadline => {
            *current = Standing::LeadingUntil(until);
            true
        }
        _ => false,
    });
}

/// Resolves with the reason once `standing` is lost or its deadline passed.
async fn wait_lost(mut standing: watch::Receiver<Standing>) -> LossReason {
    loop {
        let current = *standing.borrow_and_update();
        let deadline = match current.at(Instant::now()) {
            Ok(deadline) => deadline,
            Err(reason) => return reason,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {}
            changed = standing.changed() => {
                if changed.is_err() {
                    // Nobody can update it any more: only the deadline is left.
                    tokio::time::sleep_until(deadline.into()).await;
                }
            }
        }
    }
}

/// This candidate leads its deployment in etcd while [`Leader::is_leader`];
/// dropping it stops its keep-alives (the lease then expires after its TTL);
/// [`Leader::resign`] hands over at once.
pub struct Leader {
    deployment: String,
    candidate: String,
    key: Vec<u8>,
    create_revision: i64,
    lease_id: i64,
    standing: StandingSender,
    tasks: Vec<JoinHandle<()>>,
    /// Boxed: an etcd client is kilobytes large.
    client: Box<Client>,
    request_timeout: Duration,
}

/// Waits until `candidate` leads `deployment`, campaigning for
/// `<prefix>/<deployment>/leader` with a lease of `options.lease_ttl` kept
/// alive meanwhile. [`StoreError::LeaseLost`] if the lease ended while it
/// waited (etcd unreachable for a TTL): campaign again.
pub async fn campaign(
    client: &Client,
    options: &EtcdOptions,
    deployment: &str,
    candidate: &str,
) -> Result<Leader, StoreError> {
    options.validate()?;
    let election = deployment_key(&options.prefix, deployment, "leader")?;
    let limit = options.request_timeout;
    let granting = Instant::now();
    let lease =
        bounded("lease grant", limit, client.clone().lease_grant(options.lease_ttl.as_secs() as i64, None)).await?;
    let clock = LeaseClock { ttl: Duration::from_secs(lease.ttl().max(0) as u64), margin: options.safety_margin };
    let standing = Arc::new(watch::Sender::new(Standing::LeadingUntil(clock.leading_until(granting, clock.ttl))));
    let keeper = tokio::spawn(keep_alive(client.clone(), lease.id(), clock, standing.clone(), granting));
    let mut leader = Leader {
        deployment: deployment.to_string(),
        candidate: candidate.to_string(),
        key: Vec::new(),
        create_revision: 0,
        lease_id: lease.id(),
        standing: standing.clone(),
        tasks: vec![keeper],
        client: Box::new(client.clone()),
        request_timeout: limit,
    };
    if let Err(error) = leader.win(election, candidate).await {
        let _ = leader.release().await;
        return Err(error);
    }
    let watcher = tokio::spawn(watch_key(client.clone(), leader.key.clone(), leader.create_revision, clock, standing));
    leader.tasks.push(watcher);
    Ok(leader)
}

impl Leader {
    /// The deployment it leads.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The candidate name it campaigned with (the leader key's value).
    pub fn candidate(&self) -> &str {
        &self.candidate
    }

    /// Its P4Runtime election id: its leader key's create revision, which
    /// every later leader's exceeds (a key wins only once every older one is gone).
    pub fn election_id(&self) -> u64 {
        self.create_revision as u64
    }

    /// Whether it still leads: false from its deadline on (the last
    /// acknowledged keep-alive's send time + TTL - safety margin), or once
    /// etcd refused a keep-alive, its key was deleted or it resigned.
    pub fn is_leader(&self) -> bool {
        standing_now(&self.standing).is_ok()
    }

    /// Until when it leads unless renewed, or `None` once it lost.
    pub fn leading_until(&self) -> Option<Instant> {
        standing_now(&self.standing).ok()
    }

    /// Resolves when it stops leading, with why: the service stops writing to nodes then.
    pub async fn lost(&self) -> LossReason {
        wait_lost(self.standing.subscribe()).await
    }

    /// Its lease's id in etcd.
    pub fn lease_id(&self) -> i64 {
        self.lease_id
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn create_revision(&self) -> i64 {
        self.create_revision
    }

    /// Stops leading, then revokes its lease, which deletes its key: a
    /// standby wins at once.
    pub async fn resign(mut self) -> Result<(), StoreError> {
        self.release().await
    }

    /// Stops leading and its tasks, then revokes the lease.
    async fn release(&mut self) -> Result<(), StoreError> {
        step_down(&self.standing, LossReason::Resigned);
        for task in self.tasks.drain(..) {
            task.abort();
        }
        bounded("lease revoke", self.request_timeout, self.client.clone().lease_revoke(self.lease_id)).await.map(drop)
    }

    /// Campaigns with its lease until it leads `election`, keeping its key.
    async fn win(&mut self, election: String, candidate: &str) -> Result<(), StoreError> {
        let lease_lost = || StoreError::LeaseLost { deployment: self.deployment.clone() };
        let mut client = self.client.clone();
        let won = tokio::select! {
            won = client.campaign(election, candidate, self.lease_id) => won,
            _ = wait_lost(self.standing.subscribe()) => return Err(lease_lost()),
        };
        let won = won.map_err(|error| StoreError::Etcd { operation: "campaign", detail: describe(&error) })?;
        let key = won.leader().ok_or_else(|| StoreError::Etcd {
            operation: "campaign",
            detail: "etcd answered without a leader key".into(),
        })?;
        self.key = key.key().to_vec();
        self.create_revision = key.rev();
        // etcd's campaign also returns when the key expired while it waited: check it is still there.
        if self.key_is_ours().await? && self.is_leader() {
            Ok(())
        } else {
            Err(lease_lost())
        }
    }

    /// Whether its key still exists with the revision it won with.
    async fn key_is_ours(&self) -> Result<bool, StoreError> {
        let answer =
            bounded("get (leader key)", self.request_timeout, self.client.clone().get(self.key.clone(), None)).await?;
        Ok(answer.kvs().first().is_some_and(|kv| kv.create_revision() == self.create_revision))
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Keeps lease `lease` alive, moving the deadline on each acknowledged
/// keep-alive; steps down when etcd no longer knows the lease or the
/// deadline passes unrenewed (then revokes the lease, if etcd hears it).
async fn keep_alive(mut client: Client, lease: i64, clock: LeaseClock, standing: StandingSender, granted: Instant) {
    let mut stream = None;
    let mut next = clock.next_keepalive(granted);
    loop {
        let deadline = match standing_now(&standing) {
            Ok(deadline) => deadline,
            Err(reason) => {
                step_down(&standing, reason);
                break;
            }
        };
        tokio::time::sleep_until(next.min(deadline).into()).await;
        let sent = Instant::now();
        if sent >= deadline {
            step_down(&standing, LossReason::KeepAliveOverdue);
            break;
        }
        let attempt = renew(&mut client, &mut stream, lease, clock.ttl);
        match tokio::time::timeout_at(clock.attempt_limit(sent, deadline).into(), attempt).await {
            Ok(Ok(Some(ttl))) => {
                extend(&standing, clock.leading_until(sent, ttl));
                next = clock.next_keepalive(sent);
            }
            Ok(Ok(None)) => {
                step_down(&standing, LossReason::LeaseGone);
                return;
            }
            // A new stream next time, so that a late answer is never taken for a newer keep-alive's.
            Ok(Err(_)) | Err(_) => {
                stream = None;
                next = clock.retry_at(Instant::now());
            }
        }
    }
    // The lease may still live at etcd: end it if etcd hears us, so that a standby need not wait for it.
    let _ = tokio::time::timeout(clock.ttl, client.lease_revoke(lease)).await;
}

/// One keep-alive: the lease's renewed TTL, or `None` if etcd no longer knows it.
async fn renew(
    client: &mut Client,
    stream: &mut Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    lease: i64,
    ttl: Duration,
) -> Result<Option<Duration>, etcd_client::Error> {
    let Some((keeper, answers)) = stream else {
        // Opening the stream sends a keep-alive and waits for its answer.
        return match client.lease_keep_alive(lease).await {
            Ok(opened) => {
                *stream = Some(opened);
                Ok(Some(ttl))
            }
            Err(etcd_client::Error::LeaseKeepAliveError(message)) if message.contains("lease not found") => Ok(None),
            Err(error) => Err(error),
        };
    };
    keeper.keep_alive().await?;
    match answers.message().await? {
        Some(answer) if answer.ttl() > 0 => Ok(Some(Duration::from_secs(answer.ttl() as u64))),
        Some(_) => Ok(None),
        None => Err(etcd_client::Error::LeaseKeepAliveError("keep-alive stream ended".into())),
    }
}

/// Steps down as soon as `key` (created at `revision`) is deleted: after a
/// check that it is still there, a watch from that check's revision on, so
/// that no deletion falls between them; again after any watch failure.
async fn watch_key(mut client: Client, key: Vec<u8>, revision: i64, clock: LeaseClock, standing: StandingSender) {
    while standing_now(&standing).is_ok() {
        if let Ok(Ok(answer)) = tokio::time::timeout(clock.ttl / 3, client.get(key.clone(), None)).await {
            if answer.kvs().first().is_none_or(|kv| kv.create_revision() != revision) {
                step_down(&standing, LossReason::KeyDeleted);
                return;
            }
            let checked = answer.header().map_or(revision, |header| header.revision());
            let from = WatchOptions::new().with_start_revision(checked + 1);
            if let Ok(mut events) = client.watch(key.clone(), Some(from)).await {
                while let Ok(Some(answer)) = events.message().await {
                    if answer.events().iter().any(|event| event.event_type() == EventType::Delete) {
                        step_down(&standing, LossReason::KeyDeleted);
                        return;
                    }
                    if answer.canceled() {
                        break;
                    }
                }
            }
        }
        tokio::time::sleep_until(clock.retry_at(Instant::now()).into()).await;
    }
}

/// Who writes a deployment's nodes and state: the one controller without
/// etcd (`netcraq up`), or the controller elected in etcd.
pub enum Leadership {
    /// The only controller: always leads, election id 1.
    Sole { deployment: String },
    /// Elected in etcd.
    Elected(Leader),
}

/// The election id of a [`Leadership::Sole`] controller.
pub const SOLE_ELECTION_ID: u64 = 1;

impl Leadership {
    /// The deployment it leads.
    pub fn deployment(&self) -> &str {
        match self {
            Leadership::Sole { deployment } => deployment,
            Leadership::Elected(leader) => leader.deployment(),
        }
    }

    /// Whether it still leads ([`Leader::is_leader`]).
    pub fn is_leader(&self) -> bool {
        match self {
            Leadership::Sole { .. } => true,
            Leadership::Elected(leader) => leader.is_leader(),
        }
    }

    /// Its P4Runtime election id ([`Leader::election_id`]).
    pub fn election_id(&self) -> u64 {
        match self {
            Leadership::Sole { .. } => SOLE_ELECTION_ID,
            Leadership::Elected(leader) => leader.election_id(),
        }
    }

    /// Resolves when it stops leading ([`Leader::lost`]); never for the sole controller.
    pub async fn lost(&self) -> LossReason {
        match self {
            Leadership::Sole { .. } => std::future::pending().await,
            Leadership::Elected(leader) => leader.lost().await,
        }
    }

    /// Stops leading ([`Leader::resign`]).
    pub async fn resign(self) -> Result<(), StoreError> {
        match self {
            Leadership::Sole { .. } => Ok(()),
            Leadership::Elected(leader) => leader.resign().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3);
    const CLOCK: LeaseClock = LeaseClock { ttl: TTL, margin: Duration::from_millis(500) };

    #[test]
    fn a_leader_leads_until_a_margin_before_its_lease_can_expire() {
        let sent = Instant::now();
        assert_eq!(CLOCK.leading_until(sent, TTL), sent + Duration::from_millis(2500));
        // A renewal for more than the granted TTL is not trusted beyond it.
        assert_eq!(CLOCK.leading_until(sent, Duration::from_secs(10)), sent + Duration::from_millis(2500));
        assert_eq!(CLOCK.leading_until(sent, Duration::from_secs(2)), sent + Duration::from_millis(1500));
    }

    #[test]
    fn two_keepalives_and_their_retries_fit_before_the_deadline() {
        let sent = Instant::now();
        let deadline = CLOCK.leading_until(sent, TTL);
        let first = CLOCK.next_keepalive(sent);
        assert_eq!(first, sent + Duration::from_secs(1));
        assert!(CLOCK.next_keepalive(first) < deadline);
        assert_eq!(CLOCK.retry_at(first), first + Duration::from_millis(250));
        // An attempt never runs past the deadline.
        assert_eq!(CLOCK.attempt_limit(first, deadline), first + Duration::from_secs(1));
        let late = deadline - Duration::from_millis(100);
        assert_eq!(CLOCK.attempt_limit(late, deadline), deadline);
    }

    #[test]
    fn standing_ends_at_its_deadline_and_stays_lost() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(1);
        assert_eq!(Standing::LeadingUntil(deadline).at(now), Ok(deadline));
        assert_eq!(Standing::LeadingUntil(deadline).at(deadline), Err(LossReason::KeepAliveOverdue));
        assert_eq!(Standing::Lost(LossReason::KeyDeleted).at(now), Err(LossReason::KeyDeleted));
        let standing = Arc::new(watch::Sender::new(Standing::LeadingUntil(deadline)));
        extend(&standing, deadline + Duration::from_secs(1));
        assert_eq!(*standing.borrow(), Standing::LeadingUntil(deadline + Duration::from_secs(1)));
        extend(&standing, deadline); // never moves back
        assert_eq!(*standing.borrow(), Standing::LeadingUntil(deadline + Duration::from_secs(1)));
        let passed = Arc::new(watch::Sender::new(Standing::LeadingUntil(Instant::now())));
        extend(&passed, deadline);
        assert_eq!(standing_now(&passed), Err(LossReason::KeepAliveOverdue), "a passed deadline stays passed");
        step_down(&standing, LossReason::LeaseGone);
        step_down(&standing, LossReason::Resigned);
        extend(&standing, deadline + Duration::from_secs(5));
        assert_eq!(*standing.borrow(), Standing::Lost(LossReason::LeaseGone));
    }

    #[tokio::test]
    async fn lost_resolves_at_the_deadline_unless_renewed() {
        let start = Instant::now();
        let standing = Arc::new(watch::Sender::new(Standing::LeadingUntil(start + Duration::from_millis(100))));
        let renewer = {
            let standing = standing.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                extend(&standing, start + Duration::from_millis(200));
            }
        };
        let (reason, ()) = tokio::join!(wait_lost(standing.subscribe()), renewer);
        let waited = start.elapsed();
        assert_eq!(reason, LossReason::KeepAliveOverdue);
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_millis(400), "{waited:?}");
    }

    fn options() -> EtcdOptions {
        EtcdOptions::new(vec!["http://127.0.0.1:2379".into()])
    }

    #[test]
    fn options_that_cannot_work_are_refused() {
        assert_eq!(options().validate(), Ok(()));
        let refused = |change: fn(&mut EtcdOptions), needle: &str| {
            let mut options = options();
            change(&mut options);
            match options.validate() {
                Err(StoreError::Options(problem)) => assert!(problem.contains(needle), "{problem}"),
                other => panic!("{other:?}, expected a refusal saying {needle}"),
            }
        };
        refused(|o| o.lease_ttl = Duration::from_secs(1), "below etcd's minimum of 2s");
        refused(|o| o.lease_ttl = Duration::from_millis(2500), "not whole seconds");
        refused(|o| o.safety_margin = Duration::from_secs(1), "below a third");
        refused(|o| o.safety_margin = Duration::ZERO, "above zero");
        refused(|o| o.endpoints.clear(), "no etcd endpoint");
        refused(|o| o.prefix = "netcraq/".into(), "must start with '/'");
        refused(|o| o.endpoints = vec!["https://127.0.0.1:2379".into()], "no TLS CA");
        refused(
            |o| o.tls = Some(EtcdTls { ca: "ca.pem".into(), client_cert_and_key: None }),
            "is http:// but TLS is configured",
        );
    }

    #[tokio::test]
    async fn tls_file_problems_name_the_file() {
        let dir = std::env::temp_dir().join(format!("netcraq-election-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not-a-certificate.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let missing = dir.join("missing-ca.pem");
        for (ca, needle) in [(missing.clone(), "No such file"), (not_pem.clone(), "holds no PEM CERTIFICATE")] {
            let mut options = EtcdOptions::new(vec!["https://127.0.0.1:1".into()]);
            options.tls = Some(EtcdTls { ca: ca.clone(), client_cert_and_key: None });
            let error = connect(&options).await.err().expect("a TLS file error");
            assert!(matches!(&error, StoreError::TlsFile { path, .. } if *path == ca), "{error}");
            assert!(
                error.to_string().contains(needle) && error.to_string().contains(&*ca.to_string_lossy()),
                "{error}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut options = EtcdOptions::new(vec![endpoint.clone()]);
        options.dial_timeout = Duration::from_millis(300);
        options.request_timeout = Duration::from_millis(300);
        let error = connect(&options).await.err().expect("nothing listens there");
        assert!(matches!(error, StoreError::Unreachable { .. }), "{error}");
        assert!(error.to_string().contains(&endpoint), "{error}");
    }
}
