//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, validating and mapping a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder cannot be written.
    #[error("cannot write {path}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: k8s_files::Error,
    },
    /// `cluster.yaml` is not a valid cluster spec; the source names the field.
    #[error("{path}: invalid cluster spec")]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong ([`Error::Invalid`]).
        #[source]
        source: Box<Error>,
    },
    /// A field's value is invalid: `field: why`, naming cluster.yaml's field.
    #[error("{message}")]
    Invalid {
        /// `field: why`.
        message: String,
    },
    /// The cluster is valid but cannot be built on AWS as it is.
    #[error("{path}: not valid for AWS")]
    NotForAws {
        /// The cluster.yaml.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// `state.json` records another cluster than `cluster.yaml` names.
    #[error("{state} belongs to cluster {recorded:?}, but {spec} names {named:?}")]
    StateOfAnotherCluster {
        /// The state file.
        state: PathBuf,
        /// The cluster it records.
        recorded: String,
        /// The cluster.yaml.
        spec: PathBuf,
        /// The cluster it names.
        named: String,
    },
    /// `state.json` records resources of another installation than `cluster.yaml` names.
    #[error("{state} records installation {recorded}, but {spec} names {named}")]
    StateOfAnotherInstallation {
        /// The state file.
        state: PathBuf,
        /// The installation it records.
        recorded: String,
        /// The cluster.yaml.
        spec: PathBuf,
        /// The installation it names.
        named: String,
    },
    /// An unusable `state.json` could not be set aside.
    #[error("cannot move {path} aside to {to}")]
    SetAside {
        /// The state file.
        path: PathBuf,
        /// Where it was to go.
        to: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The cluster has no API endpoint yet (kubeconfigs for remote clients need it).
    #[error(
        "the cluster's API endpoint is not known yet: run `k8s-hard infra up` (it records the load balancer's DNS name), or set api.endpoint in {path}"
    )]
    NoEndpoint {
        /// The cluster.yaml.
        path: PathBuf,
    },
    /// There is no encryption config yet.
    #[error("{path} does not exist: run `k8s-hard encryption-config generate` first")]
    NoEncryptionConfig {
        /// The file.
        path: PathBuf,
    },
    /// The encryption config is not valid (it is never overwritten: its keys may still be in
    /// use).
    #[error(
        "{path}: invalid encryption config (fix or move it away; never delete a key still in use)"
    )]
    Encryption {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: k8s_kubeconfig::Error,
    },
    /// `encryption-keys.retired.yaml` is not a list of retired keys (it is never overwritten:
    /// it holds the only copy of keys older backups need).
    #[error(
        "{path}: not a list of retired keys ({reason}); nothing was pruned: fix it or move it away, then prune again"
    )]
    RetiredKeys {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An instance's host keys, as its console shows them, could not be pinned.
    #[error("{node}: cannot pin the host keys its console ({instance_id}) shows")]
    Pin {
        /// The node.
        node: String,
        /// Its instance.
        instance_id: String,
        /// Why (another key recorded for the host, the file unwritable).
        #[source]
        source: Box<k8s_distribute::Error>,
    },
    /// Some instances' consoles did not show their host keys within the wait.
    #[error(
        "{} of {total} machines did not show their SSH host keys in their console output within {waited_secs} s ({}); everything before this step is done and kept",
        missing.len(),
        missing.join(", ")
    )]
    ConsoleKeysMissing {
        /// Their node names.
        missing: Vec<String>,
        /// How many nodes there are.
        total: usize,
        /// How long it waited.
        waited_secs: u64,
    },
    /// Some nodes did not accept an SSH login within the wait.
    #[error(
        "{} of {total} nodes do not accept SSH; everything before this step is done and kept:\n  {}",
        nodes.len(),
        nodes.iter().map(|r| match &r.error {
            Some(e) => format!("{} ({}): {e}", r.node, r.address),
            None => r.node.clone(),
        }).collect::<Vec<_>>().join("\n  ")
    )]
    SshNotReady {
        /// The nodes that did not, with why.
        nodes: Vec<k8s_distribute::NodeReady>,
        /// How many nodes there are.
        total: usize,
    },
    /// AWS gave the load balancer no DNS name.
    #[error("AWS reported no DNS name for the load balancer")]
    NoLoadBalancerName,
    /// `up` needs a known_hosts file to pin the instances' host keys in.
    #[error("`up` pins the instances' host keys in a known_hosts file: give the SSH settings one")]
    KnownHostsRequired,
    /// A background task (key generation, the load balancer wait) stopped abnormally.
    #[error("a background task failed: {0}")]
    Task(String),
    /// From `k8s-kubeconfig`.
    #[error(transparent)]
    Kubeconfig(#[from] k8s_kubeconfig::Error),
    /// From `k8s-aws-infra`.
    #[error(transparent)]
    Infra(#[from] k8s_aws_infra::Error),
    /// From `k8s-pki`.
    #[error(transparent)]
    Pki(#[from] k8s_pki::Error),
    /// From `k8s-distribute`.
    #[error(transparent)]
    Distribute(Box<k8s_distribute::Error>),
}

impl From<k8s_distribute::Error> for Error {
    fn from(e: k8s_distribute::Error) -> Self {
        Error::Distribute(Box::new(e))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An [`Error::Invalid`] with `message` (`field: why`).
pub(crate) fn invalid(message: String) -> Error {
    Error::Invalid { message }
}
