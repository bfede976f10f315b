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

/// `k8s-hard init ARGS`, then each `(from, to)` edit applied to the written cluster.yaml
/// (each must apply: a silent no-op edit would test the default instead).
#[allow(dead_code)] // not every test file edits
pub fn init_with(dir: &Path, args: &[&str], edits: &[(&str, &str)]) {
    k8s_hard(dir).arg("init").args(args).assert().success();
    let path = dir.join("cluster.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "cluster.yaml has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(path, text).unwrap();
}
