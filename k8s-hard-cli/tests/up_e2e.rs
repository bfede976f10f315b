//! `k8s-hard up` / `status` / `down` end to end: AWS is a real moto_server, the six machines
//! are real sshd processes on 127.0.0.10-12 and 127.0.0.20-22 (cluster.yaml maps each node's
//! SSH address to one), host keys are checked against a known_hosts file, and the machines
//! accept the cluster's key pair (a key `up` imports into AWS from DIR/ssh/CLUSTER.id_rsa).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    assert_owned_resources_missing, aws_command, init_on_hosts, init_with, json, k8s_hard,
};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};
use k8s_hard_tests::sshd::{SIX, SshdHosts};
use k8s_hard_tests::{openssl, require_tool};
use predicates::prelude::*;

const NAME: &str = "e2e-up";

/// `k8s-hard` with dummy credentials, AWS at moto (through AWS_ENDPOINT_URL, as a user of an
/// emulator would set it), nothing inherited.
fn command(dir: &Path) -> Command {
    let mut cmd = aws_command(dir);
    cmd.env("AWS_ENDPOINT_URL", Moto::shared().url());
    cmd
}

fn k8s(dir: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = command(dir);
    cmd.args(args);
    assert_cmd::Command::from_std(cmd)
}

fn up_args(known_hosts: &Path) -> Vec<String> {
    vec![
        "up".into(),
        "--known-hosts".into(),
        known_hosts.display().to_string(),
        "--ssh-wait".into(),
        "30".into(),
    ]
}

