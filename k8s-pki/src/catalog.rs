//! The PKI as one table, like kubeadm's certlist: a row per certificate kind.
//!
//! A row says what a certificate is (file base name, description, issuer, subject CN/O,
//! usages) and names the function computing its SANs. Per-worker rows expand to one
//! certificate per worker. Adding a certificate is adding a row.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::inputs::{Node, PkiInputs};
use crate::sans::{San, SanFn, apiserver_sans, kubelet_sans, no_sans};

/// The id and file base name of the CA.
pub const CA: &str = "ca";

/// What a certificate may be used for, beyond digital signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// Signs certificates and CRLs (CA only).
    CertSign,
    /// TLS server (extended key usage serverAuth).
    ServerAuth,
    /// TLS client (extended key usage clientAuth).
    ClientAuth,
}

/// The tutorial's `kubernetes` cfssl profile: every leaf may serve and be a client.
const PROFILE_KUBERNETES: &[Usage] = &[Usage::ServerAuth, Usage::ClientAuth];

/// How a row is expanded.
#[derive(Debug, Clone, Copy)]
enum Expand {
    /// One certificate, file base name = the row's default (or the inputs' rename).
    Once(&'static str),
    /// One per worker, file base name = the worker's name.
    PerWorker,
}

/// How the subject CN is made.
#[derive(Debug, Clone, Copy)]
enum CommonName {
    Fixed(&'static str),
    /// `system:node:<hostname>`: what the Node authorizer requires of kubelets.
    NodeUser,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    id: &'static str,
    expand: Expand,
    description: &'static str,
    /// `None`: self-signed.
    issuer: Option<&'static str>,
    common_name: CommonName,
    organization: &'static str,
    usages: &'static [Usage],
    sans: SanFn,
}

/// The tutorial's STEP 4, as data.
const ROWS: &[Row] = &[
    Row {
        id: CA,
        expand: Expand::Once("ca"),
        description: "self-signed root CA that signs every other certificate",
        issuer: None,
        common_name: CommonName::Fixed("Kubernetes"),
        organization: "Kubernetes",
        usages: &[Usage::CertSign],
        sans: no_sans,
    },
    Row {
        id: "kube-apiserver",
        expand: Expand::Once("master-kubernetes"),
        description: "kube-apiserver serving certificate (also etcd's server and peer cert)",
        issuer: Some(CA),
        common_name: CommonName::Fixed("kubernetes"),
        organization: "Kubernetes",
        usages: PROFILE_KUBERNETES,
        sans: apiserver_sans,
    },
    Row {
        id: "kube-scheduler",
        expand: Expand::Once("kube-scheduler"),
        description: "kube-scheduler client certificate",
        issuer: Some(CA),
        common_name: CommonName::Fixed("system:kube-scheduler"),
        organization: "system:kube-scheduler",
        usages: PROFILE_KUBERNETES,
        sans: no_sans,
    },
    Row {
        id: "kube-proxy",
        expand: Expand::Once("kube-proxy"),
        description: "kube-proxy client certificate",
        issuer: Some(CA),
        common_name: CommonName::Fixed("system:kube-proxy"),
        organization: "system:node-proxier",
        usages: PROFILE_KUBERNETES,
        sans: no_sans,
    },
    Row {
        id: "kube-controller-manager",
        expand: Expand::Once("kube-controller-manager"),
        description: "kube-controller-manager client certificate",
        issuer: Some(CA),
        common_name: CommonName::Fixed("system:kube-controller-manager"),
        organization: "system:kube-controller-manager",
        usages: PROFILE_KUBERNETES,
        sans: no_sans,
    },
    Row {
        id: "kubelet",
        expand: Expand::PerWorker,
        description: "kubelet client and serving certificate",
        issuer: Some(CA),
        common_name: CommonName::NodeUser,
        organization: "system:nodes",
        usages: PROFILE_KUBERNETES,
        sans: kubelet_sans,
    },
    Row {
        id: "admin",
        expand: Expand::Once("admin"),
        description: "cluster administrator client certificate",
        issuer: Some(CA),
        common_name: CommonName::Fixed("admin"),
        organization: "system:masters",
        usages: PROFILE_KUBERNETES,
        sans: no_sans,
    },
    Row {
        id: "service-account",
        expand: Expand::Once("service-account"),
        description: "key pair signing service account tokens",
        issuer: Some(CA),
        common_name: CommonName::Fixed("service-accounts"),
        organization: "Kubernetes",
        usages: PROFILE_KUBERNETES,
        sans: no_sans,
    },
];

/// One certificate of the cluster PKI, fully expanded from a catalog row and the inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSpec {
    /// The file base name (`master-kubernetes` → `master-kubernetes.pem`, `master-kubernetes-key.pem`).
    pub name: String,
    /// The catalog row it comes from (`kube-apiserver`, `kubelet`, ...).
    pub id: &'static str,
    /// One line saying what it is for.
    pub description: String,
    /// The issuer's file base name; `None` for the self-signed CA.
    pub issuer: Option<String>,
    /// Subject CN.
    pub common_name: String,
    /// Subject O.
    pub organization: String,
    /// Usages beyond digital signature.
    pub usages: Vec<Usage>,
    /// Subject alternative names, sorted.
    pub sans: Vec<San>,
    /// Lifetime in hours.
    pub validity_hours: u32,
}

impl CertSpec {
    /// Whether this is a CA certificate.
    pub fn is_ca(&self) -> bool {
        self.usages.contains(&Usage::CertSign)
    }
}

/// Expands the table for `inputs` (which must be valid) and checks the result: unique names,
/// every issuer present and a CA.
///
/// # Errors
/// [`Error::Catalog`] on a duplicate name or a dangling issuer.
pub fn expand(inputs: &PkiInputs) -> Result<Vec<CertSpec>> {
    let mut specs = Vec::new();
    for row in ROWS {
        let nodes: Vec<Option<&Node>> = match row.expand {
            Expand::Once(_) => vec![None],
            Expand::PerWorker => inputs.workers.iter().map(Some).collect(),
        };
        for node in nodes {
            let name = match (row.expand, node) {
                (Expand::Once(default), _) => inputs
                    .file_names
                    .get(row.id)
                    .cloned()
                    .unwrap_or_else(|| default.to_string()),
                (Expand::PerWorker, Some(n)) => n.name.clone(),
                (Expand::PerWorker, None) => continue,
            };
            let common_name = match (row.common_name, node) {
                (CommonName::Fixed(cn), _) => cn.to_string(),
                (CommonName::NodeUser, Some(n)) => format!("system:node:{}", n.hostname),
                (CommonName::NodeUser, None) => continue,
            };
            let validity_hours = if row.issuer.is_none() {
                inputs.validity.ca_hours
            } else {
                inputs.validity.leaf_hours
            };
            specs.push(CertSpec {
                name,
                id: row.id,
                description: match node {
                    Some(n) => format!("{} for {}", row.description, n.hostname),
                    None => row.description.to_string(),
                },
                issuer: row.issuer.map(|id| {
                    inputs
                        .file_names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| id.to_string())
                }),
                common_name,
                organization: row.organization.to_string(),
                usages: row.usages.to_vec(),
                sans: (row.sans)(inputs, node),
                validity_hours,
            });
        }
    }
    validate(&specs)?;
    Ok(specs)
}

