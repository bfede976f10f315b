//! The flags a master runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler
//! with, from the files `k8s-hard bundle` writes: one place, as plain data (a small struct of
//! paths and addresses in, an argument list out), so that the tests start exactly what a master
//! would.
//!
//! "Kubernetes from the ground up" stops at STEP 7, before any component runs; these are the
//! flags of Kubernetes the Hard Way's unit files (`etcd.service`, `kube-apiserver.service`,
//! `kube-controller-manager.service`, `kube-scheduler.service` with `kube-scheduler.yaml`, in
//! their TLS-etcd form), with the tutorial's file names (`master-kubernetes.pem` is KTHW's
//! `kubernetes.pem`), checked against Kubernetes v1.37's flag reference. What differs:
//!
//! - Removed by current releases, so dropped: `--kubelet-https` (kube-apiserver, gone in
//!   v1.22: the kubelet API is always HTTPS), `--experimental-encryption-provider-config`
//!   (now `--encryption-provider-config`), `--enable-swagger-ui` and the `Initializers`
//!   admission plugin, the controller-manager's `--address` (now `--bind-address`), and the
//!   scheduler config's `kubescheduler.config.k8s.io/v1beta1` (now `v1`). v1.37 refuses each
//!   (unknown flag, unknown plugin, no such kind registered).
//! - Deprecated, so dropped: `--apiserver-count=3` (v1.37 still takes it, with a warning; it
//!   only matters to the old master-count endpoint reconciler, not the default lease one).
//! - Test machine only, marked `Master::test_*` below: every component listens on one loopback
//!   address instead of `0.0.0.0` (the tests never leave 127.0.0.0/8), the API server's
//!   audit log and the serving certificates the controller-manager and scheduler make for
//!   themselves go into a temp folder, and the controller-manager and scheduler are pointed at
//!   the API server's loopback address with `--master` (their kubeconfigs' own
//!   `https://127.0.0.1:6443` is the API server on a master; on a shared test machine another
//!   run may hold 127.0.0.1:6443). Everything else comes from the kubeconfig.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One etcd member (KTHW `etcd.service`): the API server certificate serves clients and peers,
/// both with mutual TLS against the cluster CA.
#[derive(Debug, Clone)]
pub struct EtcdMember {
    /// Member name (KTHW: the master's hostname).
    pub name: String,
    /// Its data folder (`/var/lib/etcd` on a master).
    pub data_dir: PathBuf,
    /// `https://<ip>:2379` on a master.
    pub client_url: String,
    /// `https://<ip>:2380` on a master.
    pub peer_url: String,
    /// `name=peer_url` of every member, comma-separated.
    pub initial_cluster: String,
    /// The CA that signs clients and peers (`ca.pem`).
    pub ca: PathBuf,
    /// Server and peer certificate (`master-kubernetes.pem`).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// `etcd`'s arguments for one member.
pub fn etcd_args(m: &EtcdMember) -> Vec<String> {
    vec![
        flag("name", &m.name),
        flag("cert-file", m.cert.display()),
        flag("key-file", m.key.display()),
        flag("peer-cert-file", m.cert.display()),
        flag("peer-key-file", m.key.display()),
        flag("trusted-ca-file", m.ca.display()),
        flag("peer-trusted-ca-file", m.ca.display()),
        "--peer-client-cert-auth".into(),
        "--client-cert-auth".into(),
        flag("initial-advertise-peer-urls", &m.peer_url),
        flag("listen-peer-urls", &m.peer_url),
        flag("listen-client-urls", &m.client_url),
        flag("advertise-client-urls", &m.client_url),
        flag("initial-cluster-token", "etcd-cluster-0"),
        flag("initial-cluster", &m.initial_cluster),
        flag("initial-cluster-state", "new"),
        flag("data-dir", m.data_dir.display()),
    ]
}

/// What a master's kube-apiserver, kube-controller-manager and kube-scheduler run from.
#[derive(Debug, Clone)]
pub struct Master {
    /// The k8s-hard folder: `pki/`, `kubeconfigs/` as `k8s-hard bundle` wrote them.
    pub dir: PathBuf,
    /// The encryption config (`<dir>/encryption-config.yaml`).
    pub encryption_config: PathBuf,
    /// `name:` of cluster.yaml: the controller-manager's `--cluster-name`.
    pub cluster_name: String,
    /// This master's private IP, which the API server advertises as the `kubernetes`
    /// Service's endpoint (KTHW: `${INTERNAL_IP}`).
    pub advertise_address: IpAddr,
    /// cluster.yaml `api.port` (6443).
    pub port: u16,
    /// Every etcd member's client URL.
    pub etcd_servers: Vec<String>,
    /// cluster.yaml `network.service_cidr`.
    pub service_cidr: String,
    /// cluster.yaml `network.pod_cidr` (KTHW's `--cluster-cidr`).
    pub pod_cidr: String,
    /// `https://<API endpoint>:6443`, the issuer of service-account tokens (KTHW:
    /// `https://${KUBERNETES_PUBLIC_ADDRESS}:6443`).
    pub service_account_issuer: String,
    /// Test machine: the one address every component listens on (a master: `0.0.0.0`).
    pub test_bind_address: IpAddr,
    /// Test machine: the controller-manager's and scheduler's serving ports (a master: their
    /// defaults, 10257 and 10259).
    pub test_component_ports: (u16, u16),
    /// Test machine: the folder for the audit log, the controller-manager's and scheduler's
    /// self-signed serving certificates and the scheduler's config file.
    pub test_state_dir: PathBuf,
    /// Test machine: `--master` for the controller-manager and scheduler (a master: none,
    /// their kubeconfigs' `https://127.0.0.1:6443`).
    pub test_api_url: Option<String>,
}

impl Master {
    /// `<dir>/pki/<file>`.
    pub fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("pki").join(file)
    }

