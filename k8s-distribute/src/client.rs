//! [`SshClient`]: all nodes at once, bounded, with retries, per-node results and progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::host_keys::{HostKeys, Verifier};
use crate::manifest::{Manifest, Node, NodeFiles};
use crate::session::{self, ConnectFailure, Session, Shared};
use crate::transfer::{self, FileStatus, Loaded, Planned};

/// How to reach the nodes.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// The private key file: an AWS key pair PEM (`BEGIN RSA PRIVATE KEY`) or an unencrypted
    /// OpenSSH key (ed25519, RSA, ECDSA).
    pub private_key: PathBuf,
    /// Where trusted host keys come from.
    pub host_keys: HostKeys,
    /// Limit for TCP connect, key exchange and authentication, per attempt. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for each remote step (check, upload, finalize, a command). Default 60 s.
    pub command_timeout: Duration,
    /// Extra connection attempts after a network failure (refused, reset, timed out), with
    /// exponential backoff. Never for host key or authentication failures. Default 3.
    pub connect_retries: usize,
    /// Nodes worked on at once. Default 16.
    pub concurrency: usize,
}

impl SshSettings {
    /// Settings with the defaults above.
    pub fn new(private_key: impl Into<PathBuf>, host_keys: HostKeys) -> Self {
        SshSettings {
            private_key: private_key.into(),
            host_keys,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(60),
            connect_retries: 3,
            concurrency: 16,
        }
    }
}

/// Where files go on the nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadOptions {
    /// Target folder on every node (created if missing); `None` is the login user's home, as
    /// in the tutorial's `scp` (STEP 5). A relative path is relative to the home folder; `~`
    /// is not expanded.
    pub target_dir: Option<String>,
    /// Only compare: report what an upload would do ([`FileStatus::WouldSend`],
    /// [`FileStatus::WouldFixMode`], [`FileStatus::Unchanged`]) and change nothing on the
    /// nodes (not even the clean-up of stale temp files).
    pub check_only: bool,
}

/// Something that happened on one node, for progress display. Events of different nodes
/// interleave; those of one node come in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection attempt starts (`attempt` counts from 1).
    Connecting {
        /// The node.
        node: String,
        /// Which attempt.
        attempt: usize,
    },
    /// Host key accepted and logged in.
    Connected {
        /// The node.
        node: String,
    },
    /// One file is decided.
    File {
        /// The node.
        node: String,
        /// The remote file name.
        file: String,
        /// What happened to it.
        status: FileStatus,
    },
    /// The node is done (all files decided, or the command finished).
    Done {
        /// The node.
        node: String,
    },
    /// The node failed as a whole.
    Failed {
        /// The node.
        node: String,
        /// The error, as text.
        reason: String,
    },
    /// [`SshClient::wait_ready`]: not reachable yet; another attempt follows.
    NotYet {
        /// The node.
        node: String,
        /// Why this attempt failed.
        reason: String,
    },
}

/// One file's outcome on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The remote file name.
    pub name: String,
    /// What happened.
    #[serde(flatten)]
    pub status: FileStatus,
}

/// One node's outcome of [`SshClient::upload`].
#[derive(Debug, Serialize)]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// `host:port`.
    pub address: String,
    /// Every file of the manifest for this node, in order.
    pub files: Vec<FileReport>,
    /// Why the node failed as a whole (its files are then `Failed` or undecided-as-failed).
    #[serde(serialize_with = "display_opt")]
    pub error: Option<Error>,
}

impl NodeReport {
    /// No node error and no failed file.
    pub fn is_success(&self) -> bool {
        self.error.is_none()
            && self
                .files
                .iter()
                .all(|f| !matches!(f.status, FileStatus::Failed(_)))
    }

    /// How many files have `status` (compared by kind; the reason of `Failed` is ignored).
    pub fn count(&self, status: &FileStatus) -> usize {
        self.files
            .iter()
            .filter(|f| std::mem::discriminant(&f.status) == std::mem::discriminant(status))
            .count()
    }
}

/// The outcome of [`SshClient::upload`]: every node of the manifest, in manifest order.
#[derive(Debug, Serialize)]
pub struct UploadReport {
    /// One entry per node.
    pub nodes: Vec<NodeReport>,
}

impl UploadReport {
    /// Every node succeeded.
    pub fn is_success(&self) -> bool {
        self.nodes.iter().all(NodeReport::is_success)
    }

