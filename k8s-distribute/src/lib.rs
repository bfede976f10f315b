//! The right files to the right nodes over SSH: in parallel, verified, renamed into place.
//!
//! This is STEP 5 (certificates), the TASK of STEP 6 (kubeconfigs) and the end of STEP 7
//! (`encryption-config.yaml`) of "Kubernetes from the ground up" without the `scp` loops:
//!
//! - [`Manifest::for_cluster`] computes which file goes to which node (workers: `ca.pem`, their
//!   own certificate, key and kubeconfig, `kube-proxy.kubeconfig`; masters: the CA pair, the
//!   service-account pair, the API server pair, three kubeconfigs, the encryption config).
//!   It is plain data: print it, change it, or build your own.
//! - [`SshClient::upload`] connects to all nodes at once (russh; the AWS key pair PEM or an
//!   OpenSSH key), checks host keys against a known_hosts file or pinned keys (see
//!   [Host keys](#host-keys)), and puts each file under a temp name, checks its sha256 on the
//!   node, sets its mode (0600 secrets, 0644 certificates) and renames it into place. Files already there with the same sha256 are
//!   skipped, so a second run sends nothing.
//! - [`SshClient::run`] runs a command on a set of nodes and returns each one's output and exit
//!   status.
//! - [`SshClient::wait_ready`] waits (bounded) until freshly started machines accept a login;
//!   [`UploadOptions::check_only`] compares what is on the nodes with the manifest, changing
//!   nothing.
//! - [`pin_known_hosts`] records a machine's host keys (e.g. the ones cloud-init printed to the
//!   instance's console) in a known_hosts file before the first connection, so the strict
//!   policy accepts exactly those.
//!
//! What it does not do: create the files (see `k8s-pki` and `k8s-kubeconfig`), move them to
//! their system folders with `sudo` (later bootstrap steps, via [`SshClient::run`]), talk to AWS,
//! print anything (progress comes as [`Event`]s), build an async runtime (call it from yours),
//! use an SSH agent or encrypted private keys, or guard against two uploads to the same node at
//! the same time.
//!
//! # Host keys
//!
//! [`HostKeys::KnownHosts`] reads the file itself, with OpenSSH's format (sshd(8),
//! "SSH_KNOWN_HOSTS FILE FORMAT"): comma-separated host patterns (`host`, `[host]:port` for
//! ports other than 22, `*`/`?` wildcards, `!` negation), hashed names (`|1|salt|hash`, as
//! `ssh-keygen -H` and Ubuntu's `HashKnownHosts yes` write), `@revoked` lines; `@cert-authority`
//! lines, comments and lines that do not parse are skipped. For the key a host offers:
//!
//! 1. listed on an `@revoked` line (for any host): refused, [`Error::HostKeyRevoked`], even if
//!    another line lists it too;
//! 2. listed on a line for the host: accepted;
//! 3. the host has recorded keys, *of any type* (say its RSA key, while the host offered
//!    ed25519): refused, [`Error::HostKeyChanged`], naming every recorded key's fingerprint
//!    and `FILE:LINE`;
//! 4. nothing recorded for the host: [`UnknownHosts::Refuse`] refuses
//!    ([`Error::UnknownHostKey`]); [`UnknownHosts::AcceptNew`] appends one line
//!    (`host type base64`, `[host]:port …` on other ports) and goes on. So accept-new never
//!    adds a second key for a host that has one. The append is one `O_APPEND` write and an
//!    fsync, one session at a time within a client (other processes are not locked out).
//!
//! [`HostKeys::Pinned`] holds keys per node in memory instead: a node without keys is
//! unknown, a key not among its keys is changed.
//!
//! # Example
//! ```no_run
//! use k8s_distribute::{
//!     HostKeys, LocalFiles, Manifest, Node, SshClient, SshSettings, UploadOptions,
//! };
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let name = "k8s-cluster-from-ground-up";
//! let masters: Vec<Node> = (0..3)
//!     .map(|i| Node::new(format!("{name}-master-{i}"), format!("54.0.0.1{i}")))
//!     .collect();
//! let workers: Vec<Node> = (0..3)
//!     .map(|i| Node::new(format!("{name}-worker-{i}"), format!("54.0.0.2{i}")))
//!     .collect();
//! let files = LocalFiles {
//!     pki_dir: "ca-authority".into(),
//!     kubeconfig_dir: "ca-authority".into(),
//!     encryption_config: "ca-authority/encryption-config.yaml".into(),
//! };
//! let manifest = Manifest::for_cluster(&masters, &workers, &files)?;
//!
//! let client = SshClient::new(&SshSettings::new(
//!     format!("ssh/{name}.id_rsa"),
//!     HostKeys::user_known_hosts()?,
//! ))?;
//! let report = client
//!     .upload(&manifest, &UploadOptions::default(), &|event| eprintln!("{event:?}"))
//!     .await?;
//! for node in report.failed() {
//!     eprintln!("{}: {:?}", node.node, node.error);
//! }
//!
//! for run in client.run(&manifest.nodes(), "ls -l", &|_| {}).await {
//!     let out = run.result?;
//!     println!("{}: {}", run.node, String::from_utf8_lossy(&out.stdout));
//! }
//! # Ok(()) }
//! ```

mod client;
mod error;
mod host_keys;
mod known_hosts;
mod manifest;
mod session;
mod text;
mod transfer;

pub use client::{
    CommandOutput, Event, FileReport, NodeReady, NodeReport, NodeRun, SshClient, SshSettings,
    UploadOptions, UploadReport,
};
pub use error::{Error, Result};
pub use host_keys::{HostKeys, UnknownHosts};
pub use known_hosts::{PinOutcome, is_pinned, pin_known_hosts};
pub use manifest::{
    DEFAULT_PORT, DEFAULT_USER, FileMode, FileToSend, LocalFiles, Manifest, Node, NodeFiles, Role,
    master_files, worker_files,
};
pub use session::MAX_OUTPUT;
pub use text::printable;
pub use transfer::{FileStatus, SendReason};
