//! What the integration tests share: the tutorial's topology and the real binaries' folder.

// Each test file uses part of this module.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use k8s_control_plane::{ControlPlaneInputs, Master};

/// The tutorial's three masters, ip-172-31-0-10..12 at 172.31.0.10..12, for this API endpoint.
pub fn tutorial_inputs(api_endpoint: &str) -> ControlPlaneInputs {
    let masters = (0..3)
        .map(|i| {
            Master::new(
                format!("ip-172-31-0-1{i}"),
                IpAddr::V4(Ipv4Addr::new(172, 31, 0, 10 + i)),
            )
        })
        .collect();
    ControlPlaneInputs::new("k8s-cluster-from-ground-up", masters, api_endpoint)
}

/// The folder of the real etcd and Kubernetes binaries, `K8S_HARD_PEERS_BIN` (`scripts/test`
/// exports it).
pub fn peers_bin() -> PathBuf {
    let dir = std::env::var_os("K8S_HARD_PEERS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("K8S_HARD_PEERS_BIN is not set: run scripts/test"));
    assert!(
        dir.join("kube-apiserver").is_file(),
        "{} has no kube-apiserver",
        dir.display()
    );
    dir
}
