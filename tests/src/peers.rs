//! The real Kubernetes components and etcd the tests run against, built from the Go module
//! proxy at one pinned release by `scripts/build-peers` (Kubernetes v1.37.2, etcd v3.7.3:
//! `tests/peers/*/go.mod`).
//!
//! `scripts/test` builds them (or finds them cached) and exports `K8S_HARD_PEERS_BIN`; without
//! it, the harness asks `scripts/build-peers --cached` for the cached folder. When neither
//! finds them, the test panics saying how to build them: a test that skipped would prove
//! nothing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Every binary `scripts/build-peers` makes. [`crate::require_tool`] finds these here, never on
/// `PATH`, so every test runs one current kubectl and etcd.
pub const PEERS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "etcdctl",
];

/// The environment variable `scripts/test` sets to the folder holding [`PEERS`].
pub const PEERS_BIN_ENV: &str = "K8S_HARD_PEERS_BIN";

/// The folder holding every binary of [`PEERS`], or a panic that says how to build them.
pub fn peers_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = match std::env::var_os(PEERS_BIN_ENV) {
            Some(dir) => PathBuf::from(dir),
            None => cached_bin().unwrap_or_else(|why| {
                panic!(
                    "the Kubernetes peers ({}) are not built ({why}): run ./scripts/test, which builds them, \
                     or `export {PEERS_BIN_ENV}=$(./scripts/build-peers)` (a cold build takes about 12 minutes on 2 cores)",
                    PEERS.join(", ")
                )
            }),
        };
        for name in PEERS {
            assert!(
                bin.join(name).is_file(),
                "{PEERS_BIN_ENV}={} has no {name}: run ./scripts/build-peers, which builds every peer into a fresh folder",
                bin.display()
            );
        }
        bin
    })
    .clone()
}

/// The path of one of [`PEERS`].
pub fn peer(name: &str) -> PathBuf {
    assert!(
        PEERS.contains(&name),
        "{name} is not one of the peers scripts/build-peers builds"
    );
    peers_bin().join(name)
}

/// `scripts/build-peers --cached`: the cached bin folder, without building.
fn cached_bin() -> Result<PathBuf, String> {
    let script = crate::workspace_root().join("scripts/build-peers");
    let out = Command::new(&script)
        .arg("--cached")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !path.is_empty() {
        Ok(PathBuf::from(path))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
