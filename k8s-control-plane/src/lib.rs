//! What a master of a "Kubernetes from the ground up" cluster runs: the etcd member and the
//! Kubernetes control plane, as the tutorial's continuation (the bootstrap steps of
//! "Kubernetes the Hard Way") sets them up by hand, made right for Kubernetes v1.37.
//!
//! What it does, from plain inputs ([`ControlPlaneInputs`]: the masters, the API endpoint,
//! the service and pod ranges, ports, folders and file names, each with the tutorial's
//! default):
//! - the four systemd units as typed values ([`Unit`]: a binary and its [`Flag`]s), rendered
//!   to unit text by one function ([`render_unit`]); [`ExecStart::args`] is the argument list
//!   exactly as the component receives it, for a test harness that starts the real binaries
//!   from the same source;
//!   - etcd: `--name <hostname>`, peer and client TLS with the API server certificate and the
//!     CA, `--initial-cluster` of every master at its private IP, data in `/var/lib/etcd`;
//!   - kube-apiserver, kube-controller-manager, kube-scheduler with the tutorial's flags,
//!     minus what Kubernetes removed or deprecated, plus the scheduler's
//!     `KubeSchedulerConfiguration` ([`ControlPlane::render_scheduler_config`]) and an audit
//!     policy ([`ControlPlane::render_audit_policy`]);
//! - the node layout ([`ControlPlane::layout`]): every folder and file on a master, its owner,
//!   mode (private keys 0600 in 0700 folders, etcd's data 0700) and the components that read
//!   it;
//! - the RBAC objects the API server needs to call the kubelets ([`ControlPlane::render_rbac`]).
//!
//! What it does not do: read `cluster.yaml`, make certificates or kubeconfigs (k8s-pki,
//! k8s-kubeconfig), touch the filesystem, or talk to a host. It is pure and synchronous.
//!
//! # Example
//! ```
//! use k8s_control_plane::{Component, ControlPlane, ControlPlaneInputs, Master, render_unit};
//!
//! # fn main() -> Result<(), k8s_control_plane::Error> {
//! let masters = vec![
//!     Master::new("ip-172-31-0-10", "172.31.0.10".parse().expect("an IP")),
//!     Master::new("ip-172-31-0-11", "172.31.0.11".parse().expect("an IP")),
//!     Master::new("ip-172-31-0-12", "172.31.0.12".parse().expect("an IP")),
//! ];
//! let inputs = ControlPlaneInputs::new("k8s-cluster-from-ground-up", masters, "k8s-api.example.com");
//! let plane = ControlPlane::new(inputs)?;
//!
//! let etcd = plane.unit(Component::Etcd, "ip-172-31-0-11")?;
//! assert_eq!(etcd.exec_start.value("name"), Some("ip-172-31-0-11"));
//! assert_eq!(
//!     etcd.exec_start.value("initial-cluster"),
//!     Some("ip-172-31-0-10=https://172.31.0.10:2380,ip-172-31-0-11=https://172.31.0.11:2380,ip-172-31-0-12=https://172.31.0.12:2380"),
//! );
//! let text = render_unit(&etcd); // /etc/systemd/system/etcd.service
//! assert!(text.contains("  --data-dir=/var/lib/etcd\n"));
//!
//! // Where everything goes on that master, and who may read it.
//! let layout = plane.layout("ip-172-31-0-11")?;
//! let data = layout.dirs.iter().find(|d| d.path.ends_with("etcd") && d.path.starts_with("/var/lib"));
//! assert_eq!(data.map(|d| d.mode), Some(0o700));
//!
//! // Once the API servers run: apply this with the admin kubeconfig.
//! assert!(plane.render_rbac()?.contains("name: kubernetes\n"));
//! # Ok(()) }
//! ```

mod config;
mod error;
mod inputs;
mod layout;
mod plane;
mod unit;

pub use config::{KUBELET_API_BINDING, KUBELET_API_ROLE, SCHEDULER_CONFIG_API_VERSION};
pub use error::{Error, Result};
pub use inputs::{BindAddress, ControlPlaneInputs, FileNames, Master, NodePaths, PortRange, Ports};
pub use layout::{Layout, NodeDir, NodeFile, Source};
pub use plane::{AUDIT_POLICY, Component, ControlPlane, SCHEDULER_CONFIG};
pub use unit::{ExecStart, Flag, Restart, ServiceType, Unit, render_unit};
