//! `up`: the whole procedure of "Kubernetes from the ground up" (STEPS 1–7) for one cluster,
//! in order, each step the same code as when run alone, so that a second run after any
//! failure resumes and changes nothing that is already right.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_aws_infra::Infra;
use k8s_distribute::{
    Event, FileStatus, HostKeys, NodeReady, SshClient, SshSettings, UnknownHosts, UploadOptions,
    UploadReport,
};
use k8s_pki::{Change, KeyBatch, ReconcileOptions, store};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::host_keys::Pinned;
use crate::steps::{
    EncryptionChange, FileChange, KubeconfigFile, MissingEndpoint, generate_encryption_config,
};

/// The steps of [`Cluster::up`], in order: the titles its [`UpEvent::StepStarted`] events carry.
pub const UP_STEPS: [&str; 6] = [
    "infra: network, load balancer, machines",
    "pki: sign with the endpoint and the machines' addresses",
    "kubeconfigs",
    "encryption config",
    "host keys from the instances' consoles, then wait for SSH on every node",
    "distribute certificates, kubeconfigs, encryption config",
];

/// How [`Cluster::up`] reaches the nodes.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The SSH client's settings. Its host keys must be a known_hosts file: the instances'
    /// console keys are pinned there. With [`UnknownHosts::AcceptNew`], machines whose
    /// consoles never show their keys are trusted on first use instead of stopping `up`.
    pub ssh: SshSettings,
    /// Where the files go on the nodes; `None`: the login user's home, as in the tutorial.
    pub target_dir: Option<String>,
    /// How long to wait for the consoles' host keys and for SSH logins, together.
    pub ssh_wait: Duration,
}

/// Progress of [`Cluster::up`], for the caller to show (the library prints nothing). AWS
/// progress comes through the [`Infra`]'s own callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpEvent {
    /// Step `index` (1-based) of [`UP_STEPS`] starts.
    StepStarted {
        /// 1-based.
        index: usize,
        /// Its title.
        title: &'static str,
    },
    /// Step `index` ended.
    StepDone {
        /// 1-based.
        index: usize,
        /// What it did, in one line.
        summary: String,
        /// How long it took.
        millis: u64,
    },
    /// A certificate was created or re-issued.
    Certificate {
        /// Its name.
        name: String,
        /// What was done.
        change: Change,
    },
    /// A kubeconfig was written (or found unchanged).
    Kubeconfig {
        /// The file.
        file: PathBuf,
        /// What happened to it.
        status: FileChange,
    },
    /// The encryption config was made, kept or upgraded.
    EncryptionConfig {
        /// What happened to it.
        change: EncryptionChange,
    },
    /// An instance's host keys were pinned from its console.
    Pinned(Pinned),
    /// Something the user should know.
    Warning(String),
    /// A node event of the SSH wait or the distribution.
    Node(Event),
    /// Everything else is done; the load balancer is still provisioning.
    WaitingForLoadBalancer,
}

/// A certificate and what the run did to it.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateChange {
    /// Its name.
    pub name: String,
    /// What was done.
    #[serde(flatten)]
    pub change: Change,
}

/// Wall time of each step of [`Cluster::up`], in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Step 1.
    pub infra: u64,
    /// The private keys made on other threads while step 1 ran.
    pub key_generation_during_infra: u64,
    /// Step 2.
    pub pki: u64,
    /// Step 3.
    pub kubeconfigs: u64,
    /// Step 4.
    pub encryption_config: u64,
    /// Step 5.
    pub ssh_wait: u64,
    /// Step 6.
    pub distribute: u64,
    /// From the end of step 1 until the load balancer was active (0: it was already).
    pub load_balancer_active_after_infra: u64,
}

/// What [`Cluster::up`] did.
#[derive(Debug, Serialize)]
pub struct UpReport {
    /// How many things this run created, changed or sent (0: everything was in place).
    pub changed: usize,
    /// `https://<load balancer>:6443`.
    pub api_endpoint: String,
    /// Step 1.
    pub infra: k8s_aws_infra::UpReport,
    /// Step 2.
    pub certificates: Vec<CertificateChange>,
    /// Step 3.
    pub kubeconfigs: Vec<KubeconfigFile>,
    /// Step 4.
    pub encryption_config: EncryptionChange,
    /// Step 5.
    pub ssh: Vec<NodeReady>,
    /// Step 6: check [`UploadReport::is_success`].
    pub distribute: UploadReport,
    /// Per step.
    pub timings_ms: Timings,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Times one step and reports its start and end.
struct Step<'a> {
    index: usize,
    start: Instant,
    progress: &'a (dyn Fn(UpEvent) + Sync),
}