fn validate(specs: &[CertSpec]) -> Result<()> {
    let mut names = HashSet::new();
    for spec in specs {
        if !names.insert(spec.name.as_str()) {
            return Err(Error::Catalog(format!(
                "two certificates are named {:?} (a node name collides with a component name?)",
                spec.name
            )));
        }
    }
    for spec in specs {
        if let Some(issuer) = &spec.issuer {
            let found = specs.iter().find(|s| &s.name == issuer);
            if !found.is_some_and(CertSpec::is_ca) {
                return Err(Error::Catalog(format!(
                    "{}: issuer {issuer:?} is not a CA of the catalog",
                    spec.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, host: &str, ip: &str) -> Node {
        Node {
            name: name.into(),
            hostname: host.into(),
            fqdn: None,
            private_ip: ip.parse().unwrap(),
            public_ip: None,
        }
    }

    #[test]
    fn the_tutorial_table() {
        let inputs = PkiInputs::new(
            "k",
            vec![node("k-master-0", "ip-10-0-0-10", "10.0.0.10")],
            vec![
                node("k-worker-0", "ip-10-0-0-20", "10.0.0.20"),
                node("k-worker-1", "ip-10-0-0-21", "10.0.0.21"),
            ],
        );
        let specs = expand(&inputs).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ca",
                "master-kubernetes",
                "kube-scheduler",
                "kube-proxy",
                "kube-controller-manager",
                "k-worker-0",
                "k-worker-1",
                "admin",
                "service-account"
            ]
        );
        let w1 = &specs[6];
        assert_eq!(w1.common_name, "system:node:ip-10-0-0-21");
        assert_eq!(w1.organization, "system:nodes");
        assert_eq!(specs[7].organization, "system:masters");
        assert!(specs[0].is_ca() && specs[0].issuer.is_none());
        assert_eq!(specs[0].validity_hours, 43_800);
        assert_eq!(specs[1].validity_hours, 8_760);
    }

    #[test]
    fn a_worker_named_like_a_component_is_refused() {
        let inputs = PkiInputs::new(
            "k",
            vec![node("m", "m", "10.0.0.10")],
            vec![node("admin", "w", "10.0.0.20")],
        );
        let err = expand(&inputs).unwrap_err().to_string();
        assert!(err.contains("\"admin\""), "{err}");
    }

    #[test]
    fn renames_apply_to_files_and_issuers() {
        let mut inputs = PkiInputs::new("k", vec![node("m", "m", "10.0.0.10")], vec![]);
        inputs
            .file_names
            .insert("kube-apiserver".into(), "kubernetes".into());
        inputs.file_names.insert("ca".into(), "cluster-ca".into());
        let specs = expand(&inputs).unwrap();
        assert_eq!(specs[0].name, "cluster-ca");
        assert_eq!(specs[1].name, "kubernetes");
        assert_eq!(specs[1].issuer.as_deref(), Some("cluster-ca"));
    }
}
