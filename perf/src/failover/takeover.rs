//! Controller takeover (`docs/controller.md`, "High availability"): two
//! `netcraq controller --etcd` processes over the benchmark's chain and an
//! etcd of its own; the leader is killed with SIGKILL under load, and the
//! benchmark measures when the standby leads and when the first write
//! after its first reconfiguration (the restart of the chain from the
//! stored state) is acknowledged.

use super::harness::{ChainSpec, ManagedChain, MEMBERS};
use crate::system::ScratchDir;
use netcraq_etcd_cluster::{etcd_installed, EtcdCluster, SERVING_TIMEOUT};
use netcraq_linearizability::Action;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The leadership lease in etcd: etcd's shortest.
pub const TTL: Duration = Duration::from_secs(2);
/// How long any expected line of a controller may take.
const LINE_WAIT: Duration = Duration::from_secs(120);
/// Load before the kill.
const BEFORE_KILL: Duration = Duration::from_secs(2);

/// What one takeover measured.
#[derive(Debug, Clone, Copy)]
pub struct Takeover {
    /// Kill of the leader to the standby's `leading` line.
    pub leads: Duration,
    /// Kill to the standby's restart of the chain done.
    pub restarted: Duration,
    /// Kill to the first write acknowledged after that restart.
    pub first_write: Option<Duration>,
}

impl Takeover {
    pub fn line(&self) -> String {
        format!(
            "controller leader killed: the standby led after {} ms, restarted the chain after {} ms, first write \
             acknowledged after that at {}",
            self.leads.as_millis(),
            self.restarted.as_millis(),
            self.first_write.map_or("n/a".into(), |d| format!("{} ms", d.as_millis()))
        )
    }

    pub fn to_json(self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        json!({ "leads_ms": ms(self.leads), "restarted_ms": ms(self.restarted), "first_write_after_restart_ms": self.first_write.map(ms) })
    }
}

/// The etcd to run, or why there is none.
pub fn etcd_binary() -> Result<&'static Path, String> {
    let etcd = Path::new("etcd");
    match etcd_installed(etcd) {
        true => Ok(etcd),
        false => Err("etcd is not installed (apt-get install -y etcd-server)".into()),
    }
}

/// One takeover on a fresh chain: the leader restarts it, the standby
/// campaigns, a load runs from n1's host, and `BEFORE_KILL` into it the
/// leader is killed.
pub fn measure(spec: &ChainSpec, exe: &Path, seed: u64, args: &super::BenchFailoverArgs) -> Result<Takeover, String> {
    let etcd = etcd_binary()?;
    let scratch = ScratchDir::new("netcraq-takeover")?;
    let mut cluster = EtcdCluster::start(etcd, 1, &scratch.path.join("etcd"))?;
    cluster.wait_serving(SERVING_TIMEOUT)?;
    let chain = ManagedChain::up(spec, exe)?;
    let measured = (|| -> Result<Takeover, String> {
        let file = scratch.path.join("kv.toml");
        std::fs::write(&file, chain.deployment_text()).map_err(|e| format!("writing {}: {e}", file.display()))?;
        let urls = cluster.client_urls.join(",");
        let mut leader = ControllerProcess::start(exe, &file, &urls)?;
        leader.wait_for("restart done")?;
        let mut standby = ControllerProcess::start(exe, &file, &urls)?;
        standby.wait_for("campaigning")?;
        std::thread::scope(|scope| {
            let load = scope.spawn(|| super::load(&chain, MEMBERS[0], args, seed));
            std::thread::sleep(BEFORE_KILL.min(Duration::from_secs(args.load_s) / 2));
            let killed = Instant::now();
            leader.kill();
            let timeline = standby
                .wait_for("leading deployment")
                .and_then(|leads| standby.wait_for("restart done").map(|restarted| (leads, restarted)));
            let load = load.join().unwrap_or_else(|_| Err("the load thread panicked".into()));
            let ((leads, restarted), (started, report)) = (timeline?, load?);
            let operations = report.history.as_ref().map_or(&[][..], |history| history.operations());
            let first_write = operations
                .iter()
                .filter(|op| op.is_determinate() && matches!(op.action, Action::Write { .. }))
                .map(|op| started + Duration::from_nanos(op.return_ns))
                .filter(|at| *at > restarted)
                .min();
            Ok(Takeover {
                leads: leads - killed,
                restarted: restarted - killed,
                first_write: first_write.map(|at| at - killed),
            })
        })
    })();
    let stopped = chain.stop();
    let takeover = measured?;
    stopped.map(|()| takeover)
}

/// A `netcraq controller --etcd` process; its stdout lines, stamped as they
/// come. Killed by its PID when dropped.
struct ControllerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl ControllerProcess {
    fn start(exe: &Path, deployment: &Path, etcd: &str) -> Result<ControllerProcess, String> {
        let mut command = Command::new(exe);
        command.arg("controller").arg("--deployment").arg(deployment);
        command.args(["--etcd", etcd, "--etcd-ttl-s", &TTL.as_secs().to_string(), "--call-timeout-ms", "1000"]);
        let mut child = command
            .stdout(Stdio::piped())
            .env("NETCRAQ_LOG", "warn")
            .spawn()
            .map_err(|e| format!("starting netcraq controller: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push((Instant::now(), line));
            }
        });
        Ok(ControllerProcess { child, lines })
    }

    /// When the first line containing `text` came, waiting for it.
    fn wait_for(&mut self, text: &str) -> Result<Instant, String> {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, _)) = lines.iter().find(|(_, line)| line.contains(text)) {
                return Ok(*at);
            }
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                let said: Vec<&str> = lines.iter().map(|(_, line)| line.as_str()).collect();
                return Err(format!("the controller did not say {text:?}; it said: {}", said.join(" | ")));
            }
            drop(lines);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn kill(&mut self) {
        netcraq_topology::send_signal(self.child.id() as libc::pid_t, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
