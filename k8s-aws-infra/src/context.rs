//! What every resource step gets: the clients, the spec, the previous state, progress and the
//! record of changes.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::spec::InfraSpec;
use crate::state::InfraState;
use crate::tags::Tags;

/// The kinds of AWS resources the cluster is made of, in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// VPC.
    Vpc,
    /// DHCP options set.
    DhcpOptions,
    /// Subnet.
    Subnet,
    /// Internet gateway.
    InternetGateway,
    /// Route table.
    RouteTable,
    /// Security group.
    SecurityGroup,
    /// Network load balancer.
    LoadBalancer,
    /// Target group.
    TargetGroup,
    /// Listener.
    Listener,
    /// Machine image (looked up, never created).
    Image,
    /// SSH key pair.
    KeyPair,
    /// EC2 instance.
    Instance,
    /// Route of a worker's pod CIDR.
    Route,
}

impl Kind {
    /// The error codes AWS answers with while a resource of this kind is not visible (deleted,
    /// or created so recently that the endpoint answering has not heard of it yet).
    pub fn not_found_codes(self) -> &'static [&'static str] {
        match self {
            Kind::Vpc => &["InvalidVpcID.NotFound"],
            Kind::DhcpOptions => &[
                "InvalidDhcpOptionID.NotFound",
                "InvalidDhcpOptionsID.NotFound",
            ],
            Kind::Subnet => &["InvalidSubnetID.NotFound", "SubnetNotFound"],
            Kind::InternetGateway => &["InvalidInternetGatewayID.NotFound"],
            Kind::RouteTable => &["InvalidRouteTableID.NotFound"],
            Kind::SecurityGroup => &["InvalidGroup.NotFound", "InvalidSecurityGroupID.NotFound"],
            Kind::LoadBalancer => &["LoadBalancerNotFound"],
            Kind::TargetGroup => &["TargetGroupNotFound"],
            Kind::Listener => &["ListenerNotFound"],
            Kind::Image => &["InvalidAMIID.NotFound"],
            Kind::KeyPair => &["InvalidKeyPair.NotFound"],
            Kind::Instance => &["InvalidInstanceID.NotFound"],
            Kind::Route => &["InvalidRoute.NotFound"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Vpc => "vpc",
            Kind::DhcpOptions => "dhcp options",
            Kind::Subnet => "subnet",
            Kind::InternetGateway => "internet gateway",
            Kind::RouteTable => "route table",
            Kind::SecurityGroup => "security group",
            Kind::LoadBalancer => "load balancer",
            Kind::TargetGroup => "target group",
            Kind::Listener => "listener",
            Kind::Image => "image",
            Kind::KeyPair => "key pair",
            Kind::Instance => "instance",
            Kind::Route => "route",
        })
    }
}

/// What `up` does (or `plan` would do) to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "detail")]
pub enum Action {
    /// Create it.
    Create,
    /// Change a mutable attribute; the text says which.
    Update(String),
}

/// One planned or applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Resource kind.
    pub kind: Kind,
    /// Its name (cluster name, node name, CIDR...).
    pub name: String,
    /// Its ID when it exists already.
    pub id: Option<String>,
    /// What happens.
    pub action: Action,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Create => write!(f, "create {} {}", self.kind, self.name),
            Action::Update(what) => write!(
                f,
                "update {} {} ({}): {what}",
                self.kind,
                self.name,
                self.id.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// Progress reports, for the caller to render (the library prints nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum Progress {
    /// An existing resource was found.
    Found {
        /// Kind.
        kind: Kind,
        /// ID.
        id: String,
    },
    /// A resource is being created.
    Creating {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
    },
    /// A resource was created.
    Created {
        /// Kind.
        kind: Kind,
        /// ID.
        id: String,
    },
    /// A mutable attribute is being changed.
    Updating {
        /// Kind.
        kind: Kind,
        /// ID.
        id: String,
        /// What changes.
        what: String,
    },
    /// Waiting for resources to become ready.
    Waiting {
        /// What is awaited.
        what: String,
        /// How many are ready.
        ready: usize,
        /// How many are awaited.
        total: usize,
        /// Seconds waited so far.
        elapsed_secs: u64,
    },
    /// A resource is being deleted.
    Deleting {
        /// Kind.
        kind: Kind,
        /// ID.
        id: String,
    },
    /// A resource was deleted.
    Deleted {
        /// Kind.
        kind: Kind,
        /// ID.
        id: String,
    },
    /// A call failed in a way worth retrying; it will be retried.
    Retrying {
        /// Kind.
        kind: Kind,
        /// ID or name.
        id: String,
        /// The error.
        reason: String,
    },
    /// Something the user should know (e.g. SSH open to the world).
    Warning {
        /// The warning.
        message: String,
    },
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Bounds on waits, retries and calls. Start from [`Timeouts::default`] and change fields.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Timeouts {
    /// How long to wait for instances to run (with public IPs) and the load balancer to be
    /// active. Default 600 s.
    pub ready: Duration,
    /// How long `down` keeps retrying dependency errors (a deleted load balancer's network
    /// interfaces linger for minutes) and waits for terminations. Default 900 s.
    pub teardown: Duration,
    /// How long a call naming a resource this run created keeps being retried while AWS
    /// answers that it does not exist (eventual consistency). Default 120 s, as
    /// terraform-provider-aws's `PropagationTimeout`.
    pub propagation: Duration,
    /// The longest pause between two polls or retries; the first is 100 ms (or this, if
    /// shorter) and each next one 1.5 times the last. Default 500 ms, so that `up` ends soon
    /// after the last resource is ready. `down`'s retries of deletions that still have
    /// dependencies add a random part up to as long again (they are mutating calls).
    pub poll: Duration,
    /// The longest one API call may take, the SDK's own retries included; a stalled
    /// endpoint fails the call (naming it) after this. Default 60 s.
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            ready: Duration::from_secs(600),
            teardown: Duration::from_secs(900),
            propagation: Duration::from_secs(120),
            poll: Duration::from_millis(500),
            call: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// The pause before the first poll or retry.
    fn first_pause(&self) -> Duration {
        Duration::from_millis(100).min(self.poll)
    }
}

/// How [`Ctx::retry_on`] spaces and bounds its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// A NotFound right after a create: up to [`Timeouts::propagation`], pauses up to
    /// [`Timeouts::poll`].
    FollowUp,
    /// A deletion whose dependencies are still going: up to [`Timeouts::teardown`], pauses up
    /// to [`Timeouts::poll`] plus a random part as long again.
    Teardown,
}

