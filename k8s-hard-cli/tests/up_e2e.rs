//! `k8s-hard up` / `status` / `down` end to end: AWS is a real moto_server behind an emulation
//! of AWS's timing (new IDs unknown for a moment, instances pending, the load balancer
//! provisioning, terminations shutting down, interfaces lingering), the six machines are real
//! sshd processes on 127.0.0.10-12 and 127.0.0.20-22 (cluster.yaml maps each node's SSH address
//! to one) that do what EC2 does to a new instance: they accept no key until the cluster's key
//! pair reaches their `authorized_keys` a moment after launch, and their consoles show, late,
//! what cloud-init's own script prints over their three host keys. Host keys are checked
//! against a known_hosts file that starts empty. Only the console test brings a key of its
//! own (DIR/ssh/CLUSTER.id_rsa, imported as the key pair); the others start with none.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    assert_owned_resources_missing, aws_command, init_on_hosts, init_with, json, k8s_hard,
};
use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
use k8s_hard_tests::cloud_init::{boot_console, host_keys_console};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};
use k8s_hard_tests::sshd::{SIX, SshdHost, SshdHosts};
use k8s_hard_tests::{openssl, require_tool};
use predicates::prelude::*;

const NAME: &str = "e2e-up";

/// `k8s-hard` with dummy credentials, AWS at `aws` (through AWS_ENDPOINT_URL, as a user of an
/// emulator would set it), nothing inherited.
fn command(dir: &Path, aws: &str) -> Command {
    let mut cmd = aws_command(dir);
    cmd.env("AWS_ENDPOINT_URL", aws);
    cmd
}

fn k8s_at(dir: &Path, aws: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = command(dir, aws);
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

/// The private IP cluster.yaml gives test host `i` (the tutorial's addresses).
fn private_ip(i: usize) -> String {
    match i {
        0..3 => format!("172.31.0.1{i}"),
        _ => format!("172.31.0.2{}", i - 3),
    }
}

/// AWS for one test: moto behind the timing emulation, which makes each test host the
/// machine EC2 launches at its node's private IP (key pair installed late, console from
/// cloud-init's script).
fn aws_with_consoles(hosts: &SshdHosts) -> AwsTiming {
    let aws = AwsTiming::start(Moto::shared().url(), Timing::short());
    aws.launch_as(hosts, private_ip);
    aws
}

/// The known_hosts lines for `host`, without their comments, and their comments, sorted.
fn pinned(known_hosts: &Path, host: &SshdHost) -> Vec<(String, String)> {
    let prefix = format!("[{}]:{} ", host.address(), host.port());
    let mut lines: Vec<(String, String)> = std::fs::read_to_string(known_hosts)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            (words[..2].join(" "), words[2..].join(" "))
        })
        .collect();
    lines.sort();
    lines
}

/// Every host key `host` serves (`type base64`), each with `comment`, sorted: what its
/// known_hosts lines must be once pinned from its console.
fn served(host: &SshdHost, comment: &str) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = host
        .host_public_keys()
        .iter()
        .map(|k| (key_of(k), comment.to_string()))
        .collect();
    assert_eq!(keys.len(), 3, "{}", host.address());
    keys.sort();
    keys
}