    /// The nodes that did not fully succeed.
    pub fn failed(&self) -> impl Iterator<Item = &NodeReport> {
        self.nodes.iter().filter(|n| !n.is_success())
    }
}

/// What a remote command did on one node. Its output is the node's bytes as they came: show
/// them through [`printable`](crate::printable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandOutput {
    /// Its standard output: at most [`MAX_OUTPUT`](crate::MAX_OUTPUT) bytes.
    pub stdout: Vec<u8>,
    /// Its standard error: at most [`MAX_OUTPUT`](crate::MAX_OUTPUT) bytes.
    pub stderr: Vec<u8>,
    /// Its exit status; `None` when it ended without one (killed by a signal).
    pub exit_status: Option<u32>,
    /// Whether stdout or stderr was longer than [`MAX_OUTPUT`](crate::MAX_OUTPUT) and was
    /// cut there (the rest was read and dropped).
    pub cut: bool,
}

impl CommandOutput {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit_status == Some(0)
    }
}

/// One node's outcome of [`SshClient::run`].
#[derive(Debug)]
pub struct NodeRun {
    /// The node's name.
    pub node: String,
    /// `host:port`.
    pub address: String,
    /// The command's output, or why it could not be run. A non-zero exit is `Ok`: look at
    /// [`CommandOutput::exit_status`].
    pub result: std::result::Result<CommandOutput, Error>,
}

fn display_opt<S: serde::Serializer>(
    e: &Option<Error>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_some(&e.to_string()),
        None => s.serialize_none(),
    }
}

/// One node's outcome of [`SshClient::wait_ready`].
#[derive(Debug, Serialize)]
pub struct NodeReady {
    /// The node's name.
    pub node: String,
    /// `host:port`.
    pub address: String,
    /// Connection attempts made.
    pub attempts: usize,
    /// How long until it answered (or gave up), in milliseconds.
    pub waited_ms: u64,
    /// Why it is not ready; `None` when it is.
    #[serde(serialize_with = "display_opt")]
    pub error: Option<Error>,
}

/// Connects to nodes with one private key and one source of trusted host keys.
///
/// Cheap to share: the key is loaded once. Needs a tokio runtime (with the `time` and `net`
/// drivers) to run its futures; it never builds one.
pub struct SshClient {
    shared: Arc<Shared>,
    retries: usize,
    concurrency: usize,
}

