//! What a master's units and files are computed from: the masters, the cluster's networks,
//! the ports, the folders and the file names, each with the tutorial's default.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component as PathPart, Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// One control-plane machine: an etcd member and an API server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Master {
    /// Its hostname (`ip-172-31-0-10`): the etcd member name (`--name`) and its name in
    /// `--initial-cluster`.
    pub hostname: String,
    /// Its address inside the cluster network: the API server advertises it (the
    /// `kubernetes` service's endpoint), so it may not be a loopback address.
    pub private_ip: IpAddr,
    /// Where its components listen and are reached (etcd's URLs, the API server's
    /// `--etcd-servers`, [`BindAddress::ListenIp`]) when that is not `private_ip`: a test
    /// master on a loopback address. `None`, as on a real master: `private_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_ip: Option<IpAddr>,
}

impl Master {
    /// A master named `hostname` at `private_ip`.
    pub fn new(hostname: impl Into<String>, private_ip: IpAddr) -> Self {
        Master {
            hostname: hostname.into(),
            private_ip,
            listen_ip: None,
        }
    }

    /// Where its components listen and are reached: `listen_ip`, else `private_ip`.
    pub fn listen_address(&self) -> IpAddr {
        self.listen_ip.unwrap_or(self.private_ip)
    }
}

/// The ports the components listen on, on every master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// etcd's client port (2379).
    pub etcd_client: u16,
    /// etcd's peer port (2380).
    pub etcd_peer: u16,
    /// kube-apiserver's `--secure-port` (6443).
    pub apiserver: u16,
    /// kube-controller-manager's `--secure-port` (10257).
    pub controller_manager: u16,
    /// kube-scheduler's `--secure-port` (10259).
    pub scheduler: u16,
}

impl Default for Ports {
    /// The tutorial's ports (each component's own default).
    fn default() -> Self {
        Ports {
            etcd_client: 2379,
            etcd_peer: 2380,
            apiserver: 6443,
            controller_manager: 10257,
            scheduler: 10259,
        }
    }
}

/// Where the API server, the controller-manager and the scheduler listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindAddress {
    /// Every interface (`0.0.0.0`, or `::` for a master with an IPv6 address), as the
    /// tutorial does: the load balancer reaches the API server at the private IP, an
    /// operator on the node at 127.0.0.1.
    #[default]
    Any,
    /// The master's own address only ([`Master::listen_address`]): several test masters on
    /// one host, each on its own loopback address.
    ListenIp,
}

/// The NodePort range (`--service-node-port-range`), both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// The first port (30000).
    pub first: u16,
    /// The last port (32767).
    pub last: u16,
}

impl Default for PortRange {
    /// The tutorial's (and Kubernetes' default) 30000-32767.
    fn default() -> Self {
        PortRange {
            first: 30000,
            last: 32767,
        }
    }
}

/// The folders on a master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePaths {
    /// The binaries (`/usr/local/bin`).
    pub bin_dir: PathBuf,
    /// The systemd units (`/etc/systemd/system`).
    pub unit_dir: PathBuf,
    /// etcd's certificates (`/etc/etcd`).
    pub etcd_dir: PathBuf,
    /// etcd's data (`/var/lib/etcd`, mode 0700).
    pub etcd_data_dir: PathBuf,
    /// The Kubernetes components' certificates, keys, kubeconfigs and encryption config
    /// (`/var/lib/kubernetes`).
    pub kubernetes_dir: PathBuf,
    /// Component configuration files: the scheduler's, the audit policy
    /// (`/etc/kubernetes/config`).
    pub config_dir: PathBuf,
    /// The API server's audit log (`/var/log/audit.log`).
    pub audit_log: PathBuf,
}

