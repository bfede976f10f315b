//! How long a whole cluster PKI takes: 3+3 and 3+200 nodes with RSA-2048 and ECDSA P-256, and
//! 3+1000 with P-256, also written to disk as `pki generate` does; plus one key generation alone, the floor RSA runs are judged against
//! ((keys × keygen) ÷ cores); and signing alone with keys pre-generated (`k8s-hard up`).
//!
//! `cargo bench -p k8s-pki`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_pki::{KeyAlgorithm, Node, Pki, PkiInputs};

fn inputs(workers: usize, algorithm: KeyAlgorithm) -> PkiInputs {
    let node = |name: String, ip: u32| {
        let ip = std::net::Ipv4Addr::from(0xAC1F_0000 + ip);
        Node {
            hostname: format!("ip-{}", ip.to_string().replace('.', "-")),
            fqdn: Some(format!(
                "ip-{}.us-east-2.compute.internal",
                ip.to_string().replace('.', "-")
            )),
            name,
            private_ip: ip.into(),
            public_ip: None,
        }
    };
    let masters = (0..3)
        .map(|i| node(format!("c-master-{i}"), 10 + i))
        .collect();
    let workers = (0..workers)
        .map(|i| node(format!("c-worker-{i}"), 100 + i as u32))
        .collect();
    let mut inputs = PkiInputs::new("c", masters, workers);
    inputs.key_algorithm = algorithm;
    inputs.api_endpoints = vec!["c-1.us-east-2.elb.amazonaws.com".into()];
    inputs
}

fn bench(c: &mut Criterion) {
    let mut keygen = c.benchmark_group("keygen");
    keygen.sample_size(30);
    keygen.bench_function("rsa-2048", |b| {
        b.iter(|| black_box(KeyAlgorithm::Rsa2048.generate("k")))
    });
    keygen.bench_function("ecdsa-p256", |b| {
        b.iter(|| black_box(KeyAlgorithm::EcdsaP256.generate("k")))
    });
    keygen.finish();

    let mut whole = c.benchmark_group("generate");
    whole
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (workers, algorithm) in [
        (3, KeyAlgorithm::Rsa2048),
        (200, KeyAlgorithm::Rsa2048),
        (3, KeyAlgorithm::EcdsaP256),
        (200, KeyAlgorithm::EcdsaP256),
        (1000, KeyAlgorithm::EcdsaP256),
    ] {
        let pki = Pki::new(inputs(workers, algorithm)).expect("valid inputs");
        whole.bench_function(format!("3+{workers} {algorithm}"), |b| {
            b.iter(|| black_box(pki.generate().expect("generates")))
        });
    }
    whole.finish();

    // `k8s-hard up`'s critical path: keys were made while AWS worked, only signing is left.
    let mut after_keys = c.benchmark_group("sign with pre-generated keys");
    after_keys.sample_size(10);
    for workers in [3, 200] {
        let pki = Pki::new(inputs(workers, KeyAlgorithm::Rsa2048)).expect("valid inputs");
        let none = k8s_pki::Existing::new();
        let options = k8s_pki::ReconcileOptions::default();
        after_keys.bench_function(format!("3+{workers} rsa-2048"), |b| {
            b.iter_batched(
                || pki.pregenerate_keys(&none, &options).expect("keys"),
                |keys| {
                    black_box(
                        pki.reconcile_with_keys(&none, &options, keys)
                            .expect("signs"),
                    )
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    after_keys.finish();

    // `k8s-hard pki generate` on an empty folder: keys, signatures and every file written
    // durably (cfssljson layout: 2 files per certificate, keys 0600). The folder is a temp
    // folder in K8S_HARD_BENCH_DIR (default: the system's), so the disk can be chosen.
    let mut to_disk = c.benchmark_group("generate and save");
    to_disk
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    let pki = Pki::new(inputs(1000, KeyAlgorithm::EcdsaP256)).expect("valid inputs");
    to_disk.bench_function("3+1000 ecdsa-p256", |b| {
        b.iter_batched(
            || match std::env::var_os("K8S_HARD_BENCH_DIR") {
                Some(dir) => tempfile::tempdir_in(dir).expect("temp dir"),
                None => tempfile::tempdir().expect("temp dir"),
            },
            |tmp| {
                let bundle = pki.generate().expect("generates");
                let written =
                    k8s_pki::store::save(&tmp.path().join("pki"), &bundle).expect("saves");
                black_box(written);
                tmp
            },
            criterion::BatchSize::PerIteration,
        )
    });
    to_disk.finish();

    // Re-running on an unchanged PKI: parse, verify and compare everything, write nothing.
    let pki = Pki::new(inputs(200, KeyAlgorithm::EcdsaP256)).expect("valid inputs");
    let existing = pki.generate().expect("generates").to_existing();
    let options = k8s_pki::ReconcileOptions::default();
    c.bench_function("reconcile unchanged 3+200 ecdsa-p256", |b| {
        b.iter(|| black_box(pki.reconcile(&existing, &options).expect("reconciles")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
