//! Shared by the CLI's integration tests.

use std::path::Path;

/// `k8s-hard --dir <dir>`, with the environment that would change its defaults removed.
pub fn k8s_hard(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("k8s-hard").unwrap();
    cmd.arg("--dir")
        .arg(dir)
        .env_remove("K8S_HARD_DIR")
        .env_remove("AWS_REGION");
    cmd
}
