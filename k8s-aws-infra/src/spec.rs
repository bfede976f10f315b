//! What the cluster should look like: [`InfraSpec`], validated without any AWS call.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Canonical's AWS account, owner of the official Ubuntu images.
pub const CANONICAL_OWNER: &str = "099720109477";
/// The default image name filter (Ubuntu 22.04 LTS, amd64).
pub const DEFAULT_IMAGE_NAME: &str = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*";
/// The default instance type (the tutorial's free-tier choice, STEP 3).
pub const DEFAULT_INSTANCE_TYPE: &str = "t2.micro";
/// The Kubernetes API server port, on the load balancer and the masters.
pub const API_PORT: u16 = 6443;

/// One machine: a master or a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// The node name, e.g. `master-0` or `worker-2` (goes into user-data and the `Name` tag).
    pub name: String,
    /// Its fixed private IP, inside the subnet.
    pub private_ip: Ipv4Addr,
    /// Workers only: the pod network routed to this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<Ipv4Net>,
}

/// Which image the machines boot: the newest (by name) of `owner`'s images matching `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The owning account, Canonical's by default.
    pub owner: String,
    /// The `name` filter, wildcards allowed.
    pub name: String,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            owner: CANONICAL_OWNER.to_string(),
            name: DEFAULT_IMAGE_NAME.to_string(),
        }
    }
}

/// The whole AWS side of a cluster. Build one with [`InfraSpec::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfraSpec {
    /// Cluster name: the `Name` tag, the load balancer, target group and key pair name.
    /// 1–32 characters `a-z0-9-` (a load balancer name limit), not starting or ending with `-`.
    pub cluster: String,
    /// AWS region; `None` takes it from the AWS configuration chain.
    #[serde(default)]
    pub region: Option<String>,
    /// The VPC's CIDR.
    pub vpc_cidr: Ipv4Net,
    /// The subnet's CIDR, inside the VPC.
    pub subnet_cidr: Ipv4Net,
    /// The control plane machines.
    pub masters: Vec<NodeSpec>,
    /// The worker machines, each with a pod CIDR.
    pub workers: Vec<NodeSpec>,
    /// EC2 instance type for every machine.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// The machine image.
    #[serde(default)]
    pub image: ImageSpec,
    /// Who may SSH to the machines. `0.0.0.0/0` (the default) draws a warning.
    #[serde(default)]
    pub ssh_ingress_cidr: Ipv4Net,
    /// This cluster's installation ID ([`new_installation_id`]), carried as the
    /// `k8s-hard/installation` tag on every resource: `up` adopts and `down` deletes only
    /// resources with this ID. Keep it with the cluster's definition: a new ID is a new cluster.
    pub installation_id: String,
}

