//! The cluster model of k8s-hard: one `cluster.yaml` read, validated once (every error names
//! cluster.yaml's field), its topology derived (nodes from counts or lists, AWS host names
//! and FQDNs by region, pod CIDRs), its files laid out ([`Layout`]), and mapped onto the
//! inputs of the libraries that build it: [`Cluster::pki_inputs`] (`k8s-pki`),
//! [`Cluster::kubeconfig_components`] and [`Cluster::kubeconfig_certificate`]
//! (`k8s-kubeconfig`), [`Cluster::infra_spec`] (`k8s-aws-infra`), [`Cluster::manifest`]
//! (`k8s-distribute`). Every file name comes from the certificate table and the kubeconfig
//! set: none is spelled twice.
//!
//! Use it to plan or build "this cluster.yaml" from your own Rust program without the
//! `k8s-hard` binary. The libraries it maps onto do not depend on it, nor on each other.
//!
//! Names are safe by construction: the cluster and node names are DNS labels (what AWS tags,
//! kubeconfig names and kubelet CNs need), a node may not take a name that another
//! certificate's or kubeconfig's files use (`ca`, `admin`, `kube-proxy`, any `-key` suffix:
//! the reserved names come from the certificate table and the kubeconfig set), and two nodes
//! may not share a name or an SSH address; so nothing is ever written outside the cluster
//! folder. A field either takes effect everywhere or is refused (`api.port` other than 6443).
//!
//! What it does not do: talk to AWS or to the machines (the libraries do), or print anything.
//!
//! # Example
//! ```
//! use k8s_cluster::{Cluster, InitOptions, render_default};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! let dir = tmp.path();
//! // What `k8s-hard init` writes: the tutorial's 3 masters and 3 workers.
//! std::fs::write(dir.join("cluster.yaml"), render_default(&InitOptions::new()?))?;
//!
//! let cluster = Cluster::load(dir)?;
//! for node in cluster.masters.iter().chain(&cluster.workers) {
//!     println!("{} {} {}", node.name, node.private_ip, node.fqdn);
//! }
//! assert_eq!(cluster.workers[2].fqdn, "ip-172-31-0-22.us-east-2.compute.internal");
//! let pki = k8s_pki::Pki::new(cluster.pki_inputs())?;
//! assert_eq!(pki.specs().len(), 10); // CA, API server, 3 kubelets, 5 components
//! let manifest = cluster.manifest()?;
//! assert_eq!(manifest.nodes.len(), 6);
//! assert!(cluster.layout.pki_dir().starts_with(dir));
//! # Ok(()) }
//! ```

mod aws;
mod cluster;
mod encryption;
mod error;
mod files;
mod host_keys;
mod layout;
mod steps;
mod up;

pub use aws::{DownScope, DownState, InfraDown, SET_ASIDE_PREFIX};
pub use cluster::{
    Api, Aws, Cluster, ClusterSpec, InitOptions, Network, NodeEntry, NodeGroup, Pki, ResolvedNode,
    Ssh, SubjectFields, aws_domain, aws_hostname, infra_node_name, render_default,
};
pub use encryption::{
    MasterStage, MastersEncryption, REENCRYPT, RemoteCopy, RetiredKey, check_masters_encryption,
    masters_stage, masters_stage_on_nodes, next_steps, retire_keys,
};
pub use error::{Error, Result};
pub use files::certificate_row;
pub use host_keys::{ConsolePins, Pinned, RejectedLines};
pub use layout::{CLUSTER_FILE, Layout};
pub use steps::{
    EncryptionChange, FileChange, KubeconfigFile, KubeconfigReport, MissingEndpoint, PkiReport,
    generate_encryption_config, read_encryption_config, write_encryption_config,
};
pub use up::{
    CertificateChange, PlannedAction, PlannedCertificate, PlannedEncryption, PlannedKubeconfigs,
    Timings, UP_STEPS, UpEvent, UpOptions, UpPlan, UpReport,
};
