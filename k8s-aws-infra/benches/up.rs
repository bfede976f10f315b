//! Wall time and API calls of `up` against `moto_server`, for 3+3 and 3+30 nodes.
//!
//! Each iteration creates a fresh cluster (new name); deleting it afterwards, and moto's slow
//! first answers (one untimed warm-up cluster), stay outside the measurement. The time is mostly
//! moto's (Python): build with the dev profile rather than compiling the AWS SDK in release:
//!
//! ```text
//! cargo bench -p k8s-aws-infra --bench up --profile dev
//! K8S_AWS_INFRA_BENCH_ITERS=10 cargo bench -p k8s-aws-infra --bench up --profile dev
//! ```

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use k8s_aws_infra::{CallCounts, Infra, InfraSpec, InfraState, Timeouts};
use k8s_hard_tests::moto::{ACCESS_KEY_ID, Moto, REGION, SECRET_ACCESS_KEY, UBUNTU_IMAGE_NAME};

fn spec(cluster: &str, masters: u8, workers: u8) -> InfraSpec {
    let mut s = InfraSpec::new(cluster, masters, workers);
    s.region = Some(REGION.into());
    s.image.name = UBUNTU_IMAGE_NAME.into();
    s.ssh_ingress_cidr = "203.0.113.0/24".parse().unwrap_or_default();
    s
}

async fn up_and_down(
    infra: &Infra,
    spec: &InfraSpec,
    dir: &std::path::Path,
) -> (Duration, CallCounts) {
    let start = Instant::now();
    let up = infra
        .up(spec, &InfraState::default(), dir)
        .await
        .unwrap_or_else(|e| panic!("up {}: {e}", spec.cluster));
    let took = start.elapsed();
    let down = infra
        .down(spec, &up.state)
        .await
        .unwrap_or_else(|e| panic!("down {}: {e}", spec.cluster));
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    (took, up.calls)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, selects sizes by name ("3+3", "3+30").
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let iters: usize = std::env::var("K8S_AWS_INFRA_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let moto = Moto::start();
    moto.warm_up();
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    rt.block_on(async {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(moto.url())
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "bench",
            ))
            .load()
            .await;
        let infra = Infra::from_sdk_config(sdk)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timeouts(Timeouts {
                poll: Duration::from_millis(100),
                ..Timeouts::default()
            });
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        // moto answers its first calls per service slowly: pay that outside the measurement.
        up_and_down(&infra, &spec("bench-warmup", 1, 1), dir.path()).await;

        for (label, masters, workers) in [("3+3", 3u8, 3u8), ("3+30", 3, 30)] {
            if filter.as_deref().is_some_and(|f| !label.contains(f)) {
                continue;
            }
            let mut times = Vec::new();
            let mut calls = CallCounts::default();
            for i in 0..iters {
                let s = spec(&format!("bench-{masters}-{workers}-{i}"), masters, workers);
                let (t, c) = up_and_down(&infra, &s, dir.path()).await;
                times.push(t);
                calls = c;
            }
            times.sort();
            let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
            let mean = times.iter().map(ms).sum::<f64>() / times.len().max(1) as f64;
            println!(
                "up {label:>5} nodes: {iters} runs, wall min {:.0} ms / median {:.0} ms / mean {mean:.0} ms / max {:.0} ms; API calls {} (mutating {}, read {})",
                times.first().map(ms).unwrap_or_default(),
                times.get(times.len() / 2).map(ms).unwrap_or_default(),
                times.last().map(ms).unwrap_or_default(),
                calls.total(),
                calls.mutating,
                calls.read,
            );
        }
    });
}
