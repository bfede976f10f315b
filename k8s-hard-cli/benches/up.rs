//! Wall time of `k8s-hard up` for a 3+3 cluster from a fresh folder, step by step: AWS is
//! moto_server behind the harness's emulation of EC2 (the six machines are sshd processes on
//! 127.0.0.10-12 and .20-22 that accept the key pair only once it reaches them, and whose
//! consoles show cloud-init's output), first with no delays, then with AWS's timing scaled down
//! (as in the end-to-end tests). No key and no known_hosts are placed: `up` makes the key pair
//! and pins the consoles' host keys, as on a new account.
//!
//! Each iteration is a fresh cluster (new name, new PKI, empty known_hosts, machines with an
//! empty `authorized_keys`; `down --purge` afterwards, untimed), then a second `up` that finds
//! everything in place. The PKI row is what `up` spends signing once AWS is done; the key
//! generation row is what it would have cost on top, had the keys not been made while AWS
//! worked. Build with the dev profile (the time is moto's and sshd's):
//!
//! ```text
//! cargo bench -p k8s-hard-cli --bench up --profile dev
//! K8S_HARD_BENCH_ITERS=10 cargo bench -p k8s-hard-cli --bench up --profile dev
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Instant;

use common::{aws_command, init_on_hosts};
use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};
use k8s_hard_tests::sshd::{SIX, SshdHosts};

const STEPS: [&str; 7] = [
    "infra",
    "key_generation_during_infra",
    "pki",
    "kubeconfigs",
    "encryption_config",
    "ssh_wait",
    "distribute",
];

fn private_ip(i: usize) -> String {
    match i {
        0..3 => format!("172.31.0.1{i}"),
        _ => format!("172.31.0.2{}", i - 3),
    }
}

fn k8s(dir: &Path, aws: &str, args: &[&str]) -> serde_json::Value {
    let out = aws_command(dir)
        .env("AWS_ENDPOINT_URL", aws)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("k8s-hard: {e}"));
    assert!(
        out.status.success(),
        "k8s-hard {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn cluster(dir: &Path, name: &str, hosts: &SshdHosts) {
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

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn main() {
    let iters: usize = std::env::var("K8S_HARD_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let moto = Moto::start();
    moto.warm_up();
    let hosts = SshdHosts::start_instances(&SIX);
    let timing = Timing::bench();
    for (what, timing) in [
        ("moto, no delays", Timing::none()),
        (
            "moto behind the AWS timing emulation (pending 3 s, console 1 s and key pair 1.5 s after boot)",
            timing,
        ),
    ] {
        let aws = AwsTiming::start(moto.url(), timing);
        aws.launch_as(&hosts, private_ip);
        run(what, &aws.url(), &hosts, iters);
    }
}

fn run(what: &str, aws: &str, hosts: &SshdHosts, iters: usize) {
    let mut total = Vec::new();
    let mut again = Vec::new();
    let mut steps: Vec<Vec<u64>> = vec![Vec::new(); STEPS.len()];
    // One untimed warm-up round: moto's first answers of a kind are slow.
    for i in 0..=iters {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path();
        let name = format!("bench-up-{i}-{}", std::process::id());
        cluster(dir, &name, hosts);
        // New machines: nothing authorized until EC2 installs this cluster's key pair.
        for host in hosts.hosts() {
            std::fs::write(host.authorized_keys(), "").unwrap_or_else(|e| panic!("{e}"));
        }
        let known_hosts = dir.join("known_hosts").display().to_string();
        let up = ["up", "--known-hosts", &known_hosts, "-o", "json"];
        let start = Instant::now();
        let first = k8s(dir, aws, &up);
        let took = millis(start);
        let start = Instant::now();
        let second = k8s(dir, aws, &up);
        let took_again = millis(start);
        assert_eq!(second["changed"], 0, "{second}");
        k8s(dir, aws, &["down", "--yes", "--purge", "-o", "json"]);
        if i == 0 {
            continue;
        }
        total.push(took);
        again.push(took_again);
        for (k, step) in STEPS.iter().enumerate() {
            steps[k].push(first["timings_ms"][step].as_u64().unwrap_or(0));
        }
    }
    println!(
        "k8s-hard up from a fresh folder, 3+3 nodes, RSA-2048, {what}, six sshd, median of {iters}:"
    );
    println!(
        "  {:<40} {:>7} ms",
        "whole `up` (fresh cluster)",
        median(total)
    );
    for (k, step) in STEPS.iter().enumerate() {
        println!("    {:<38} {:>7} ms", step, median(steps[k].clone()));
    }
    println!(
        "  {:<40} {:>7} ms",
        "second `up` (nothing to do)",
        median(again)
    );
}