/// cluster.yaml: the seed's AWS addresses, each node's SSH going to one test host.
fn write_cluster(dir: &Path, hosts: &SshdHosts) {
    init_on_hosts(
        dir,
        &["--name", NAME, "--region", REGION],
        hosts,
        |i| match i {
            0..3 => format!("172.31.0.1{i}"),
            _ => format!("172.31.0.2{}", i - 3),
        },
        &[(
            "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
            UBUNTU_IMAGE_NAME,
        )],
    );
    // The machines' authorized key: `up` imports it as the AWS key pair.
    let ssh = dir.join("ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = ssh.join(format!("{NAME}.id_rsa"));
    std::fs::copy(hosts.client_rsa_key(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Every node holds exactly the files of the manifest, byte for byte, with their modes.
fn assert_distributed(dir: &Path, hosts: &SshdHosts) {
    let plan = json(
        &k8s(dir, &["distribute", "--plan", "-o", "json"])
            .assert()
            .success(),
    );
    let nodes = plan["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    for (node, host) in nodes.iter().zip(hosts.hosts()) {
        assert_eq!(node["node"]["port"], host.port(), "{node}");
        for file in node["files"].as_array().unwrap() {
            let name = file["remote_name"].as_str().unwrap();
            let local = std::fs::read(file["local"].as_str().unwrap()).unwrap();
            let remote = host.home().join(name);
            assert_eq!(
                std::fs::read(&remote).unwrap(),
                local,
                "{}",
                remote.display()
            );
            let mode = std::fs::metadata(&remote).unwrap().permissions().mode() & 0o777;
            let want = if file["mode"] == "secret" {
                0o600
            } else {
                0o644
            };
            assert_eq!(mode, want, "{name}");
        }
    }
}

/// `kubectl`'s reading of a kubeconfig's server URL.
fn server_of(kubeconfig: &Path) -> String {
    let out = Command::new("kubectl")
        .args(["config", "view", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["-o", "jsonpath={.clusters[0].cluster.server}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn owned_resources_missing(dir: &Path) {
    assert_owned_resources_missing(&json(
        &k8s(dir, &["infra", "status", "-o", "json"])
            .assert()
            .code(1),
    ));
}

#[test]
fn up_builds_the_whole_cluster_then_changes_nothing_resumes_after_a_kill_and_down_leaves_nothing() {
    require_tool("kubectl");
    Moto::shared().warm_up();
    let hosts = SshdHosts::start(&SIX);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cluster(dir, &hosts);
    let known_hosts = hosts.write_known_hosts();
    let up = up_args(&known_hosts);
    let up: Vec<&str> = up.iter().map(String::as_str).collect();

    // The plan reads AWS and writes nothing.
    let plan = json(&k8s(dir, &["up", "--plan", "-o", "json"]).assert().success());
    assert!(
        plan["infra"]["changes"].as_array().unwrap().len() >= 16,
        "{plan}"
    );
    assert_eq!(plan["infra"]["calls"]["mutating"], 0);
    assert_eq!(plan["encryption_config"], "generate");
    assert_eq!(plan["distribute"]["nodes"].as_array().unwrap().len(), 6);
    assert!(!dir.join("state.json").exists() && !dir.join("pki").exists());

    // Without the machines' host keys (no ~/.ssh/known_hosts here), `up` stops at the SSH
    // step, says what to do, and keeps what it made.
    k8s(dir, &["up", "--ssh-wait", "5"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("[5/6]")
                .and(predicate::str::contains("6 of 6 nodes do not accept SSH"))
                .and(predicate::str::contains("--accept-new")),
        );
    assert!(dir.join("state.json").exists() && dir.join("pki/ca-key.pem").exists());

    // Run again with them: resumes; one line per step on stderr.
    let first = k8s(dir, &[&up[..], &["-o", "json"]].concat())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&first.get_output().stderr).to_string();
    for step in 1..=6 {
        assert!(stderr.contains(&format!("[{step}/6]")), "{stderr}");
    }
    let first = json(&first);
    // Only the files are new: 45 of them over six nodes.
    assert_eq!(first["changed"], 45, "{first}");
    assert_eq!(first["infra"]["calls"]["mutating"], 0, "{first}");
    let dns = first["infra"]["state"]["load_balancer_dns_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dns.contains(NAME), "{dns}");
    assert_eq!(first["api_endpoint"], format!("https://{dns}:6443"));

    // Infra: every resource in place (checked by the infra step's own status).
    let kh = known_hosts.display().to_string();
    let status = json(
        &k8s(dir, &["status", "--known-hosts", &kh, "-o", "json"])
            .assert()
            .success(),
    );
    assert_eq!(status["ok"], true, "{status}");
    assert!(
        status["infra"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] != "missing")
    );

    // The certificates carry the load balancer's name and the machines' real public IPs.
    let sans = openssl::sans(&dir.join("pki/master-kubernetes.pem"));
    assert!(sans.contains(&format!("DNS:{dns}")), "{sans:?}");
    let instances = &first["infra"]["state"]["instances"];
    for i in 0..3 {
        let ip = instances[format!("master-{i}")]["public_ip"]
            .as_str()
            .unwrap();
        assert!(sans.contains(&format!("IP Address:{ip}")), "{sans:?}");
    }
    let w1 = instances["worker-1"]["public_ip"].as_str().unwrap();
    let kubelet = openssl::sans(&dir.join(format!("pki/{NAME}-worker-1.pem")));
    assert!(kubelet.contains(&format!("IP Address:{w1}")), "{kubelet:?}");

    // Every host has exactly its files; the kubeconfigs on the workers point at the LB.
    assert_distributed(dir, &hosts);
    for (i, host) in hosts.hosts()[3..].iter().enumerate() {
        for file in [
            format!("{NAME}-worker-{i}.kubeconfig"),
            "kube-proxy.kubeconfig".into(),
        ] {
            assert_eq!(
                server_of(&host.home().join(&file)),
                format!("https://{dns}:6443"),
                "{file}"
            );
        }
    }
    let master = hosts.hosts()[0].home();
    assert_eq!(
        server_of(&master.join("admin.kubeconfig")),
        format!("https://{dns}:6443")
    );
    // The control plane's own components talk to their local API server, as in the seed.
    assert_eq!(
        server_of(&master.join("kube-scheduler.kubeconfig")),
        "https://127.0.0.1:6443"
    );

    // Second run: nothing changes anywhere.
    let second = json(
        &k8s(dir, &[&up[..], &["-o", "json"]].concat())
            .assert()
            .success(),
    );
    assert_eq!(second["changed"], 0, "{second}");
    assert_eq!(second["infra"]["calls"]["mutating"], 0);
    assert!(
        second["distribute"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|n| n["files"].as_array().unwrap())
            .all(|f| f["status"] == "unchanged")
    );

    // `down` asks (and, with no terminal, refuses); with --yes it deletes everything and
    // keeps the local files.
    k8s(dir, &["down"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--yes"));
    let down = json(
        &k8s(dir, &["down", "--yes", "-o", "json"])
            .assert()
            .success(),
    );
    assert!(
        down["infra"]["left_behind"].as_array().unwrap().is_empty(),
        "{down}"
    );
    owned_resources_missing(dir);
    assert!(dir.join("pki/ca-key.pem").exists());
    let gone = json(
        &k8s(dir, &["status", "--known-hosts", &kh, "-o", "json"])
            .assert()
            .code(1),
    );
    assert_eq!(gone["ok"], false);
    // The machines' files are still in place (the test hosts outlive the instances).
    assert!(gone["nodes"]["nodes"][0]["error"].is_null(), "{gone}");

    // A new `up`, killed (SIGKILL) in the middle of creating the machines...
    let ca = std::fs::read(dir.join("pki/ca.pem")).unwrap();
    let mut child = command(dir)
        .args(&up)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let stop = line.contains("created  instance");
        seen.push(line);
        if stop {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains("created  instance")),
        "up ended before it could be killed: {seen:#?}"
    );
    assert!(!seen.iter().any(|l| l.contains("[2/6]")), "{seen:#?}");

    // ... converges when run again, with the same CA, and then changes nothing.
    let resumed = json(
        &k8s(dir, &[&up[..], &["-o", "json"]].concat())
            .assert()
            .success(),
    );
    assert!(resumed["changed"].as_u64().unwrap() > 0);
    assert_eq!(std::fs::read(dir.join("pki/ca.pem")).unwrap(), ca);
    let new_dns = resumed["infra"]["state"]["load_balancer_dns_name"]
        .as_str()
        .unwrap();
    assert_distributed(dir, &hosts);
    let worker0 = hosts.hosts()[3]
        .home()
        .join(format!("{NAME}-worker-0.kubeconfig"));
    assert_eq!(server_of(&worker0), format!("https://{new_dns}:6443"));
    let again = json(
        &k8s(dir, &[&up[..], &["-o", "json"]].concat())
            .assert()
            .success(),
    );
    assert_eq!(again["changed"], 0, "{again}");

    // down --purge: nothing left in AWS, nothing generated left locally but cluster.yaml.
    let down = json(
        &k8s(dir, &["down", "--yes", "--purge", "-o", "json"])
            .assert()
            .success(),
    );
    assert_eq!(down["purged"].as_array().unwrap().len(), 5, "{down}");
    owned_resources_missing(dir);
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["cluster.yaml"]);
}

#[test]
fn up_needs_a_reviewed_cluster_yaml_and_names_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    k8s_hard(dir)
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("k8s-hard --dir").and(predicate::str::contains("init")));
    assert!(!dir.join("cluster.yaml").exists());

    init_with(
        dir,
        &["--name", "e2e-bad", "--region", REGION],
        &[("first_ip: 172.31.0.20", "first_ip: 172.31.0.300")],
    );
    k8s(dir, &["up"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("first_ip"));
    assert!(!dir.join("state.json").exists() && !dir.join("pki").exists());
}
