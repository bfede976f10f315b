//! `k8s-hard bundle` end to end, judged by real peers: every kubeconfig it writes is read by
//! the real kubectl and does mutual TLS with a real 3-member etcd that serves the apiserver
//! certificate on the masters' addresses (127.0.0.10-12).

mod common;

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use common::{init_with, k8s_hard};
use k8s_hard_tests::etcd::{EtcdCluster, EtcdTls};
use k8s_hard_tests::{openssl, run_tool};

const ENDPOINT: &str = "k8s-api.example.com";

fn kubectl(args: &[&str]) -> Result<String, String> {
    run_tool("kubectl", args)
}

/// A cluster whose masters are the loopback test addresses.
fn write_cluster(dir: &Path) {
    init_with(
        dir,
        &[
            "--masters",
            "1",
            "--workers",
            "2",
            "--api-endpoint",
            ENDPOINT,
        ],
        &[(
            "masters:
  count: 1
  first_ip: 172.31.0.10",
            "masters:
  nodes:
    - private_ip: 127.0.0.10
    - private_ip: 127.0.0.11
    - private_ip: 127.0.0.12",
        )],
    );
}

#[test]
#[ignore = "needs etcd, etcdctl, kubectl and openssl: run scripts/test"]
fn every_kubeconfig_does_mutual_tls_with_etcd_through_kubectl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cluster(dir);
    k8s_hard(dir).arg("bundle").assert().success();
    // Second run changes nothing.
    let before: Vec<Vec<u8>> = [
        "kubeconfigs/admin.kubeconfig",
        "pki/admin.pem",
        "encryption-config.yaml",
    ]
    .iter()
    .map(|f| fs::read(dir.join(f)).unwrap())
    .collect();
    k8s_hard(dir).arg("bundle").assert().success();
    let after: Vec<Vec<u8>> = [
        "kubeconfigs/admin.kubeconfig",
        "pki/admin.pem",
        "encryption-config.yaml",
    ]
    .iter()
    .map(|f| fs::read(dir.join(f)).unwrap())
    .collect();
    assert_eq!(before, after);

    let pki = dir.join("pki");
    let tls = EtcdTls {
        ca: pki.join("ca.pem"),
        cert: pki.join("master-kubernetes.pem"),
        key: pki.join("master-kubernetes-key.pem"),
    };
    let ips: Vec<IpAddr> = ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let etcd = EtcdCluster::start(
        &ips,
        &tls,
        &pki.join("admin.pem"),
        &pki.join("admin-key.pem"),
    );
    let server = etcd.client_urls[0].clone();

    let kubeconfigs = [
        ("admin.kubeconfig", format!("https://{ENDPOINT}:6443")),
        (
            "k8s-cluster-from-ground-up-worker-0.kubeconfig",
            format!("https://{ENDPOINT}:6443"),
        ),
        (
            "k8s-cluster-from-ground-up-worker-1.kubeconfig",
            format!("https://{ENDPOINT}:6443"),
        ),
        ("kube-proxy.kubeconfig", format!("https://{ENDPOINT}:6443")),
        (
            "kube-controller-manager.kubeconfig",
            "https://127.0.0.1:6443".to_string(),
        ),
        (
            "kube-scheduler.kubeconfig",
            "https://127.0.0.1:6443".to_string(),
        ),
    ];
    for (file, want_server) in &kubeconfigs {
        let path = dir.join("kubeconfigs").join(file);
        let p = path.to_str().unwrap();
        let view = kubectl(&["config", "view", "--raw", "-o", "json", "--kubeconfig", p]).unwrap();
        let view: serde_json::Value = serde_json::from_str(&view).unwrap();
        assert_eq!(
            view["clusters"][0]["cluster"]["server"],
            want_server.as_str(),
            "{file}"
        );
        assert_eq!(view["current-context"], "default");
        for args in [
            vec!["--server", &server],
            vec!["--server", &server, "--tls-server-name", ENDPOINT],
        ] {
            let mut full = vec!["--kubeconfig", p];
            full.extend(args);
            full.extend(["get", "--raw", "/version"]);
            let version = kubectl(&full).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(version.contains("etcdserver"), "{file}: {version}");
        }
    }

    // The same kubeconfig with a client certificate from another CA is refused.
    openssl::foreign_client(dir, "admin");
    let foreign = dir.join("foreign.kubeconfig");
    fs::copy(dir.join("kubeconfigs/admin.kubeconfig"), &foreign).unwrap();
    let f = foreign.to_str().unwrap();
    let cert = dir.join("other-client.pem");
    let key = dir.join("other-client-key.pem");
    kubectl(&[
        "config",
        "set-credentials",
        "admin",
        "--embed-certs=true",
        &format!("--client-certificate={}", cert.display()),
        &format!("--client-key={}", key.display()),
        "--kubeconfig",
        f,
    ])
    .unwrap();
    let refused = kubectl(&[
        "--kubeconfig",
        f,
        "--server",
        &server,
        "get",
        "--raw",
        "/version",
    ]);
    assert!(
        refused.is_err(),
        "a foreign client certificate was accepted: {refused:?}"
    );
}

