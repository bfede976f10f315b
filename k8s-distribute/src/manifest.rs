//! Which file goes to which node: the tutorial's STEP 5, the TASK of STEP 6 and STEP 7 as a
//! value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The login user of Ubuntu's AWS images.
pub const DEFAULT_USER: &str = "ubuntu";

/// The SSH port.
pub const DEFAULT_PORT: u16 = 22;

/// What a node does in the cluster; decides which files it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Control plane: API server, controller manager, scheduler, etcd.
    Master,
    /// Runs kubelet and kube-proxy.
    Worker,
}

/// One machine to reach over SSH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The instance name, e.g. `k8s-cluster-from-ground-up-worker-0`; worker file names derive
    /// from it (`<name>.pem`, `<name>-key.pem`, `<name>.kubeconfig`).
    pub name: String,
    /// IP address or DNS name to connect to.
    pub address: String,
    /// SSH port (22 when absent from serialized input).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Login user (`ubuntu` when absent from serialized input).
    #[serde(default = "default_user")]
    pub user: String,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_user() -> String {
    DEFAULT_USER.to_string()
}

impl Node {
    /// A node with port 22 and user `ubuntu`.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Node {
            name: name.into(),
            address: address.into(),
            port: DEFAULT_PORT,
            user: DEFAULT_USER.to_string(),
        }
    }

    /// The same node with another port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same node with another login user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// `host:port` (IPv6 addresses in brackets), for messages and connecting.
    pub fn host_port(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// Where the local files are, as written by the PKI and kubeconfig steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFiles {
    /// Folder with cfssljson-style names: `ca.pem`, `ca-key.pem`, `<name>.pem`, `<name>-key.pem`.
    pub pki_dir: PathBuf,
    /// Folder with `<worker>.kubeconfig`, `kube-proxy.kubeconfig`,
    /// `kube-controller-manager.kubeconfig`, `kube-scheduler.kubeconfig`, `admin.kubeconfig`.
    pub kubeconfig_dir: PathBuf,
    /// The `encryption-config.yaml` file.
    pub encryption_config: PathBuf,
}

/// Permission bits of a file on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileMode {
    /// 0600: private keys, kubeconfigs (they embed keys), the encryption config.
    Secret,
    /// 0644: certificates.
    Public,
}

impl FileMode {
    /// The Unix permission bits.
    pub fn bits(self) -> u32 {
        match self {
            FileMode::Secret => 0o600,
            FileMode::Public => 0o644,
        }
    }
}

/// One file to put on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileToSend {
    /// The file on this machine.
    pub local: PathBuf,
    /// Its name in the node's target folder (a plain name, no `/`).
    pub remote_name: String,
    /// Its permissions there.
    pub mode: FileMode,
}

/// A node and everything it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFiles {
    /// The node.
    pub node: Node,
    /// What it receives.
    pub role: Role,
    /// The files, in the order they are sent.
    pub files: Vec<FileToSend>,
}

/// Every node with its files: plain data, to print (`distribute --plan`), change, read back
/// (serde), or upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Masters first, then workers, in the order given.
    pub nodes: Vec<NodeFiles>,
}

fn file(dir: &Path, name: &str, mode: FileMode) -> FileToSend {
    FileToSend {
        local: dir.join(name),
        remote_name: name.to_string(),
        mode,
    }
}

/// The files of a master, per the tutorial (STEP 5–7): CA and its key, service-account pair,
/// API server pair, the three control-plane kubeconfigs and the encryption config.
pub fn master_files(files: &LocalFiles) -> Vec<FileToSend> {
    let pki = &files.pki_dir;
    let kc = &files.kubeconfig_dir;
    vec![
        file(pki, "ca.pem", FileMode::Public),
        file(pki, "ca-key.pem", FileMode::Secret),
        file(pki, "service-account.pem", FileMode::Public),
        file(pki, "service-account-key.pem", FileMode::Secret),
        file(pki, "master-kubernetes.pem", FileMode::Public),
        file(pki, "master-kubernetes-key.pem", FileMode::Secret),
        file(kc, "kube-controller-manager.kubeconfig", FileMode::Secret),
        file(kc, "kube-scheduler.kubeconfig", FileMode::Secret),
        file(kc, "admin.kubeconfig", FileMode::Secret),
        FileToSend {
            local: files.encryption_config.clone(),
            remote_name: "encryption-config.yaml".to_string(),
            mode: FileMode::Secret,
        },
    ]
}

