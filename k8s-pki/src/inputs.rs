//! What the PKI is computed from: the cluster's nodes, names and policy.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::algorithm::KeyAlgorithm;
use crate::error::{Result, invalid};
use crate::sans::San;

/// One machine of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The node's name, also the base name of its certificate files
    /// (`k8s-cluster-from-ground-up-worker-0`).
    pub name: String,
    /// Its hostname as the kubelet registers it (`ip-172-31-0-20`).
    pub hostname: String,
    /// Its fully qualified name (`ip-172-31-0-20.us-east-2.compute.internal`), when known.
    pub fqdn: Option<String>,
    /// Its address inside the cluster network.
    pub private_ip: IpAddr,
    /// Its public address, when it has one.
    pub public_ip: Option<IpAddr>,
}

/// The subject fields shared by every certificate (CN and O come from the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// C: country.
    pub country: String,
    /// ST: state or province.
    pub state: String,
    /// L: locality.
    pub locality: String,
    /// OU: organizational unit.
    pub organizational_unit: String,
}

impl Default for Subject {
    /// The tutorial's `names` block (STEP 4): `C=UK, ST=London, L=England, OU=DAREY.IO DEVOPS`.
    fn default() -> Self {
        Subject {
            country: "UK".into(),
            state: "London".into(),
            locality: "England".into(),
            organizational_unit: "DAREY.IO DEVOPS".into(),
        }
    }
}

/// How long certificates are valid, in hours (cfssl's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    /// The CA's lifetime: 43800 h (5 years), what cfssl gives the tutorial's CA (STEP 4).
    pub ca_hours: u32,
    /// Every leaf's lifetime: 8760 h (1 year), the tutorial's `kubernetes` profile.
    pub leaf_hours: u32,
}

impl Validity {
    /// The longest lifetime accepted, 876 000 h (100 years): far beyond any PKI's, and far
    /// inside what an X.509 certificate can state (the year 9999).
    pub const MAX_HOURS: u32 = 876_000;
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            ca_hours: 43_800,
            leaf_hours: 8_760,
        }
    }
}

/// Everything the cluster PKI is computed from.
///
/// Build one with [`PkiInputs::new`] and adjust the public fields; [`crate::Pki::new`]
/// validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkiInputs {
    /// The cluster's name; worker certificates default to `<cluster>-worker-<i>`.
    pub cluster_name: String,
    /// Control-plane nodes: their IPs and names go into the apiserver certificate.
    pub masters: Vec<Node>,
    /// Worker nodes: one kubelet certificate each.
    pub workers: Vec<Node>,
    /// Names or IPs clients use to reach the API (the load balancer's DNS name).
    /// Empty is allowed but reported by [`crate::Pki::warnings`].
    pub api_endpoints: Vec<String>,
    /// The service CIDR; its first address (10.32.0.1) is the in-cluster API address.
    pub service_cidr: IpNet,
    /// The cluster DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// More SANs for the apiserver certificate (names or IPs).
    pub extra_sans: Vec<String>,
    /// Subject fields shared by every certificate.
    pub subject: Subject,
    /// The key algorithm of every key.
    pub key_algorithm: KeyAlgorithm,
    /// Lifetimes.
    pub validity: Validity,
    /// Renamed files: catalog id (`kube-apiserver`, `admin`, ...) to file base name.
    pub file_names: BTreeMap<String, String>,
}

impl PkiInputs {
    /// Inputs with the tutorial's defaults for everything but the nodes: service CIDR
    /// `10.32.0.0/24`, domain `cluster.local`, RSA-2048, the tutorial's subject and lifetimes.
    pub fn new(cluster_name: impl Into<String>, masters: Vec<Node>, workers: Vec<Node>) -> Self {
        PkiInputs {
            cluster_name: cluster_name.into(),
            masters,
            workers,
            api_endpoints: Vec::new(),
            service_cidr: IpNet::V4(ipnet::Ipv4Net::new_assert([10, 32, 0, 0].into(), 24)),
            cluster_domain: "cluster.local".into(),
            extra_sans: Vec::new(),
            subject: Subject::default(),
            key_algorithm: KeyAlgorithm::default(),
            validity: Validity::default(),
            file_names: BTreeMap::new(),
        }
    }