#[test]
fn kubeconfig_generate_without_endpoint_says_how_to_set_it() {
    let tmp = tempfile::tempdir().unwrap();
    k8s_hard(tmp.path())
        .args(["pki", "generate"])
        .assert()
        .success();
    k8s_hard(tmp.path())
        .args(["kubeconfig", "generate"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("api.endpoint"))
        .stderr(predicates::str::contains("infra up"));
    assert!(!tmp.path().join("kubeconfigs/admin.kubeconfig").exists());
}

#[test]
#[ignore = "needs kubectl: run scripts/test"]
fn use_admin_keeps_the_users_other_contexts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cluster(dir);
    k8s_hard(dir).arg("bundle").assert().success();
    let home = dir.join("home");
    fs::create_dir_all(home.join(".kube")).unwrap();
    let config = home.join(".kube/config");
    let c = config.to_str().unwrap();
    kubectl(&[
        "config",
        "set-cluster",
        "other",
        "--server=https://10.9.9.9:6443",
        "--kubeconfig",
        c,
    ])
    .unwrap();
    kubectl(&[
        "config",
        "set-context",
        "other",
        "--cluster=other",
        "--user=u",
        "--kubeconfig",
        c,
    ])
    .unwrap();
    kubectl(&["config", "use-context", "other", "--kubeconfig", c]).unwrap();
    k8s_hard(dir)
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .args(["kubeconfig", "use-admin"])
        .assert()
        .success();
    let contexts = kubectl(&["config", "get-contexts", "-o", "name", "--kubeconfig", c]).unwrap();
    assert!(contexts.lines().any(|l| l == "other"), "{contexts}");
    assert!(
        contexts.lines().any(|l| l == "k8s-cluster-from-ground-up"),
        "{contexts}"
    );
    let current = kubectl(&["config", "current-context", "--kubeconfig", c]).unwrap();
    assert_eq!(current.trim(), "k8s-cluster-from-ground-up");
}

#[test]
fn encryption_config_generate_keeps_and_rotate_adds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    k8s_hard(dir)
        .args(["encryption-config", "rotate"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("generate"));
    k8s_hard(dir)
        .args(["encryption-config", "generate"])
        .assert()
        .success();
    let first = fs::read_to_string(dir.join("encryption-config.yaml")).unwrap();
    k8s_hard(dir)
        .args(["encryption-config", "generate"])
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(dir.join("encryption-config.yaml")).unwrap(),
        first
    );
    let out = k8s_hard(dir)
        .args(["encryption-config", "rotate", "-o", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    // Stage 1 of a rotation: the new key second, the old one still writes.
    assert_eq!(v["keys"], serde_json::json!(["key1", "key2"]));
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("secret"));
    fs::write(dir.join("encryption-config.yaml"), "kind: [").unwrap();
    k8s_hard(dir)
        .args(["encryption-config", "generate"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("encryption-config.yaml"));
    assert_eq!(
        fs::read_to_string(dir.join("encryption-config.yaml")).unwrap(),
        "kind: ["
    );
}
