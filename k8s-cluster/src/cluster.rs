//! `cluster.yaml`: the cluster as the user describes it, its defaults (the topology of
//! "Kubernetes from the ground up"), one validation that names the field, and the mappings
//! into the libraries' inputs.

use std::collections::HashSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, invalid};
use crate::layout::Layout;
use ipnet::{IpNet, Ipv4Net};
use k8s_aws_infra::{ImageSpec, InfraSpec, InfraState, NodeSpec};
use k8s_pki::{KeyAlgorithm, PkiInputs, Subject, Validity};
use serde::{Deserialize, Serialize};

/// The whole `cluster.yaml`, as written: see [`render_default`] for a commented one. Unknown
/// fields are refused; [`ClusterSpec::resolve`] validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Cluster name, a DNS label of at most 32 characters: AWS Name tags and the names of the
    /// load balancer, target group and key pair; kubeconfig cluster name; worker file names
    /// (`<name>-worker-<i>`).
    pub name: String,
    /// Made by `init`; every AWS resource carries it as the `k8s-hard/installation` tag.
    #[serde(default)]
    pub installation_id: Option<String>,
    /// AWS region; also the node FQDNs' domain (`<region>.compute.internal`).
    pub region: String,
    /// Address ranges.
    #[serde(default)]
    pub network: Network,
    /// The Kubernetes API.
    #[serde(default)]
    pub api: Api,
    /// The control plane nodes.
    pub masters: NodeGroup,
    /// The worker nodes.
    pub workers: NodeGroup,
    /// How to reach the nodes.
    #[serde(default)]
    pub ssh: Ssh,
    /// AWS machines and access.
    #[serde(default)]
    pub aws: Aws,
    /// Certificate policy.
    #[serde(default)]
    pub pki: Pki,
}

/// `network:` address ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// The VPC's range (default 172.31.0.0/16).
    pub vpc_cidr: String,
    /// The subnet every node is in, inside the VPC (default 172.31.0.0/24).
    pub subnet_cidr: String,
    /// Pod addresses: worker `i` gets its `i`-th /24 (default 172.20.0.0/16).
    pub pod_cidr: String,
    /// Service addresses; its first one is the `kubernetes` service's (default 10.32.0.0/24).
    pub service_cidr: String,
    /// The cluster's DNS domain (default `cluster.local`).
    pub cluster_domain: String,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            vpc_cidr: "172.31.0.0/16".into(),
            subnet_cidr: "172.31.0.0/24".into(),
            pod_cidr: "172.20.0.0/16".into(),
            service_cidr: "10.32.0.0/24".into(),
            cluster_domain: "cluster.local".into(),
        }
    }
}

/// `api:` the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// The API server port: only 6443, which the load balancer listener, target group,
    /// security group rule and every kubeconfig use.
    pub port: u16,
    /// The load balancer's DNS name, for machines that are not ours; on AWS, `infra up`
    /// records it in state.json.
    pub endpoint: Option<String>,
    /// More names or IPs for the kube-apiserver certificate.
    pub extra_sans: Vec<String>,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            port: 6443,
            endpoint: None,
            extra_sans: Vec::new(),
        }
    }
}

/// Masters or workers: `count` nodes from `first_ip` on, or an explicit `nodes` list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// How many nodes, from `first_ip` on.
    #[serde(default)]
    pub count: Option<usize>,
    /// The first node's private IP; the others follow.
    #[serde(default)]
    pub first_ip: Option<String>,
    /// An explicit list instead of `count`/`first_ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeEntry>,
}

/// One explicitly listed machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Node name, a DNS label (default `<cluster>-master-<i>` / `<cluster>-worker-<i>`).
    pub name: Option<String>,
    /// Private IP, inside the subnet.
    pub private_ip: String,
    /// Host name (default AWS's, `ip-172-31-0-20`).
    pub hostname: Option<String>,
    /// Fully qualified name (default `<hostname>.<region>.compute.internal`).
    pub fqdn: Option<String>,
    /// Public IP, for the certificates; on AWS, `infra up` records it.
    pub public_ip: Option<String>,
    /// Where to SSH (default the public IP, else the private one).
    pub ssh_address: Option<String>,
    /// SSH port (default `ssh.port`).
    pub ssh_port: Option<u16>,
    /// Workers only: the pod CIDR (default the `i`-th /24 of `network.pod_cidr`).
    pub pod_cidr: Option<String>,
}

/// `ssh:` how to reach the nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ssh {
    /// Login user (default `ubuntu`, as on Ubuntu's AWS images).
    pub user: String,
    /// Port (default 22).
    pub port: u16,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            user: "ubuntu".into(),
            port: 22,
        }
    }
}

/// `aws:` machines and access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Aws {
    /// EC2 instance type (default `t2.micro`).
    pub instance_type: String,
    /// The image owner's account (default Canonical's).
    pub ami_owner: String,
    /// The image name filter, wildcards allowed; the newest match is used.
    pub ami_name_filter: String,
    /// Who may SSH to the nodes (default `0.0.0.0/0`, with a warning).
    pub ssh_ingress_cidr: String,
}

impl Default for Aws {
    fn default() -> Self {
        Aws {
            instance_type: "t2.micro".into(),
            ami_owner: "099720109477".into(),
            ami_name_filter: "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*".into(),
            ssh_ingress_cidr: "0.0.0.0/0".into(),
        }
    }
}

/// `pki:` certificate policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pki {
    /// `rsa-2048` (default), `rsa-3072`, `rsa-4096`, `ecdsa-p256` or `ecdsa-p384`.
    pub key_algorithm: String,
    /// The CA's validity (default 43800 h).
    pub ca_validity_hours: u32,
    /// Every other certificate's validity (default 8760 h).
    pub validity_hours: u32,
    /// Subject fields every certificate shares.
    pub subject: SubjectFields,
}

impl Default for Pki {
    fn default() -> Self {
        let v = Validity::default();
        Pki {
            key_algorithm: KeyAlgorithm::default().to_string(),
            ca_validity_hours: v.ca_hours,
            validity_hours: v.leaf_hours,
            subject: SubjectFields::default(),
        }
    }
}

/// `pki.subject:` subject fields every certificate shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubjectFields {
    /// C.
    pub country: String,
    /// ST.
    pub state: String,
    /// L.
    pub locality: String,
    /// OU.
    pub organizational_unit: String,
}

