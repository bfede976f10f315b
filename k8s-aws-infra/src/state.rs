//! What exists in AWS, as IDs and addresses: [`InfraState`], stored by the caller in
//! `<dir>/state.json` with [`save_state`] / [`load_state`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::Kind;
use crate::error::{Error, Result};
use crate::spec::{Role, is_region_name};

/// The state file's name inside the cluster folder.
pub const STATE_FILE: &str = "state.json";

/// IDs of the cluster's AWS resources and the addresses the later steps need.
///
/// Every field is optional: an ID speeds up finding a resource, and a missing or stale one
/// falls back to finding it by tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InfraState {
    /// Cluster name.
    pub cluster: String,
    /// The installation ID the resources are tagged with.
    pub installation_id: Option<String>,
    /// Region the resources live in: a spec naming another region is refused while the
    /// state records any resource.
    pub region: Option<String>,
    /// VPC ID.
    pub vpc_id: Option<String>,
    /// DHCP options set ID.
    pub dhcp_options_id: Option<String>,
    /// Subnet ID.
    pub subnet_id: Option<String>,
    /// Internet gateway ID.
    pub internet_gateway_id: Option<String>,
    /// Route table ID.
    pub route_table_id: Option<String>,
    /// Security group ID.
    pub security_group_id: Option<String>,
    /// Network load balancer ARN.
    pub load_balancer_arn: Option<String>,
    /// The load balancer's DNS name: the cluster's Kubernetes API endpoint.
    pub load_balancer_dns_name: Option<String>,
    /// Target group ARN.
    pub target_group_arn: Option<String>,
    /// Listener ARN.
    pub listener_arn: Option<String>,
    /// The image the instances were started from.
    pub image_id: Option<String>,
    /// Key pair name.
    pub key_pair_name: Option<String>,
    /// Where the key pair's private key is stored.
    pub key_path: Option<PathBuf>,
    /// Instances by node name (`master-0`, ...).
    pub instances: BTreeMap<String, InstanceState>,
}

/// One machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    /// EC2 instance ID.
    pub id: String,
    /// Master or worker.
    pub role: Role,
    /// Fixed private IP.
    pub private_ip: Option<String>,
    /// Public IP, once assigned.
    pub public_ip: Option<String>,
    /// Public DNS name, when AWS gives one.
    pub public_dns: Option<String>,
}

impl InfraState {
    /// An empty state for `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        InfraState {
            cluster: cluster.into(),
            ..Default::default()
        }
    }

    /// True when the state records any resource.
    pub fn has_resources(&self) -> bool {
        [
            &self.vpc_id,
            &self.dhcp_options_id,
            &self.subnet_id,
            &self.internet_gateway_id,
            &self.route_table_id,
            &self.security_group_id,
            &self.load_balancer_arn,
            &self.target_group_arn,
            &self.listener_arn,
            &self.key_pair_name,
        ]
        .iter()
        .any(|id| id.is_some())
            || !self.instances.is_empty()
    }

    /// The field holding the ID of `kind`, for the kinds with one.
    pub(crate) fn id_mut(&mut self, kind: Kind) -> Option<&mut Option<String>> {
        Some(match kind {
            Kind::Vpc => &mut self.vpc_id,
            Kind::DhcpOptions => &mut self.dhcp_options_id,
            Kind::Subnet => &mut self.subnet_id,
            Kind::InternetGateway => &mut self.internet_gateway_id,
            Kind::RouteTable => &mut self.route_table_id,
            Kind::SecurityGroup => &mut self.security_group_id,
            Kind::LoadBalancer => &mut self.load_balancer_arn,
            Kind::TargetGroup => &mut self.target_group_arn,
            Kind::Listener => &mut self.listener_arn,
            _ => return None,
        })
    }

    /// The Kubernetes API endpoint (the load balancer's DNS name), once it exists.
    pub fn api_endpoint(&self) -> Option<&str> {
        self.load_balancer_dns_name.as_deref()
    }
}

/// Reads `<dir>/state.json`; `Ok(None)` when there is none yet.
///
/// # Errors
/// [`Error::File`] when it cannot be read or parsed.
pub fn load_state(dir: &Path) -> Result<Option<InfraState>> {
    let path = dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::File {
                path,
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::File {
            path,
            reason: format!(
                "not a valid state file ({e}); `down` still finds the cluster by its tags, or restore the file"
            ),
        })
}

/// The region the state file at `path` records, read even from a file [`load_state`] refuses
/// (a field of the wrong type, another cluster's state): where the cluster's resources may
/// be. `None` when the file cannot be read, is not JSON, or names no region.
pub fn recorded_region(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let region = value.get("region")?.as_str()?;
    is_region_name(region).then(|| region.to_string())
}

/// Writes `<dir>/state.json` whole (temp file + rename), mode 0600; creates `dir` (0700) if
/// missing.
///
/// # Errors
/// [`Error::File`] when it cannot be written.
pub fn save_state(dir: &Path, state: &InfraState) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let file_err = |reason: String| Error::File {
        path: path.clone(),
        reason,
    };
    let json = serde_json::to_vec_pretty(state).map_err(|e| file_err(e.to_string()))?;
    if !dir.exists() {
        k8s_files::ensure_private_dir(dir).map_err(|e| file_err(e.to_string()))?;
    }
    k8s_files::write_file(&path, &json, k8s_files::Mode::Secret)
        .map_err(|e| file_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(load_state(tmp.path()).unwrap(), None);
        let mut s = InfraState::new("c");
        s.vpc_id = Some("vpc-1".into());
        s.load_balancer_dns_name = Some("c-1.elb".into());
        s.instances.insert(
            "master-0".into(),
            InstanceState {
                id: "i-1".into(),
                role: Role::Master,
                private_ip: Some("172.31.0.10".into()),
                public_ip: None,
                public_dns: None,
            },
        );
        save_state(tmp.path(), &s).unwrap();
        assert_eq!(load_state(tmp.path()).unwrap(), Some(s.clone()));
        assert_eq!(s.api_endpoint(), Some("c-1.elb"));
    }

    #[test]
    fn the_region_is_read_from_files_load_state_refuses() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(STATE_FILE);
        for (text, region) in [
            (
                r#"{"cluster": "c", "region": "eu-west-1", "vpc_id": 5}"#,
                Some("eu-west-1"),
            ),
            (r#"{"region": "us-east-2"}"#, Some("us-east-2")),
            (r#"{"region": "../../etc"}"#, None),
            (r#"{"region": 5}"#, None),
            ("{ not json", None),
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(recorded_region(&path).as_deref(), region, "{text}");
        }
        assert!(load_state(tmp.path()).is_err());
        assert_eq!(recorded_region(&tmp.path().join("missing")), None);
    }
}
