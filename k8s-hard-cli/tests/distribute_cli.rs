//! `k8s-hard bundle` then `k8s-hard distribute` to six real sshd hosts on 127.0.0.10-12 and
//! 127.0.0.20-22: each gets exactly its files, a re-run sends nothing, failures stay per node.

mod common;

use std::fs;
use std::path::Path;

use common::{init_on_hosts, init_with, k8s_hard};
use k8s_hard_tests::sshd::{SIX, SshdHosts};
use predicates::prelude::*;

/// cluster.yaml listing the six test hosts as the masters and workers, login via the harness.
fn write_cluster(dir: &Path, hosts: &SshdHosts) {
    init_on_hosts(
        dir,
        &["--api-endpoint", "k8s-api.example.com"],
        hosts,
        |i| hosts.hosts()[i].address().to_string(),
        &[],
    );
}

fn distribute(dir: &Path, hosts: &SshdHosts, known_hosts: &Path) -> assert_cmd::Command {
    let mut cmd = k8s_hard(dir);
    cmd.arg("distribute")
        .arg("--identity")
        .arg(hosts.client_rsa_key())
        .arg("--known-hosts")
        .arg(known_hosts);
    cmd
}

#[test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
fn every_node_gets_exactly_its_files_and_a_rerun_sends_nothing() {
    let mut hosts = SshdHosts::start(&SIX);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cluster(dir, &hosts);
    k8s_hard(dir).arg("bundle").assert().success();
    let known_hosts = hosts.write_known_hosts();

    // The plan connects to nothing and lists the tutorial's files (STEP 5–7).
    let plan = k8s_hard(dir)
        .args(["distribute", "--plan", "-o", "json"])
        .assert()
        .success();
    let plan: serde_json::Value = serde_json::from_slice(&plan.get_output().stdout).unwrap();
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 6);

    let out = distribute(dir, &hosts, &known_hosts)
        .args(["-o", "json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["nodes"].as_array().unwrap().len(), 6);

    let c = "k8s-cluster-from-ground-up";
    for (i, host) in hosts.hosts().iter().enumerate() {
        let mut names: Vec<String> = fs::read_dir(host.home())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        let want: Vec<String> = if i < 3 {
            let mut v = vec![
                "admin.kubeconfig",
                "ca-key.pem",
                "ca.pem",
                "encryption-config.yaml",
                "kube-controller-manager.kubeconfig",
                "kube-scheduler.kubeconfig",
                "master-kubernetes-key.pem",
                "master-kubernetes.pem",
                "service-account-key.pem",
                "service-account.pem",
            ];
            v.sort();
            v.into_iter().map(String::from).collect()
        } else {
            let w = format!("{c}-worker-{}", i - 3);
            let mut v = vec![
                "ca.pem".to_string(),
                format!("{w}-key.pem"),
                format!("{w}.kubeconfig"),
                format!("{w}.pem"),
                "kube-proxy.kubeconfig".to_string(),
            ];
            v.sort();
            v
        };
        assert_eq!(names, want, "{}", host.address());
        for name in &names {
            let local = if name.ends_with(".kubeconfig") {
                dir.join("kubeconfigs").join(name)
            } else if name == "encryption-config.yaml" {
                dir.join(name)
            } else {
                dir.join("pki").join(name)
            };
            assert_eq!(
                fs::read(host.home().join(name)).unwrap(),
                fs::read(&local).unwrap(),
                "{name}"
            );
        }
    }

    // Second run: nothing sent.
    let out = distribute(dir, &hosts, &known_hosts)
        .args(["-o", "json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for node in report["nodes"].as_array().unwrap() {
        assert!(
            node["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["status"] == "unchanged"),
            "{node}"
        );
    }

    // One node down: only it fails, the command says which and exits 1.
    hosts.host_mut(4).stop();
    fs::write(dir.join("kubeconfigs/kube-proxy.kubeconfig"), "changed").unwrap();
    distribute(dir, &hosts, &known_hosts)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "failed on 1 of 6 nodes: {c}-worker-1"
        )));
    assert_eq!(
        fs::read(hosts.hosts()[3].home().join("kube-proxy.kubeconfig")).unwrap(),
        b"changed"
    );
}

#[test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
fn unknown_hosts_are_refused_unless_accept_new() {
    let hosts = SshdHosts::start(&SIX[..1]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let h = &hosts.hosts()[0];
    init_with(
        dir,
        &[
            "--masters",
            "1",
            "--workers",
            "0",
            "--api-endpoint",
            "api.example.com",
        ],
        &[
            (
                "masters:\n  count: 1\n  first_ip: 172.31.0.10\n",
                &format!(
                    "masters:\n  nodes:\n    - private_ip: {0}\n      ssh_port: {1}\n",
                    h.address(),
                    h.port()
                ),
            ),
            (
                "ssh:\n  user: ubuntu",
                &format!("ssh:\n  user: {}", hosts.user()),
            ),
        ],
    );
    k8s_hard(dir).arg("bundle").assert().success();
    let known_hosts = dir.join("known_hosts");
    distribute(dir, &hosts, &known_hosts)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(h.host_key_fingerprint()))
        .stderr(
            predicate::str::contains("hint: new machines")
                .and(predicate::str::contains("--accept-new")),
        );
    assert!(
        fs::read_dir(h.home()).unwrap().all(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.'))
    );
    distribute(dir, &hosts, &known_hosts)
        .arg("--accept-new")
        .assert()
        .success();
    distribute(dir, &hosts, &known_hosts).assert().success();
    assert!(h.home().join("ca-key.pem").is_file());

    // A missing identity file is a clear error before any connection.
    k8s_hard(dir)
        .args(["distribute", "--identity", "/nonexistent/key"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/key"));
}