impl Default for SubjectFields {
    fn default() -> Self {
        let s = Subject::default();
        SubjectFields {
            country: s.country,
            state: s.state,
            locality: s.locality,
            organizational_unit: s.organizational_unit,
        }
    }
}

/// What `init` can set from the command line.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Cluster name.
    pub name: String,
    /// Installation ID ([`k8s_aws_infra::new_installation_id`]).
    pub installation_id: String,
    /// AWS region.
    pub region: String,
    /// How many masters.
    pub masters: usize,
    /// How many workers.
    pub workers: usize,
    /// The API endpoint, if known.
    pub api_endpoint: Option<String>,
}

impl InitOptions {
    /// The defaults, with a new installation ID.
    ///
    /// # Errors
    /// [`Error::Infra`] if the system's random number generator fails.
    pub fn new() -> Result<Self> {
        Ok(InitOptions {
            name: "k8s-cluster-from-ground-up".into(),
            installation_id: k8s_aws_infra::new_installation_id()?,
            region: "us-east-2".into(),
            masters: 3,
            workers: 3,
            api_endpoint: None,
        })
    }
}

/// The commented `cluster.yaml` that `init` writes: the tutorial's topology with `opts` applied.
pub fn render_default(opts: &InitOptions) -> String {
    let net = Network::default();
    let aws = Aws::default();
    let pki = Pki::default();
    let s = &pki.subject;
    let endpoint = opts.api_endpoint.as_deref().unwrap_or("null");
    format!(
        r#"# k8s-hard cluster spec. Edit it, then run `k8s-hard bundle` (or `k8s-hard up` on AWS).
# Every field below shows its default.

# Cluster name: AWS Name tags, kubeconfig cluster name, worker files (<name>-worker-<i>).
# AWS keeps load balancer, target group and key pair names unique per account and region.
name: {name}
# This cluster's own ID, made by `k8s-hard init`: every AWS resource carries it as the
# k8s-hard/installation tag, and `up` adopts and `down` deletes only resources with it, so
# another folder using the same name never touches this cluster. Keep it; do not copy it.
installation_id: {installation_id}
# AWS region. Node FQDNs are <host>.<region>.compute.internal (<host>.ec2.internal in us-east-1).
region: {region}

network:
  vpc_cidr: {vpc}
  subnet_cidr: {subnet}
  # Worker i gets the i-th /24 of this range as its pod CIDR (172.20.<i>.0/24).
  pod_cidr: {pod}
  service_cidr: {service}
  cluster_domain: {domain}

api:
  port: 6443
  # The load balancer's DNS name. `k8s-hard infra up` records it in state.json and every
  # later step uses it; set it here for machines that are not ours.
  endpoint: {endpoint}
  # More names or IPs for the kube-apiserver certificate.
  extra_sans: []

# Nodes: `count` machines from `first_ip` on (hostnames ip-a-b-c-d, as AWS names them) ...
masters:
  count: {masters}
  first_ip: 172.31.0.10
workers:
  count: {workers}
  first_ip: 172.31.0.20
# ... or an explicit list, for existing machines or test hosts (a list replaces count/first_ip):
# workers:
#   nodes:
#     - name: {name}-worker-0     # default <cluster>-worker-<i>
#       private_ip: 172.31.0.20
#       hostname: ip-172-31-0-20                # default derived from private_ip
#       fqdn: ip-172-31-0-20.{region}.compute.internal
#       public_ip: 203.0.113.7                  # optional
#       ssh_address: 203.0.113.7                # where to SSH; default public_ip, else private_ip
#       ssh_port: 22
#       pod_cidr: 172.20.0.0/24                 # workers only

ssh:
  user: ubuntu
  port: 22

aws:
  instance_type: {instance_type}
  ami_owner: "{ami_owner}"
  ami_name_filter: "{ami_filter}"
  # Who may SSH to the nodes. 0.0.0.0/0 is the tutorial's choice: narrow it to your address.
  ssh_ingress_cidr: {ssh_cidr}

pki:
  key_algorithm: {alg}   # rsa-2048 | rsa-3072 | rsa-4096 | ecdsa-p256 | ecdsa-p384
  ca_validity_hours: {ca_hours}
  validity_hours: {leaf_hours}
  subject:
    country: {c}
    state: {st}
    locality: {l}
    organizational_unit: "{ou}"
"#,
        name = opts.name,
        installation_id = opts.installation_id,
        region = opts.region,
        vpc = net.vpc_cidr,
        subnet = net.subnet_cidr,
        pod = net.pod_cidr,
        service = net.service_cidr,
        domain = net.cluster_domain,
        masters = opts.masters,
        workers = opts.workers,
        instance_type = aws.instance_type,
        ami_owner = aws.ami_owner,
        ami_filter = aws.ami_name_filter,
        ssh_cidr = aws.ssh_ingress_cidr,
        alg = pki.key_algorithm,
        ca_hours = pki.ca_validity_hours,
        leaf_hours = pki.validity_hours,
        c = s.country,
        st = s.state,
        l = s.locality,
        ou = s.organizational_unit,
    )
}

/// A node with everything derived: what the libraries need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedNode {
    /// Node name (a DNS label).
    pub name: String,
    /// Host name.
    pub hostname: String,
    /// Fully qualified name.
    pub fqdn: String,
    /// Private IP.
    pub private_ip: IpAddr,
    /// Public IP: cluster.yaml's, else what `infra up` recorded.
    pub public_ip: Option<IpAddr>,
    /// Where to SSH, when cluster.yaml says (see [`Cluster::ssh_address`]).
    pub ssh_address: Option<String>,
    /// SSH port.
    pub ssh_port: u16,
    /// Workers: the pod CIDR.
    pub pod_cidr: Option<IpNet>,
}

/// The validated cluster: spec plus derived nodes and parsed networks.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The spec as written.
    pub spec: ClusterSpec,
    /// Its cluster.yaml.
    pub path: PathBuf,
    /// Where its files are.
    pub layout: Layout,
    /// The masters, derived.
    pub masters: Vec<ResolvedNode>,
    /// The workers, derived.
    pub workers: Vec<ResolvedNode>,
    /// `network.vpc_cidr`, parsed.
    pub vpc_cidr: IpNet,
    /// `network.subnet_cidr`, parsed.
    pub subnet_cidr: IpNet,
    /// `network.service_cidr`, parsed.
    pub service_cidr: IpNet,
    /// `pki.key_algorithm`, parsed.
    pub key_algorithm: KeyAlgorithm,
    /// What `infra up` recorded in `<dir>/state.json`, if it ran.
    pub state: Option<InfraState>,
}