    /// Checks every field; the error names the first bad one.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming the field.
    pub fn validate(&self) -> Result<()> {
        check_file_name("cluster_name", &self.cluster_name)?;
        if self.masters.is_empty() {
            return Err(invalid("masters", "at least one master is needed"));
        }
        let mut names = HashSet::new();
        let mut ips = HashSet::new();
        let groups = [("masters", &self.masters), ("workers", &self.workers)];
        for (group, nodes) in groups {
            for (i, node) in nodes.iter().enumerate() {
                let field = |f: &str| format!("{group}[{i}].{f}");
                check_file_name(&field("name"), &node.name)?;
                if !names.insert(node.name.as_str()) {
                    return Err(invalid(
                        field("name"),
                        format!("duplicate name {:?}", node.name),
                    ));
                }
                if !is_dns_name(&node.hostname) {
                    return Err(invalid(
                        field("hostname"),
                        format!("{:?} is not a valid hostname", node.hostname),
                    ));
                }
                if let Some(fqdn) = &node.fqdn
                    && !is_dns_name(fqdn)
                {
                    return Err(invalid(
                        field("fqdn"),
                        format!("{fqdn:?} is not a valid DNS name"),
                    ));
                }
                if !ips.insert(node.private_ip) {
                    return Err(invalid(
                        field("private_ip"),
                        format!("{} is used by another node", node.private_ip),
                    ));
                }
                if let Some(public) = node.public_ip
                    && !ips.insert(public)
                {
                    return Err(invalid(
                        field("public_ip"),
                        format!("{public} is used by another node"),
                    ));
                }
            }
        }
        if self.service_cidr.trunc() != self.service_cidr {
            return Err(invalid(
                "service_cidr",
                format!(
                    "{} has host bits set (did you mean {}?)",
                    self.service_cidr,
                    self.service_cidr.trunc()
                ),
            ));
        }
        if self.service_cidr.hosts().nth(1).is_none() {
            return Err(invalid(
                "service_cidr",
                format!("{} is too small", self.service_cidr),
            ));
        }
        if !is_dns_name(&self.cluster_domain) {
            return Err(invalid(
                "cluster_domain",
                format!("{:?} is not a valid DNS domain", self.cluster_domain),
            ));
        }
        for (i, endpoint) in self.api_endpoints.iter().enumerate() {
            San::parse(endpoint)
                .map_err(|reason| invalid(format!("api_endpoints[{i}]"), reason))?;
        }
        for (i, san) in self.extra_sans.iter().enumerate() {
            San::parse(san).map_err(|reason| invalid(format!("extra_sans[{i}]"), reason))?;
        }
        let subject = [
            ("subject.country", &self.subject.country),
            ("subject.state", &self.subject.state),
            ("subject.locality", &self.subject.locality),
            (
                "subject.organizational_unit",
                &self.subject.organizational_unit,
            ),
        ];
        for (field, value) in subject {
            if value.trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        if self.subject.country.len() != 2 || !self.subject.country.is_ascii() {
            return Err(invalid(
                "subject.country",
                "must be a two-letter country code",
            ));
        }
        let v = self.validity;
        for (field, hours) in [
            ("validity.ca_hours", v.ca_hours),
            ("validity.leaf_hours", v.leaf_hours),
        ] {
            if !(1..=Validity::MAX_HOURS).contains(&hours) {
                return Err(invalid(
                    field,
                    format!(
                        "{hours} h: a lifetime is 1 to {} hours (100 years)",
                        Validity::MAX_HOURS
                    ),
                ));
            }
        }
        if v.leaf_hours > v.ca_hours {
            return Err(invalid(
                "validity.leaf_hours",
                format!("{} h outlives the CA ({} h)", v.leaf_hours, v.ca_hours),
            ));
        }
        for (id, name) in &self.file_names {
            check_file_name(&format!("file_names.{id}"), name)?;
        }
        Ok(())
    }
}

/// A name that is safe as a file base name: letters, digits, `.`, `_`, `-`, not starting with `.`.
fn check_file_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{name:?} must be letters, digits, '.', '_' or '-', and not start with '.'"),
        ))
    }
}

/// RFC 1123 DNS name: dot-separated labels of 1-63 letters, digits and inner hyphens.
pub(crate) fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn node(name: &str, ip: &str) -> Node {
        Node {
            name: name.into(),
            hostname: format!("ip-{}", ip.replace('.', "-")),
            fqdn: None,
            private_ip: ip.parse().unwrap(),
            public_ip: None,
        }
    }

    /// One master, two workers, the defaults.
    pub(crate) fn inputs() -> PkiInputs {
        PkiInputs::new(
            "c",
            vec![node("m0", "10.0.0.10")],
            vec![node("w0", "10.0.0.20"), node("w1", "10.0.0.21")],
        )
    }

    fn err(i: &PkiInputs) -> String {
        i.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        inputs().validate().unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut i = inputs();
        i.workers[1].private_ip = "10.0.0.20".parse().unwrap();
        assert!(err(&i).contains("workers[1].private_ip"), "{}", err(&i));

        let mut i = inputs();
        i.workers[1].name = "w0".into();
        assert!(err(&i).contains("workers[1].name"));

        let mut i = inputs();
        i.workers[0].hostname = "bad_host!".into();
        assert!(err(&i).contains("workers[0].hostname"));

        let mut i = inputs();
        i.masters[0].name = "../etc".into();
        assert!(err(&i).contains("masters[0].name"));

        let mut i = inputs();
        i.service_cidr = "10.32.0.1/24".parse().unwrap();
        assert!(err(&i).contains("service_cidr") && err(&i).contains("10.32.0.0/24"));

        let mut i = inputs();
        i.service_cidr = "10.32.0.0/32".parse().unwrap();
        assert!(err(&i).contains("too small"));

        let mut i = inputs();
        i.api_endpoints = vec!["not a name".into()];
        assert!(err(&i).contains("api_endpoints[0]"));

        let mut i = inputs();
        i.validity.leaf_hours = 50_000;
        assert!(err(&i).contains("validity.leaf_hours"));

        let mut i = inputs();
        i.validity.ca_hours = 99_999_999;
        assert_eq!(
            err(&i),
            "invalid validity.ca_hours: 99999999 h: a lifetime is 1 to 876000 hours (100 years)"
        );
        i.validity.ca_hours = 0;
        assert!(err(&i).starts_with("invalid validity.ca_hours: 0 h"));
        let mut i = inputs();
        i.validity = Validity {
            ca_hours: u32::MAX,
            leaf_hours: u32::MAX,
        };
        assert!(err(&i).starts_with("invalid validity.ca_hours: 4294967295 h"));

        let mut i = inputs();
        i.masters.clear();
        assert!(err(&i).contains("masters"));

        let mut i = inputs();
        i.subject.country = "England".into();
        assert!(err(&i).contains("subject.country"));
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_name("ip-172-31-0-20.us-east-2.compute.internal"));
        assert!(is_dns_name("k8s-1.us-east-2.elb.amazonaws.com"));
        assert!(!is_dns_name("-a.b"));
        assert!(!is_dns_name("a..b"));
        assert!(!is_dns_name("a b"));
    }
}
