//! The AWS side of a Kubernetes-the-hard-way cluster: VPC, DHCP options, subnet, internet
//! gateway, route table, security group, network load balancer (target group + listener on
//! 6443), SSH key pair, Ubuntu instances with fixed private IPs, and the pod-network routes —
//! the ~50 aws-cli calls of "Kubernetes from the ground up", as an idempotent library.
//!
//! - [`Infra::plan`] says what [`Infra::up`] would create or change, making no change (mutating
//!   calls are refused by an interceptor during a plan).
//! - [`Infra::up`] finds each resource (by the ID in the previous [`InfraState`], else by its tags)
//!   and creates only what is missing, with tags at creation; a second `up` makes no mutating
//!   call, and an interrupted `up` converges on the next run without duplicates. Immutable
//!   differences (a changed CIDR) are reported as [`Error::Immutable`], never papered over.
//!   It returns once every instance runs with its public IP and the load balancer has its DNS
//!   name; [`Infra::wait_load_balancer_active`] waits for the load balancer to be `active`,
//!   so callers can sign certificates and copy files meanwhile.
//!   [`Infra::up_recording`] hands the state to the caller before the first change and after
//!   each creation, so that a run cut short leaves a record of what it made, and where.
//! - [`Infra::status`] lists every resource, its ID, its state and what `up` would do about it.
//! - [`Infra::down`] deletes everything carrying the installation tag in the region, whatever
//!   its name (the cluster may have been renamed), in reverse dependency order, looks again,
//!   and reports what it left behind; [`Infra::inventory`] lists what it would delete.
//!
//! # AWS as it really behaves
//! - **Ownership.** Every resource carries [`INSTALLATION_TAG_KEY`]`=`[`InfraSpec::installation_id`]
//!   (made once with [`new_installation_id`]); nothing without it is adopted or deleted, so two
//!   clusters of the same name in one account stay apart. Names AWS keeps unique per account
//!   and region (load balancer, target group, key pair) held by anyone else stop `up` and
//!   `plan` before any change ([`Error::NameTaken`]).
//! - **Eventual consistency.** A call naming a resource this run created is retried while
//!   AWS answers with that kind's NotFound code ([`Kind::not_found_codes`]), with capped
//!   exponential backoff, up to [`Timeouts::propagation`]. A create is never repeated because
//!   a follow-up failed: resources are tagged at creation and found again by their tags;
//!   `RunInstances` carries a `ClientToken`.
//! - **Settling.** Waits poll with a short first pause that grows to [`Timeouts::poll`].
//!   `down` waits out shutting-down instances and retries the dependency errors a deleted load
//!   balancer's lingering interfaces cause, up to [`Timeouts::teardown`], then names what is
//!   left.
//! - **Bounded calls.** Every call has an operation timeout ([`Timeouts::call`]).
//! - **Region pinned.** A state that records a region (as [`Infra::up_recording`] does before
//!   its first change) refuses a spec naming another ([`Error::RegionChanged`]). A malformed
//!   ID in the state is looked for by tags, like one AWS no longer knows.
//!
//! Every run reports the API calls it made ([`CallCounts`]) and streams [`Progress`] events to
//! an optional callback; the library prints nothing and never builds a runtime.
//!
//! What it does not do: install anything on the machines, generate certificates or kubeconfigs
//! (the load balancer DNS name, [`InfraState::api_endpoint`], is what those steps need), manage
//! more than one subnet or availability zone, or resize a cluster whose immutable fields changed.
//!
//! # Example
//! ```no_run
//! use k8s_aws_infra::{
//!     AwsOptions, Infra, InfraSpec, InfraState, load_state, new_installation_id, save_state,
//! };
//! # async fn run() -> Result<(), k8s_aws_infra::Error> {
//! let dir = std::path::Path::new("cluster");
//! // Make the ID once and keep it with the cluster's definition: it is what `down` deletes.
//! let installation = new_installation_id()?;
//! let mut spec = InfraSpec::new("k8s-cluster-from-ground-up", installation, 3, 3);
//! spec.region = Some("us-east-2".into());
//! spec.validate()?;
//! let infra = Infra::connect(&AwsOptions::default())
//!     .await?
//!     .with_progress(|p| eprintln!("{p:?}"));
//! let previous = load_state(dir)?.unwrap_or_default();
//! // The state is on disk before the first change and after each creation: a run cut short
//! // still pins the region and tells `down` what it made.
//! let record = |state: &InfraState| save_state(dir, state);
//! let report = infra.up_recording(&spec, &previous, dir, &record).await?;
//! save_state(dir, &report.state)?;
//! // Sign certificates with report.state.api_endpoint() here, then:
//! infra.wait_load_balancer_active(&spec, &report.state).await?;
//! println!("API endpoint: {:?}, {} calls", report.state.api_endpoint(), report.calls.total());
//! # Ok(()) }
//! ```