/// A DNS-1123 label of at most `max` characters: `a-z`, `0-9` and inner `-`.
fn is_dns_label(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The file names the cluster's own certificates and kubeconfigs use (not the per-worker
/// ones), from the certificate table and the kubeconfig set: a node may not take one.
fn reserved_names(
    cluster: &str,
    masters: &[ResolvedNode],
) -> Result<std::collections::BTreeSet<String>> {
    let nodes = masters
        .iter()
        .map(|n| k8s_pki::Node {
            name: n.name.clone(),
            hostname: n.hostname.clone(),
            fqdn: None,
            private_ip: n.private_ip,
            public_ip: None,
        })
        .collect();
    let pki = k8s_pki::Pki::new(PkiInputs::new(cluster.to_string(), nodes, Vec::new()))?;
    let mut names: std::collections::BTreeSet<String> =
        pki.specs().iter().map(|s| s.name.clone()).collect();
    names.extend(
        k8s_kubeconfig::Component::tutorial_set(Vec::new())
            .iter()
            .filter_map(|c| {
                c.file_name()
                    .strip_suffix(".kubeconfig")
                    .map(str::to_string)
            }),
    );
    Ok(names)
}

fn parse_cidr(field: &str, value: &str) -> Result<IpNet> {
    let net: IpNet = value.parse().map_err(|_| {
        invalid(format!(
            "{field}: {value:?} is not a CIDR (like 172.31.0.0/16)"
        ))
    })?;
    if net.trunc() != net {
        return Err(invalid(format!(
            "{field}: {value} has host bits set (did you mean {}?)",
            net.trunc()
        )));
    }
    Ok(net)
}

fn parse_ip(field: &str, value: &str) -> Result<IpAddr> {
    value
        .parse()
        .map_err(|_| invalid(format!("{field}: {value:?} is not an IP address")))
}

/// The infra library's node name (`master-0`, the user-data `name=`): the cluster node name
/// without the `<cluster>-` prefix, so the instance's Name tag is the node name again.
pub fn infra_node_name(cluster: &str, node: &str) -> String {
    node.strip_prefix(&format!("{cluster}-"))
        .unwrap_or(node)
        .to_string()
}

/// The domain AWS gives instances in `region`.
pub fn aws_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".into()
    } else {
        format!("{region}.compute.internal")
    }
}

/// The hostname AWS gives an instance with this private IP: `ip-172-31-0-20`.
pub fn aws_hostname(ip: IpAddr) -> String {
    format!("ip-{}", ip.to_string().replace(['.', ':'], "-"))
}