/// `type base64` of an OpenSSH public key line.
fn key_of(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// cluster.yaml: the tutorial's AWS addresses (STEP 3), each node's SSH going to one test host.
fn write_cluster(dir: &Path, hosts: &SshdHosts, name: &str) {
    init_on_hosts(
        dir,
        &["--name", name, "--region", REGION],
        hosts,
        private_ip,
        &[(
            "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
            UBUNTU_IMAGE_NAME,
        )],
    );
}

/// [`write_cluster`], and the user's own key in DIR/ssh/: `up` imports it as the key pair.
fn write_cluster_with_own_key(dir: &Path, hosts: &SshdHosts, name: &str) {
    write_cluster(dir, hosts, name);
    let ssh = dir.join("ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = ssh.join(format!("{name}.id_rsa"));
    std::fs::copy(hosts.client_rsa_key(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Every node holds exactly the files of the manifest, byte for byte, with their modes.
fn assert_distributed(dir: &Path, hosts: &SshdHosts) {
    let plan = json(
        &k8s_hard(dir)
            .args(["distribute", "--plan", "-o", "json"])
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

fn owned_resources_missing(dir: &Path, aws: &str) {
    assert_owned_resources_missing(&json(
        &k8s_at(dir, aws, &["infra", "status", "-o", "json"])
            .assert()
            .code(1),
    ));
}

#[test]
#[ignore = "needs moto_server, sshd (root), ssh-keygen, kubectl and openssl: run scripts/test"]
fn up_builds_the_whole_cluster_then_changes_nothing_resumes_after_a_kill_and_down_leaves_nothing() {
    require_tool("kubectl");
    Moto::shared().warm_up();
    let hosts = SshdHosts::start_instances(&SIX);
    let aws = aws_with_consoles(&hosts);
    let url = aws.url();
    let k8s = |dir: &Path, args: &[&str]| k8s_at(dir, &url, args);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cluster(dir, &hosts, NAME);
    // No key of any machine recorded anywhere: they come from the consoles; no SSH key
    // either: `up` makes the key pair.
    let known_hosts = dir.join("known_hosts");
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

    // The first `up`, through AWS's timing, without --accept-new and with no key recorded:
    // converges in one run, each machine's key verified from its console before any byte.
    let first = k8s(dir, &[&up[..], &["-o", "json"]].concat())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&first.get_output().stderr).to_string();
    for step in 1..=6 {
        assert!(stderr.contains(&format!("[{step}/6]")), "{stderr}");
    }
    let first = json(&first);
    let counts = aws.counts();
    assert!(counts.not_found > 0 && counts.pending > 0, "{counts:?}");
    assert_eq!(counts.console_output, 6, "{counts:?}");
    assert!(counts.console_not_yet > 0, "{counts:?}");
    assert_eq!(counts.key_installed, 6, "{counts:?}");
    assert!(first["infra"]["calls"]["mutating"].as_u64().unwrap() > 0);
    let sent = first["distribute"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["files"].as_array().unwrap())
        .filter(|f| f["status"] == "sent")
        .count();
    assert_eq!(sent, 45, "{first}");
    // Exactly the hosts' own keys, all three, marked as coming from the console.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    for (i, host) in hosts.hosts().iter().enumerate() {
        let node = if i < 3 {
            format!("master-{i}")
        } else {
            format!("worker-{}", i - 3)
        };
        let id = state["instances"][&node]["id"].as_str().unwrap();
        assert_eq!(
            pinned(&known_hosts, host),
            served(host, &format!("k8s-hard:console {id} cluster={NAME}")),
            "{node}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&known_hosts)
            .unwrap()
            .lines()
            .count(),
        18
    );
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
    // The control plane's own components talk to their local API server (the tutorial's STEP 6).
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

    // The masters' encryption configs: all the local file. After a rotation's first stage
    // (new key second) is made locally, the masters still have the old file: a safe mix,
    // judged from their copies' text.
    let stage = |expect_ok: bool| {
        let out = k8s(dir, &["status", "--known-hosts", &kh, "-o", "json"]).assert();
        let out = if expect_ok {
            out.success()
        } else {
            out.code(1)
        };
        json(&out)["encryption_config"].clone()
    };
    let before = stage(true);
    assert_eq!(before["all_same"], true, "{before}");
    k8s_hard(dir)
        .args(["encryption-config", "rotate"])
        .assert()
        .success();
    let mixed = stage(false);
    assert_eq!(mixed["all_same"], false, "{mixed}");
    assert_eq!(mixed["compatible"], true, "{mixed}");
    assert!(
        mixed["summary"]
            .as_str()
            .unwrap()
            .starts_with("0 of 3 masters have the local file"),
        "{mixed}"
    );
    assert_eq!(mixed["local_stage"]["stage"], "new_key_second", "{mixed}");
    for master in mixed["masters"].as_array().unwrap() {
        assert_eq!(master["stage"]["stage"], "single", "{mixed}");
        assert_eq!(master["stage"]["writing"], "key1", "{mixed}");
    }
    let rotated = json(
        &k8s(dir, &[&up[..], &["-o", "json"]].concat())
            .assert()
            .success(),
    );
    assert_eq!(rotated["changed"], 3, "one file to each master: {rotated}");
    assert_eq!(stage(true)["all_same"], true);

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
    owned_resources_missing(dir, &url);
    assert!(dir.join("pki/ca-key.pem").exists());
    let gone = json(
        &k8s(dir, &["status", "--known-hosts", &kh, "-o", "json"])
            .assert()
            .code(1),
    );
    assert_eq!(gone["ok"], false);
    // The machines' files are still in place (the test hosts outlive the instances): every
    // node answers, finds each file unchanged, and each is, byte for byte.
    for node in gone["nodes"]["nodes"].as_array().unwrap() {
        assert!(node["error"].is_null(), "{gone}");
        let files = node["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{node}");
        assert!(files.iter().all(|f| f["status"] == "unchanged"), "{node}");
    }
    assert_distributed(dir, &hosts);

    // A new `up`, killed (SIGKILL) in the middle of creating the machines...
    let ca = std::fs::read(dir.join("pki/ca.pem")).unwrap();
    let mut child = command(dir, &url)
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
    // The new machines' keys replaced the old instances' pins: still three lines per host.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    let id = state["instances"]["master-0"]["id"].as_str().unwrap();
    assert_eq!(
        pinned(&known_hosts, &hosts.hosts()[0]),
        served(
            &hosts.hosts()[0],
            &format!("k8s-hard:console {id} cluster={NAME}")
        )
    );
    assert_eq!(
        std::fs::read_to_string(&known_hosts)
            .unwrap()
            .lines()
            .count(),
        18
    );
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
    owned_resources_missing(dir, &url);
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["cluster.yaml", "known_hosts"]);
}

/// A machine whose console shows another key than the one it offers gets nothing; a console
/// that never shows keys makes `up` wait, then stop with the way on (`--accept-new`).
#[test]
#[ignore = "needs moto_server, sshd (root) and ssh-keygen: run scripts/test"]
fn host_keys_are_verified_from_the_console_before_any_byte() {
    Moto::shared().warm_up();
    let hosts = SshdHosts::start_instances(&SIX);
    let aws = aws_with_consoles(&hosts);
    let url = aws.url();
    let k8s = |dir: &Path, args: &[&str]| k8s_at(dir, &url, args);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let name = "e2e-console";
    // The one test with the user's own key in DIR/ssh/: `up` imports it as the key pair.
    write_cluster_with_own_key(dir, &hosts, name);
    let known_hosts = dir.join("known_hosts");
    let kh = known_hosts.display().to_string();
    // worker-0's console has a garbled line in its key block (a serial line's noise, or a
    // hostile node): dropped, and reported, for worker-0 alone. worker-1's console shows
    // someone else's key; worker-2's console shows none (moto's sample output).
    let garbled = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\x1b[2Jgarbled root@ip-172-31-0-20";
    let worker0 = hosts.hosts()[3].console().replacen(
        "-----BEGIN SSH HOST KEY KEYS-----\n",
        &format!("-----BEGIN SSH HOST KEY KEYS-----\n{garbled}\n"),
        1,
    );
    aws.set_console_output(&private_ip(3), &boot_console(None, &worker0));
    let stranger_dir = hosts.scratch().join("stranger-host");
    std::fs::create_dir_all(&stranger_dir).unwrap();
    let stranger = stranger_dir.join("ssh_host_ed25519_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(made.success());
    let fingerprint = |pub_file: &Path| {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(pub_file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let stranger_fp = fingerprint(&stranger.with_extension("pub"));
    aws.set_console_output(
        &private_ip(4),
        &boot_console(None, &host_keys_console(&stranger_dir)),
    );
    aws.set_console_output(&private_ip(5), "[    0.0] Linux version 6.8.0\n");

    // Keys missing from worker-2's console: `up` waits (bounded), then stops with the hint.
    let first = k8s(dir, &["up", "--known-hosts", &kh, "--ssh-wait", "3"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!(
                "1 of 6 machines did not show their SSH host keys in their console output within 3 s ({name}-worker-2)"
            ))
            .and(predicate::str::contains("--accept-new")),
        );
    assert_eq!(pinned(&known_hosts, &hosts.hosts()[5]), []);
    // The garbled line cost worker-0 that line only, shown escaped; every other console was
    // pinned whole.
    let stderr = String::from_utf8_lossy(&first.get_output().stderr).to_string();
    let warning = stderr
        .lines()
        .find(|l| l.contains("dropped"))
        .unwrap_or_else(|| panic!("no dropped line reported:\n{stderr}"));
    assert!(
        warning.contains(&format!("{name}-worker-0"))
            && warning.contains("dropped 1 line(s)")
            && warning.contains("AAAAC3NzaC1lZDI1NTE5AAAAI\\u{1b}[2Jgarbled"),
        "{warning}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert_eq!(stderr.matches("dropped").count(), 1, "{stderr}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    for (i, node) in [
        (0, "master-0"),
        (1, "master-1"),
        (2, "master-2"),
        (3, "worker-0"),
    ] {
        let id = state["instances"][node]["id"].as_str().unwrap();
        assert_eq!(
            pinned(&known_hosts, &hosts.hosts()[i]),
            served(
                &hosts.hosts()[i],
                &format!("k8s-hard:console {id} cluster={name}")
            ),
            "{node}"
        );
    }

    // With --accept-new, worker-2 is trusted on first use, but worker-1 offers a key its
    // console does not show: refused before any file is sent, naming both fingerprints.
    let refused = k8s(
        dir,
        &[
            "up",
            "--known-hosts",
            &kh,
            "--ssh-wait",
            "10",
            "--accept-new",
        ],
    )
    .assert()
    .code(1);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    let real_fp = hosts.hosts()[4].host_key_fingerprint();
    let line = stderr
        .lines()
        .find(|l| l.contains(&format!("{name}-worker-1")) && l.contains("HOST KEY CHANGED"))
        .unwrap_or_else(|| panic!("no refusal of worker-1 in:\n{stderr}"));
    assert!(line.contains(&format!("expected {stranger_fp}")), "{line}");
    assert!(line.contains(&format!("host offered {real_fp}")), "{line}");
    assert!(
        stderr.contains("trusting their keys on first use (--accept-new)"),
        "{stderr}"
    );
    for host in hosts.hosts() {
        let files: Vec<_> = std::fs::read_dir(host.home())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(files.is_empty(), "{}: {files:?}", host.address());
    }
    // worker-2 learnt on first use: its real key, without the console marker.
    let learnt = pinned(&known_hosts, &hosts.hosts()[5]);
    assert_eq!(learnt.len(), 1);
    assert_eq!(learnt[0].0, key_of(&hosts.hosts()[5].host_public_key()));
    assert!(!learnt[0].1.contains("k8s-hard:console"), "{learnt:?}");

    // The console shows the right key again (the machine was what it claimed): `up` ends.
    aws.set_console_output(
        &private_ip(4),
        &boot_console(None, &hosts.hosts()[4].console()),
    );
    k8s(
        dir,
        &[
            "up",
            "--known-hosts",
            &kh,
            "--ssh-wait",
            "10",
            "--accept-new",
        ],
    )
    .assert()
    .success();
    let id = state["instances"]["worker-1"]["id"].as_str().unwrap();
    assert_eq!(
        pinned(&known_hosts, &hosts.hosts()[4]),
        served(
            &hosts.hosts()[4],
            &format!("k8s-hard:console {id} cluster={name}")
        )
    );
    assert_distributed(dir, &hosts);
    // The machines accept the user's own key: EC2 installed what `up` imported, and nothing else.
    let own = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(dir.join(format!("ssh/{name}.id_rsa")))
        .output()
        .unwrap();
    assert!(own.status.success());
    let own = key_of(&String::from_utf8_lossy(&own.stdout));
    for host in hosts.hosts() {
        let authorized: Vec<String> = std::fs::read_to_string(host.authorized_keys())
            .unwrap()
            .lines()
            .map(key_of)
            .collect();
        assert_eq!(authorized, std::slice::from_ref(&own), "{}", host.address());
    }
    k8s(dir, &["down", "--yes"]).assert().success();
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
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
    k8s_at(dir, Moto::shared().url(), &["up"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("first_ip"));
    assert!(!dir.join("state.json").exists() && !dir.join("pki").exists());
}