/// The files of one worker, per the tutorial (STEP 5–6): the CA certificate, its own
/// certificate, key and kubeconfig, and the shared kube-proxy kubeconfig.
pub fn worker_files(worker: &str, files: &LocalFiles) -> Vec<FileToSend> {
    let pki = &files.pki_dir;
    let kc = &files.kubeconfig_dir;
    vec![
        file(pki, "ca.pem", FileMode::Public),
        file(pki, &format!("{worker}.pem"), FileMode::Public),
        file(pki, &format!("{worker}-key.pem"), FileMode::Secret),
        file(kc, &format!("{worker}.kubeconfig"), FileMode::Secret),
        file(kc, "kube-proxy.kubeconfig", FileMode::Secret),
    ]
}

impl Manifest {
    /// The tutorial's distribution for a cluster: [`master_files`] to each master,
    /// [`worker_files`] to each worker. Pure: no file is touched here.
    ///
    /// # Errors
    /// [`Error::InvalidNode`] for an empty, duplicate or unusable node name (worker names become
    /// file names), an empty address or user.
    pub fn for_cluster(masters: &[Node], workers: &[Node], files: &LocalFiles) -> Result<Self> {
        let mut nodes = Vec::with_capacity(masters.len() + workers.len());
        for m in masters {
            nodes.push(NodeFiles {
                node: m.clone(),
                role: Role::Master,
                files: master_files(files),
            });
        }
        for w in workers {
            nodes.push(NodeFiles {
                node: w.clone(),
                role: Role::Worker,
                files: worker_files(&w.name, files),
            });
        }
        let manifest = Manifest { nodes };
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks what [`Manifest::for_cluster`] guarantees, for a manifest changed by hand:
    /// unique usable node names, plain remote names, no remote name twice on one node.
    ///
    /// # Errors
    /// [`Error::InvalidNode`] or [`Error::InvalidRemoteName`] for the first problem found.
    pub fn validate(&self) -> Result<()> {
        let mut seen = BTreeSet::new();
        for nf in &self.nodes {
            let n = &nf.node;
            let bad = |reason: &str| Error::InvalidNode {
                node: n.name.clone(),
                reason: reason.to_string(),
            };
            check_plain_name(&n.name).map_err(|r| bad(&r))?;
            if !seen.insert(n.name.as_str()) {
                return Err(bad("appears twice"));
            }
            if n.address.trim().is_empty() {
                return Err(bad("empty address"));
            }
            if n.user.is_empty() || n.user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("empty user or user with spaces"));
            }
            let mut names = BTreeSet::new();
            for f in &nf.files {
                let bad_name = |reason: String| Error::InvalidRemoteName {
                    node: n.name.clone(),
                    name: f.remote_name.clone(),
                    reason,
                };
                check_plain_name(&f.remote_name).map_err(bad_name)?;
                if !names.insert(f.remote_name.as_str()) {
                    return Err(bad_name("appears twice".to_string()));
                }
            }
        }
        Ok(())
    }

    /// The nodes, in manifest order (for [`crate::SshClient::run`]).
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.iter().map(|nf| nf.node.clone()).collect()
    }
}

