//! `k8s-hard bundle --api-endpoint`: the whole offline set in one command on the embedded
//! default (PKI, all seven kubeconfigs, encryption config), judged by the real kubectl and
//! openssl, and exactly what the later steps of `up` keep for that endpoint.

mod common;

use std::fs;
use std::path::Path;

use common::{init_with, json, k8s_hard};
use k8s_hard_tests::{openssl, run_tool};
use predicates::prelude::*;

const ENDPOINT: &str = "k8s-api.example.com";
const CLUSTER: &str = "k8s-cluster-from-ground-up";

/// `kubectl config view` of one kubeconfig, through a JSONPath.
fn kubectl_view(file: &Path, path: &str) -> String {
    run_tool(
        "kubectl",
        [
            "config",
            "view",
            "--kubeconfig",
            file.to_str().unwrap(),
            "-o",
            &format!("jsonpath={path}"),
        ],
    )
    .unwrap_or_else(|e| panic!("kubectl cannot read {file:?}: {e}"))
}

/// Every file under `dir` (relative path, bytes), sorted.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["pki", "kubeconfigs"] {
        let mut names: Vec<_> = fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for n in names {
            out.push((
                format!("{sub}/{n}"),
                fs::read(dir.join(sub).join(&n)).unwrap(),
            ));
        }
    }
    out.push((
        "encryption-config.yaml".into(),
        fs::read(dir.join("encryption-config.yaml")).unwrap(),
    ));
    out
}

#[test]
#[ignore = "needs kubectl and openssl: run scripts/test"]
fn one_command_writes_the_whole_offline_set_on_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = k8s_hard(&dir)
        .args(["bundle", "--api-endpoint", ENDPOINT, "-o", "json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
    let result = json(&out);
    assert_eq!(
        result["kubeconfigs"].as_array().unwrap().len(),
        7,
        "{result}"
    );

    let spec = fs::read_to_string(dir.join("cluster.yaml")).unwrap();
    assert!(spec.contains(&format!("endpoint: {ENDPOINT}\n")), "{spec}");

    // The API server certificate names the endpoint, and is signed by the CA.
    let pki = dir.join("pki");
    let sans = openssl::sans(&pki.join("master-kubernetes.pem"));
    assert!(sans.contains(&format!("DNS:{ENDPOINT}")), "{sans:?}");
    openssl::verify(&pki.join("ca.pem"), &pki.join("master-kubernetes.pem")).unwrap();

    // All seven kubeconfigs, read by the real kubectl: the kubelets, kube-proxy and admin
    // at the endpoint, the controller-manager and the scheduler on loopback (as the tutorial).
    let kubeconfigs = dir.join("kubeconfigs");
    let remote = format!("https://{ENDPOINT}:6443");
    let mut expected: Vec<(String, &str)> = (0..3)
        .map(|i| (format!("{CLUSTER}-worker-{i}"), remote.as_str()))
        .collect();
    expected.push(("kube-proxy".into(), &remote));
    expected.push(("admin".into(), &remote));
    expected.push(("kube-controller-manager".into(), "https://127.0.0.1:6443"));
    expected.push(("kube-scheduler".into(), "https://127.0.0.1:6443"));
    let mut files: Vec<_> = fs::read_dir(&kubeconfigs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "{files:?}");
    for (stem, server) in &expected {
        let file = kubeconfigs.join(format!("{stem}.kubeconfig"));
        assert_eq!(
            kubectl_view(&file, "{.clusters[0].cluster.server}"),
            *server,
            "{file:?}"
        );
        assert_eq!(
            kubectl_view(&file, "{.clusters[0].name}"),
            CLUSTER,
            "{file:?}"
        );
    }

    let encryption = fs::read_to_string(dir.join("encryption-config.yaml")).unwrap();
    assert!(encryption.contains("kind: EncryptionConfiguration"));

    // What `up` runs after the AWS step (pki generate, kubeconfig generate, encryption-config
    // generate) keeps every file byte for byte: bundle wrote exactly what up would.
    let before = snapshot(&dir);
    k8s_hard(&dir).args(["pki", "generate"]).assert().success();
    k8s_hard(&dir)
        .args(["kubeconfig", "generate"])
        .assert()
        .success();
    k8s_hard(&dir)
        .args(["encryption-config", "generate"])
        .assert()
        .success();
    // And so does bundle again, with or without the flag.
    k8s_hard(&dir)
        .args(["bundle", "--api-endpoint", ENDPOINT])
        .assert()
        .success();
    k8s_hard(&dir).arg("bundle").assert().success();
    assert!(before == snapshot(&dir), "a later step changed a file");
}

#[test]
fn an_existing_cluster_yaml_with_another_or_no_endpoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init_with(dir, &["--api-endpoint", "api.other.example.com"], &[]);
    k8s_hard(dir)
        .args(["bundle", "--api-endpoint", ENDPOINT])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("api.other.example.com")
                .and(predicate::str::contains(ENDPOINT))
                .and(predicate::str::contains("api.endpoint")),
        );
    assert!(!dir.join("pki").exists(), "nothing is written when refused");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init_with(dir, &[], &[]);
    k8s_hard(dir)
        .args(["bundle", "--api-endpoint", ENDPOINT])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("endpoint: {ENDPOINT}")));
    assert!(!dir.join("pki").exists());
}

#[test]
fn an_invalid_endpoint_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    k8s_hard(&dir)
        .args(["bundle", "--api-endpoint", "not a host"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("api.endpoint"));
    assert!(!dir.join("cluster.yaml").exists());
}

#[test]
fn the_help_names_the_flag_and_the_tutorial() {
    k8s_hard(Path::new("."))
        .args(["bundle", "--help"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("--api-endpoint <NAME>")
                .and(predicate::str::contains("Kubernetes from the ground up"))
                .and(predicate::str::contains("seed").not()),
        );
}