/// The per-run context handed to every resource step.
pub(crate) struct Ctx<'a> {
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) elb: aws_sdk_elasticloadbalancingv2::Client,
    pub(crate) spec: &'a InfraSpec,
    pub(crate) region: String,
    pub(crate) tags: Tags,
    pub(crate) state: &'a InfraState,
    pub(crate) dry_run: bool,
    pub(crate) progress: ProgressFn,
    pub(crate) changes: Mutex<Vec<Change>>,
    pub(crate) warnings: Mutex<Vec<String>>,
    pub(crate) key_dir: Option<PathBuf>,
    pub(crate) timeouts: Timeouts,
    /// IDs of what this run created or found: they exist, but AWS may not know them
    /// everywhere yet.
    pub(crate) seen: Mutex<BTreeSet<String>>,
    /// Where `up` hands the state after each change, so that a run cut short leaves a record
    /// of what it made ([`crate::Infra::up_recording`]).
    pub(crate) recorder: Option<&'a Recorder<'a>>,
    /// The state as last handed to the recorder.
    pub(crate) recorded: Mutex<InfraState>,
}

/// What [`crate::Infra::up_recording`] calls with the state so far.
pub type Recorder<'a> = dyn Fn(&InfraState) -> Result<()> + Send + Sync + 'a;

