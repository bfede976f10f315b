//! The four components of a master and their units: the flags of "Kubernetes the Hard Way"
//! as the tutorial's continuation uses them, made right for Kubernetes v1.37 (README "Where
//! the units depart from the tutorial" says which flag changed and why).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inputs::{
    BindAddress, ControlPlaneInputs, Master, any_address, cert, endpoint_host, key, loopback,
    url_host,
};
use crate::unit::{ExecStart, Flag, Restart, ServiceType, Unit};

/// The scheduler's configuration file, in [`crate::NodePaths::config_dir`].
pub const SCHEDULER_CONFIG: &str = "kube-scheduler.yaml";
/// The API server's audit policy, in [`crate::NodePaths::config_dir`].
pub const AUDIT_POLICY: &str = "audit-policy.yaml";

/// A program a master runs as a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// etcd, the cluster's store.
    Etcd,
    /// kube-apiserver.
    KubeApiserver,
    /// kube-controller-manager.
    KubeControllerManager,
    /// kube-scheduler.
    KubeScheduler,
}

impl Component {
    /// All four, in the order they start: etcd first (the API server needs its quorum), then
    /// the API server, then the two that talk to it.
    pub const ALL: [Component; 4] = [
        Component::Etcd,
        Component::KubeApiserver,
        Component::KubeControllerManager,
        Component::KubeScheduler,
    ];

    /// The binary's file name, also the unit's base name (`kube-apiserver`).
    pub fn binary(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::KubeApiserver => "kube-apiserver",
            Component::KubeControllerManager => "kube-controller-manager",
            Component::KubeScheduler => "kube-scheduler",
        }
    }

    /// The unit's file name (`kube-apiserver.service`).
    pub fn unit_name(self) -> String {
        format!("{}.service", self.binary())
    }

    /// The unit's `Description=`, as the tutorial's.
    fn description(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::KubeApiserver => "Kubernetes API Server",
            Component::KubeControllerManager => "Kubernetes Controller Manager",
            Component::KubeScheduler => "Kubernetes Scheduler",
        }
    }

    /// The unit's `Documentation=`: the project's repository.
    fn documentation(self) -> &'static str {
        match self {
            Component::Etcd => "https://github.com/etcd-io/etcd",
            _ => "https://github.com/kubernetes/kubernetes",
        }
    }

    /// etcd tells systemd when it has joined its cluster; the others are simple services.
    fn service_type(self) -> Option<ServiceType> {
        match self {
            Component::Etcd => Some(ServiceType::Notify),
            _ => None,
        }
    }
}

/// A validated control plane: renders what each master runs.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    inputs: ControlPlaneInputs,
}

impl ControlPlane {
    /// Validates the inputs.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first bad field.
    pub fn new(inputs: ControlPlaneInputs) -> Result<Self> {
        inputs.validate()?;
        Ok(ControlPlane { inputs })
    }

    /// The inputs, as validated.
    pub fn inputs(&self) -> &ControlPlaneInputs {
        &self.inputs
    }

    /// The masters, in the inputs' order.
    pub fn masters(&self) -> &[Master] {
        &self.inputs.masters
    }