impl Default for NodePaths {
    /// The tutorial's folders.
    fn default() -> Self {
        NodePaths {
            bin_dir: "/usr/local/bin".into(),
            unit_dir: "/etc/systemd/system".into(),
            etcd_dir: "/etc/etcd".into(),
            etcd_data_dir: "/var/lib/etcd".into(),
            kubernetes_dir: "/var/lib/kubernetes".into(),
            config_dir: "/etc/kubernetes/config".into(),
            audit_log: "/var/log/audit.log".into(),
        }
    }
}

impl NodePaths {
    /// The tutorial's folders moved under `root` (`/etc/etcd` becomes `<root>/etc/etcd`): what
    /// a test harness runs the real components from.
    pub fn under(root: &Path) -> Self {
        let rebase = |p: PathBuf| {
            let relative: PathBuf = p
                .components()
                .filter(|c| !matches!(c, PathPart::RootDir))
                .collect();
            root.join(relative)
        };
        let d = NodePaths::default();
        NodePaths {
            bin_dir: rebase(d.bin_dir),
            unit_dir: rebase(d.unit_dir),
            etcd_dir: rebase(d.etcd_dir),
            etcd_data_dir: rebase(d.etcd_data_dir),
            kubernetes_dir: rebase(d.kubernetes_dir),
            config_dir: rebase(d.config_dir),
            audit_log: rebase(d.audit_log),
        }
    }

    fn fields(&self) -> [(&'static str, &Path); 7] {
        [
            ("paths.bin_dir", &self.bin_dir),
            ("paths.unit_dir", &self.unit_dir),
            ("paths.etcd_dir", &self.etcd_dir),
            ("paths.etcd_data_dir", &self.etcd_data_dir),
            ("paths.kubernetes_dir", &self.kubernetes_dir),
            ("paths.config_dir", &self.config_dir),
            ("paths.audit_log", &self.audit_log),
        ]
    }
}

/// The names of the files `distribute` sends to a master (README "What goes where").
///
/// A certificate's base name `b` stands for `b.pem` and its key `b-key.pem`, as cfssljson
/// names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileNames {
    /// The CA (`ca`).
    pub ca: String,
    /// The API server's certificate, also etcd's server and peer certificate and the API
    /// server's client certificate towards etcd and the kubelets (`master-kubernetes`).
    pub apiserver: String,
    /// The service-account key pair (`service-account`).
    pub service_account: String,
    /// The encryption config (`encryption-config.yaml`).
    pub encryption_config: String,
    /// The controller-manager's kubeconfig (`kube-controller-manager.kubeconfig`).
    pub controller_manager_kubeconfig: String,
    /// The scheduler's kubeconfig (`kube-scheduler.kubeconfig`).
    pub scheduler_kubeconfig: String,
    /// The admin's kubeconfig (`admin.kubeconfig`), for applying the RBAC objects and
    /// checking the API server on the node.
    pub admin_kubeconfig: String,
}

impl Default for FileNames {
    /// The names this project writes (k8s-pki, k8s-kubeconfig) and `distribute` sends.
    fn default() -> Self {
        FileNames {
            ca: "ca".into(),
            apiserver: "master-kubernetes".into(),
            service_account: "service-account".into(),
            encryption_config: "encryption-config.yaml".into(),
            controller_manager_kubeconfig: "kube-controller-manager.kubeconfig".into(),
            scheduler_kubeconfig: "kube-scheduler.kubeconfig".into(),
            admin_kubeconfig: "admin.kubeconfig".into(),
        }
    }
}

/// A certificate file name (`ca.pem`).
pub(crate) fn cert(base: &str) -> String {
    format!("{base}.pem")
}

/// A key file name (`ca-key.pem`).
pub(crate) fn key(base: &str) -> String {
    format!("{base}-key.pem")
}