/// The ID of a line `installation_id: <32 lowercase hex digits>` (quoted or not, a comment
/// after it allowed), as `init` writes it; `None` for any other line.
fn installation_id_line(line: &str) -> Option<&str> {
    let value = line.trim().strip_prefix("installation_id:")?;
    let value = value.split_once('#').map_or(value, |(v, _)| v).trim();
    let value = ["\"", "'"]
        .iter()
        .find_map(|q| value.strip_prefix(q)?.strip_suffix(q))
        .unwrap_or(value);
    (value.len() == 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(value)
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

impl ClusterSpec {
    /// Parses YAML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<ClusterSpec> {
        serde_yaml::from_str(text).map_err(|e| Error::Spec {
            path: origin.to_path_buf(),
            source: Box::new(invalid(e.to_string())),
        })
    }

    /// The installation ID that a new cluster.yaml replacing `text` (the file at `path`) must
    /// keep, as `init --force` does: a new ID would orphan whatever AWS resources carry the
    /// old one. A file that parses gives its `installation_id` (`None` when it has none). One
    /// that does not is searched line by line for `installation_id: <32 hex digits>` (what
    /// `init` writes), and gives that ID when it holds exactly one.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the file when it does not parse and holds no such line, or
    /// holds two different ones: which cluster it was is then unknown.
    pub fn installation_id_to_keep(text: &str, path: &Path) -> Result<Option<String>> {
        let parse_error = match ClusterSpec::parse(text, path) {
            Ok(spec) => return Ok(spec.installation_id),
            Err(e) => match e {
                Error::Spec { source, .. } => source.to_string(),
                other => other.to_string(),
            },
        };
        let mut found: Vec<&str> = text.lines().filter_map(installation_id_line).collect();
        found.sort_unstable();
        found.dedup();
        match found.as_slice() {
            [id] => Ok(Some((*id).to_string())),
            [] => Err(invalid(format!(
                "{}: it does not parse ({parse_error}) and has no `installation_id:` line of 32 hex digits, so the ID of the cluster it described cannot be kept: fix the file (then `init --force` keeps its ID), or move it away to start a new cluster",
                path.display()
            ))),
            ids => Err(invalid(format!(
                "{}: it does not parse ({parse_error}) and names {} installation IDs ({}): fix the file, keeping the one of this cluster",
                path.display(),
                ids.len(),
                ids.join(", ")
            ))),
        }
    }

    /// Validates and derives every node.
    pub fn resolve(self, path: PathBuf) -> Result<Cluster> {
        let s = &self;
        if !is_dns_label(&s.name, 32) {
            return Err(invalid(format!(
                "name: {:?} must be 1-32 lowercase letters, digits or inner hyphens (a DNS label: it names AWS resources, kubeconfig clusters and files; AWS load balancer names are limited to 32)",
                s.name
            )));
        }
        if !is_region(&s.region) {
            return Err(invalid(format!(
                "region: {:?} is not an AWS region name (like us-east-2)",
                s.region
            )));
        }
        let vpc_cidr = parse_cidr("network.vpc_cidr", &s.network.vpc_cidr)?;
        let subnet_cidr = parse_cidr("network.subnet_cidr", &s.network.subnet_cidr)?;
        let pod_cidr = parse_cidr("network.pod_cidr", &s.network.pod_cidr)?;
        let service_cidr = parse_cidr("network.service_cidr", &s.network.service_cidr)?;
        if !vpc_cidr.contains(&subnet_cidr) {
            return Err(invalid(format!(
                "network.subnet_cidr: {subnet_cidr} is not inside network.vpc_cidr {vpc_cidr}"
            )));
        }
        for (field, net) in [
            ("network.pod_cidr", pod_cidr),
            ("network.service_cidr", service_cidr),
        ] {
            if net.contains(&vpc_cidr) || vpc_cidr.contains(&net) {
                return Err(invalid(format!(
                    "{field}: {net} overlaps network.vpc_cidr {vpc_cidr}"
                )));
            }
        }
        if pod_cidr.contains(&service_cidr) || service_cidr.contains(&pod_cidr) {
            return Err(invalid(format!(
                "network.service_cidr: {service_cidr} overlaps network.pod_cidr {pod_cidr}"
            )));
        }
        if s.ssh.port == 0 {
            return Err(invalid("ssh.port: 0 is not a port (1-65535)".to_string()));
        }
        if s.api.port != k8s_aws_infra::API_PORT {
            return Err(invalid(format!(
                "api.port: {} is not supported: the load balancer listener, target group, security group rule and every kubeconfig use {}; remove the field or set it to {}",
                s.api.port,
                k8s_aws_infra::API_PORT,
                k8s_aws_infra::API_PORT
            )));
        }
        if let Some(e) = &s.api.endpoint
            && k8s_pki::San::parse(e).is_err()
        {
            return Err(invalid(format!(
                "api.endpoint: {e:?} is neither a DNS name nor an IP address"
            )));
        }
        let key_algorithm: KeyAlgorithm = s.pki.key_algorithm.parse().map_err(|e| match e {
            k8s_pki::Error::InvalidInput { field, reason } => {
                invalid(format!("pki.{field}: {reason}"))
            }
            other => other.into(),
        })?;
        for (field, hours) in [
            ("pki.ca_validity_hours", s.pki.ca_validity_hours),
            ("pki.validity_hours", s.pki.validity_hours),
        ] {
            if !(1..=Validity::MAX_HOURS).contains(&hours) {
                return Err(invalid(format!(
                    "{field}: {hours} h: a lifetime is 1 to {} hours (100 years)",
                    Validity::MAX_HOURS
                )));
            }
        }
        if s.pki.validity_hours > s.pki.ca_validity_hours {
            return Err(invalid(format!(
                "pki.validity_hours: {} h outlives the CA (pki.ca_validity_hours: {} h)",
                s.pki.validity_hours, s.pki.ca_validity_hours
            )));
        }
        parse_cidr("aws.ssh_ingress_cidr", &s.aws.ssh_ingress_cidr)?;
        let domain = aws_domain(&s.region);

        let masters = resolve_group(s, "masters", &s.masters, &domain, subnet_cidr, None)?;
        let workers = resolve_group(
            s,
            "workers",
            &s.workers,
            &domain,
            subnet_cidr,
            Some(pod_cidr),
        )?;
        for (i, (entry, w)) in s.workers.nodes.iter().zip(&workers).enumerate() {
            let (Some(_), Some(p)) = (&entry.pod_cidr, w.pod_cidr) else {
                continue;
            };
            let field = format!("workers.nodes[{i}].pod_cidr");
            if p.contains(&service_cidr) || service_cidr.contains(&p) {
                return Err(invalid(format!(
                    "{field}: {p} overlaps network.service_cidr {service_cidr}"
                )));
            }
            if !pod_cidr.contains(&p) {
                return Err(invalid(format!(
                    "{field}: {p} is outside network.pod_cidr {pod_cidr}"
                )));
            }
        }
        if masters.is_empty() {
            return Err(invalid(
                "masters: at least one master is needed".to_string(),
            ));
        }
        let reserved = reserved_names(&s.name, &masters)?;
        let mut names = HashSet::new();
        let mut ips = HashSet::new();
        let mut ssh = HashSet::new();
        for (group, nodes) in [("masters", &masters), ("workers", &workers)] {
            for (i, n) in nodes.iter().enumerate() {
                let field = format!("{group}.nodes[{i}].name");
                if !is_dns_label(&n.name, 63) {
                    return Err(invalid(format!(
                        "{field}: {:?} must be 1-63 lowercase letters, digits or inner hyphens (a DNS label: it names the node's files and its AWS instance)",
                        n.name
                    )));
                }
                if reserved.contains(&n.name) || n.name.ends_with("-key") {
                    return Err(invalid(format!(
                        "{field}: {:?} would name the same files as another certificate or kubeconfig (reserved: {}, and any name ending in -key)",
                        n.name,
                        reserved.iter().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                if !names.insert(n.name.clone()) {
                    return Err(invalid(format!("{field}: {:?} is used twice", n.name)));
                }
                if !ips.insert(n.private_ip) {
                    return Err(invalid(format!(
                        "{group}[{i}] private_ip: {} is used by another node",
                        n.private_ip
                    )));
                }
                let address = n
                    .ssh_address
                    .clone()
                    .or_else(|| n.public_ip.map(|ip| ip.to_string()))
                    .unwrap_or_else(|| n.private_ip.to_string());
                if !ssh.insert((address.clone(), n.ssh_port)) {
                    return Err(invalid(format!(
                        "{group}.nodes[{i}].ssh_address: {address}:{} is another node's too",
                        n.ssh_port
                    )));
                }
            }
        }
        let mut pods: Vec<(usize, IpNet)> = Vec::new();
        for (i, w) in workers.iter().enumerate() {
            let Some(p) = w.pod_cidr else { continue };
            if let Some((j, _)) = pods.iter().find(|(_, q)| q.contains(&p) || p.contains(q)) {
                return Err(invalid(format!(
                    "workers[{i}] pod_cidr: {p} overlaps the pod CIDR of workers[{j}]"
                )));
            }
            pods.push((i, p));
        }
        Ok(Cluster {
            layout: Layout::new(path.parent().unwrap_or_else(|| Path::new("."))),
            masters,
            workers,
            vpc_cidr,
            subnet_cidr,
            service_cidr,
            key_algorithm,
            state: None,
            path,
            spec: self,
        })
    }
}

fn resolve_group(
    spec: &ClusterSpec,
    group: &str,
    g: &NodeGroup,
    domain: &str,
    subnet: IpNet,
    pod_range: Option<IpNet>,
) -> Result<Vec<ResolvedNode>> {
    let role = if group == "masters" {
        "master"
    } else {
        "worker"
    };
    let pod_for = |i: usize| -> Result<Option<IpNet>> {
        let Some(range) = pod_range else {
            return Ok(None);
        };
        let IpNet::V4(v4) = range else {
            return Err(invalid(
                "network.pod_cidr: only IPv4 pod ranges are supported".to_string(),
            ));
        };
        if v4.prefix_len() > 24 {
            return Err(invalid(format!(
                "network.pod_cidr: {range} is smaller than one /24"
            )));
        }
        let nth: Option<Ipv4Net> = v4.subnets(24).ok().and_then(|mut s| s.nth(i));
        nth.map(|n| Some(IpNet::V4(n))).ok_or_else(|| {
            invalid(format!(
                "network.pod_cidr: {range} has no /24 left for {group}[{i}]"
            ))
        })
    };
    if !g.nodes.is_empty() {
        if g.count.is_some() || g.first_ip.is_some() {
            return Err(invalid(format!(
                "{group}: give either count/first_ip or nodes, not both"
            )));
        }
        return g
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let f = |x: &str| format!("{group}.nodes[{i}].{x}");
                let private_ip = parse_ip(&f("private_ip"), &n.private_ip)?;
                let public_ip = n
                    .public_ip
                    .as_deref()
                    .map(|p| parse_ip(&f("public_ip"), p))
                    .transpose()?;
                let hostname = n
                    .hostname
                    .clone()
                    .unwrap_or_else(|| aws_hostname(private_ip));
                let pod_cidr = match (&n.pod_cidr, pod_range) {
                    (Some(p), Some(_)) => Some(parse_cidr(&f("pod_cidr"), p)?),
                    (Some(_), None) => {
                        return Err(invalid(format!(
                            "{}: only workers have a pod CIDR",
                            f("pod_cidr")
                        )));
                    }
                    (None, _) => pod_for(i)?,
                };
                if n.ssh_port == Some(0) {
                    return Err(invalid(format!("{}: must be 1-65535", f("ssh_port"))));
                }
                Ok(ResolvedNode {
                    name: n
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{}-{role}-{i}", spec.name)),
                    fqdn: n
                        .fqdn
                        .clone()
                        .unwrap_or_else(|| format!("{hostname}.{domain}")),
                    hostname,
                    private_ip,
                    public_ip,
                    ssh_address: n.ssh_address.clone(),
                    ssh_port: n.ssh_port.unwrap_or(spec.ssh.port),
                    pod_cidr,
                })
            })
            .collect();
    }
    let count = g.count.unwrap_or(0);
    let first_text = g
        .first_ip
        .as_deref()
        .ok_or_else(|| invalid(format!("{group}.first_ip: missing (or list {group}.nodes)")))?;
    let first = parse_ip(&format!("{group}.first_ip"), first_text)?;
    let IpAddr::V4(first4) = first else {
        return Err(invalid(format!(
            "{group}.first_ip: only IPv4 node ranges are supported"
        )));
    };
    if !subnet.contains(&first) {
        return Err(invalid(format!(
            "{group}.first_ip: {first} is outside network.subnet_cidr {subnet}"
        )));
    }
    (0..count)
        .map(|i| {
            let ip = u32::from(first4)
                .checked_add(u32::try_from(i).unwrap_or(u32::MAX))
                .map(Ipv4Addr::from)
                .map(IpAddr::V4)
                .filter(|ip| subnet.contains(ip) && *ip != subnet.broadcast())
                .ok_or_else(|| {
                    invalid(format!("{group}.count: {count} nodes from {first} do not fit in network.subnet_cidr {subnet}"))
                })?;
            let hostname = aws_hostname(ip);
            Ok(ResolvedNode {
                name: format!("{}-{role}-{i}", spec.name),
                fqdn: format!("{hostname}.{domain}"),
                hostname,
                private_ip: ip,
                public_ip: None,
                ssh_address: None,
                ssh_port: spec.ssh.port,
                pod_cidr: pod_for(i)?,
            })
        })
        .collect()
}

impl Cluster {
    /// Reads and validates `<dir>/cluster.yaml`, with what `infra up` recorded in
    /// `<dir>/state.json` on top: the API endpoint and the instances' public IPs.
    pub fn load(dir: &Path) -> Result<Cluster> {
        let mut cluster = Cluster::load_spec(dir)?;
        if let Some(state) = k8s_aws_infra::load_state(dir)? {
            cluster.apply_state(state)?;
        }
        Ok(cluster)
    }

    /// Takes what `infra up` found or made: the instances' public IPs (where cluster.yaml
    /// gives none) and the load balancer's name as the API endpoint. Apply it to a cluster
    /// that has no state yet ([`ClusterSpec::resolve`] or [`Cluster::load_spec`]).
    ///
    /// # Errors
    /// [`Error::StateOfAnotherCluster`] when `state` records another cluster.
    pub fn apply_state(&mut self, state: InfraState) -> Result<()> {
        if state.cluster != self.spec.name {
            return Err(Error::StateOfAnotherCluster {
                state: self.layout.state_file(),
                recorded: state.cluster.clone(),
                spec: self.path.clone(),
                named: self.spec.name.clone(),
            });
        }
        let name = self.spec.name.clone();
        for node in self.masters.iter_mut().chain(self.workers.iter_mut()) {
            let recorded = state.instances.get(&infra_node_name(&name, &node.name));
            if node.public_ip.is_none() {
                node.public_ip = recorded
                    .and_then(|i| i.public_ip.as_deref())
                    .and_then(|ip| ip.parse().ok());
            }
        }
        self.state = Some(state);
        Ok(())
    }

    /// Reads and validates `<dir>/cluster.yaml` alone, without `state.json` (for `down`, which
    /// must work when the state is lost or damaged).
    ///
    /// # Errors
    /// [`Error::Read`], [`Error::Spec`] naming the field.
    pub fn load_spec(dir: &Path) -> Result<Cluster> {
        let layout = Layout::new(dir);
        let path = layout.cluster_file();
        let text = fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        ClusterSpec::parse(&text, &path)?
            .resolve(path.clone())
            .map_err(|e| Error::Spec {
                path,
                source: Box::new(e),
            })
    }

    /// Reads `<dir>/cluster.yaml`, first writing the default one (with a new installation ID)
    /// if there is none. Returns whether it was written.
    ///
    /// # Errors
    /// As [`Cluster::load`], plus [`Error::Write`].
    pub fn load_or_init(dir: &Path) -> Result<(Cluster, bool)> {
        let path = Layout::new(dir).cluster_file();
        let created = !path.exists();
        if created {
            let write = |source| Error::Write {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(|source| {
                write(k8s_files::Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            })?;
            k8s_files::write_file(
                &path,
                render_default(&InitOptions::new()?).as_bytes(),
                k8s_files::Mode::Public,
            )
            .map_err(write)?;
        }
        Ok((Cluster::load(dir)?, created))
    }

    /// The API endpoint: cluster.yaml's, else the load balancer `infra up` recorded.
    pub fn api_endpoint(&self) -> Option<String> {
        self.spec.api.endpoint.clone().or_else(|| {
            self.state
                .as_ref()
                .and_then(|s| s.api_endpoint())
                .map(str::to_string)
        })
    }

    /// The inputs of `k8s-aws-infra` for this cluster.
    pub fn infra_spec(&self) -> Result<InfraSpec> {
        let v4 = |field: &str, net: IpNet| match net {
            IpNet::V4(n) => Ok(n),
            IpNet::V6(_) => Err(invalid(format!("{field}: AWS clusters need IPv4 ranges"))),
        };
        let name = &self.spec.name;
        let node = |group: &str, i: usize, n: &ResolvedNode| -> Result<NodeSpec> {
            let IpAddr::V4(private_ip) = n.private_ip else {
                return Err(invalid(format!(
                    "{group}[{i}].private_ip: AWS nodes need IPv4 addresses"
                )));
            };
            let pod_cidr = n.pod_cidr.map(|p| v4("pod_cidr", p)).transpose()?;
            Ok(NodeSpec {
                name: infra_node_name(name, &n.name),
                private_ip,
                pod_cidr,
            })
        };
        let masters = self
            .masters
            .iter()
            .enumerate()
            .map(|(i, n)| node("masters", i, n))
            .collect::<Result<_>>()?;
        let workers = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, n)| node("workers", i, n))
            .collect::<Result<_>>()?;
        let aws = &self.spec.aws;
        let Some(installation) = self.spec.installation_id.clone() else {
            return Err(invalid(format!(
                "{}: installation_id: missing; AWS commands need this cluster's own ID (every resource is tagged with it). Add a line `installation_id: {}` (a new one) — or, if this cluster already exists in AWS under an older k8s-hard, delete it with that version first",
                self.path.display(),
                k8s_aws_infra::new_installation_id()?
            )));
        };
        let mut spec = InfraSpec::new(name.clone(), installation, 0, 0);
        spec.region = Some(self.spec.region.clone());
        spec.vpc_cidr = v4("network.vpc_cidr", self.vpc_cidr)?;
        spec.subnet_cidr = v4("network.subnet_cidr", self.subnet_cidr)?;
        spec.masters = masters;
        spec.workers = workers;
        spec.instance_type = aws.instance_type.clone();
        spec.image = ImageSpec {
            owner: aws.ami_owner.clone(),
            name: aws.ami_name_filter.clone(),
        };
        spec.ssh_ingress_cidr = v4(
            "aws.ssh_ingress_cidr",
            parse_cidr("aws.ssh_ingress_cidr", &aws.ssh_ingress_cidr)?,
        )?;
        spec.validate().map_err(|e| Error::NotForAws {
            path: self.path.clone(),
            source: Box::new(e.into()),
        })?;
        Ok(spec)
    }

    /// The inputs of `k8s-pki` for this cluster.
    pub fn pki_inputs(&self) -> PkiInputs {
        let node = |n: &ResolvedNode| k8s_pki::Node {
            name: n.name.clone(),
            hostname: n.hostname.clone(),
            fqdn: Some(n.fqdn.clone()),
            private_ip: n.private_ip,
            public_ip: n.public_ip,
        };
        let mut inputs = PkiInputs::new(
            self.spec.name.clone(),
            self.masters.iter().map(node).collect(),
            self.workers.iter().map(node).collect(),
        );
        inputs.api_endpoints = self.api_endpoint().into_iter().collect();
        inputs.service_cidr = self.service_cidr;
        inputs.cluster_domain = self.spec.network.cluster_domain.clone();
        inputs.extra_sans = self.spec.api.extra_sans.clone();
        let s = &self.spec.pki.subject;
        inputs.subject = Subject {
            country: s.country.clone(),
            state: s.state.clone(),
            locality: s.locality.clone(),
            organizational_unit: s.organizational_unit.clone(),
        };
        inputs.key_algorithm = self.key_algorithm;
        inputs.validity = Validity {
            ca_hours: self.spec.pki.ca_validity_hours,
            leaf_hours: self.spec.pki.validity_hours,
        };
        inputs
    }

    /// Where to SSH to `node`: its `ssh_address`, else its public IP, else its private IP.
    pub fn ssh_address(&self, node: &ResolvedNode) -> String {
        node.ssh_address
            .clone()
            .or_else(|| node.public_ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| node.private_ip.to_string())
    }

    /// `<dir>/pki` (see [`Layout::pki_dir`]).
    pub fn pki_dir(dir: &Path) -> PathBuf {
        Layout::new(dir).pki_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Cluster> {
        ClusterSpec::parse(text, Path::new("cluster.yaml"))?.resolve(PathBuf::from("cluster.yaml"))
    }

    /// An error with its causes, as the CLI prints them.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut text = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }

    fn opts() -> InitOptions {
        InitOptions {
            installation_id: "0123456789abcdef".into(),
            ..InitOptions::new().unwrap()
        }
    }

    fn default_text() -> String {
        render_default(&opts())
    }

    #[test]
    fn the_installation_id_reaches_the_infra_spec_and_is_required_there() {
        let c = parse(&default_text()).unwrap();
        assert_eq!(c.infra_spec().unwrap().installation_id, "0123456789abcdef");
        let text = default_text().replace("installation_id: 0123456789abcdef\n", "");
        let c = parse(&text).unwrap();
        let e = chain(&c.infra_spec().unwrap_err());
        assert!(e.contains("installation_id: missing"), "{e}");
        let c = parse(&default_text().replace("0123456789abcdef", "BAD")).unwrap();
        let e = chain(&c.infra_spec().unwrap_err());
        assert!(e.contains("installation_id"), "{e}");
        assert_ne!(
            InitOptions::new().unwrap().installation_id,
            opts().installation_id
        );
    }

    #[test]
    fn init_force_keeps_the_id_of_a_file_it_cannot_parse_or_refuses_naming_it() {
        let id = "0123456789abcdef0123456789abcdef";
        let path = Path::new("lab/cluster.yaml");
        let good = render_default(&InitOptions {
            installation_id: id.into(),
            ..opts()
        });
        let keep = |text: &str| ClusterSpec::installation_id_to_keep(text, path);
        assert_eq!(keep(&good).unwrap().as_deref(), Some(id));
        // Broken YAML, an unknown field, a bad value: the ID line is still there.
        for broken in [
            good.replacen("masters:\n  count: 3", "masters:\n  count: [3", 1),
            good.replacen("  port: 22\n", "  port: 22\n  prot: 1\n", 1),
            good.replacen("region: us-east-2", "region: [", 1),
            format!("installation_id: '{id}'   # kept\n: : :\n"),
        ] {
            assert_ne!(broken, good);
            assert!(ClusterSpec::parse(&broken, path).is_err(), "{broken}");
            assert_eq!(keep(&broken).unwrap().as_deref(), Some(id), "{broken}");
        }
        // A file that parses without an ID (an older version's) gets a new one.
        let old = good.replacen(&format!("installation_id: {id}\n"), "", 1);
        assert_eq!(keep(&old).unwrap(), None);
        // Nothing to keep, or two IDs: refused, naming the file.
        for (text, said) in [
            (
                "name: [\n".to_string(),
                "has no `installation_id:` line of 32 hex digits",
            ),
            (
                format!("name: [\ninstallation_id: {}\n", &id[..31]),
                "has no `installation_id:` line",
            ),
            (
                format!("name: [\ninstallation_id: {}\n", id.to_uppercase()),
                "has no `installation_id:` line",
            ),
            (
                format!(
                    "name: [\ninstallation_id: {id}\ninstallation_id: {}\n",
                    "f".repeat(32)
                ),
                "names 2 installation IDs",
            ),
        ] {
            let e = keep(&text).unwrap_err().to_string();
            assert!(
                e.starts_with("lab/cluster.yaml: it does not parse ("),
                "{e}"
            );
            assert!(e.contains(said), "{said:?} in {e}");
        }
    }

    #[test]
    fn the_default_is_the_seed_topology() {
        let c = parse(&default_text()).unwrap();
        assert_eq!(c.masters.len(), 3);
        assert_eq!(c.workers[2].private_ip.to_string(), "172.31.0.22");
        assert_eq!(c.workers[2].hostname, "ip-172-31-0-22");
        assert_eq!(
            c.workers[2].fqdn,
            "ip-172-31-0-22.us-east-2.compute.internal"
        );
        assert_eq!(c.workers[1].pod_cidr.unwrap().to_string(), "172.20.1.0/24");
        assert_eq!(c.workers[0].name, "k8s-cluster-from-ground-up-worker-0");
        assert_eq!(c.masters[0].pod_cidr, None);
        assert_eq!(c.key_algorithm, KeyAlgorithm::Rsa2048);
        assert_eq!(c.spec.pki.subject.organizational_unit, "DAREY.IO DEVOPS");
    }

    #[test]
    fn us_east_1_uses_ec2_internal() {
        let opts = InitOptions {
            region: "us-east-1".into(),
            ..opts()
        };
        let c = parse(&render_default(&opts)).unwrap();
        assert_eq!(c.masters[0].fqdn, "ip-172-31-0-10.ec2.internal");
    }

    fn err(edit: (&str, &str)) -> String {
        let text = default_text().replacen(edit.0, edit.1, 1);
        assert_ne!(text, default_text(), "edit {edit:?} did not apply");
        chain(&parse(&text).unwrap_err())
    }

    /// cluster.yaml with these workers listed explicitly (one YAML line of fields each).
    fn with_workers(entries: &[&str]) -> String {
        let list: String = entries.iter().map(|e| format!("    - {e}\n")).collect();
        default_text().replacen(
            "workers:\n  count: 3\n  first_ip: 172.31.0.20\n",
            &format!("workers:\n  nodes:\n{list}"),
            1,
        )
    }

    #[test]
    fn unsafe_names_and_collisions_are_refused_naming_the_field() {
        let worker = |name: &str| format!("{{ name: {name:?}, private_ip: 172.31.0.20 }}");
        let cases: Vec<(String, &str)> = vec![
            (
                default_text().replacen("name: k8s-cluster-from-ground-up", "name: Prod", 1),
                "name: \"Prod\" must be 1-32 lowercase",
            ),
            (
                with_workers(&[&worker("../x")]),
                "workers.nodes[0].name: \"../x\"",
            ),
            (
                with_workers(&[&worker("/etc/x")]),
                "workers.nodes[0].name: \"/etc/x\"",
            ),
            (
                with_workers(&[&worker("Worker-0")]),
                "workers.nodes[0].name",
            ),
            (
                with_workers(&[&worker("ca")]),
                "workers.nodes[0].name: \"ca\" would name the same files",
            ),
            (
                with_workers(&[&worker("ca-key")]),
                "workers.nodes[0].name: \"ca-key\" would name the same files",
            ),
            (
                with_workers(&[&worker("admin")]),
                "\"admin\" would name the same files",
            ),
            (
                with_workers(&[&worker("kube-proxy")]),
                "\"kube-proxy\" would name",
            ),
            (
                with_workers(&[&worker("service-account")]),
                "\"service-account\" would name",
            ),
            (
                with_workers(&[&worker("master-kubernetes")]),
                "\"master-kubernetes\" would name",
            ),
            (
                with_workers(&[
                    "{ name: w, private_ip: 172.31.0.20 }",
                    "{ name: w, private_ip: 172.31.0.21 }",
                ]),
                "workers.nodes[1].name: \"w\" is used twice",
            ),
            (
                with_workers(&[
                    "{ name: a, private_ip: 172.31.0.20, ssh_address: 203.0.113.9 }",
                    "{ name: b, private_ip: 172.31.0.21, ssh_address: 203.0.113.9 }",
                ]),
                "workers.nodes[1].ssh_address: 203.0.113.9:22 is another node's too",
            ),
            (
                default_text().replacen("  port: 6443", "  port: 7443", 1),
                "api.port: 7443 is not supported",
            ),
        ];
        for (text, want) in cases {
            let e = chain(&parse(&text).unwrap_err());
            assert!(e.contains(want), "want {want:?} in: {e}");
        }
        // The reserved names come from the tables, not a list of our own.
        let e = chain(&parse(&with_workers(&[&worker("kube-scheduler")])).unwrap_err());
        for name in [
            "ca",
            "master-kubernetes",
            "admin",
            "kube-proxy",
            "kube-scheduler",
            "kube-controller-manager",
            "service-account",
        ] {
            assert!(e.contains(name), "{name} missing from {e}");
        }
        // Ordinary names pass, with different SSH ports on one address.
        parse(&with_workers(&[
            "{ name: w-0, private_ip: 172.31.0.20, ssh_address: 127.0.0.1, ssh_port: 2201 }",
            "{ name: w-1, private_ip: 172.31.0.21, ssh_address: 127.0.0.1, ssh_port: 2202 }",
        ]))
        .unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                ("vpc_cidr: 172.31.0.0/16", "vpc_cidr: 172.31.0.0/33"),
                "network.vpc_cidr",
            ),
            (
                ("subnet_cidr: 172.31.0.0/24", "subnet_cidr: 172.31.0.5/24"),
                "host bits",
            ),
            (
                ("subnet_cidr: 172.31.0.0/24", "subnet_cidr: 10.0.0.0/24"),
                "not inside network.vpc_cidr",
            ),
            (
                ("pod_cidr: 172.20.0.0/16", "pod_cidr: 172.31.128.0/20"),
                "overlaps network.vpc_cidr",
            ),
            (
                ("first_ip: 172.31.0.20", "first_ip: 172.31.0.300"),
                "workers.first_ip",
            ),
            (
                ("first_ip: 172.31.0.20", "first_ip: 172.31.1.20"),
                "outside network.subnet_cidr",
            ),
            (
                (
                    "count: 3\n  first_ip: 172.31.0.20",
                    "count: 300\n  first_ip: 172.31.0.20",
                ),
                "do not fit",
            ),
            (
                ("first_ip: 172.31.0.20", "first_ip: 172.31.0.11"),
                "used by another node",
            ),
            (
                ("key_algorithm: rsa-2048", "key_algorithm: dsa"),
                "pki.key_algorithm",
            ),
            (("region: us-east-2", "region: mars"), "region"),
            (
                ("name: k8s-cluster-from-ground-up", "name: bad_name"),
                "name",
            ),
            (("  port: 6443", "  port: 0"), "api.port"),
            (
                ("  port: 22\n", "  port: 0\n"),
                "ssh.port: 0 is not a port (1-65535)",
            ),
            (
                ("ca_validity_hours: 43800", "ca_validity_hours: 4000000000"),
                "pki.ca_validity_hours: 4000000000 h: a lifetime is 1 to 876000 hours",
            ),
            (
                ("  validity_hours: 8760", "  validity_hours: 0"),
                "pki.validity_hours: 0 h",
            ),
            (
                ("  validity_hours: 8760", "  validity_hours: 99999999999"),
                "pki.validity_hours: invalid value: integer `99999999999`, expected u32",
            ),
            (
                ("  validity_hours: 8760", "  validity_hours: 50000"),
                "pki.validity_hours: 50000 h outlives the CA (pki.ca_validity_hours: 43800 h)",
            ),
            (("  port: 6443", "  prot: 6443"), "unknown field `prot`"),
            (
                ("endpoint: null", "endpoint: \"not a host\""),
                "api.endpoint",
            ),
            (
                ("masters:\n  count: 3", "masters:\n  count: [3]"),
                "masters.count",
            ),
        ];
        for (edit, want) in cases {
            let e = err(edit);
            assert!(e.contains(want), "{edit:?}: {e}");
        }
    }

    #[test]
    fn a_worker_pod_cidr_outside_the_pod_range_or_on_the_services_is_refused() {
        let worker = |pod: &str| format!("{{ private_ip: 172.31.0.20, pod_cidr: {pod} }}");
        for (pod, want) in [
            (
                "10.32.0.0/24",
                "workers.nodes[0].pod_cidr: 10.32.0.0/24 overlaps network.service_cidr 10.32.0.0/24",
            ),
            (
                "10.32.0.0/16",
                "workers.nodes[0].pod_cidr: 10.32.0.0/16 overlaps network.service_cidr",
            ),
            (
                "192.168.7.0/24",
                "workers.nodes[0].pod_cidr: 192.168.7.0/24 is outside network.pod_cidr 172.20.0.0/16",
            ),
            (
                "172.20.0.0/15",
                "workers.nodes[0].pod_cidr: 172.20.0.0/15 is outside network.pod_cidr",
            ),
        ] {
            let e = chain(&parse(&with_workers(&[&worker(pod)])).unwrap_err());
            assert!(e.contains(want), "want {want:?} in: {e}");
        }
        let c = parse(&with_workers(&[&worker("172.20.9.0/24")])).unwrap();
        assert_eq!(c.workers[0].pod_cidr.unwrap().to_string(), "172.20.9.0/24");
    }

    #[test]
    fn explicit_nodes() {
        let text = default_text().replace(
            "workers:\n  count: 3\n  first_ip: 172.31.0.20",
            "workers:\n  nodes:\n    - private_ip: 127.0.0.20\n      ssh_port: 2222\n    - name: w1\n      private_ip: 127.0.0.21\n      hostname: node-b\n      public_ip: 3.3.3.3",
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.workers[0].name, "k8s-cluster-from-ground-up-worker-0");
        assert_eq!(c.workers[0].hostname, "ip-127-0-0-20");
        assert_eq!(c.workers[0].ssh_port, 2222);
        assert_eq!(c.workers[1].hostname, "node-b");
        assert_eq!(c.workers[1].pod_cidr.unwrap().to_string(), "172.20.1.0/24");
        let bad = text.replace("public_ip: 3.3.3.3", "public_ip: 3.3.3");
        let e = chain(&parse(&bad).unwrap_err());
        assert!(e.contains("workers.nodes[1].public_ip"), "{e}");
    }
}