impl std::fmt::Debug for SshClient {
    // The private key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshClient")
            .field("private_key", &self.shared.key_path)
            .field("host_keys", &self.shared.verifier)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl SshClient {
    /// Loads the private key and parses pinned host keys.
    ///
    /// # Errors
    /// [`Error::PrivateKey`] when the key cannot be read or parsed (or is encrypted);
    /// [`Error::PinnedKey`] for a pinned key that does not parse.
    pub fn new(settings: &SshSettings) -> Result<Self> {
        let key = russh::keys::load_secret_key(&settings.private_key, None).map_err(|e| {
            Error::PrivateKey {
                path: settings.private_key.clone(),
                reason: e.to_string(),
            }
        })?;
        let config = russh::client::Config {
            nodelay: true,
            ..Default::default()
        };
        Ok(SshClient {
            shared: Arc::new(Shared {
                config: Arc::new(config),
                key: Arc::new(key),
                key_path: settings.private_key.clone(),
                verifier: Verifier::new(&settings.host_keys)?,
                connect_timeout: settings.connect_timeout,
                command_timeout: settings.command_timeout,
            }),
            retries: settings.connect_retries,
            concurrency: settings.concurrency.max(1),
        })
    }

    async fn connect(&self, node: &Node, progress: &(dyn Fn(Event) + Sync)) -> Result<Session> {
        let mut attempt = 0;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(300))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(self.retries)
            .with_jitter();
        let result = (|| {
            attempt += 1;
            progress(Event::Connecting {
                node: node.name.clone(),
                attempt,
            });
            session::connect(&self.shared, node)
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(ConnectFailure::is_transient)
        .await;
        match result {
            Ok(s) => {
                progress(Event::Connected {
                    node: node.name.clone(),
                });
                Ok(s)
            }
            Err(ConnectFailure::Final(e)) => Err(e),
            Err(ConnectFailure::Transient(reason)) => Err(Error::Connect {
                node: node.name.clone(),
                address: node.host_port(),
                reason,
            }),
        }
    }

    /// Puts every node's files in place: all nodes at once (up to the concurrency bound),
    /// each file verified with sha256 on the node before it is renamed into place, files
    /// already there with the same sha256 skipped.
    ///
    /// Every local file is read before any connection; one node failing does not stop the
    /// others. `progress` hears per-node [`Event`]s as they happen (pass `&|_| {}` for none).
    ///
    /// # Errors
    /// Only problems that stop everything before any connection: an invalid manifest
    /// ([`Manifest::validate`]) or an unreadable local file ([`Error::LocalFile`], naming it).
    /// Node failures are in the report.
    pub async fn upload(
        &self,
        manifest: &Manifest,
        options: &UploadOptions,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<UploadReport> {
        manifest.validate()?;
        let loaded = load_all(manifest)?;
        let jobs: Vec<_> = manifest
            .nodes
            .iter()
            .map(|nf| self.upload_one(nf, &loaded, options, progress))
            .collect();
        Ok(UploadReport {
            nodes: bounded_in_order(jobs, self.concurrency).await,
        })
    }

    async fn upload_one(
        &self,
        nf: &NodeFiles,
        loaded: &HashMap<PathBuf, Loaded>,
        options: &UploadOptions,
        progress: &(dyn Fn(Event) + Sync),
    ) -> NodeReport {
        let dir = options.target_dir.as_deref().unwrap_or(".");
        let planned: Vec<Planned<'_>> = nf
            .files
            .iter()
            .filter_map(|f| {
                loaded.get(&f.local).map(|content| Planned {
                    name: &f.remote_name,
                    mode: f.mode.bits(),
                    content,
                })
            })
            .collect();
        let mut statuses: Vec<Option<FileStatus>> = vec![None; planned.len()];
        let node = &nf.node;
        let on_file = |file: &str, status: &FileStatus| {
            progress(Event::File {
                node: node.name.clone(),
                file: file.to_string(),
                status: status.clone(),
            })
        };
        let result = match self.connect(node, progress).await {
            Ok(session) => {
                let r = transfer::upload_node(
                    &session,
                    dir,
                    &planned,
                    options.check_only,
                    &mut statuses,
                    &on_file,
                )
                .await;
                session.close().await;
                r
            }
            Err(e) => Err(e),
        };
        report_end(progress, &node.name, &result);
        let error = result.err();
        let files = planned
            .iter()
            .zip(statuses)
            .map(|(p, s)| FileReport {
                name: p.name.to_string(),
                status: s.unwrap_or_else(|| {
                    FileStatus::Failed(match &error {
                        Some(e) => format!("not sent: {e}"),
                        None => "not sent".to_string(),
                    })
                }),
            })
            .collect();
        NodeReport {
            node: node.name.clone(),
            address: node.host_port(),
            files,
            error,
        }
    }

    /// Waits until every node accepts an SSH login (host key checked, key authentication), for
    /// at most `within` per node: what to do after machines are started, while their sshd is
    /// not listening yet. All nodes are tried at once (each attempt within the concurrency
    /// bound); refused, reset or timed-out connections are retried with backoff (0.25 s
    /// growing to 2 s), and each retry is reported as [`Event::NotYet`]. So is a refused key
    /// ([`Error::Auth`]): EC2 installs the key pair in `authorized_keys` a moment after sshd
    /// starts, so a new machine refuses it at first. A host key failure ends that node's wait
    /// at once: waiting cannot fix it.
    pub async fn wait_ready(
        &self,
        nodes: &[Node],
        within: Duration,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Vec<NodeReady> {
        let places = Semaphore::new(self.concurrency);
        let jobs = nodes
            .iter()
            .map(|node| self.wait_one(node, within, &places, progress));
        futures::future::join_all(jobs).await
    }

    async fn wait_one(
        &self,
        node: &Node,
        within: Duration,
        places: &Semaphore,
        progress: &(dyn Fn(Event) + Sync),
    ) -> NodeReady {
        let start = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut attempts = 0;
        let error = loop {
            attempts += 1;
            progress(Event::Connecting {
                node: node.name.clone(),
                attempt: attempts,
            });
            let attempt = {
                let _place = places.acquire().await.ok();
                session::connect(&self.shared, node).await
            };
            let (reason, refused) = match attempt {
                Ok(session) => {
                    session.close().await;
                    progress(Event::Connected {
                        node: node.name.clone(),
                    });
                    break None;
                }
                // EC2 installs the key pair a moment after sshd starts: retried too.
                Err(ConnectFailure::Final(e @ Error::Auth { .. })) => (e.to_string(), Some(e)),
                Err(ConnectFailure::Final(e)) => break Some(e),
                Err(ConnectFailure::Transient(reason)) => (reason, None),
            };
            if start.elapsed() + delay > within {
                break Some(refused.unwrap_or_else(|| Error::Connect {
                    node: node.name.clone(),
                    address: node.host_port(),
                    reason: format!(
                        "no SSH login within {} s ({attempts} attempts); last: {reason}",
                        within.as_secs()
                    ),
                }));
            }
            progress(Event::NotYet {
                node: node.name.clone(),
                reason,
            });
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(2));
        };
        let result = match error {
            None => Ok(()),
            Some(e) => Err(e),
        };
        report_end(progress, &node.name, &result);
        NodeReady {
            node: node.name.clone(),
            address: node.host_port(),
            attempts,
            waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            error: result.err(),
        }
    }

    /// Runs `command` (through the login user's shell) on every node at once, up to the
    /// concurrency bound; returns each node's output and exit status, in the order given.
    ///
    /// One node failing (unreachable, host key, timeout) does not stop the others; its entry
    /// holds the error. `progress` hears `Connecting`, `Connected`, `Done`/`Failed`.
    pub async fn run(
        &self,
        nodes: &[Node],
        command: &str,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Vec<NodeRun> {
        let jobs: Vec<_> = nodes
            .iter()
            .map(|node| self.run_one(node, command, progress))
            .collect();
        bounded_in_order(jobs, self.concurrency).await
    }

    async fn run_one(
        &self,
        node: &Node,
        command: &str,
        progress: &(dyn Fn(Event) + Sync),
    ) -> NodeRun {
        let result = match self.connect(node, progress).await {
            Ok(session) => {
                let out = session.exec("command", command).await;
                session.close().await;
                out.map(|out| CommandOutput {
                    stdout: out.stdout,
                    stderr: out.stderr,
                    exit_status: out.exit_status,
                    cut: out.cut,
                })
            }
            Err(e) => Err(e),
        };
        report_end(progress, &node.name, &result);
        NodeRun {
            node: node.name.clone(),
            address: node.host_port(),
            result,
        }
    }
}

/// Runs up to `limit` of the futures at once (a slow node does not hold back the next ones:
/// whichever finishes frees its place) and returns their outputs in the order given.
async fn bounded_in_order<F: Future>(jobs: Vec<F>, limit: usize) -> Vec<F::Output> {
    let places = Semaphore::new(limit);
    let gated: Vec<_> = jobs.into_iter().map(|job| gate(&places, job)).collect();
    futures::future::join_all(gated).await
}

async fn gate<F: Future>(places: &Semaphore, job: F) -> F::Output {
    // The semaphore is never closed; without a permit the job would just run unbounded.
    let _place = places.acquire().await.ok();
    job.await
}

fn report_end<T>(progress: &(dyn Fn(Event) + Sync), node: &str, result: &Result<T>) {
    progress(match result {
        Ok(_) => Event::Done {
            node: node.to_string(),
        },
        Err(e) => Event::Failed {
            node: node.to_string(),
            reason: e.to_string(),
        },
    });
}

/// Reads every distinct local file of the manifest once.
fn load_all(manifest: &Manifest) -> Result<HashMap<PathBuf, Loaded>> {
    let mut loaded = HashMap::new();
    for nf in &manifest.nodes {
        for f in &nf.files {
            if !loaded.contains_key(&f.local) {
                let data = read_file(&f.local)?;
                loaded.insert(f.local.clone(), Loaded::new(data));
            }
        }
    }
    Ok(loaded)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::LocalFile {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI may `tokio::spawn` these futures: they must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(client: &SshClient, manifest: &Manifest, nodes: &[Node]) {
        fn send<T: Send>(_: T) {}
        send(client.upload(manifest, &UploadOptions::default(), &|_| {}));
        send(client.run(nodes, "true", &|_| {}));
    }

    #[tokio::test]
    async fn bounded_in_order_keeps_order_and_the_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let job = |i: u64| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Later jobs finish first: order must come from the input, not completion.
                tokio::time::sleep(Duration::from_millis(40 - 5 * i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        };
        let out = bounded_in_order((0..7).map(job).collect(), 3).await;
        assert_eq!(out, (0..7).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
