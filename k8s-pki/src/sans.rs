//! Subject alternative names: one small named function per certificate kind.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::inputs::{Node, PkiInputs, is_dns_name};

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum San {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl San {
    /// Reads a SAN the way cfssl's `-hostname` does: an IP if it parses as one, else a DNS
    /// name (a leading `*.` wildcard is allowed).
    ///
    /// # Errors
    /// A message saying why `s` is neither.
    pub fn parse(s: &str) -> Result<San, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        let name = s.strip_prefix("*.").unwrap_or(s);
        if is_dns_name(name) {
            Ok(San::Dns(s.to_ascii_lowercase()))
        } else {
            Err(format!("{s:?} is neither an IP address nor a DNS name"))
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// A SAN-computing function of the catalog: the inputs and, for per-node rows, the node.
pub type SanFn = fn(&PkiInputs, Option<&Node>) -> Vec<San>;

/// Client-only certificates carry no SANs (cfssl without `-hostname`).
pub fn no_sans(_: &PkiInputs, _: Option<&Node>) -> Vec<San> {
    Vec::new()
}

/// The first address of the service CIDR: the `kubernetes` Service's ClusterIP (10.32.0.1),
/// which pods use to reach the API. The tutorial (STEP 4) forgets it.
pub fn kubernetes_service_ip(inputs: &PkiInputs) -> Option<IpAddr> {
    inputs.service_cidr.hosts().next()
}

/// `kubernetes`, `kubernetes.default`, `kubernetes.default.svc`, then one more name per label
/// of the cluster domain: `kubernetes.default.svc.cluster`, `kubernetes.default.svc.cluster.local`.
pub fn kubernetes_service_names(cluster_domain: &str) -> Vec<String> {
    let mut names = vec![
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
    ];
    let mut name = "kubernetes.default.svc".to_string();
    for label in cluster_domain.trim_end_matches('.').split('.') {
        name = format!("{name}.{label}");
        names.push(name.clone());
    }
    names
}

/// The kube-apiserver's SANs: everything the tutorial lists (loopback, every master's IP,
/// hostname and FQDN, the API endpoint, the `kubernetes.*` names), the masters' public IPs
/// when known, the first service IP, and the extra SANs. Sorted, without duplicates.
pub fn apiserver_sans(inputs: &PkiInputs, _: Option<&Node>) -> Vec<San> {
    let mut sans = BTreeSet::new();
    sans.insert(San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    if let Some(ip) = kubernetes_service_ip(inputs) {
        sans.insert(San::Ip(ip));
    }
    for m in &inputs.masters {
        sans.insert(San::Ip(m.private_ip));
        sans.extend(m.public_ip.map(San::Ip));
        sans.insert(San::Dns(m.hostname.to_ascii_lowercase()));
        sans.extend(m.fqdn.as_ref().map(|f| San::Dns(f.to_ascii_lowercase())));
    }
    let names = kubernetes_service_names(&inputs.cluster_domain);
    sans.extend(names.into_iter().map(San::Dns));
    let extra = inputs.api_endpoints.iter().chain(&inputs.extra_sans);
    sans.extend(extra.filter_map(|s| San::parse(s).ok()));
    sans.into_iter().collect()
}

/// A kubelet's SANs, as the tutorial's `-hostname=${hostname},${external_ip},${internal_ip}`.
pub fn kubelet_sans(_: &PkiInputs, node: Option<&Node>) -> Vec<San> {
    let Some(node) = node else {
        return Vec::new();
    };
    let mut sans = BTreeSet::new();
    sans.insert(San::Dns(node.hostname.to_ascii_lowercase()));
    sans.extend(node.public_ip.map(San::Ip));
    sans.insert(San::Ip(node.private_ip));
    sans.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(i: u8) -> Node {
        Node {
            name: format!("m{i}"),
            hostname: format!("ip-172-31-0-1{i}"),
            fqdn: Some(format!("ip-172-31-0-1{i}.us-east-2.compute.internal")),
            private_ip: IpAddr::V4(Ipv4Addr::new(172, 31, 0, 10 + i)),
            public_ip: None,
        }
    }

    #[test]
    fn apiserver_has_the_tutorials_list_plus_the_service_ip() {
        let mut inputs = PkiInputs::new("c", (0..3).map(master).collect(), vec![]);
        inputs.api_endpoints = vec!["c-1.us-east-2.elb.amazonaws.com".into()];
        let sans: Vec<String> = apiserver_sans(&inputs, None)
            .iter()
            .map(|s| s.to_string())
            .collect();
        for want in [
            "IP:127.0.0.1",
            "IP:10.32.0.1",
            "IP:172.31.0.10",
            "IP:172.31.0.12",
            "DNS:ip-172-31-0-11",
            "DNS:ip-172-31-0-12.us-east-2.compute.internal",
            "DNS:c-1.us-east-2.elb.amazonaws.com",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster",
            "DNS:kubernetes.default.svc.cluster.local",
        ] {
            assert!(sans.iter().any(|s| s == want), "missing {want} in {sans:?}");
        }
        assert_eq!(sans.len(), 17, "{sans:?}");
    }

    #[test]
    fn service_names_follow_the_domain() {
        assert_eq!(
            kubernetes_service_names("k8s.example.org").last().unwrap(),
            "kubernetes.default.svc.k8s.example.org"
        );
    }

    #[test]
    fn kubelet_has_hostname_and_both_ips() {
        let mut node = master(0);
        node.public_ip = Some("3.3.3.3".parse().unwrap());
        let inputs = PkiInputs::new("c", vec![master(1)], vec![]);
        let sans = kubelet_sans(&inputs, Some(&node));
        assert_eq!(sans.len(), 3);
        assert!(sans.contains(&San::Ip("3.3.3.3".parse().unwrap())));
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(San::parse("a b").is_err());
        assert_eq!(
            San::parse("*.Example.com"),
            Ok(San::Dns("*.example.com".into()))
        );
        assert_eq!(San::parse("::1"), Ok(San::Ip("::1".parse().unwrap())));
    }
}