impl Ctx<'_> {
    pub(crate) fn emit(&self, p: Progress) {
        (self.progress)(&p);
    }

    /// Records a change; returns true when it should be carried out (not a dry run).
    pub(crate) fn change(&self, kind: Kind, name: &str, id: Option<&str>, action: Action) -> bool {
        match (&action, id) {
            (Action::Create, _) => self.emit(Progress::Creating {
                kind,
                name: name.to_string(),
            }),
            (Action::Update(what), Some(id)) => self.emit(Progress::Updating {
                kind,
                id: id.to_string(),
                what: what.clone(),
            }),
            _ => {}
        }
        if let Ok(mut c) = self.changes.lock() {
            c.push(Change {
                kind,
                name: name.to_string(),
                id: id.map(str::to_string),
                action,
            });
        }
        !self.dry_run
    }

    /// Reports a warning and keeps it for the run's result.
    pub(crate) fn warn(&self, message: String) {
        self.emit(Progress::Warning {
            message: message.clone(),
        });
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }

    pub(crate) fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    pub(crate) fn found(&self, kind: Kind, id: &str) {
        self.seen(id);
        self.emit(Progress::Found {
            kind,
            id: id.to_string(),
        });
    }

    /// Remembers that `id` exists (see [`Ctx::follow_up`]).
    pub(crate) fn seen(&self, id: &str) {
        if let Ok(mut f) = self.seen.lock() {
            f.insert(id.to_string());
        }
    }

    /// Reports a creation, remembers that the ID exists (see [`Ctx::follow_up`]) and records
    /// it in the state of a kind with one ID there.
    pub(crate) fn created(&self, kind: Kind, id: &str) -> Result<()> {
        self.seen(id);
        self.emit(Progress::Created {
            kind,
            id: id.to_string(),
        });
        self.record(|s| {
            if let Some(field) = s.id_mut(kind) {
                *field = Some(id.to_string());
            }
        })
    }

    /// Applies `update` to the recorded state and, when that changed it, hands it to the
    /// recorder (nothing without one).
    ///
    /// # Errors
    /// What the recorder returns (the state could not be stored).
    pub(crate) fn record(&self, update: impl FnOnce(&mut InfraState)) -> Result<()> {
        let Some(recorder) = self.recorder else {
            return Ok(());
        };
        // Held while the recorder runs: records are stored in the order they were made.
        let mut state = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        let before = state.clone();
        update(&mut state);
        if *state == before {
            return Ok(());
        }
        recorder(&state)
    }

    /// Records the cluster, installation and region before the first change: from then on
    /// the state pins the region, however the run ends.
    pub(crate) fn pin(&self) -> Result<()> {
        self.record(|s| {
            s.cluster.clone_from(&self.spec.cluster);
            s.installation_id = Some(self.spec.installation_id.clone());
            s.region = Some(self.region.clone());
        })
    }

    fn was_seen(&self, id: &str) -> bool {
        self.seen.lock().is_ok_and(|f| f.contains(id))
    }

    /// Runs `f`, a call naming the resources `names`. For one this run created or found
    /// (made seconds ago, perhaps by an interrupted run), AWS may still answer that it does
    /// not exist ("Eventual consistency in the Amazon EC2 API"): those answers (that kind's
    /// NotFound codes) are retried with capped exponential backoff for up to
    /// [`Timeouts::propagation`]. For an ID only recorded in an old state, a NotFound is real
    /// and returned at once.
    pub(crate) async fn follow_up<T, F, Fut>(&self, names: &[(Kind, &str)], f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let codes: Vec<&str> = names
            .iter()
            .filter(|(_, id)| self.was_seen(id))
            .flat_map(|(kind, _)| kind.not_found_codes().iter().copied())
            .collect();
        let (kind, id) = names.first().copied().unwrap_or((Kind::Vpc, ""));
        self.retry_on(kind, id, &codes, Pace::FollowUp, f).await
    }

    pub(crate) fn take_changes(&self) -> Vec<Change> {
        self.changes
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Retries `f` while it fails with one of `codes` (AWS eventual consistency, dependencies
    /// still being released), with exponential backoff paced by `pace`.
    pub(crate) async fn retry_on<T, F, Fut>(
        &self,
        kind: Kind,
        id: &str,
        codes: &[&str],
        pace: Pace,
        f: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.timeouts.first_pause())
            .with_factor(1.5)
            .without_max_times();
        let backoff = match pace {
            // Seconds at most on AWS: no jitter, so the retry lands soon after the window.
            Pace::FollowUp => backoff
                .with_max_delay(self.timeouts.poll)
                .with_total_delay(Some(self.timeouts.propagation)),
            // Minutes at most, and mutating calls: spread out (jitter adds up to one pause).
            Pace::Teardown => backoff
                .with_max_delay(self.timeouts.poll)
                .with_jitter()
                .with_total_delay(Some(self.timeouts.teardown)),
        };
        f.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &Error| e.aws_code().is_some_and(|c| codes.contains(&c)))
            .notify(|e: &Error, _| {
                self.emit(Progress::Retrying {
                    kind,
                    id: id.to_string(),
                    reason: e.to_string(),
                })
            })
            .await
    }

    /// Polls `check` (which returns how many of `total` are ready) until all are, or `bound`
    /// passes. The first pause is short and each next one longer, up to [`Timeouts::poll`]:
    /// on a fast API the wait ends soon after the last resource is ready.
    pub(crate) async fn wait_for<F, Fut>(
        &self,
        what: &str,
        total: usize,
        bound: Duration,
        mut check: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<usize>>,
    {
        let start = Instant::now();
        let mut pause = self.timeouts.first_pause();
        loop {
            let ready = check().await?;
            self.emit(Progress::Waiting {
                what: what.to_string(),
                ready,
                total,
                elapsed_secs: start.elapsed().as_secs(),
            });
            if ready >= total {
                return Ok(());
            }
            if start.elapsed() >= bound {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    seconds: bound.as_secs(),
                });
            }
            tokio::time::sleep(pause.min(bound.saturating_sub(start.elapsed()))).await;
            pause = pause.mul_f64(1.5).min(self.timeouts.poll);
        }
    }
}

/// True when the error says the resource does not exist.
pub(crate) fn is_not_found(e: &Error) -> bool {
    e.aws_code().is_some_and(|c| c.contains("NotFound"))
}

/// True when AWS refused an ID as not one (`InvalidVpcID.Malformed`; ELBv2 answers a
/// malformed ARN with `ValidationError`): for a look-up by a recorded ID, as good as gone.
pub(crate) fn is_malformed(e: &Error) -> bool {
    e.aws_code()
        .is_some_and(|c| c.ends_with(".Malformed") || c == "ValidationError")
}

/// The placeholder ID of a resource a dry run would create.
pub(crate) const PLANNED: &str = "(planned)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_ids_are_told_apart_from_other_failures() {
        let answer = |code: &str| Error::Aws {
            resource: "vpc".into(),
            operation: "DescribeVpcs",
            code: Some(code.into()),
            message: String::new(),
        };
        for code in [
            "InvalidVpcID.Malformed",
            "InvalidGroupId.Malformed",
            "ValidationError",
        ] {
            assert!(is_malformed(&answer(code)), "{code}");
        }
        for code in [
            "InvalidVpcID.NotFound",
            "Throttling",
            "UnauthorizedOperation",
        ] {
            assert!(!is_malformed(&answer(code)), "{code}");
        }
    }
}
