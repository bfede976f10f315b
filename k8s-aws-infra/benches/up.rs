//! Wall time and API calls of `up` and `down` against `moto_server`: plain (3+3 and 3+30
//! nodes), and through an emulation of AWS's timing (`k8s_hard_tests::aws_timing`: new IDs
//! unknown for a moment, instances pending, the load balancer provisioning, terminations
//! shutting down, a deleted load balancer's interfaces lingering). Against the emulation each
//! command is also measured against the moment its slowest resource settled (the last
//! instance running or the load balancer active, for `up`; the last termination or the
//! deleted load balancer's interfaces gone, for `down`), from the time of the event that
//! started that window plus the window: the goal is to finish within about a second of it.
//!
//! Each iteration creates a fresh cluster (new name); moto's slow first answers (one untimed
//! warm-up cluster) stay outside the measurement. The time is mostly moto's (Python): build
//! with the dev profile rather than compiling the AWS SDK in release:
//!
//! ```text
//! cargo bench -p k8s-aws-infra --bench up --profile dev
//! K8S_AWS_INFRA_BENCH_ITERS=10 cargo bench -p k8s-aws-infra --bench up --profile dev -- timing
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_aws_infra::{CallCounts, Infra, InfraSpec, InfraState, Kind, Progress, Timeouts};
use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};

fn spec(cluster: &str, masters: u8, workers: u8) -> InfraSpec {
    let mut s = InfraSpec::new(cluster, format!("bench-{cluster}"), masters, workers);
    s.region = Some(REGION.into());
    s.image.name = UBUNTU_IMAGE_NAME.into();
    s.ssh_ingress_cidr = "203.0.113.0/24".parse().unwrap_or_default();
    s
}

/// Every progress event with the time it came.
type Events = Arc<Mutex<Vec<(Instant, Progress)>>>;

/// What one cluster's up and down took.
struct Run {
    up: Duration,
    down: Duration,
    calls: CallCounts,
    /// How long after the slowest resource settled each command ended, when the timing is
    /// emulated.
    up_after_settled: Option<Duration>,
    down_after_settled: Option<Duration>,
}

/// When the last window that `kind`'s events open (`Created` for up, `Deleted` for down)
/// closed: the last such event plus `window`.
fn settled(
    events: &[(Instant, Progress)],
    window: Duration,
    pick: impl Fn(&Progress) -> bool,
) -> Option<Instant> {
    events
        .iter()
        .filter(|(_, p)| pick(p))
        .map(|(t, _)| *t + window)
        .max()
}

/// One cluster up (load balancer active included) and down.
async fn up_and_down(
    infra: &Infra,
    events: &Events,
    timing: Option<Timing>,
    spec: &InfraSpec,
    dir: &std::path::Path,
) -> Run {
    let since = |start: Instant| {
        let all = events.lock().map(|e| e.clone()).unwrap_or_default();
        all.into_iter()
            .filter(|(t, _)| *t >= start)
            .collect::<Vec<_>>()
    };
    let up_start = Instant::now();
    let up = infra
        .up(spec, &InfraState::default(), dir)
        .await
        .unwrap_or_else(|e| panic!("up {}: {e}", spec.cluster));
    infra
        .wait_load_balancer_active(spec, &up.state)
        .await
        .unwrap_or_else(|e| panic!("load balancer of {}: {e}", spec.cluster));
    let up_end = Instant::now();
    let down_start = up_end;
    let down = infra
        .down(spec, &up.state)
        .await
        .unwrap_or_else(|e| panic!("down {}: {e}", spec.cluster));
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    let down_end = Instant::now();
    let (up_after_settled, down_after_settled) = match timing {
        None => (None, None),
        Some(t) => {
            let (up_events, down_events) = (since(up_start), since(down_start));
            let is = |want: fn(&Progress) -> Option<Kind>, kind: Kind| {
                move |p: &Progress| want(p) == Some(kind)
            };
            let created = |p: &Progress| match p {
                Progress::Created { kind, .. } => Some(*kind),
                _ => None,
            };
            let deleting = |p: &Progress| match p {
                Progress::Deleting { kind, .. } => Some(*kind),
                _ => None,
            };
            let deleted = |p: &Progress| match p {
                Progress::Deleted { kind, .. } => Some(*kind),
                _ => None,
            };
            let up_settled = settled(&up_events, t.pending, is(created, Kind::Instance)).max(
                settled(&up_events, t.provisioning, is(created, Kind::LoadBalancer)),
            );
            let down_settled = settled(&down_events, t.shutting_down, is(deleting, Kind::Instance))
                .max(settled(
                    &down_events,
                    t.linger,
                    is(deleted, Kind::LoadBalancer),
                ));
            let after =
                |end: Instant, at: Option<Instant>| at.map(|at| end.saturating_duration_since(at));
            (after(up_end, up_settled), after(down_end, down_settled))
        }
    };
    Run {
        up: up_end - up_start,
        down: down_end - down_start,
        calls: up.calls,
        up_after_settled,
        down_after_settled,
    }
}