mod calls;
mod console;
mod context;
mod error;
mod plan;
mod resources;
mod spec;
mod state;
mod tags;

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use serde::Serialize;

pub use calls::CallCounts;
pub use console::{ConsoleHostKeys, ConsoleKeys, host_keys_from_console};
pub use context::{Action, Change, Kind, Progress, ProgressFn, Recorder, Timeouts};
pub use error::{Error, Result};
pub use plan::{Deleted, Found, LeftBehind, ResourceStatus};
pub use resources::key_pair::key_path;
pub use spec::{
    API_PORT, CANONICAL_OWNER, DEFAULT_IMAGE_NAME, DEFAULT_INSTANCE_TYPE, ImageSpec, InfraSpec,
    NodeSpec, Role, new_installation_id,
};
pub use state::{InfraState, InstanceState, STATE_FILE, load_state, recorded_region, save_state};
pub use tags::{CLUSTER_TAG_KEY, CREATED_TAG_KEY, INSTALLATION_TAG_KEY, NODE_TAG_KEY};

use calls::{CallInterceptor, Counter};
use context::Ctx;

/// Where to find AWS: everything unset means the standard chain (`AWS_PROFILE`, `AWS_REGION`,
/// environment credentials, `~/.aws/config` and `credentials`, SSO, `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// A named profile instead of `AWS_PROFILE` / `default`.
    pub profile: Option<String>,
    /// A region instead of the chain's (the spec's region, when set, wins over both).
    pub region: Option<String>,
    /// An endpoint URL for every service (an emulator such as moto).
    pub endpoint_url: Option<String>,
}

/// What `plan` found.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// What `up` would create or change; empty when everything is in place.
    pub changes: Vec<Change>,
    /// Things the user should know (SSH open to the world, missing key file...).
    pub warnings: Vec<String>,
    /// Calls made (all reads).
    pub calls: CallCounts,
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// The state to store (see [`save_state`]).
    pub state: InfraState,
    /// What was created or changed; empty when everything was in place.
    pub changes: Vec<Change>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// Whether the load balancer is `active` yet (see [`Infra::wait_load_balancer_active`]).
    pub load_balancer_active: bool,
    /// Calls made.
    pub calls: CallCounts,
}

/// What `status` found.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Region.
    pub region: String,
    /// True when every resource is as `up` would leave it.
    pub ok: bool,
    /// Every resource, in creation order.
    pub resources: Vec<ResourceStatus>,
    /// The Kubernetes API endpoint (load balancer DNS name), when it exists.
    pub api_endpoint: Option<String>,
    /// Things the user should know (e.g. instances not in the spec).
    pub warnings: Vec<String>,
    /// Calls made (all reads).
    pub calls: CallCounts,
}

/// What `down` would delete ([`Infra::inventory`]).
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// Region.
    pub region: String,
    /// Everything of the installation, in the order `down` deletes it.
    pub found: Vec<Found>,
    /// What has the cluster's names but belongs to another installation: `down` leaves it.
    pub not_ours: Vec<LeftBehind>,
    /// Calls made (all reads).
    pub calls: CallCounts,
}

/// What `down` did.
#[derive(Debug, Clone, Serialize)]
pub struct DownReport {
    /// Region.
    pub region: String,
    /// What was deleted, in order.
    pub deleted: Vec<Deleted>,
    /// What is still there: still failing after the retry bound, a look-up that failed, or
    /// found by the second look (made meanwhile). Empty means nothing of the installation is
    /// left in the region.
    pub left_behind: Vec<LeftBehind>,
    /// What has the cluster's names but belongs to another installation: not touched.
    pub not_ours: Vec<LeftBehind>,
    /// Calls made.
    pub calls: CallCounts,
}