impl<'a> Step<'a> {
    fn start(index: usize, progress: &'a (dyn Fn(UpEvent) + Sync)) -> Self {
        progress(UpEvent::StepStarted {
            index,
            title: UP_STEPS[index - 1],
        });
        Step {
            index,
            start: Instant::now(),
            progress,
        }
    }

    fn done(self, summary: String) -> u64 {
        let ms = millis(self.start.elapsed());
        (self.progress)(UpEvent::StepDone {
            index: self.index,
            summary,
            millis: ms,
        });
        ms
    }
}

impl Cluster {
    /// Builds the cluster on AWS and copies every file to its machines: infra (while the
    /// private keys are made on other threads), PKI, kubeconfigs, encryption config, host
    /// keys from the consoles and the SSH wait, distribution; then waits for the load
    /// balancer to be active. `infra` carries the AWS configuration and its own progress
    /// callback. The caller holds the cluster folder's lock. Steps hand their results to the
    /// next in memory; `state.json` is written after step 1.
    ///
    /// # Errors
    /// The first step's error, naming it; everything before it is done and kept. Nodes
    /// that fail the distribution do not make an error: see [`UploadReport::is_success`].
    pub async fn up(
        &self,
        infra: &Infra,
        options: &UpOptions,
        progress: &(dyn Fn(UpEvent) + Sync),
    ) -> Result<UpReport> {
        let known_hosts = match &options.ssh.host_keys {
            HostKeys::KnownHosts { path, .. } => path.clone(),
            HostKeys::Pinned(_) => return Err(Error::KnownHostsRequired),
        };
        let accept_new = matches!(
            options.ssh.host_keys,
            HostKeys::KnownHosts {
                unknown: UnknownHosts::AcceptNew,
                ..
            }
        );
        let spec = self.infra_spec()?;

        // No key depends on an address: make them while AWS works, sign once the names
        // are known.
        let early = self.pki()?;
        let existing = store::load(&self.layout.pki_dir(), early.specs())?;
        let keygen = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let keys = early.pregenerate_keys(&existing, &ReconcileOptions::default());
            (keys, millis(start.elapsed()))
        });

        let step = Step::start(1, progress);
        let report = self.infra_up(infra).await?;
        let endpoint = report
            .state
            .api_endpoint()
            .ok_or(Error::NoLoadBalancerName)?
            .to_string();
        let infra_ms = step.done(format!(
            "infra: {} change(s), {} API calls; API endpoint {endpoint}{}",
            report.changes.len(),
            report.calls.total(),
            if report.load_balancer_active {
                ""
            } else {
                " (load balancer still provisioning)"
            }
        ));
        // The steps below need the load balancer's name, not the load balancer: it settles
        // meanwhile, and `up` waits for it only before it reports success.
        let lb_wait = (!report.load_balancer_active).then(|| {
            let (infra, spec, state) = (
                infra.clone().with_progress(|_| {}),
                spec.clone(),
                report.state.clone(),
            );
            let start = Instant::now();
            tokio::spawn(async move {
                infra.wait_load_balancer_active(&spec, &state).await?;
                Ok::<u64, k8s_aws_infra::Error>(millis(start.elapsed()))
            })
        });
        let mut cluster = self.spec.clone().resolve(self.path.clone())?;
        cluster.apply_state(report.state.clone())?;

        let step = Step::start(2, progress);
        let (keys, keygen_ms) = keygen.await.map_err(|e| Error::Task(e.to_string()))?;
        let made = keys.as_ref().map_or(0, KeyBatch::len);
        let pki = cluster.generate_pki(&ReconcileOptions::default(), keys?)?;
        for w in &pki.warnings {
            progress(UpEvent::Warning(w.clone()));
        }
        for item in &pki.bundle.items {
            if item.change != Change::Kept {
                progress(UpEvent::Certificate {
                    name: item.name.clone(),
                    change: item.change.clone(),
                });
            }
        }
        let pki_changed = pki.bundle.changed().count();
        let early_keys = match made {
            0 => "no new key needed".to_string(),
            n => format!(
                "{n} keys made during the infra step in {:.1} s",
                keygen_ms as f64 / 1000.0
            ),
        };
        let pki_ms = step.done(format!(
            "pki: {} certificates, {pki_changed} issued ({early_keys})",
            pki.bundle.items.len(),
        ));

        let step = Step::start(3, progress);
        let kubeconfigs = cluster.generate_kubeconfigs(MissingEndpoint::Fail)?;
        for f in &kubeconfigs.files {
            progress(UpEvent::Kubeconfig {
                file: f.file.clone(),
                status: f.status,
            });
        }
        let written = kubeconfigs
            .files
            .iter()
            .filter(|k| k.status == FileChange::Written)
            .count();
        let kubeconfig_ms = step.done(format!(
            "kubeconfigs: {} files, {written} written",
            kubeconfigs.files.len()
        ));

        let step = Step::start(4, progress);
        let (encryption, _) = generate_encryption_config(&cluster.layout)?;
        progress(UpEvent::EncryptionConfig { change: encryption });
        let encryption_ms = step.done(format!("encryption config: {encryption}"));

        let step = Step::start(5, progress);
        // The key exists from step 1 on: on a new account, step 1 made it.
        let client = SshClient::new(&options.ssh)?;
        let manifest = cluster.manifest()?;
        // Verified, not trusted: no byte goes to a machine whose key is not the one its
        // console shows. The keys appear a minute or more after boot; that wait counts
        // against the SSH wait (half of it when the machines that never show them would be
        // trusted on first use).
        let ssh_start = Instant::now();
        let console_wait = if accept_new {
            options.ssh_wait / 2
        } else {
            options.ssh_wait
        };
        let pins = cluster
            .pin_console_host_keys(infra, &report.state, &manifest, &known_hosts, console_wait)
            .await?;
        for pin in pins.pinned {
            progress(UpEvent::Pinned(pin));
        }
        for rejected in pins.rejected {
            progress(UpEvent::Warning(rejected.to_string()));
        }
        if !pins.missing.is_empty() {
            if !accept_new {
                return Err(Error::ConsoleKeysMissing {
                    total: manifest.nodes.len(),
                    waited_secs: console_wait.as_secs(),
                    missing: pins.missing,
                });
            }
            progress(UpEvent::Warning(format!(
                "no host keys in the console output of {}: trusting their keys on first use (--accept-new)",
                pins.missing.join(", ")
            )));
        }
        let left = options
            .ssh_wait
            .saturating_sub(ssh_start.elapsed())
            .max(options.ssh_wait / 2)
            .max(Duration::from_secs(1));
        let on_node = |e: Event| progress(UpEvent::Node(e));
        let ready = client.wait_ready(&manifest.nodes(), left, &on_node).await;
        if ready.iter().any(|r| r.error.is_some()) {
            return Err(Error::SshNotReady {
                total: ready.len(),
                nodes: ready.into_iter().filter(|r| r.error.is_some()).collect(),
            });
        }
        let ssh_ms = step.done(format!("ssh: {} nodes answer", ready.len()));

        let step = Step::start(6, progress);
        let upload = UploadOptions {
            target_dir: options.target_dir.clone(),
            check_only: false,
        };
        let uploaded = client.upload(&manifest, &upload, &on_node).await?;
        let count = |f: fn(&FileStatus) -> bool| {
            uploaded
                .nodes
                .iter()
                .flat_map(|n| &n.files)
                .filter(|file| f(&file.status))
                .count()
        };
        let sent = count(|s| matches!(s, FileStatus::Sent | FileStatus::ModeFixed));
        let distribute_ms = step.done(format!(
            "distribute: {sent} file(s) sent, {} unchanged, on {} nodes",
            count(|s| *s == FileStatus::Unchanged),
            uploaded.nodes.len()
        ));

        let lb_active_ms = match lb_wait {
            Some(wait) => {
                if !wait.is_finished() {
                    progress(UpEvent::WaitingForLoadBalancer);
                }
                wait.await.map_err(|e| Error::Task(e.to_string()))??
            }
            None => 0,
        };

        let encryption_changed = usize::from(encryption != EncryptionChange::Kept);
        Ok(UpReport {
            changed: report.changes.len() + pki_changed + written + encryption_changed + sent,
            api_endpoint: format!("https://{endpoint}:{}", cluster.spec.api.port),
            certificates: pki
                .bundle
                .items
                .iter()
                .map(|i| CertificateChange {
                    name: i.name.clone(),
                    change: i.change.clone(),
                })
                .collect(),
            infra: report,
            kubeconfigs: kubeconfigs.files,
            encryption_config: encryption,
            ssh: ready,
            distribute: uploaded,
            timings_ms: Timings {
                infra: infra_ms,
                key_generation_during_infra: keygen_ms,
                pki: pki_ms,
                kubeconfigs: kubeconfig_ms,
                encryption_config: encryption_ms,
                ssh_wait: ssh_ms,
                distribute: distribute_ms,
                load_balancer_active_after_infra: lb_active_ms,
            },
        })
    }
}