    /// The master with this hostname.
    ///
    /// # Errors
    /// [`Error::UnknownMaster`] when no master has it.
    pub fn master(&self, hostname: &str) -> Result<&Master> {
        self.inputs
            .masters
            .iter()
            .find(|m| m.hostname == hostname)
            .ok_or_else(|| Error::UnknownMaster {
                hostname: hostname.to_string(),
                known: self
                    .inputs
                    .masters
                    .iter()
                    .map(|m| m.hostname.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The four units of one master, in [`Component::ALL`]'s order.
    ///
    /// # Errors
    /// [`Error::UnknownMaster`] when no master has this hostname.
    pub fn units(&self, hostname: &str) -> Result<Vec<Unit>> {
        let master = self.master(hostname)?;
        Ok(Component::ALL
            .iter()
            .map(|&c| self.unit_for(c, master))
            .collect())
    }

    /// One component's unit on one master.
    ///
    /// # Errors
    /// [`Error::UnknownMaster`] when no master has this hostname.
    pub fn unit(&self, component: Component, hostname: &str) -> Result<Unit> {
        let master = self.master(hostname)?;
        Ok(self.unit_for(component, master))
    }

    pub(crate) fn unit_for(&self, component: Component, master: &Master) -> Unit {
        match component {
            Component::Etcd => self.etcd(master),
            Component::KubeApiserver => self.apiserver(master),
            Component::KubeControllerManager => self.controller_manager(master),
            Component::KubeScheduler => self.scheduler(master),
        }
    }

    /// A file in the Kubernetes folder.
    pub(crate) fn kube(&self, name: &str) -> String {
        path_text(&self.inputs.paths.kubernetes_dir.join(name))
    }

    /// A file in etcd's folder.
    pub(crate) fn etcd_file(&self, name: &str) -> String {
        path_text(&self.inputs.paths.etcd_dir.join(name))
    }

    /// A file in the config folder.
    pub(crate) fn config(&self, name: &str) -> String {
        path_text(&self.inputs.paths.config_dir.join(name))
    }

    pub(crate) fn binary(&self, component_binary: &str) -> PathBuf {
        self.inputs.paths.bin_dir.join(component_binary)
    }

    fn service(&self, component: Component, flags: Vec<Flag>) -> Unit {
        Unit {
            name: component.unit_name(),
            description: component.description().into(),
            documentation: component.documentation().into(),
            service_type: component.service_type(),
            exec_start: ExecStart {
                binary: self.binary(component.binary()),
                flags,
            },
            restart: Restart::OnFailure,
            restart_sec: 5,
            wanted_by: "multi-user.target".into(),
        }
    }

    fn bind_address(&self, master: &Master) -> String {
        match self.inputs.bind {
            BindAddress::Any => any_address(master.listen_address()).to_string(),
            BindAddress::ListenIp => master.listen_address().to_string(),
        }
    }

    fn etcd_url(ip: IpAddr, port: u16) -> String {
        format!("https://{}:{port}", url_host(ip))
    }

    fn etcd(&self, m: &Master) -> Unit {
        let i = &self.inputs;
        let (client, peer) = (i.ports.etcd_client, i.ports.etcd_peer);
        let f = &i.files;
        let ip = m.listen_address();
        let peer_url = Self::etcd_url(ip, peer);
        let client_url = Self::etcd_url(ip, client);
        let mut listen_client = vec![client_url.clone()];
        // A test master at 127.0.0.1 would otherwise listen there twice.
        if ip != loopback(ip) {
            listen_client.push(Self::etcd_url(loopback(ip), client));
        }
        let initial_cluster = i
            .masters
            .iter()
            .map(|o| {
                format!(
                    "{}={}",
                    o.hostname,
                    Self::etcd_url(o.listen_address(), peer)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let flags = vec![
            Flag::new("name", &m.hostname),
            Flag::new("trusted-ca-file", self.etcd_file(&cert(&f.ca))),
            Flag::new("peer-trusted-ca-file", self.etcd_file(&cert(&f.ca))),
            Flag::switch("peer-client-cert-auth"),
            Flag::switch("client-cert-auth"),
            Flag::new("listen-peer-urls", &peer_url),
            Flag::new("listen-client-urls", listen_client.join(",")),
            Flag::new("advertise-client-urls", client_url),
            Flag::new("initial-cluster-token", &i.etcd_cluster_token),
            Flag::new("initial-cluster", initial_cluster),
            Flag::new("cert-file", self.etcd_file(&cert(&f.apiserver))),
            Flag::new("key-file", self.etcd_file(&key(&f.apiserver))),
            Flag::new("peer-cert-file", self.etcd_file(&cert(&f.apiserver))),
            Flag::new("peer-key-file", self.etcd_file(&key(&f.apiserver))),
            Flag::new("initial-advertise-peer-urls", peer_url),
            Flag::new("initial-cluster-state", "new"),
            Flag::new("data-dir", path_text(&i.paths.etcd_data_dir)),
        ];
        self.service(Component::Etcd, flags)
    }

    /// The service-account issuer: the API endpoint, the same on every master, so a token
    /// one API server signs is accepted by the others.
    pub fn service_account_issuer(&self) -> String {
        format!(
            "https://{}:{}",
            endpoint_host(&self.inputs.api_endpoint),
            self.inputs.api_endpoint_port
        )
    }

    fn apiserver(&self, m: &Master) -> Unit {
        let i = &self.inputs;
        let f = &i.files;
        let etcd_servers = i
            .masters
            .iter()
            .map(|o| Self::etcd_url(o.listen_address(), i.ports.etcd_client))
            .collect::<Vec<_>>()
            .join(",");
        let flags = vec![
            Flag::new("advertise-address", m.private_ip.to_string()),
            Flag::new("allow-privileged", "true"),
            Flag::new("audit-log-maxage", "30"),
            Flag::new("audit-log-maxbackup", "3"),
            Flag::new("audit-log-maxsize", "100"),
            Flag::new("audit-log-path", path_text(&i.paths.audit_log)),
            Flag::new("audit-policy-file", self.config(AUDIT_POLICY)),
            Flag::new("authorization-mode", "Node,RBAC"),
            Flag::new("bind-address", self.bind_address(m)),
            Flag::new("client-ca-file", self.kube(&cert(&f.ca))),
            Flag::new(
                "enable-admission-plugins",
                "NamespaceLifecycle,NodeRestriction,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota",
            ),
            Flag::new("etcd-cafile", self.kube(&cert(&f.ca))),
            Flag::new("etcd-certfile", self.kube(&cert(&f.apiserver))),
            Flag::new("etcd-keyfile", self.kube(&key(&f.apiserver))),
            Flag::new("etcd-servers", etcd_servers),
            Flag::new("event-ttl", "1h"),
            Flag::new(
                "encryption-provider-config",
                self.kube(&f.encryption_config),
            ),
            Flag::new("kubelet-certificate-authority", self.kube(&cert(&f.ca))),
            Flag::new("kubelet-client-certificate", self.kube(&cert(&f.apiserver))),
            Flag::new("kubelet-client-key", self.kube(&key(&f.apiserver))),
            Flag::new("secure-port", i.ports.apiserver.to_string()),
            Flag::new(
                "service-account-key-file",
                self.kube(&cert(&f.service_account)),
            ),
            Flag::new(
                "service-account-signing-key-file",
                self.kube(&key(&f.service_account)),
            ),
            Flag::new("service-account-issuer", self.service_account_issuer()),
            Flag::new("service-cluster-ip-range", i.service_cidr.to_string()),
            Flag::new(
                "service-node-port-range",
                format!("{}-{}", i.node_port_range.first, i.node_port_range.last),
            ),
            Flag::new("tls-cert-file", self.kube(&cert(&f.apiserver))),
            Flag::new("tls-private-key-file", self.kube(&key(&f.apiserver))),
            Flag::new("v", i.verbosity.to_string()),
        ];
        self.service(Component::KubeApiserver, flags)
    }

    fn controller_manager(&self, m: &Master) -> Unit {
        let i = &self.inputs;
        let f = &i.files;
        let kubeconfig = self.kube(&f.controller_manager_kubeconfig);
        let flags = vec![
            Flag::new("bind-address", self.bind_address(m)),
            Flag::new("cluster-cidr", i.pod_cidr.to_string()),
            Flag::new("cluster-name", &i.cluster_name),
            Flag::new("cluster-signing-cert-file", self.kube(&cert(&f.ca))),
            Flag::new("cluster-signing-key-file", self.kube(&key(&f.ca))),
            Flag::new("kubeconfig", &kubeconfig),
            Flag::new("authentication-kubeconfig", &kubeconfig),
            Flag::new("authorization-kubeconfig", &kubeconfig),
            Flag::new("leader-elect", "true"),
            Flag::new("root-ca-file", self.kube(&cert(&f.ca))),
            Flag::new("secure-port", i.ports.controller_manager.to_string()),
            Flag::new(
                "service-account-private-key-file",
                self.kube(&key(&f.service_account)),
            ),
            Flag::new("service-cluster-ip-range", i.service_cidr.to_string()),
            Flag::new("use-service-account-credentials", "true"),
            Flag::new("v", i.verbosity.to_string()),
        ];
        self.service(Component::KubeControllerManager, flags)
    }

    fn scheduler(&self, m: &Master) -> Unit {
        let i = &self.inputs;
        let flags = vec![
            Flag::new("config", self.config(SCHEDULER_CONFIG)),
            Flag::new("bind-address", self.bind_address(m)),
            Flag::new("secure-port", i.ports.scheduler.to_string()),
            Flag::new("v", i.verbosity.to_string()),
        ];
        self.service(Component::KubeScheduler, flags)
    }
}

/// A validated path as flag text (validation refused non-UTF-8 paths).
pub(crate) fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    pub(crate) fn tutorial() -> ControlPlane {
        tutorial_with(|_| {})
    }

    /// The tutorial's control plane with some inputs changed.
    pub(crate) fn tutorial_with(change: impl FnOnce(&mut ControlPlaneInputs)) -> ControlPlane {
        let mut inputs = crate::inputs::tutorial_inputs();
        change(&mut inputs);
        ControlPlane::new(inputs).expect("valid inputs")
    }

    fn args(plane: &ControlPlane, c: Component, host: &str) -> Vec<String> {
        plane.unit(c, host).expect("a master").exec_start.args()
    }

    fn assert_has(args: &[String], expected: &[&str]) {
        for e in expected {
            assert!(args.iter().any(|a| a == e), "{e} not in {args:#?}");
        }
    }

    #[test]
    fn etcd_runs_as_its_master_in_a_cluster_of_three() {
        let plane = tutorial();
        let unit = plane
            .unit(Component::Etcd, "ip-172-31-0-11")
            .expect("a master");
        assert_eq!(unit.name, "etcd.service");
        assert_eq!(unit.service_type, Some(ServiceType::Notify));
        assert_eq!(unit.exec_start.binary, PathBuf::from("/usr/local/bin/etcd"));
        let e = &unit.exec_start;
        assert_eq!(e.value("name"), Some("ip-172-31-0-11"));
        assert_eq!(
            e.value("listen-peer-urls"),
            Some("https://172.31.0.11:2380")
        );
        assert_eq!(
            e.value("listen-client-urls"),
            Some("https://172.31.0.11:2379,https://127.0.0.1:2379")
        );
        assert_eq!(
            e.value("advertise-client-urls"),
            Some("https://172.31.0.11:2379")
        );
        assert_eq!(
            e.value("initial-cluster"),
            Some(
                "ip-172-31-0-10=https://172.31.0.10:2380,\
                 ip-172-31-0-11=https://172.31.0.11:2380,\
                 ip-172-31-0-12=https://172.31.0.12:2380"
            )
        );
        assert_eq!(
            e.value("cert-file"),
            Some("/etc/etcd/master-kubernetes.pem")
        );
        assert_eq!(
            e.value("peer-key-file"),
            Some("/etc/etcd/master-kubernetes-key.pem")
        );
        assert_eq!(e.value("trusted-ca-file"), Some("/etc/etcd/ca.pem"));
        assert_eq!(e.value("data-dir"), Some("/var/lib/etcd"));
        assert_eq!(e.value("initial-cluster-state"), Some("new"));
        assert_eq!(e.value("initial-cluster-token"), Some("etcd-cluster-0"));
        let args = e.args();
        assert!(args.contains(&"--client-cert-auth".to_string()));
        assert!(args.contains(&"--peer-client-cert-auth".to_string()));
    }

    #[test]
    fn a_test_master_on_localhost_listens_there_once_and_advertises_its_private_ip() {
        let mut master = Master::new("m", IpAddr::V4(Ipv4Addr::new(172, 31, 0, 10)));
        master.listen_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut inputs = ControlPlaneInputs::new("t", vec![master], "127.0.0.1");
        inputs.bind = BindAddress::ListenIp;
        let plane = ControlPlane::new(inputs).expect("valid");
        let e = plane
            .unit(Component::Etcd, "m")
            .expect("a master")
            .exec_start;
        assert_eq!(
            e.value("listen-client-urls"),
            Some("https://127.0.0.1:2379")
        );
        assert_eq!(e.value("initial-cluster"), Some("m=https://127.0.0.1:2380"));
        let api = plane
            .unit(Component::KubeApiserver, "m")
            .expect("a master")
            .exec_start;
        assert_eq!(api.value("advertise-address"), Some("172.31.0.10"));
        assert_eq!(api.value("bind-address"), Some("127.0.0.1"));
        assert_eq!(api.value("etcd-servers"), Some("https://127.0.0.1:2379"));
        assert_eq!(
            api.value("service-account-issuer"),
            Some("https://127.0.0.1:6443")
        );
    }

    #[test]
    fn the_api_server_talks_to_every_etcd_and_issues_for_the_endpoint() {
        let plane = tutorial();
        let a = args(&plane, Component::KubeApiserver, "ip-172-31-0-12");
        let expected = [
            "--advertise-address=172.31.0.12",
            "--bind-address=0.0.0.0",
            "--secure-port=6443",
            "--etcd-servers=https://172.31.0.10:2379,https://172.31.0.11:2379,https://172.31.0.12:2379",
            "--etcd-certfile=/var/lib/kubernetes/master-kubernetes.pem",
            "--kubelet-client-key=/var/lib/kubernetes/master-kubernetes-key.pem",
            "--service-account-issuer=https://k8s-api.example.com:6443",
            "--service-account-key-file=/var/lib/kubernetes/service-account.pem",
            "--service-account-signing-key-file=/var/lib/kubernetes/service-account-key.pem",
            "--service-cluster-ip-range=10.32.0.0/24",
            "--encryption-provider-config=/var/lib/kubernetes/encryption-config.yaml",
            "--audit-policy-file=/etc/kubernetes/config/audit-policy.yaml",
            "--authorization-mode=Node,RBAC",
            "--v=2",
        ];
        assert_has(&a, &expected);
        for removed in ["--apiserver-count", "--runtime-config", "--kubelet-https"] {
            assert!(!a.iter().any(|x| x.starts_with(removed)), "{removed}");
        }
    }

    #[test]
    fn controller_manager_and_scheduler_flags() {
        let plane = tutorial();
        let c = args(&plane, Component::KubeControllerManager, "ip-172-31-0-10");
        let expected = [
            "--cluster-cidr=172.20.0.0/16",
            "--cluster-name=k8s-cluster-from-ground-up",
            "--cluster-signing-cert-file=/var/lib/kubernetes/ca.pem",
            "--cluster-signing-key-file=/var/lib/kubernetes/ca-key.pem",
            "--kubeconfig=/var/lib/kubernetes/kube-controller-manager.kubeconfig",
            "--root-ca-file=/var/lib/kubernetes/ca.pem",
            "--service-account-private-key-file=/var/lib/kubernetes/service-account-key.pem",
            "--use-service-account-credentials=true",
            "--secure-port=10257",
        ];
        assert_has(&c, &expected);
        let s = args(&plane, Component::KubeScheduler, "ip-172-31-0-10");
        assert_eq!(
            s,
            [
                "--config=/etc/kubernetes/config/kube-scheduler.yaml",
                "--bind-address=0.0.0.0",
                "--secure-port=10259",
                "--v=2"
            ]
        );
    }

    #[test]
    fn inputs_move_addresses_ports_and_folders() {
        let plane = tutorial_with(|inputs| {
            inputs.paths = crate::NodePaths::under(Path::new("/tmp/h"));
            inputs.bind = BindAddress::ListenIp;
            inputs.ports.apiserver = 16443;
            inputs.ports.etcd_client = 12379;
            inputs.files.apiserver = "kubernetes".into();
        });
        let a = args(&plane, Component::KubeApiserver, "ip-172-31-0-10");
        assert!(a.contains(&"--bind-address=172.31.0.10".to_string()));
        assert!(a.contains(&"--secure-port=16443".to_string()));
        assert!(a.contains(&"--tls-cert-file=/tmp/h/var/lib/kubernetes/kubernetes.pem".into()));
        assert!(
            a.iter()
                .any(|x| x.starts_with("--etcd-servers=https://172.31.0.10:12379,"))
        );
        let unit = plane
            .unit(Component::Etcd, "ip-172-31-0-10")
            .expect("a master");
        assert_eq!(
            unit.exec_start.binary,
            PathBuf::from("/tmp/h/usr/local/bin/etcd")
        );
        assert_eq!(
            unit.exec_start.value("data-dir"),
            Some("/tmp/h/var/lib/etcd")
        );
    }

    #[test]
    fn ipv6_masters_get_bracketed_urls() {
        let inputs = ControlPlaneInputs::new(
            "t",
            vec![Master::new("m", "fd00::10".parse().expect("literal"))],
            "fd00::1",
        );
        let mut inputs = inputs;
        inputs.service_cidr = "fd00:32::/112".parse().expect("literal");
        inputs.pod_cidr = "fd00:20::/64".parse().expect("literal");
        let plane = ControlPlane::new(inputs).expect("valid");
        let e = plane
            .unit(Component::Etcd, "m")
            .expect("a master")
            .exec_start;
        assert_eq!(
            e.value("listen-client-urls"),
            Some("https://[fd00::10]:2379,https://[::1]:2379")
        );
        let a = plane.unit(Component::KubeApiserver, "m").expect("a master");
        assert_eq!(a.exec_start.value("bind-address"), Some("::"));
        assert_eq!(plane.service_account_issuer(), "https://[fd00::1]:6443");
    }

    #[test]
    fn an_unknown_master_is_named() {
        let err = tutorial().units("ip-10-0-0-1").expect_err("not a master");
        assert_eq!(
            err.to_string(),
            "no master with hostname \"ip-10-0-0-1\" (the masters are ip-172-31-0-10, ip-172-31-0-11, ip-172-31-0-12)"
        );
    }

    #[test]
    fn units_come_in_start_order() {
        let names: Vec<String> = tutorial()
            .units("ip-172-31-0-10")
            .expect("a master")
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(
            names,
            [
                "etcd.service",
                "kube-apiserver.service",
                "kube-controller-manager.service",
                "kube-scheduler.service"
            ]
        );
    }
}