async fn infra_at(url: &str, events: &Events) -> Infra {
    // Field by field: nothing of the machine's own AWS setup (~/.aws, AWS_*) is read.
    let sdk = k8s_hard_tests::aws_owned::sdk(url, REGION);
    // K8S_AWS_INFRA_BENCH_TRACE=1: every progress event with its time, to see what waits.
    let trace = std::env::var_os("K8S_AWS_INFRA_BENCH_TRACE").is_some();
    let start = Instant::now();
    let sink = events.clone();
    // The default timeouts: what a user gets.
    Infra::from_sdk_config(sdk)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .with_timeouts(Timeouts::default())
        .with_progress(move |p| {
            if trace {
                eprintln!("{:>6} ms {p:?}", start.elapsed().as_millis());
            }
            if let Ok(mut e) = sink.lock() {
                e.push((Instant::now(), p.clone()));
            }
        })
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
    // Windows of the order AWS shows, scaled down so that a run takes seconds (no machines
    // stand behind these instances: the console and key pair windows do not apply).
    let timing = Timing::bench();
    let proxy = AwsTiming::start(moto.url(), timing);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    rt.block_on(async {
        let events = Events::default();
        let plain = infra_at(moto.url(), &events).await;
        let slow = infra_at(&proxy.url(), &events).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        // moto answers its first calls per service slowly: pay that outside the measurement.
        up_and_down(&plain, &events, None, &spec("bench-warmup", 1, 1), dir.path()).await;

        let runs = [
            ("3+3", 3u8, 3u8, &plain, None),
            ("3+30", 3, 30, &plain, None),
            ("timing 3+3", 3, 3, &slow, Some(timing)),
        ];
        for (label, masters, workers, infra, timing) in runs {
            if filter.as_deref().is_some_and(|f| !label.contains(f)) {
                continue;
            }
            let mut all = Vec::new();
            for i in 0..iters {
                let name = format!("bench-{}-{masters}-{workers}-{i}", label.len());
                let s = spec(&name, masters, workers);
                all.push(up_and_down(infra, &events, timing, &s, dir.path()).await);
            }
            let calls = all.last().map(|r| r.calls).unwrap_or_default();
            let pick = |f: fn(&Run) -> Option<Duration>| all.iter().filter_map(f).collect::<Vec<_>>();
            let settled = if timing.is_some() {
                format!(
                    "; after the slowest resource settled: up {}, down {}",
                    summary(pick(|r| r.up_after_settled)),
                    summary(pick(|r| r.down_after_settled)),
                )
            } else {
                String::new()
            };
            println!(
                "{label:>10} nodes, {iters} runs: up {}; down {}{settled}; up's API calls {} (mutating {}, read {})",
                summary(pick(|r| Some(r.up))),
                summary(pick(|r| Some(r.down))),
                calls.total(),
                calls.mutating,
                calls.read,
            );
        }
    });
}