impl FileNames {
    /// Every file name as it lands in the Kubernetes folder, with the field it comes from.
    fn in_kubernetes_dir(&self) -> Vec<(&'static str, String)> {
        vec![
            ("files.ca", cert(&self.ca)),
            ("files.ca", key(&self.ca)),
            ("files.apiserver", cert(&self.apiserver)),
            ("files.apiserver", key(&self.apiserver)),
            ("files.service_account", cert(&self.service_account)),
            ("files.service_account", key(&self.service_account)),
            ("files.encryption_config", self.encryption_config.clone()),
            (
                "files.controller_manager_kubeconfig",
                self.controller_manager_kubeconfig.clone(),
            ),
            (
                "files.scheduler_kubeconfig",
                self.scheduler_kubeconfig.clone(),
            ),
            ("files.admin_kubeconfig", self.admin_kubeconfig.clone()),
        ]
    }
}

/// Everything a master's units and files are computed from.
///
/// Build one with [`ControlPlaneInputs::new`] and adjust the public fields;
/// [`crate::ControlPlane::new`] validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPlaneInputs {
    /// The cluster's name (`--cluster-name` of the controller-manager).
    pub cluster_name: String,
    /// The masters: etcd's `--initial-cluster` and the API server's `--etcd-servers`.
    pub masters: Vec<Master>,
    /// The name or IP clients reach the API at (the load balancer's DNS name): the
    /// service-account issuer is `https://<api_endpoint>:<api_endpoint_port>`, the same on
    /// every master.
    pub api_endpoint: String,
    /// The port of the API endpoint (6443).
    pub api_endpoint_port: u16,
    /// Service addresses (`--service-cluster-ip-range`, 10.32.0.0/24); its first address is
    /// the `kubernetes` service's, which the API server certificate carries.
    pub service_cidr: IpNet,
    /// Pod addresses (`--cluster-cidr`, 172.20.0.0/16); each worker's /24 is carved from it.
    pub pod_cidr: IpNet,
    /// The NodePort range (30000-32767).
    pub node_port_range: PortRange,
    /// The ports the components listen on.
    pub ports: Ports,
    /// Where the API server, controller-manager and scheduler listen.
    pub bind: BindAddress,
    /// The folders on a master.
    pub paths: NodePaths,
    /// The names of the distributed files.
    pub files: FileNames,
    /// etcd's `--initial-cluster-token` (`etcd-cluster-0`).
    pub etcd_cluster_token: String,
    /// The user the API server is when it calls the kubelets: the CN of the certificate it
    /// presents (`--kubelet-client-certificate`, the `apiserver` file). k8s-pki issues that
    /// certificate with `CN=kubernetes`. The RBAC binding names this user.
    pub apiserver_kubelet_user: String,
    /// The components' log verbosity (`--v`, 2).
    pub verbosity: u8,
}