/// A connection to AWS (credentials checked) that plans, creates, inspects and deletes clusters.
#[derive(Clone)]
pub struct Infra {
    sdk: SdkConfig,
    counter: Arc<Counter>,
    progress: ProgressFn,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Infra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Infra")
            .field("region", &self.sdk.region())
            .field("calls", &self.counter.snapshot())
            .finish_non_exhaustive()
    }
}

impl Infra {
    /// Loads the standard AWS configuration chain with `opts` on top, and checks that it yields
    /// credentials.
    ///
    /// # Errors
    /// [`Error::NoCredentials`] when the chain has none.
    pub async fn connect(opts: &AwsOptions) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &opts.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        Self::from_sdk_config(loader.load().await).await
    }

    /// Uses an SDK configuration built by the caller (static credentials, a custom endpoint...),
    /// after checking that it yields credentials.
    ///
    /// # Errors
    /// [`Error::NoCredentials`] when it has none.
    pub async fn from_sdk_config(sdk: SdkConfig) -> Result<Self> {
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials {
                reason: "no credentials provider configured".into(),
            })?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| Error::NoCredentials {
                reason: error_chain(&e),
            })?;
        Ok(Infra {
            sdk,
            counter: Arc::default(),
            progress: Arc::new(|_| {}),
            timeouts: Timeouts::default(),
        })
    }

    /// Sends [`Progress`] events to `f` (called from the tasks doing the work: keep it quick).
    pub fn with_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Arc::new(f);
        self
    }

    /// Changes the bounds on waits and retries.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The region of the AWS configuration, if it has one.
    pub fn region(&self) -> Option<&str> {
        self.sdk.region().map(|r| r.as_ref())
    }

    /// All API calls made through this value so far.
    pub fn calls(&self) -> CallCounts {
        self.counter.snapshot()
    }

    fn ctx<'a>(
        &self,
        spec: &'a InfraSpec,
        state: &'a InfraState,
        dry_run: bool,
        key_dir: Option<&Path>,
        recorder: Option<&'a Recorder<'a>>,
    ) -> Result<Ctx<'a>> {
        spec.validate()?;
        if !state.cluster.is_empty() && state.cluster != spec.cluster {
            return Err(Error::spec(
                "cluster",
                format!(
                    "the state belongs to cluster {:?}, the spec names {:?}",
                    state.cluster, spec.cluster
                ),
            ));
        }
        if let Some(recorded) = state.installation_id.as_ref()
            && *recorded != spec.installation_id
            && state.has_resources()
        {
            return Err(Error::spec(
                "installation_id",
                format!(
                    "the state belongs to installation {recorded:?}, the spec names {:?}",
                    spec.installation_id
                ),
            ));
        }
        let region = spec
            .region
            .clone()
            .or_else(|| self.region().map(str::to_string))
            .ok_or(Error::NoRegion)?;
        // Recorded before `up`'s first change: resources may exist there even if the state
        // lists none (a run cut short while a create was in flight).
        if let Some(recorded) = state.region.as_ref()
            && *recorded != region
        {
            return Err(Error::RegionChanged {
                recorded: recorded.clone(),
                requested: region,
            });
        }
        let interceptor = CallInterceptor {
            counter: self.counter.clone(),
            read_only: dry_run,
        };
        let retry = RetryConfig::standard().with_max_attempts(6);
        // A stalled attempt is retried; the whole call, retries included, is bounded.
        let timeout = TimeoutConfig::builder()
            .operation_timeout(self.timeouts.call)
            .operation_attempt_timeout(self.timeouts.call / 3)
            .build();
        let ec2 = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.clone()))
            .retry_config(retry.clone())
            .timeout_config(timeout.clone())
            .interceptor(interceptor.clone())
            .build();
        let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.sdk)
            .region(Region::new(region.clone()))
            .retry_config(retry)
            .timeout_config(timeout)
            .interceptor(interceptor)
            .build();
        Ok(Ctx {
            ec2: aws_sdk_ec2::Client::from_conf(ec2),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb),
            spec,
            region,
            tags: tags::Tags::new(spec),
            state,
            dry_run,
            progress: self.progress.clone(),
            changes: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            key_dir: key_dir.map(Path::to_path_buf),
            timeouts: self.timeouts,
            seen: Mutex::default(),
            recorder,
            recorded: Mutex::new(state.clone()),
        })
    }

    /// What [`Infra::up`] would create or change. Makes read calls only (enforced).
    ///
    /// # Errors
    /// [`Error::Spec`] (no call made), [`Error::NoRegion`], [`Error::Immutable`] when an existing
    /// resource contradicts the spec, [`Error::Aws`].
    pub async fn plan(&self, spec: &InfraSpec, state: &InfraState, dir: &Path) -> Result<Plan> {
        let ctx = self.ctx(spec, state, true, Some(dir), None)?;
        let before = self.calls();
        spec.warnings().into_iter().for_each(|w| ctx.warn(w));
        plan::converge(&ctx).await?;
        Ok(Plan {
            changes: ctx.take_changes(),
            warnings: ctx.take_warnings(),
            calls: self.calls().since(before),
        })
    }

    /// Creates what is missing and fixes what drifted; returns the new state once every
    /// instance runs with its public IP (the load balancer may still be provisioning: see
    /// [`UpReport::load_balancer_active`]). The private key of a new key pair is written to
    /// [`key_path`]`(dir, cluster)` (0600); when a private key is already there and AWS has no
    /// key pair of the cluster's name, its public half is imported instead (a local key is
    /// never overwritten).
    ///
    /// Nothing is recorded while it runs: a run cut short leaves no trace of what it made
    /// or where (its resources are still found by their tags in the spec's region). Use
    /// [`Infra::up_recording`] to store the state as it goes.
    ///
    /// # Errors
    /// As [`Infra::plan`], plus [`Error::KeyFileMissing`], [`Error::Timeout`] and [`Error::File`].
    pub async fn up(&self, spec: &InfraSpec, state: &InfraState, dir: &Path) -> Result<UpReport> {
        self.up_with(spec, state, dir, None).await
    }

    /// [`Infra::up`], handing the state to `record` (e.g. [`save_state`]) before its first
    /// change (cluster, installation and region) and again after each creation, with
    /// everything made so far: when the run fails, times out or is killed, the last record
    /// names the region and what exists there, so that a later `up` in another region is
    /// refused ([`Error::RegionChanged`]) and `down` knows where to look. `record` is called
    /// from the task doing the work, one call at a time, in order.
    ///
    /// # Errors
    /// As [`Infra::up`], plus what `record` returns (the run stops there).
    pub async fn up_recording(
        &self,
        spec: &InfraSpec,
        state: &InfraState,
        dir: &Path,
        record: &Recorder<'_>,
    ) -> Result<UpReport> {
        self.up_with(spec, state, dir, Some(record)).await
    }

    async fn up_with(
        &self,
        spec: &InfraSpec,
        state: &InfraState,
        dir: &Path,
        record: Option<&Recorder<'_>>,
    ) -> Result<UpReport> {
        let ctx = self.ctx(spec, state, false, Some(dir), record)?;
        let before = self.calls();
        spec.warnings().into_iter().for_each(|w| ctx.warn(w));
        let built = plan::converge(&ctx).await?;
        Ok(UpReport {
            state: plan::state_of(&ctx, &built),
            changes: ctx.take_changes(),
            warnings: ctx.take_warnings(),
            load_balancer_active: built.lb.active,
            calls: self.calls().since(before),
        })
    }

    /// Waits (bounded by [`Timeouts::ready`], with [`Progress::Waiting`] events) until the
    /// load balancer recorded in `state` is `active`. Returns at once when it is.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Aws`], and as [`Infra::plan`] before any call.
    pub async fn wait_load_balancer_active(
        &self,
        spec: &InfraSpec,
        state: &InfraState,
    ) -> Result<()> {
        let ctx = self.ctx(spec, state, true, None, None)?;
        match &state.load_balancer_arn {
            Some(arn) => {
                // Recorded by the `up` that just made it: AWS may not know it everywhere yet.
                ctx.seen(arn);
                resources::load_balancer::wait_active(&ctx, arn).await
            }
            None => Ok(()),
        }
    }

    /// The SSH host keys each instance of `nodes` (keys of [`InfraState::instances`]) printed
    /// to its console at first boot (cloud-init's `BEGIN SSH HOST KEY KEYS` block, read with
    /// `GetConsoleOutput`): what to pin before the first connection, so that nothing is sent
    /// to a machine that merely answers at the instance's address. The keys appear a minute
    /// or more after boot: polls (with [`Progress::Waiting`] events) until every instance
    /// shows them or `bound` passes, and returns what it found; a node whose keys did not
    /// appear has empty [`ConsoleHostKeys::keys`]. Nodes without an instance in `state` are
    /// skipped. Makes read calls only.
    ///
    /// # Errors
    /// [`Error::Aws`], and as [`Infra::plan`] before any call.
    pub async fn console_host_keys(
        &self,
        spec: &InfraSpec,
        state: &InfraState,
        nodes: &[&str],
        bound: std::time::Duration,
    ) -> Result<Vec<ConsoleHostKeys>> {
        let ctx = self.ctx(spec, state, true, None, None)?;
        state.instances.values().for_each(|i| ctx.seen(&i.id));
        let instances: Vec<(String, String)> = nodes
            .iter()
            .filter_map(|n| {
                state
                    .instances
                    .get(*n)
                    .map(|i| (n.to_string(), i.id.clone()))
            })
            .collect();
        console::host_keys(&ctx, &instances, bound).await
    }

    /// Every resource, its ID and state. Makes read calls only (enforced).
    ///
    /// # Errors
    /// As [`Infra::plan`].
    pub async fn status(&self, spec: &InfraSpec, state: &InfraState) -> Result<Status> {
        let ctx = self.ctx(spec, state, true, None, None)?;
        let before = self.calls();
        let built = plan::converge(&ctx).await?;
        let changes = ctx.take_changes();
        let resources = plan::statuses(&ctx, &built, &changes);
        Ok(Status {
            warnings: ctx.take_warnings(),
            region: ctx.region.clone(),
            ok: resources.iter().all(|r| r.ok),
            resources,
            api_endpoint: built.lb.dns_name.clone(),
            calls: self.calls().since(before),
        })
    }

    /// What [`Infra::down`] would delete: everything carrying the installation tag in the
    /// spec's region, whatever its name (the cluster may have been renamed since `up`), and
    /// what has the cluster's names but belongs to someone else. Makes read calls only
    /// (enforced).
    ///
    /// # Errors
    /// As [`Infra::plan`] before any call, and [`Error::Aws`] when a look-up fails.
    pub async fn inventory(&self, spec: &InfraSpec, state: &InfraState) -> Result<Inventory> {
        let ctx = self.ctx(spec, state, true, None, None)?;
        let before = self.calls();
        let found = plan::search(&ctx).await;
        if let Some((_, e)) = found.failed.into_iter().next() {
            return Err(e);
        }
        Ok(Inventory {
            region: ctx.region.clone(),
            found: found.owned.list(),
            not_ours: found.not_ours,
            calls: self.calls().since(before),
        })
    }

    /// Deletes everything carrying the installation tag in the spec's region, whatever its
    /// name (the cluster may have been renamed since `up`), in reverse dependency order,
    /// retrying dependency errors up to [`Timeouts::teardown`]; then looks again. Failures
    /// do not stop it: they, and anything of the installation found by the second look, are
    /// listed in [`DownReport::left_behind`], so an empty list means nothing of the
    /// installation is left in the region. Resources with the cluster's names that belong to
    /// another installation are listed in [`DownReport::not_ours`], untouched.
    ///
    /// # Errors
    /// [`Error::Spec`], [`Error::NoRegion`] and [`Error::RegionChanged`] only, before any
    /// call.
    pub async fn down(&self, spec: &InfraSpec, state: &InfraState) -> Result<DownReport> {
        let ctx = self.ctx(spec, state, false, None, None)?;
        let before = self.calls();
        let t = plan::destroy(&ctx).await;
        Ok(DownReport {
            region: ctx.region.clone(),
            deleted: t.deleted,
            left_behind: t.left,
            not_ours: t.not_ours,
            calls: self.calls().since(before),
        })
    }
}

/// `error: cause: cause…`, without the SDK's debug dump.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
