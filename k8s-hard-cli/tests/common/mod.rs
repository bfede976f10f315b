//! Shared by the CLI's integration tests.

use std::path::Path;

/// `k8s-hard --dir <dir>` with nothing of the machine's environment: no AWS profile,
/// credentials, region or endpoint, no SSH agent (`SSH_AUTH_SOCK`), no `K8S_HARD_DIR` or
/// `KUBECONFIG`. HOME is `dir`, so `~/.aws`, `~/.ssh/known_hosts` and `~/.kube/config` are the
/// test's own, and `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` name files there that do
/// not exist; no instance metadata is asked.
pub fn isolated(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("k8s-hard"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join(".aws/credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("--dir")
        .arg(dir);
    cmd
}

/// [`isolated`], to assert on.
pub fn k8s_hard(dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(isolated(dir))
}

/// `k8s-hard init ARGS`, then each `(from, to)` edit applied to the written cluster.yaml
/// (each must apply: a silent no-op edit would test the default instead).
#[allow(dead_code)] // not every test file edits
pub fn init_with(dir: &Path, args: &[&str], edits: &[(&str, &str)]) {
    k8s_hard(dir).arg("init").args(args).assert().success();
    edit_cluster_yaml(dir, edits);
}

/// Applies each `(from, to)` edit to `dir`'s cluster.yaml, as a user's editor would (each
/// must apply: a silent no-op edit would test the default instead).
#[allow(dead_code)] // not every test file edits
pub fn edit_cluster_yaml(dir: &Path, edits: &[(&str, &str)]) {
    let path = dir.join("cluster.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "cluster.yaml has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(path, text).unwrap();
}

/// [`isolated`] with moto's dummy AWS credentials (never a real account): add
/// `--endpoint-url` to reach moto.
#[allow(dead_code)] // only the AWS tests
pub fn aws_command(dir: &Path) -> std::process::Command {
    use k8s_hard_tests::moto::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
    let mut cmd = isolated(dir);
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    cmd
}

/// stdout of a finished command, as JSON.
#[allow(dead_code)] // not every test file reads JSON
pub fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// `infra status --output json` (exit 1) shows every resource the cluster owns missing; the
/// Ubuntu image is Canonical's and stays.
#[allow(dead_code)] // only the AWS tests
pub fn assert_owned_resources_missing(status: &serde_json::Value) {
    let owned: Vec<&serde_json::Value> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] != "image")
        .collect();
    assert!(owned.len() >= 14, "{status}");
    assert!(owned.iter().all(|r| r["state"] == "missing"), "{status}");
}

/// `k8s-hard init ARGS` with the six test hosts as masters (0..3) and workers (3..6): each
/// node's SSH goes to its host, its private IP is `private_ip(i)`, the login user is the
/// harness's; then `edits` as [`init_with`].
#[allow(dead_code)] // only the SSH tests
pub fn init_on_hosts(
    dir: &Path,
    args: &[&str],
    hosts: &k8s_hard_tests::sshd::SshdHosts,
    private_ip: impl Fn(usize) -> String,
    edits_after: &[(&str, &str)],
) {
    let edits = host_edits(hosts, private_ip);
    let mut all: Vec<(&str, &str)> = edits
        .iter()
        .map(|(from, to)| (*from, to.as_str()))
        .collect();
    all.extend_from_slice(edits_after);
    init_with(dir, args, &all);
}

/// The cluster.yaml edits that put the six test hosts in as masters (0..3) and workers
/// (3..6): each node's SSH goes to its host, its private IP is `private_ip(i)`, the login
/// user is the harness's.
#[allow(dead_code)] // only the SSH tests
pub fn host_edits(
    hosts: &k8s_hard_tests::sshd::SshdHosts,
    private_ip: impl Fn(usize) -> String,
) -> Vec<(&'static str, String)> {
    let entries = |range: std::ops::Range<usize>| -> String {
        range
            .map(|i| {
                let h = &hosts.hosts()[i];
                format!(
                    "    - private_ip: {}\n      ssh_address: {}\n      ssh_port: {}\n",
                    private_ip(i),
                    h.address(),
                    h.port()
                )
            })
            .collect()
    };
    vec![
        (
            "masters:\n  count: 3\n  first_ip: 172.31.0.10\n",
            format!("masters:\n  nodes:\n{}", entries(0..3)),
        ),
        (
            "workers:\n  count: 3\n  first_ip: 172.31.0.20\n",
            format!("workers:\n  nodes:\n{}", entries(3..6)),
        ),
        (
            "ssh:\n  user: ubuntu",
            format!("ssh:\n  user: {}", hosts.user()),
        ),
    ]
}

/// The aescbc keys of an encryption config (read by any YAML reader into JSON values):
/// (name, secret), in order.
#[allow(dead_code)] // only the rotation tests
pub fn aescbc_keys(config: &serde_json::Value) -> Vec<(String, String)> {
    config["resources"][0]["providers"][0]["aescbc"]["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no aescbc keys in {config}"))
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                k["secret"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `k8s-hard --dir DIR ARGS` with dummy credentials, every AWS call to `url`.
#[allow(dead_code)] // only the AWS tests
pub fn k8s_at(dir: &Path, url: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = aws_command(dir);
    cmd.args(args).arg("--endpoint-url").arg(url);
    assert_cmd::Command::from_std(cmd)
}

/// `k8s-hard init` of a small cluster (1 master, 1 worker) named `name` in the tests'
/// region, on an image moto knows.
#[allow(dead_code)] // only the AWS tests
pub fn init_small(dir: &Path, name: &str) {
    init_with(
        dir,
        &[
            "--name",
            name,
            "--region",
            k8s_hard_tests::moto::REGION,
            "--masters",
            "1",
            "--workers",
            "1",
        ],
        &[(
            "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
            k8s_hard_tests::moto::UBUNTU_IMAGE_NAME,
        )],
    );
}

/// The `installation_id:` of DIR/cluster.yaml.
#[allow(dead_code)] // only the AWS tests
pub fn installation(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("cluster.yaml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("installation_id: "))
        .unwrap_or_else(|| panic!("no installation_id in {text}"))
        .to_string()
}