/// A new installation ID: 32 random hexadecimal digits.
///
/// # Errors
/// [`Error::Spec`] on `installation_id` if the system's random number generator fails.
pub fn new_installation_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        Error::spec(
            "installation_id",
            "the system's random number generator failed",
        )
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl InfraSpec {
    /// The tutorial's layout ("Kubernetes from the ground up", STEP 2–3): VPC 172.31.0.0/16,
    /// subnet 172.31.0.0/24, masters at .10+i, workers at .20+i with pod CIDRs 172.20.i.0/24,
    /// t2.micro, Ubuntu from Canonical, SSH from anywhere; owned by `installation_id`.
    pub fn new(
        cluster: impl Into<String>,
        installation_id: impl Into<String>,
        masters: u8,
        workers: u8,
    ) -> Self {
        let node = |role: &str, i: u8, base: u8| NodeSpec {
            name: format!("{role}-{i}"),
            private_ip: Ipv4Addr::new(172, 31, 0, base.saturating_add(i)),
            pod_cidr: None,
        };
        InfraSpec {
            cluster: cluster.into(),
            region: None,
            vpc_cidr: Ipv4Net::new(Ipv4Addr::new(172, 31, 0, 0), 16).unwrap_or_default(),
            subnet_cidr: Ipv4Net::new(Ipv4Addr::new(172, 31, 0, 0), 24).unwrap_or_default(),
            masters: (0..masters).map(|i| node("master", i, 10)).collect(),
            workers: (0..workers)
                .map(|i| NodeSpec {
                    pod_cidr: Ipv4Net::new(Ipv4Addr::new(172, 20, i, 0), 24).ok(),
                    ..node("worker", i, 20)
                })
                .collect(),
            instance_type: DEFAULT_INSTANCE_TYPE.to_string(),
            image: ImageSpec::default(),
            ssh_ingress_cidr: Ipv4Net::default(),
            installation_id: installation_id.into(),
        }
    }

    /// Every node, masters first, with its role.
    pub fn nodes(&self) -> impl Iterator<Item = (Role, &NodeSpec)> {
        self.masters
            .iter()
            .map(|n| (Role::Master, n))
            .chain(self.workers.iter().map(|n| (Role::Worker, n)))
    }

    /// The `Name` tag of a node's instance: `<cluster>-<node name>`.
    pub fn instance_name(&self, node: &NodeSpec) -> String {
        format!("{}-{}", self.cluster, node.name)
    }

    /// Warnings worth showing the user (the spec is valid but risky), e.g. SSH open to the world.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.ssh_ingress_cidr.prefix_len() == 0 {
            w.push(format!(
                "ssh_ingress_cidr is {}: SSH is open to the whole internet; narrow it to your own address",
                self.ssh_ingress_cidr
            ));
        }
        w
    }

    /// Checks the spec without any AWS call.
    ///
    /// # Errors
    /// [`Error::Spec`] naming the first offending field.
    pub fn validate(&self) -> Result<()> {
        validate_cluster_name(&self.cluster)?;
        if let Some(r) = &self.region
            && !is_region_name(r)
        {
            return Err(Error::spec("region", format!("{r:?} is not a region name")));
        }
        if self.vpc_cidr != self.vpc_cidr.trunc() {
            return Err(Error::spec(
                "vpc_cidr",
                format!("{} has host bits set", self.vpc_cidr),
            ));
        }
        if !(16..=28).contains(&self.vpc_cidr.prefix_len()) {
            return Err(Error::spec(
                "vpc_cidr",
                format!("{}: AWS allows /16 to /28", self.vpc_cidr),
            ));
        }
        if self.subnet_cidr != self.subnet_cidr.trunc() {
            return Err(Error::spec(
                "subnet_cidr",
                format!("{} has host bits set", self.subnet_cidr),
            ));
        }
        if !self.vpc_cidr.contains(&self.subnet_cidr) {
            return Err(Error::spec(
                "subnet_cidr",
                format!(
                    "{} is not inside the VPC {}",
                    self.subnet_cidr, self.vpc_cidr
                ),
            ));
        }
        if self.subnet_cidr.prefix_len() > 28 {
            return Err(Error::spec(
                "subnet_cidr",
                format!("{}: AWS subnets are /16 to /28", self.subnet_cidr),
            ));
        }
        if self.masters.is_empty() {
            return Err(Error::spec("masters", "at least one master is needed"));
        }
        // AWS reserves the first four addresses and the last one of every subnet.
        let size = 1u64 << (32 - u32::from(self.subnet_cidr.prefix_len()));
        let usable = usize::try_from(size.saturating_sub(5)).unwrap_or(usize::MAX);
        let count = self.masters.len() + self.workers.len();
        if count > usable {
            return Err(Error::spec(
                "workers",
                format!(
                    "{count} nodes do not fit in {} ({usable} usable addresses)",
                    self.subnet_cidr
                ),
            ));
        }
        let mut names = BTreeSet::new();
        let mut ips = BTreeSet::new();
        let mut pods: Vec<(String, Ipv4Net)> = Vec::new();
        for (role, list) in [("masters", &self.masters), ("workers", &self.workers)] {
            for (i, n) in list.iter().enumerate() {
                let f = |what: &str| format!("{role}[{i}].{what}");
                validate_node_name(&n.name).map_err(|r| Error::spec(f("name"), r))?;
                if !names.insert(n.name.as_str()) {
                    return Err(Error::spec(f("name"), format!("{} is used twice", n.name)));
                }
                self.check_ip(n.private_ip)
                    .map_err(|r| Error::spec(f("private_ip"), r))?;
                if !ips.insert(n.private_ip) {
                    return Err(Error::spec(
                        f("private_ip"),
                        format!("{} is used twice", n.private_ip),
                    ));
                }
                match (role, &n.pod_cidr) {
                    ("masters", Some(_)) => {
                        return Err(Error::spec(
                            f("pod_cidr"),
                            "masters have no pod CIDR in this layout",
                        ));
                    }
                    ("workers", None) => {
                        return Err(Error::spec(f("pod_cidr"), "every worker needs a pod CIDR"));
                    }
                    (_, Some(p)) => {
                        if *p != p.trunc() {
                            return Err(Error::spec(
                                f("pod_cidr"),
                                format!("{p} has host bits set"),
                            ));
                        }
                        if overlaps(p, &self.vpc_cidr) {
                            return Err(Error::spec(
                                f("pod_cidr"),
                                format!("{p} overlaps the VPC {}", self.vpc_cidr),
                            ));
                        }
                        if let Some((other, _)) = pods.iter().find(|(_, q)| overlaps(p, q)) {
                            return Err(Error::spec(
                                f("pod_cidr"),
                                format!("{p} overlaps the pod CIDR of {other}"),
                            ));
                        }
                        pods.push((n.name.clone(), *p));
                    }
                    _ => {}
                }
            }
        }
        if self.instance_type.trim().is_empty() {
            return Err(Error::spec("instance_type", "is empty"));
        }
        if self.image.owner.trim().is_empty() {
            return Err(Error::spec("image.owner", "is empty"));
        }
        if self.image.name.trim().is_empty() {
            return Err(Error::spec("image.name", "is empty"));
        }
        if self.ssh_ingress_cidr != self.ssh_ingress_cidr.trunc() {
            return Err(Error::spec(
                "ssh_ingress_cidr",
                format!("{} has host bits set", self.ssh_ingress_cidr),
            ));
        }
        let id = &self.installation_id;
        let ok = (8..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(Error::spec(
                "installation_id",
                format!(
                    "{id:?}: use 8-64 characters a-z, 0-9 and '-' (a new one: {})",
                    new_installation_id().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    fn check_ip(&self, ip: Ipv4Addr) -> std::result::Result<(), String> {
        let net = self.subnet_cidr;
        if !net.contains(&ip) {
            return Err(format!("{ip} is not inside the subnet {net}"));
        }
        let offset = u32::from(ip) - u32::from(net.network());
        if offset <= 3 || ip == net.broadcast() {
            return Err(format!(
                "{ip} is reserved by AWS in {net} (the first four addresses and the last one)"
            ));
        }
        Ok(())
    }
}

fn default_instance_type() -> String {
    DEFAULT_INSTANCE_TYPE.to_string()
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Control plane.
    Master,
    /// Runs pods.
    Worker,
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn validate_cluster_name(name: &str) -> Result<()> {
    let ok = (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::spec(
            "cluster",
            format!(
                "{name:?}: use 1-32 characters a-z, 0-9 and '-', not at either end (it names the load balancer)"
            ),
        ))
    }
}

fn validate_node_name(name: &str) -> std::result::Result<(), String> {
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?}: use 1-63 characters a-z, 0-9 and '-' (it becomes a hostname)"
        ))
    }
}

