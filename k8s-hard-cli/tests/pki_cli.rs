//! `k8s-hard init` and `k8s-hard pki …` as a user runs them: exit codes, files, bad input.

mod common;

use std::fs;
use std::path::Path;

use common::{init_with, k8s_hard};
use k8s_hard_tests::openssl;
use predicates::prelude::*;

/// A small, fast cluster: 1 master, 2 workers, ECDSA keys.
fn small_cluster(dir: &Path) {
    init_with(
        dir,
        &[
            "--masters",
            "1",
            "--workers",
            "2",
            "--api-endpoint",
            "api.example.com",
        ],
        &[("rsa-2048", "ecdsa-p256")],
    );
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn generate_without_a_spec_writes_the_default_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .success()
        .stderr(predicate::str::contains("wrote the default one"))
        .stderr(predicate::str::contains("no API endpoint"));
    let pki = dir.path().join("pki");
    for name in [
        "ca",
        "master-kubernetes",
        "k8s-cluster-from-ground-up-worker-2",
        "admin",
    ] {
        openssl::verify(&pki.join("ca.pem"), &pki.join(format!("{name}.pem"))).unwrap();
    }
    // Re-run: nothing written.
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .success()
        .stderr(predicate::str::contains("0 files written"));
}

#[test]
fn check_reports_and_fails_on_problems() {
    let dir = tempfile::tempdir().unwrap();
    small_cluster(dir.path());
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .success();
    let out = k8s_hard(dir.path())
        .args(["pki", "check", "--output", "json"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1 + 6 + 2);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["problems"].as_array().unwrap().is_empty())
    );
    assert!(rows[1]["days_left"].as_i64().unwrap() >= 364);

    k8s_hard(dir.path())
        .args(["pki", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("RESIDUAL TIME"));

    // A worker's IP changes in cluster.yaml: check fails naming the SAN, generate fixes it.
    let path = dir.path().join("cluster.yaml");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("first_ip: 172.31.0.20", "first_ip: 172.31.0.40");
    fs::write(&path, text).unwrap();
    k8s_hard(dir.path())
        .args(["pki", "check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "SANs missing: DNS:ip-172-31-0-40, IP:172.31.0.40",
        ));
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "reissued k8s-cluster-from-ground-up-worker-0",
        ))
        .stderr(predicate::str::contains("reissued admin").not());
    k8s_hard(dir.path())
        .args(["pki", "check"])
        .assert()
        .success();
}

#[test]
fn renew_unknown_name_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    small_cluster(dir.path());
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .success();
    k8s_hard(dir.path())
        .args(["pki", "renew", "nobody"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no certificate named \"nobody\""));
    k8s_hard(dir.path())
        .args(["pki", "renew", "admin"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "reissued admin: renewal requested",
        ));
}

#[test]
fn a_broken_ca_is_a_clear_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    small_cluster(dir.path());
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .success();
    fs::write(dir.path().join("pki/ca-key.pem"), "garbage").unwrap();
    k8s_hard(dir.path())
        .args(["pki", "generate"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("existing CA unusable"))
        .stderr(predicate::str::contains("--replace-ca"));
    k8s_hard(dir.path())
        .args(["pki", "generate", "--replace-ca"])
        .assert()
        .success();
}

#[test]
fn bad_specs_name_the_field_and_write_nothing() {
    let base = {
        let d = tempfile::tempdir().unwrap();
        k8s_hard(d.path()).arg("init").assert().success();
        fs::read_to_string(d.path().join("cluster.yaml")).unwrap()
    };
    let cases = [
        (
            "name: k8s-cluster-from-ground-up",
            "name: [unclosed",
            "cluster.yaml",
        ),
        (
            "service_cidr: 10.32.0.0/24",
            "service_cidr: 10.32.0.0/99",
            "network.service_cidr",
        ),
        (
            "service_cidr: 10.32.0.0/24",
            "service_cidr: 10.32.0.1/24",
            "host bits",
        ),
        (
            "first_ip: 172.31.0.20",
            "first_ip: 172.31.0.999",
            "workers.first_ip",
        ),
        (
            "first_ip: 172.31.0.20",
            "first_ip: 172.31.0.12",
            "used by another node",
        ),
        (
            "key_algorithm: rsa-2048",
            "key_algorithm: rsa-1024",
            "pki.key_algorithm",
        ),
        (
            "pod_cidr: 172.20.0.0/16",
            "pod_cidr: 10.32.0.0/16",
            "overlaps network.pod_cidr",
        ),
        (
            "validity_hours: 8760",
            "validity_hours: 99999",
            "pki.validity_hours: 99999 h outlives the CA (pki.ca_validity_hours: 43800 h)",
        ),
    ];
    for (from, to, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cluster.yaml"), base.replacen(from, to, 1)).unwrap();
        k8s_hard(dir.path())
            .args(["pki", "generate"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(want));
        assert!(!dir.path().join("pki").exists(), "{to}: pki/ was written");
    }
}

#[test]
fn init_refuses_to_overwrite_and_validates_options() {
    let dir = tempfile::tempdir().unwrap();
    k8s_hard(dir.path()).arg("init").assert().success();
    k8s_hard(dir.path())
        .arg("init")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    let other = tempfile::tempdir().unwrap();
    k8s_hard(other.path())
        .args(["init", "--region", "nowhere"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("region"));
    assert!(!other.path().join("cluster.yaml").exists());
    // Usage errors exit 2.
    k8s_hard(other.path())
        .args(["init", "--masters", "many"])
        .assert()
        .code(2);
}

#[test]
fn every_command_has_help_and_completions_work() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["up", "--help"],
        vec!["down", "--help"],
        vec!["status", "--help"],
        vec!["infra", "plan", "--help"],
        vec!["infra", "up", "--help"],
        vec!["infra", "status", "--help"],
        vec!["infra", "down", "--help"],
        vec!["pki", "generate", "--help"],
        vec!["pki", "check", "--help"],
        vec!["pki", "renew", "--help"],
        vec!["kubeconfig", "generate", "--help"],
        vec!["kubeconfig", "use-admin", "--help"],
        vec!["encryption-config", "generate", "--help"],
        vec!["encryption-config", "rotate", "--help"],
        vec!["bundle", "--help"],
        vec!["distribute", "--help"],
        vec!["completions", "--help"],
    ] {
        k8s_hard(dir.path())
            .args(&args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    // Usage errors exit 2, as clap's.
    k8s_hard(dir.path())
        .args(["up", "--no-such-flag"])
        .assert()
        .code(2);
    k8s_hard(dir.path())
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("k8s-hard"));
}
