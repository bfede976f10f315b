//! `k8s-hard infra …` against a real moto_server, and its hand-off to the PKI and kubeconfig
//! steps: the load balancer's DNS name becomes the API endpoint.

mod common;

use std::path::Path;

use common::{assert_owned_resources_missing, aws_command, init_with, json, k8s_hard};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};
use k8s_hard_tests::openssl;
use predicates::prelude::*;

/// `k8s-hard --dir DIR infra ARGS` with dummy credentials, pointed at moto, nothing else.
fn infra(dir: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = aws_command(dir);
    cmd.arg("infra")
        .args(args)
        .arg("--endpoint-url")
        .arg(Moto::shared().url());
    assert_cmd::Command::from_std(cmd)
}

#[test]
#[ignore = "needs moto_server and openssl: run scripts/test"]
fn up_is_idempotent_feeds_the_pki_and_down_cleans_up() {
    Moto::shared().warm_up();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init_with(
        dir,
        &[
            "--name",
            "cli-infra",
            "--region",
            REGION,
            "--masters",
            "1",
            "--workers",
            "2",
        ],
        &[
            (
                "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
                UBUNTU_IMAGE_NAME,
            ),
            ("rsa-2048", "ecdsa-p256"),
        ],
    );

    let plan = json(&infra(dir, &["plan", "-o", "json"]).assert().success());
    assert!(plan["changes"].as_array().unwrap().len() >= 10, "{plan}");
    assert_eq!(plan["calls"]["mutating"], 0);
    assert!(!dir.join("state.json").exists());

    let up = json(&infra(dir, &["up", "-o", "json"]).assert().success());
    let endpoint = up["state"]["load_balancer_dns_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(endpoint.contains("cli-infra"), "{endpoint}");
    assert!(dir.join("ssh/cli-infra.id_rsa").is_file());
    assert!(dir.join("state.json").is_file());

    let again = json(&infra(dir, &["up", "-o", "json"]).assert().success());
    assert_eq!(again["calls"]["mutating"], 0, "{again}");
    assert!(again["changes"].as_array().unwrap().is_empty());

    let status = json(&infra(dir, &["status", "-o", "json"]).assert().success());
    assert_eq!(status["api_endpoint"], endpoint.as_str());

    // The endpoint and the instances' public IPs flow into the certificates and kubeconfigs.
    k8s_hard(dir).arg("bundle").assert().success();
    let api = openssl::sans(&dir.join("pki/master-kubernetes.pem"));
    assert!(api.contains(&format!("DNS:{endpoint}")), "{api:?}");
    let worker_ip = up["state"]["instances"]["worker-1"]["public_ip"]
        .as_str()
        .unwrap();
    let kubelet = openssl::sans(&dir.join("pki/cli-infra-worker-1.pem"));
    assert!(
        kubelet.contains(&format!("IP Address:{worker_ip}")),
        "{kubelet:?}"
    );
    let admin = std::fs::read_to_string(dir.join("kubeconfigs/admin.kubeconfig")).unwrap();
    assert!(admin.contains(&format!("server: https://{endpoint}:6443")));

    infra(dir, &["down"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--yes"));
    let down = json(
        &infra(dir, &["down", "--yes", "-o", "json"])
            .assert()
            .success(),
    );
    assert!(down["left_behind"].as_array().unwrap().is_empty(), "{down}");
    assert_owned_resources_missing(&json(
        &infra(dir, &["status", "-o", "json"]).assert().code(1),
    ));
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn no_credentials_and_bad_specs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init_with(dir, &["--name", "cli-nocreds", "--region", REGION], &[]);
    // k8s_hard gives no credentials and reads none of the machine's.
    k8s_hard(dir)
        .args(["infra", "plan", "--endpoint-url", "http://127.0.0.1:9"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("credentials"));

    // .1-.3 are AWS-reserved in every subnet: caught before any call.
    let bad = tempfile::tempdir().unwrap();
    init_with(
        bad.path(),
        &["--name", "cli-bad", "--region", REGION],
        &[("first_ip: 172.31.0.10", "first_ip: 172.31.0.2")],
    );
    infra(bad.path(), &["plan"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("masters[0].private_ip"));
}
