//! Host keys of the cluster's own instances, verified from AWS rather than trusted on first
//! use: read from each instance's console output and pinned in known_hosts before any
//! connection.

use std::path::Path;
use std::time::Duration;

use k8s_aws_infra::{Infra, InfraState};
use k8s_distribute::{Manifest, Node, PinOutcome, is_pinned, pin_known_hosts};

use crate::cluster::{Cluster, infra_node_name};
use crate::error::{Error, Result};

/// One pin [`Cluster::pin_console_host_keys`] made or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The node.
    pub node: String,
    /// Its instance.
    pub instance_id: String,
    /// How many keys its console showed.
    pub keys: usize,
    /// What the known_hosts file needed.
    pub outcome: PinOutcome,
}

/// Lines of one console's host key block that were not keys, dropped for that node alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLines {
    /// The node.
    pub node: String,
    /// Its instance.
    pub instance_id: String,
    /// The lines, escaped for display
    /// ([`ConsoleKeys::rejected`](k8s_aws_infra::ConsoleKeys::rejected)).
    pub lines: Vec<String>,
}

impl std::fmt::Display for RejectedLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): dropped {} line(s) of its console's host key block that are not keys: {}",
            self.node,
            self.instance_id,
            self.lines.len(),
            self.lines.join(" | ")
        )
    }
}

/// What [`Cluster::pin_console_host_keys`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsolePins {
    /// The nodes pinned (or already pinned) from their consoles.
    pub pinned: Vec<Pinned>,
    /// The instances whose console did not show their keys within the wait.
    pub missing: Vec<String>,
    /// Nodes whose key block held lines that are not keys: those lines were dropped, the
    /// node's good keys (if any) pinned, and the other nodes are not affected.
    pub rejected: Vec<RejectedLines>,
}

impl Cluster {
    /// For every node of `manifest` that is an instance of this cluster (in `state`), reads
    /// the host keys cloud-init printed to its console (waiting up to `wait` for them to
    /// show) and pins them in the known_hosts file `known_hosts`, marked
    /// `k8s-hard:console <instance> cluster=<name>`, before any connection: a machine that
    /// merely answers at the instance's address is then refused. Lines of a key block that
    /// are not keys are dropped and reported for their node ([`ConsolePins::rejected`]). Nodes that are not
    /// instances of this cluster (machines that are not ours) are left to known_hosts.
    ///
    /// # Errors
    /// [`Error::Infra`] when the consoles cannot be read, [`Error::Distribute`] when a key
    /// cannot be pinned (another key recorded for the host outside k8s-hard's pins).
    pub async fn pin_console_host_keys(
        &self,
        infra: &Infra,
        state: &InfraState,
        manifest: &Manifest,
        known_hosts: &Path,
        wait: Duration,
    ) -> Result<ConsolePins> {
        let name = &self.spec.name;
        let nodes: Vec<(String, Node)> = manifest
            .nodes()
            .into_iter()
            .map(|n| (infra_node_name(name, &n.name), n))
            .filter(|(infra_name, _)| state.instances.contains_key(infra_name))
            .collect();
        if nodes.is_empty() {
            return Ok(ConsolePins::default());
        }
        let spec = self.infra_spec()?;
        let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
        let consoles = infra.console_host_keys(&spec, state, &names, wait).await?;
        let mut pins = ConsolePins::default();
        for (console, (_, node)) in consoles.iter().zip(&nodes) {
            if !console.rejected.is_empty() {
                pins.rejected.push(RejectedLines {
                    node: node.name.clone(),
                    instance_id: console.instance_id.clone(),
                    lines: console.rejected.clone(),
                });
            }
            if console.keys.is_empty() {
                pins.missing.push(node.name.clone());
                continue;
            }
            let marker = console_marker(&console.instance_id, name);
            let outcome = pin_known_hosts(
                known_hosts,
                &node.address,
                node.port,
                &console.keys,
                &marker,
            )
            .map_err(|e| Error::Pin {
                node: node.name.clone(),
                instance_id: console.instance_id.clone(),
                source: Box::new(e),
            })?;
            pins.pinned.push(Pinned {
                node: node.name.clone(),
                instance_id: console.instance_id.clone(),
                keys: console.keys.len(),
                outcome,
            });
        }
        Ok(pins)
    }
}

/// The comment of the known_hosts lines pinned from an instance's console.
fn console_marker(instance_id: &str, cluster: &str) -> String {
    format!("k8s-hard:console {instance_id} cluster={cluster}")
}

impl Cluster {
    /// The nodes of `manifest` that are instances of this cluster (in `state`) whose console
    /// keys, for the instance `state` records, are not pinned in `known_hosts` yet: those a
    /// connection could not check when the consoles cannot be read (AWS unreachable). Empty
    /// when an earlier run pinned them all, so the file alone can be trusted.
    ///
    /// # Errors
    /// [`Error::Distribute`] when the file cannot be read.
    pub fn unpinned_instances(
        &self,
        state: &InfraState,
        manifest: &Manifest,
        known_hosts: &Path,
    ) -> Result<Vec<String>> {
        let name = &self.spec.name;
        let mut unpinned = Vec::new();
        for node in manifest.nodes() {
            let Some(instance) = state.instances.get(&infra_node_name(name, &node.name)) else {
                continue;
            };
            let marker = console_marker(&instance.id, name);
            if !is_pinned(known_hosts, &node.address, node.port, &marker)? {
                unpinned.push(node.name);
            }
        }
        Ok(unpinned)
    }
}
