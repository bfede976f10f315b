//! Wall time and API calls of `up` and `down` against `moto_server`: plain (3+3 and 3+30
//! nodes), and through an emulation of AWS's timing (`k8s_hard_tests::aws_timing`: new IDs
//! unknown for a moment, instances pending, the load balancer provisioning, terminations
//! shutting down, a deleted load balancer's interfaces lingering). Against the emulation each
//! figure is printed beside the slowest settle window that command had to wait out: the goal
//! is to finish within about a second of it.
//!
//! Each iteration creates a fresh cluster (new name); moto's slow first answers (one untimed
//! warm-up cluster) stay outside the measurement. The time is mostly moto's (Python): build
//! with the dev profile rather than compiling the AWS SDK in release:
//!
//! ```text
//! cargo bench -p k8s-aws-infra --bench up --profile dev
//! K8S_AWS_INFRA_BENCH_ITERS=10 cargo bench -p k8s-aws-infra --bench up --profile dev -- timing
//! ```

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use k8s_aws_infra::{CallCounts, Infra, InfraSpec, InfraState, Timeouts};
use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
use k8s_hard_tests::moto::{ACCESS_KEY_ID, Moto, REGION, SECRET_ACCESS_KEY, UBUNTU_IMAGE_NAME};

fn spec(cluster: &str, masters: u8, workers: u8) -> InfraSpec {
    let mut s = InfraSpec::new(cluster, format!("bench-{cluster}"), masters, workers);
    s.region = Some(REGION.into());
    s.image.name = UBUNTU_IMAGE_NAME.into();
    s.ssh_ingress_cidr = "203.0.113.0/24".parse().unwrap_or_default();
    s
}

/// One cluster up (load balancer active included) and down: the two wall times and `up`'s calls.
async fn up_and_down(
    infra: &Infra,
    spec: &InfraSpec,
    dir: &std::path::Path,
) -> (Duration, Duration, CallCounts) {
    let start = Instant::now();
    let up = infra
        .up(spec, &InfraState::default(), dir)
        .await
        .unwrap_or_else(|e| panic!("up {}: {e}", spec.cluster));
    infra
        .wait_load_balancer_active(spec, &up.state)
        .await
        .unwrap_or_else(|e| panic!("load balancer of {}: {e}", spec.cluster));
    let took_up = start.elapsed();
    let start = Instant::now();
    let down = infra
        .down(spec, &up.state)
        .await
        .unwrap_or_else(|e| panic!("down {}: {e}", spec.cluster));
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    (took_up, start.elapsed(), up.calls)
}

async fn infra_at(url: &str) -> Infra {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "bench",
        ))
        .load()
        .await;
    // The defaults: what a user gets.
    Infra::from_sdk_config(sdk)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .with_timeouts(Timeouts::default())
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `min / median / max` in ms.
fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "min {:.0} / median {:.0} / max {:.0} ms",
        times.first().map(ms).unwrap_or_default(),
        times.get(times.len() / 2).map(ms).unwrap_or_default(),
        times.last().map(ms).unwrap_or_default(),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, selects runs by label
    // ("3+3", "3+30", "timing").
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let iters: usize = std::env::var("K8S_AWS_INFRA_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let moto = Moto::start();
    moto.warm_up();
    // Windows of the order AWS shows, scaled down so that a run takes seconds: the slowest
    // thing `up` waits for is an instance pending (3 s), and `down` a lingering load balancer
    // interface (3 s).
    let timing = Timing {
        not_found: Duration::from_millis(1000),
        pending: Duration::from_millis(3000),
        provisioning: Duration::from_millis(2500),
        shutting_down: Duration::from_millis(2000),
        linger: Duration::from_millis(3000),
    };
    let proxy = AwsTiming::start(moto.url(), timing);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    rt.block_on(async {
        let plain = infra_at(moto.url()).await;
        let slow = infra_at(&proxy.url()).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        // moto answers its first calls per service slowly: pay that outside the measurement.
        up_and_down(&plain, &spec("bench-warmup", 1, 1), dir.path()).await;

        let runs = [
            ("3+3", 3u8, 3u8, &plain),
            ("3+30", 3, 30, &plain),
            ("timing 3+3", 3, 3, &slow),
        ];
        for (label, masters, workers, infra) in runs {
            if filter.as_deref().is_some_and(|f| !label.contains(f)) {
                continue;
            }
            let (mut ups, mut downs) = (Vec::new(), Vec::new());
            let mut calls = CallCounts::default();
            for i in 0..iters {
                let name = format!("bench-{}-{masters}-{workers}-{i}", label.len());
                let s = spec(&name, masters, workers);
                let (u, d, c) = up_and_down(infra, &s, dir.path()).await;
                ups.push(u);
                downs.push(d);
                calls = c;
            }
            let windows = if label.starts_with("timing") {
                format!(
                    " (slowest windows: up {:.0} ms, down {:.0} ms)",
                    ms(&timing.pending.max(timing.provisioning)),
                    ms(&timing.linger.max(timing.shutting_down)),
                )
            } else {
                String::new()
            };
            println!(
                "{label:>10} nodes, {iters} runs: up {}; down {}{windows}; up's API calls {} (mutating {}, read {})",
                summary(ups),
                summary(downs),
                calls.total(),
                calls.mutating,
                calls.read,
            );
        }
    });
}