/// Whether `r` can be a region name (`us-east-2`): lowercase letters, digits and dashes.
pub(crate) fn is_region_name(r: &str) -> bool {
    !r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef";

    #[test]
    fn installation_ids_are_new_each_time_and_valid() {
        let (a, b) = (
            new_installation_id().unwrap(),
            new_installation_id().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        InfraSpec::new("c", a, 1, 0).validate().unwrap();
    }

    fn field(spec: &InfraSpec) -> String {
        match spec.validate() {
            Err(Error::Spec { field, .. }) => field,
            other => panic!("expected a spec error, got {other:?}"),
        }
    }

    #[test]
    fn tutorial_layout_is_valid() {
        let s = InfraSpec::new("k8s-cluster-from-ground-up", ID, 3, 3);
        s.validate().unwrap();
        assert_eq!(s.workers[2].pod_cidr.unwrap().to_string(), "172.20.2.0/24");
        assert_eq!(s.masters[1].private_ip.to_string(), "172.31.0.11");
        assert_eq!(s.warnings().len(), 1);
    }

    #[test]
    fn optional_fields_default_when_deserialized() {
        let json = r#"{"cluster":"c","vpc_cidr":"172.31.0.0/16","subnet_cidr":"172.31.0.0/24",
            "masters":[{"name":"master-0","private_ip":"172.31.0.10"}],"workers":[],
            "installation_id":"0123456789abcdef"}"#;
        let s: InfraSpec = serde_json::from_str(json).unwrap();
        assert_eq!(s.instance_type, "t2.micro");
        assert_eq!(s.image, ImageSpec::default());
        assert_eq!(s.ssh_ingress_cidr.to_string(), "0.0.0.0/0");
        assert_eq!(s.installation_id, "0123456789abcdef");
        s.validate().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let base = InfraSpec::new("c", ID, 1, 2);
        let mut s = base.clone();
        s.subnet_cidr = "10.0.0.0/24".parse().unwrap();
        assert_eq!(field(&s), "subnet_cidr");
        let mut s = base.clone();
        s.workers[1].private_ip = "172.31.0.3".parse().unwrap();
        assert_eq!(field(&s), "workers[1].private_ip");
        let mut s = base.clone();
        s.workers[1].private_ip = "172.31.0.255".parse().unwrap();
        assert_eq!(field(&s), "workers[1].private_ip");
        let mut s = base.clone();
        s.workers[1].private_ip = "172.31.1.7".parse().unwrap();
        assert_eq!(field(&s), "workers[1].private_ip");
        let mut s = base.clone();
        s.workers[0].private_ip = s.masters[0].private_ip;
        assert_eq!(field(&s), "workers[0].private_ip");
        let mut s = base.clone();
        s.workers[1].pod_cidr = s.workers[0].pod_cidr;
        assert_eq!(field(&s), "workers[1].pod_cidr");
        let mut s = base.clone();
        s.workers[0].pod_cidr = Some("172.31.128.0/24".parse().unwrap());
        assert_eq!(field(&s), "workers[0].pod_cidr");
        let mut s = base.clone();
        s.cluster = "Bad_Name".into();
        assert_eq!(field(&s), "cluster");
        let mut s = base.clone();
        s.workers[0].name = s.masters[0].name.clone();
        assert_eq!(field(&s), "workers[0].name");
        let mut s = base.clone();
        s.subnet_cidr = "172.31.0.0/28".parse().unwrap();
        s.masters = (0..12)
            .map(|i| NodeSpec {
                name: format!("m{i}"),
                private_ip: Ipv4Addr::new(172, 31, 0, 4 + i),
                pod_cidr: None,
            })
            .collect();
        assert_eq!(field(&s), "workers");
        for bad in ["", "short", "UPPER-CASE-ID", "has space in it"] {
            let mut s = base.clone();
            s.installation_id = bad.into();
            assert_eq!(field(&s), "installation_id", "{bad:?}");
        }
        let mut s = base;
        s.ssh_ingress_cidr = "203.0.113.7/32".parse().unwrap();
        s.validate().unwrap();
        assert!(s.warnings().is_empty());
    }
}
