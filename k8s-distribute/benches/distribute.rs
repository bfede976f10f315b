//! Distribution of a 3 masters + 3 workers cluster's files to six real sshd hosts on loopback:
//! this crate to all six, this crate to one master alone, and the sequential `scp` loops of
//! "Kubernetes from the ground up" (STEP 5, the TASK of STEP 6, STEP 7: fifteen `scp` runs)
//! over the same six hosts.
//!
//! Run with `cargo bench -p k8s-distribute --bench distribute` (as root: the harness mounts a
//! home folder per host).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_distribute::{
    HostKeys, LocalFiles, Manifest, SshClient, SshSettings, UnknownHosts, UploadOptions,
};
use k8s_hard_tests::require_tool;
use k8s_hard_tests::sshd::{SIX, SshdHosts};

#[path = "../tests/common/mod.rs"]
mod common;

use common::{NAME, dummy_files, nodes};

fn local_path(files: &LocalFiles, name: &str) -> std::path::PathBuf {
    if name.ends_with(".kubeconfig") {
        files.kubeconfig_dir.join(name)
    } else if name == "encryption-config.yaml" {
        files.encryption_config.clone()
    } else {
        files.pki_dir.join(name)
    }
}

fn clear_homes(hosts: &SshdHosts) {
    for h in hosts.hosts() {
        for e in std::fs::read_dir(h.home()).expect("read home").flatten() {
            if e.file_name() != ".ssh" {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The tutorial's loops, one `scp` per node per step, one node after another.
fn tutorial_scp_loops(hosts: &SshdHosts, files: &LocalFiles, known_hosts: &Path) {
    let scp = require_tool("scp");
    let user = hosts.user();
    let send = |i: usize, names: &[String]| {
        let h = &hosts[i];
        // No config (`-F /dev/null`), no agent, only the harness's key: nothing of the
        // machine's own SSH setup.
        let status = Command::new(&scp)
            .env_remove("SSH_AUTH_SOCK")
            .args(["-q", "-F", "/dev/null", "-o", "IdentitiesOnly=yes"])
            .arg("-i")
            .arg(hosts.client_key())
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args(["-P", &h.port().to_string()])
            .args(names.iter().map(|n| local_path(files, n)))
            .arg(format!("{user}@{}:~/", h.address()))
            .status()
            .expect("run scp");
        assert!(status.success(), "scp to {} failed", h.address());
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // STEP 5
    for i in 0..3 {
        let w = format!("{NAME}-worker-{i}");
        send(
            3 + i,
            &s(&["ca.pem", &format!("{w}-key.pem"), &format!("{w}.pem")]),
        );
    }
    for i in 0..3 {
        send(
            i,
            &s(&[
                "ca.pem",
                "ca-key.pem",
                "service-account-key.pem",
                "service-account.pem",
                "master-kubernetes.pem",
                "master-kubernetes-key.pem",
            ]),
        );
    }
    // STEP 6, TASK
    for i in 0..3 {
        let w = format!("{NAME}-worker-{i}");
        send(
            3 + i,
            &s(&[&format!("{w}.kubeconfig"), "kube-proxy.kubeconfig"]),
        );
    }
    for i in 0..3 {
        send(
            i,
            &s(&[
                "kube-scheduler.kubeconfig",
                "kube-controller-manager.kubeconfig",
                "admin.kubeconfig",
            ]),
        );
    }
    // STEP 7
    for i in 0..3 {
        send(i, &s(&["encryption-config.yaml"]));
    }
}

fn bench(c: &mut Criterion) {
    let hosts = SshdHosts::start(&SIX);
    // Realistic sizes: certificates 1.3 KB, keys 1.7 KB, kubeconfigs 6 KB.
    let files = dummy_files(&hosts.scratch().join("local"), 3);
    let (masters, workers) = nodes(&hosts, 3);
    let six = Manifest::for_cluster(&masters, &workers, &files).expect("manifest");
    let one = Manifest::for_cluster(&masters[..1], &[], &files).expect("manifest");
    let known_hosts = hosts.write_known_hosts();
    let client = SshClient::new(&SshSettings::new(
        hosts.client_key(),
        HostKeys::KnownHosts {
            path: known_hosts.clone(),
            unknown: UnknownHosts::Refuse,
        },
    ))
    .expect("client");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let upload = |m: &Manifest| {
        let report = rt
            .block_on(client.upload(m, &UploadOptions::default(), &|_| {}))
            .expect("upload");
        assert!(report.is_success(), "{report:?}");
    };

    let mut g = c.benchmark_group("distribute_3+3");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("k8s-distribute, six hosts", |b| {
        b.iter_batched(
            || clear_homes(&hosts),
            |()| upload(&six),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("k8s-distribute, one master alone", |b| {
        b.iter_batched(
            || clear_homes(&hosts),
            |()| upload(&one),
            BatchSize::PerIteration,
        )
    });
    g.bench_function(
        "k8s-distribute, six hosts, second run (all unchanged)",
        |b| {
            upload(&six);
            b.iter(|| upload(&six))
        },
    );
    g.bench_function("tutorial scp loops, six hosts sequential", |b| {
        b.iter_batched(
            || clear_homes(&hosts),
            |()| tutorial_scp_loops(&hosts, &files, &known_hosts),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