/// A name usable as a file name in a folder on the node: not empty, no `/`, no `\` (which
/// `sha256sum` would escape), no control characters, not `.`/`..`, no leading `-` (it would read as an option).
fn check_plain_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name == "." || name == ".." {
        return Err("is . or ..".into());
    }
    if name.starts_with('-') {
        return Err("starts with -".into());
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err("contains /, \\ or a control character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> LocalFiles {
        LocalFiles {
            pki_dir: "/pki".into(),
            kubeconfig_dir: "/kc".into(),
            encryption_config: "/enc/encryption-config.yaml".into(),
        }
    }

    fn cluster() -> Manifest {
        let masters: Vec<Node> = (0..3)
            .map(|i| Node::new(format!("k8s-master-{i}"), format!("10.0.0.1{i}")))
            .collect();
        let workers: Vec<Node> = (0..3)
            .map(|i| Node::new(format!("k8s-worker-{i}"), format!("10.0.0.2{i}")))
            .collect();
        Manifest::for_cluster(&masters, &workers, &files()).unwrap()
    }

    fn names(nf: &NodeFiles) -> Vec<&str> {
        nf.files.iter().map(|f| f.remote_name.as_str()).collect()
    }

    #[test]
    fn workers_get_exactly_their_files() {
        let m = cluster();
        let w = &m.nodes[4];
        assert_eq!(w.node.name, "k8s-worker-1");
        assert_eq!(w.role, Role::Worker);
        assert_eq!(
            names(w),
            [
                "ca.pem",
                "k8s-worker-1.pem",
                "k8s-worker-1-key.pem",
                "k8s-worker-1.kubeconfig",
                "kube-proxy.kubeconfig"
            ]
        );
        assert_eq!(w.files[2].local, PathBuf::from("/pki/k8s-worker-1-key.pem"));
        assert_eq!(
            w.files[3].local,
            PathBuf::from("/kc/k8s-worker-1.kubeconfig")
        );
    }

    #[test]
    fn masters_get_exactly_their_files() {
        let m = cluster();
        let master = &m.nodes[0];
        assert_eq!(master.role, Role::Master);
        assert_eq!(
            names(master),
            [
                "ca.pem",
                "ca-key.pem",
                "service-account.pem",
                "service-account-key.pem",
                "master-kubernetes.pem",
                "master-kubernetes-key.pem",
                "kube-controller-manager.kubeconfig",
                "kube-scheduler.kubeconfig",
                "admin.kubeconfig",
                "encryption-config.yaml"
            ]
        );
        assert_eq!(
            master.files[9].local,
            PathBuf::from("/enc/encryption-config.yaml")
        );
    }

    #[test]
    fn no_worker_gets_the_ca_key_or_another_nodes_key() {
        let m = cluster();
        let all_nodes: Vec<String> = m.nodes.iter().map(|n| n.node.name.clone()).collect();
        for nf in m.nodes.iter().filter(|n| n.role == Role::Worker) {
            for f in &nf.files {
                assert_ne!(f.remote_name, "ca-key.pem");
                assert!(!f.remote_name.starts_with("service-account"));
                assert!(!f.remote_name.starts_with("master-kubernetes"));
                assert_ne!(f.remote_name, "encryption-config.yaml");
                for other in all_nodes.iter().filter(|o| **o != nf.node.name) {
                    assert!(
                        !f.remote_name.starts_with(other.as_str()),
                        "{} gets {}",
                        nf.node.name,
                        f.remote_name
                    );
                }
                // every key file a worker gets is its own
                if f.remote_name.ends_with("-key.pem") {
                    assert_eq!(f.remote_name, format!("{}-key.pem", nf.node.name));
                }
            }
        }
    }

    #[test]
    fn modes_are_0600_for_secrets_and_0644_for_certificates() {
        for nf in cluster().nodes {
            for f in nf.files {
                let secret = f.remote_name.ends_with("-key.pem")
                    || f.remote_name.ends_with(".kubeconfig")
                    || f.remote_name == "encryption-config.yaml";
                let expected = if secret { 0o600 } else { 0o644 };
                assert_eq!(f.mode.bits(), expected, "{}", f.remote_name);
            }
        }
    }

    #[test]
    fn defaults_and_serialization() {
        let n = Node::new("a", "1.2.3.4");
        assert_eq!((n.port, n.user.as_str()), (22, "ubuntu"));
        assert_eq!(n.host_port(), "1.2.3.4:22");
        assert_eq!(Node::new("a", "::1").with_port(2).host_port(), "[::1]:2");
        let json = serde_json::to_value(cluster()).unwrap();
        assert_eq!(json["nodes"][3]["role"], "worker");
        assert_eq!(json["nodes"][3]["files"][2]["mode"], "secret");
        let back: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, cluster());
        let n: Node = serde_json::from_str(r#"{"name":"w","address":"1.2.3.4"}"#).unwrap();
        assert_eq!(n, Node::new("w", "1.2.3.4"));
    }

    #[test]
    fn bad_nodes_are_refused() {
        let f = files();
        let dup = [Node::new("w", "a"), Node::new("w", "b")];
        assert!(matches!(
            Manifest::for_cluster(&[], &dup, &f),
            Err(Error::InvalidNode { node, .. }) if node == "w"
        ));
        for bad in ["", "../x", "a/b", "-rf", "..", "a\\b", "a\nb"] {
            assert!(
                Manifest::for_cluster(&[], &[Node::new(bad, "a")], &f).is_err(),
                "{bad:?}"
            );
        }
        assert!(Manifest::for_cluster(&[Node::new("m", " ")], &[], &f).is_err());
        let mut m = cluster();
        m.nodes[0].files[1].remote_name = "../ca-key.pem".into();
        assert!(matches!(m.validate(), Err(Error::InvalidRemoteName { .. })));
    }
}