    /// `<dir>/kubeconfigs/<file>`.
    pub fn kubeconfig(&self, file: &str) -> PathBuf {
        self.dir.join("kubeconfigs").join(file)
    }

    /// The scheduler's config file, which [`kube_scheduler_config`] renders.
    pub fn scheduler_config_path(&self) -> PathBuf {
        self.test_state_dir.join("kube-scheduler.yaml")
    }
}

/// `kube-apiserver`'s arguments (KTHW `kube-apiserver.service`).
pub fn kube_apiserver_args(m: &Master) -> Vec<String> {
    let pki = |f: &str| m.pki(f).display().to_string();
    vec![
        flag("advertise-address", m.advertise_address),
        flag("allow-privileged", "true"),
        flag("audit-log-maxage", "30"),
        flag("audit-log-maxbackup", "3"),
        flag("audit-log-maxsize", "100"),
        flag(
            "audit-log-path",
            m.test_state_dir.join("audit.log").display(),
        ),
        flag("authorization-mode", "Node,RBAC"),
        flag("bind-address", m.test_bind_address),
        flag("secure-port", m.port),
        flag("client-ca-file", pki("ca.pem")),
        flag(
            "enable-admission-plugins",
            "NamespaceLifecycle,NodeRestriction,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota",
        ),
        flag("etcd-cafile", pki("ca.pem")),
        flag("etcd-certfile", pki("master-kubernetes.pem")),
        flag("etcd-keyfile", pki("master-kubernetes-key.pem")),
        flag("etcd-servers", m.etcd_servers.join(",")),
        flag("event-ttl", "1h"),
        flag("encryption-provider-config", m.encryption_config.display()),
        flag("kubelet-certificate-authority", pki("ca.pem")),
        flag("kubelet-client-certificate", pki("master-kubernetes.pem")),
        flag("kubelet-client-key", pki("master-kubernetes-key.pem")),
        flag("runtime-config", "api/all=true"),
        flag("service-account-key-file", pki("service-account.pem")),
        flag(
            "service-account-signing-key-file",
            pki("service-account-key.pem"),
        ),
        flag("service-account-issuer", &m.service_account_issuer),
        flag("service-cluster-ip-range", &m.service_cidr),
        flag("service-node-port-range", "30000-32767"),
        // Not in KTHW: without it a stopped API server keeps its open watches (the
        // controller-manager's, the scheduler's, every kubelet's) until the 60 s request
        // timeout, so each `systemctl restart` of a rotation stage takes a minute
        // (kubernetes/kubernetes#131052). With it, they are closed within this grace period.
        flag("shutdown-watch-termination-grace-period", "5s"),
        flag("tls-cert-file", pki("master-kubernetes.pem")),
        flag("tls-private-key-file", pki("master-kubernetes-key.pem")),
        flag("v", "2"),
    ]
}

/// `kube-controller-manager`'s arguments (KTHW `kube-controller-manager.service`).
pub fn kube_controller_manager_args(m: &Master) -> Vec<String> {
    let pki = |f: &str| m.pki(f).display().to_string();
    let mut args = vec![
        flag("bind-address", m.test_bind_address),
        flag("secure-port", m.test_component_ports.0),
        flag(
            "cert-dir",
            m.test_state_dir.join("kube-controller-manager").display(),
        ),
        flag("cluster-cidr", &m.pod_cidr),
        flag("cluster-name", &m.cluster_name),
        flag("cluster-signing-cert-file", pki("ca.pem")),
        flag("cluster-signing-key-file", pki("ca-key.pem")),
        flag(
            "kubeconfig",
            m.kubeconfig("kube-controller-manager.kubeconfig").display(),
        ),
        flag("leader-elect", "true"),
        flag("root-ca-file", pki("ca.pem")),
        flag(
            "service-account-private-key-file",
            pki("service-account-key.pem"),
        ),
        flag("service-cluster-ip-range", &m.service_cidr),
        flag("use-service-account-credentials", "true"),
        flag("v", "2"),
    ];
    args.extend(m.test_api_url.as_ref().map(|url| flag("master", url)));
    args
}

/// `kube-scheduler`'s arguments (KTHW `kube-scheduler.service`); its config file is
/// [`kube_scheduler_config`] at [`Master::scheduler_config_path`].
pub fn kube_scheduler_args(m: &Master) -> Vec<String> {
    let mut args = vec![
        flag("config", m.scheduler_config_path().display()),
        flag("bind-address", m.test_bind_address),
        flag("secure-port", m.test_component_ports.1),
        flag(
            "cert-dir",
            m.test_state_dir.join("kube-scheduler").display(),
        ),
        flag("v", "2"),
    ];
    args.extend(m.test_api_url.as_ref().map(|url| flag("master", url)));
    args
}

/// KTHW's `kube-scheduler.yaml`, in the current `kubescheduler.config.k8s.io/v1`.
pub fn kube_scheduler_config(m: &Master) -> String {
    let kubeconfig = m.kubeconfig("kube-scheduler.kubeconfig");
    format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\n\
         kind: KubeSchedulerConfiguration\n\
         clientConnection:\n  kubeconfig: {}\n\
         leaderElection:\n  leaderElect: true\n",
        yaml_string(&kubeconfig)
    )
}

fn flag(name: &str, value: impl std::fmt::Display) -> String {
    format!("--{name}={value}")
}

/// A path as a double-quoted YAML scalar.
fn yaml_string(path: &Path) -> String {
    let text = path.display().to_string();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
