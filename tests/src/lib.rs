//! Test harness for k8s-hard: starts and drives the real peers our output is checked against
//! (`openssl`, `etcd`, `sshd`, `moto_server`, `kubectl`, and a whole Kubernetes control plane),
//! on loopback only.
//!
//! Every helper fails loudly when its tool is missing: the workspace test command
//! (`scripts/test`) installs or builds them, and a test that silently skipped would prove
//! nothing. A test that needs a peer says so instead, `#[ignore = "needs <peer>: run
//! scripts/test"]`: a plain `cargo test` runs the others, `scripts/test` runs all
//! (`--include-ignored`).

pub mod aws_owned;
pub mod aws_timing;
pub mod cloud_init;
pub mod control_plane;
pub mod etcd;
pub mod master_flags;
pub mod moto;
pub mod openssl;
pub mod peers;
pub mod process;
pub mod sshd;

use std::path::PathBuf;
use std::process::Command;

/// The absolute path of a tool, or a panic that says how to get it: one of [`peers::PEERS`]
/// (kubectl, etcd, the Kubernetes components) from the folder `scripts/build-peers` builds,
/// anything else from `PATH`.
pub fn require_tool(name: &str) -> PathBuf {
    if peers::PEERS.contains(&name) {
        return peers::peer(name);
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh to look for {name}: {e}"));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "`{name}` is not installed: run ./scripts/test, which installs every tool the tests need"
    );
    PathBuf::from(path)
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `tool` with `args`: its stdout and stderr together, `Err` when it exits non-zero.
pub fn run_tool<I, S>(tool: &str, args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(require_tool(tool))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// The socket address of a `http://127.x.y.z:port` URL, `what` naming where it came from in
/// the panic for anything else: the tests never leave 127.0.0.0/8.
pub(crate) fn loopback_addr(what: &str, url: &str) -> std::net::SocketAddr {
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    let addr: std::net::SocketAddr = hostport
        .parse()
        .unwrap_or_else(|e| panic!("{what} {url}: expected http://127.0.0.1:PORT ({e})"));
    assert!(
        addr.ip().is_loopback(),
        "{what} {url} is not on loopback: the tests never leave 127.0.0.0/8"
    );
    addr
}