/// What [`Cluster::plan_up`] says `up` would do to one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedAction {
    /// It is right: kept.
    Keep,
    /// Missing or wrong: issued.
    Issue,
}

/// One certificate in [`UpPlan`].
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCertificate {
    /// Its name.
    pub name: String,
    /// What `up` would do.
    pub action: PlannedAction,
    /// Why, when it would issue it.
    pub reasons: Vec<String>,
}

/// The kubeconfigs in [`UpPlan`].
#[derive(Debug, Clone, Serialize)]
pub struct PlannedKubeconfigs {
    /// Every kubeconfig file `up` makes.
    pub files: Vec<String>,
    /// Those not there yet.
    pub missing: Vec<String>,
}

/// What [`Cluster::plan_up`] says `up` would do with the encryption config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedEncryption {
    /// There is one: kept.
    Keep,
    /// There is none: generated.
    Generate,
}

/// What `up` would do, step by step ([`Cluster::plan_up`]).
#[derive(Debug, Serialize)]
pub struct UpPlan {
    /// Step 1: the AWS changes.
    pub infra: k8s_aws_infra::Plan,
    /// Step 2, as the certificates stand now.
    pub certificates: Vec<PlannedCertificate>,
    /// Step 3.
    pub kubeconfigs: PlannedKubeconfigs,
    /// Step 4.
    pub encryption_config: PlannedEncryption,
    /// Step 6: who gets what.
    pub distribute: k8s_distribute::Manifest,
    /// New machines or a new load balancer will add addresses to the certificates.
    pub addresses_change: bool,
}