impl ControlPlaneInputs {
    /// Inputs with the tutorial's defaults for everything but the cluster's name, its masters
    /// and its API endpoint: service CIDR 10.32.0.0/24, pod CIDR 172.20.0.0/16, NodePorts
    /// 30000-32767, the components' default ports, listening on every interface, the
    /// tutorial's folders and this project's file names, cluster token `etcd-cluster-0`,
    /// kubelet user `kubernetes`, `--v=2`.
    pub fn new(
        cluster_name: impl Into<String>,
        masters: Vec<Master>,
        api_endpoint: impl Into<String>,
    ) -> Self {
        ControlPlaneInputs {
            cluster_name: cluster_name.into(),
            masters,
            api_endpoint: api_endpoint.into(),
            api_endpoint_port: 6443,
            service_cidr: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(10, 32, 0, 0), 24)),
            pod_cidr: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(172, 20, 0, 0), 16)),
            node_port_range: PortRange::default(),
            ports: Ports::default(),
            bind: BindAddress::default(),
            paths: NodePaths::default(),
            files: FileNames::default(),
            etcd_cluster_token: "etcd-cluster-0".into(),
            apiserver_kubelet_user: "kubernetes".into(),
            verbosity: 2,
        }
    }

    /// Checks every field; the error names the first bad one.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming the field.
    pub fn validate(&self) -> Result<()> {
        check_name("cluster_name", &self.cluster_name)?;
        self.validate_masters()?;
        check_endpoint(&self.api_endpoint)?;
        if self.api_endpoint_port == 0 {
            return Err(invalid("api_endpoint_port", "port 0 is not a port"));
        }
        if overlap(&self.service_cidr, &self.pod_cidr) {
            return Err(invalid(
                "pod_cidr",
                format!(
                    "{} overlaps service_cidr {}: a pod address could be a service address",
                    self.pod_cidr, self.service_cidr
                ),
            ));
        }
        let range = self.node_port_range;
        if range.first == 0 || range.first > range.last {
            return Err(invalid(
                "node_port_range",
                format!("{}-{} is not a range of ports", range.first, range.last),
            ));
        }
        self.validate_ports()?;
        for (field, path) in self.paths.fields() {
            check_path(field, path)?;
        }
        self.validate_files()?;
        check_word("etcd_cluster_token", &self.etcd_cluster_token)?;
        if self.apiserver_kubelet_user.is_empty()
            || self.apiserver_kubelet_user.chars().any(char::is_control)
        {
            return Err(invalid(
                "apiserver_kubelet_user",
                "must be a non-empty user name without control characters",
            ));
        }
        Ok(())
    }

    fn validate_masters(&self) -> Result<()> {
        if self.masters.is_empty() {
            return Err(invalid("masters", "at least one master is needed"));
        }
        let mut hostnames = HashSet::new();
        let mut ips = HashSet::new();
        let mut listening = HashSet::new();
        for (i, m) in self.masters.iter().enumerate() {
            let field = |f: &str| format!("masters[{i}].{f}");
            // The etcd member name goes into `--initial-cluster` (`name=url,…`): no `=` or `,`.
            check_name(&field("hostname"), &m.hostname)?;
            if !hostnames.insert(m.hostname.as_str()) {
                return Err(invalid(
                    field("hostname"),
                    format!("{:?} is another master's too", m.hostname),
                ));
            }
            let ip = m.private_ip;
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(invalid(
                    field("private_ip"),
                    format!("{ip} is not a machine's address"),
                ));
            }
            if ip.is_loopback() {
                return Err(invalid(
                    field("private_ip"),
                    format!(
                        "{ip} is a loopback address, which kube-apiserver refuses to advertise; \
                         a test master on loopback keeps a private_ip and sets listen_ip"
                    ),
                ));
            }
            if !ips.insert(ip) {
                return Err(invalid(
                    field("private_ip"),
                    format!("{ip} is another master's too"),
                ));
            }
            if let Some(listen) = m.listen_ip
                && (listen.is_unspecified() || listen.is_multicast())
            {
                return Err(invalid(
                    field("listen_ip"),
                    format!("{listen} is not one address"),
                ));
            }
            if !listening.insert(m.listen_address()) {
                return Err(invalid(
                    field("listen_ip"),
                    format!(
                        "{} is another master's too: their etcd members would share its ports",
                        m.listen_address()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_ports(&self) -> Result<()> {
        let p = self.ports;
        let all = [
            ("ports.etcd_client", p.etcd_client),
            ("ports.etcd_peer", p.etcd_peer),
            ("ports.apiserver", p.apiserver),
            ("ports.controller_manager", p.controller_manager),
            ("ports.scheduler", p.scheduler),
        ];
        for (i, (field, port)) in all.iter().enumerate() {
            if *port == 0 {
                return Err(invalid(*field, "port 0 is not a port"));
            }
            if let Some((other, _)) = all[..i].iter().find(|(_, q)| q == port) {
                return Err(invalid(
                    *field,
                    format!("{port} is {other} too: two components cannot listen on one port"),
                ));
            }
        }
        Ok(())
    }

    fn validate_files(&self) -> Result<()> {
        let mut seen: Vec<(&str, String)> = Vec::new();
        for (field, name) in self.files.in_kubernetes_dir() {
            check_file_name(field, &name)?;
            if let Some((other, _)) = seen.iter().find(|(_, n)| *n == name) {
                return Err(invalid(
                    field,
                    format!("{name:?} is {other}'s file too: one would overwrite the other"),
                ));
            }
            seen.push((field, name));
        }
        Ok(())
    }
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A value that goes into a flag or a file name: not empty, no whitespace, quotes,
/// backslashes or control characters (systemd would split or unquote it).
fn check_word(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(invalid(
            field,
            format!("{value:?} has {c:?}, which a unit's command line cannot carry as is"),
        ));
    }
    Ok(())
}

fn check_name(field: &str, value: &str) -> Result<()> {
    check_word(field, value)?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid(
            field,
            format!("{value:?} has {c:?}; use letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

fn check_endpoint(value: &str) -> Result<()> {
    let field = "api_endpoint";
    if value.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    check_word(field, value)?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.')))
    {
        return Err(invalid(
            field,
            format!("{value:?} has {c:?}: give a DNS name or an IP address, without a port"),
        ));
    }
    Ok(())
}

fn check_file_name(field: &str, value: &str) -> Result<()> {
    check_word(field, value)?;
    if value.contains('/') || value == "." || value == ".." {
        return Err(invalid(
            field,
            format!("{value:?} is not a plain file name"),
        ));
    }
    Ok(())
}

fn check_path(field: &str, path: &Path) -> Result<()> {
    let Some(text) = path.to_str() else {
        return Err(invalid(field, format!("{} is not UTF-8", path.display())));
    };
    check_word(field, text)?;
    if !path.is_absolute() {
        return Err(invalid(
            field,
            format!("{text} is relative: a unit runs from /, give an absolute path"),
        ));
    }
    if path
        .components()
        .any(|c| matches!(c, PathPart::ParentDir | PathPart::CurDir))
    {
        return Err(invalid(field, format!("{text} has '.' or '..' in it")));
    }
    Ok(())
}

/// An address as the host part of a URL (`[::1]` for IPv6).
pub(crate) fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The API endpoint as the host part of a URL.
pub(crate) fn endpoint_host(endpoint: &str) -> String {
    match endpoint.parse::<IpAddr>() {
        Ok(ip) => url_host(ip),
        Err(_) => endpoint.to_string(),
    }
}

/// The wildcard address of the master's family.
pub(crate) fn any_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The loopback address of the master's family.
pub(crate) fn loopback(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// The tutorial's three masters (ip-172-31-0-10..12 at 172.31.0.10..12), for the unit tests.
#[cfg(test)]
pub(crate) fn tutorial_inputs() -> ControlPlaneInputs {
    let masters = (0..3)
        .map(|i| {
            Master::new(
                format!("ip-172-31-0-1{i}"),
                IpAddr::V4(Ipv4Addr::new(172, 31, 0, 10 + i)),
            )
        })
        .collect();
    ControlPlaneInputs::new("k8s-cluster-from-ground-up", masters, "k8s-api.example.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tutorial() -> ControlPlaneInputs {
        tutorial_inputs()
    }

    fn refused(inputs: &ControlPlaneInputs) -> String {
        match inputs.validate() {
            Ok(()) => panic!("accepted: {inputs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_defaults_are_the_tutorials() {
        let i = tutorial();
        assert_eq!(i.validate().ok(), Some(()));
        assert_eq!(i.service_cidr.to_string(), "10.32.0.0/24");
        assert_eq!(i.pod_cidr.to_string(), "172.20.0.0/16");
        assert_eq!(i.ports, Ports::default());
        assert_eq!(i.ports.etcd_client, 2379);
        assert_eq!(i.ports.etcd_peer, 2380);
        assert_eq!(i.paths.etcd_data_dir, PathBuf::from("/var/lib/etcd"));
        assert_eq!(i.files.apiserver, "master-kubernetes");
        assert_eq!(i.apiserver_kubelet_user, "kubernetes");
    }

    #[test]
    fn paths_under_a_root_keep_their_shape() {
        let p = NodePaths::under(Path::new("/tmp/t"));
        assert_eq!(p.etcd_dir, PathBuf::from("/tmp/t/etc/etcd"));
        assert_eq!(p.etcd_data_dir, PathBuf::from("/tmp/t/var/lib/etcd"));
        assert_eq!(p.audit_log, PathBuf::from("/tmp/t/var/log/audit.log"));
        assert_eq!(p.bin_dir, PathBuf::from("/tmp/t/usr/local/bin"));
    }

    #[test]
    fn bad_masters_are_named() {
        let mut i = tutorial();
        i.masters.clear();
        assert!(refused(&i).contains("masters: at least one"));

        let mut i = tutorial();
        i.masters[2].hostname = "ip-172-31-0-10".into();
        assert!(refused(&i).contains("masters[2].hostname"));

        let mut i = tutorial();
        i.masters[1].hostname = "a=b".into();
        assert!(refused(&i).contains("masters[1].hostname"));

        let mut i = tutorial();
        i.masters[1].private_ip = i.masters[0].private_ip;
        assert!(refused(&i).contains("masters[1].private_ip"));

        let mut i = tutorial();
        i.masters[0].private_ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert!(refused(&i).contains("masters[0].private_ip"));

        let mut i = tutorial();
        i.masters[0].private_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10));
        assert!(refused(&i).contains("masters[0].private_ip: 127.0.0.10 is a loopback address"));

        let mut i = tutorial();
        i.masters[1].listen_ip = Some(i.masters[0].private_ip);
        assert!(refused(&i).contains("masters[1].listen_ip"));

        let mut i = tutorial();
        i.masters[2].listen_ip = Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(refused(&i).contains("masters[2].listen_ip"));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut i = tutorial();
        i.api_endpoint = "k8s-api.example.com:6443".into();
        assert!(refused(&i).contains("api_endpoint:"));

        let mut i = tutorial();
        i.pod_cidr = "10.32.0.0/16".parse().expect("literal");
        assert!(refused(&i).contains("pod_cidr"));

        let mut i = tutorial();
        i.ports.scheduler = i.ports.apiserver;
        assert!(refused(&i).contains("ports.scheduler"));

        let mut i = tutorial();
        i.node_port_range = PortRange {
            first: 32767,
            last: 30000,
        };
        assert!(refused(&i).contains("node_port_range"));

        let mut i = tutorial();
        i.paths.etcd_dir = "etc/etcd".into();
        assert!(refused(&i).contains("paths.etcd_dir"));

        let mut i = tutorial();
        i.paths.config_dir = "/etc/my config".into();
        assert!(refused(&i).contains("paths.config_dir"));

        let mut i = tutorial();
        i.files.admin_kubeconfig = "../admin.kubeconfig".into();
        assert!(refused(&i).contains("files.admin_kubeconfig"));

        let mut i = tutorial();
        i.files.scheduler_kubeconfig = i.files.controller_manager_kubeconfig.clone();
        assert!(refused(&i).contains("files.scheduler_kubeconfig"));

        let mut i = tutorial();
        i.files.service_account = "ca".into();
        assert!(refused(&i).contains("files.service_account"));

        let mut i = tutorial();
        i.cluster_name = "my cluster".into();
        assert!(refused(&i).contains("cluster_name"));

        let mut i = tutorial();
        i.etcd_cluster_token.clear();
        assert!(refused(&i).contains("etcd_cluster_token"));
    }

    #[test]
    fn ipv6_addresses_are_bracketed_in_urls() {
        let ip: IpAddr = "fd00::10".parse().expect("literal");
        assert_eq!(url_host(ip), "[fd00::10]");
        assert_eq!(endpoint_host("fd00::1"), "[fd00::1]");
        assert_eq!(endpoint_host("api.example.com"), "api.example.com");
        assert_eq!(any_address(ip).to_string(), "::");
        assert_eq!(loopback(ip).to_string(), "::1");
    }
}