impl Cluster {
    /// What [`Cluster::up`] would do: AWS is read (mutating calls are refused), nothing is
    /// written, no node is contacted.
    ///
    /// # Errors
    /// [`Error::Infra`] (reading AWS), [`Error::Pki`].
    pub async fn plan_up(&self, infra: &Infra) -> Result<UpPlan> {
        let infra_plan = infra
            .plan(&self.infra_spec()?, &self.infra_state(), self.layout.dir())
            .await?;
        let certificates = self
            .check_pki()?
            .into_iter()
            .map(|r| PlannedCertificate {
                action: if r.problems.is_empty() {
                    PlannedAction::Keep
                } else {
                    PlannedAction::Issue
                },
                name: r.name,
                reasons: r.problems,
            })
            .collect();
        let dir = self.layout.kubeconfig_dir();
        let files: Vec<String> = self
            .kubeconfig_components()
            .iter()
            .map(|c| c.file_name())
            .collect();
        let missing = files
            .iter()
            .filter(|f| !dir.join(f).exists())
            .cloned()
            .collect();
        let addresses_change = infra_plan.changes.iter().any(|c| {
            matches!(
                c.kind,
                k8s_aws_infra::Kind::Instance | k8s_aws_infra::Kind::LoadBalancer
            )
        });
        Ok(UpPlan {
            infra: infra_plan,
            certificates,
            kubeconfigs: PlannedKubeconfigs { files, missing },
            encryption_config: if self.layout.encryption_config().exists() {
                PlannedEncryption::Keep
            } else {
                PlannedEncryption::Generate
            },
            distribute: self.manifest()?,
            addresses_change,
        })
    }
}
