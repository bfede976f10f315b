//! A user's mistakes against a real `moto_server`: a cluster renamed before `down`, a first
//! `up` cut short, a state edited by hand. What exists is judged by describe calls made here
//! ([`k8s_hard_tests::aws_owned`]), not by our own finding.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use k8s_aws_infra::{Error, Infra, InfraSpec, InfraState, Kind, Progress, Timeouts};
use k8s_hard_tests::aws_owned::{owned, sdk};
use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};

fn timeouts() -> Timeouts {
    let mut t = Timeouts::default();
    t.poll = Duration::from_millis(250);
    t.ready = Duration::from_secs(30);
    t.teardown = Duration::from_secs(30);
    t.propagation = Duration::from_secs(30);
    t.call = Duration::from_secs(30);
    t
}

async fn infra_at(sdk: &SdkConfig, timeouts: Timeouts) -> Infra {
    Infra::from_sdk_config(sdk.clone())
        .await
        .unwrap()
        .with_timeouts(timeouts)
}

fn spec(cluster: &str, installation: &str) -> InfraSpec {
    let mut s = InfraSpec::new(cluster, installation, 1, 1);
    s.region = Some(REGION.into());
    s.image.name = UBUNTU_IMAGE_NAME.into();
    s
}

/// After `name:` changed, `down` with the new name and no state deletes everything the
/// installation made under the old name: each kind, checked absent by describe calls.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn a_renamed_cluster_is_deleted_whole_by_its_installation_tag() {
    let moto = Moto::shared();
    let direct = sdk(moto.url(), REGION);
    let infra = infra_at(&direct, timeouts()).await;
    let dir = tempfile::tempdir().unwrap();
    let installation = "test-renamed-cluster";
    let before = spec("before-rename", installation);
    infra
        .up(&before, &InfraState::default(), dir.path())
        .await
        .unwrap();
    let made = owned(&direct, installation).await;
    let kinds: BTreeSet<&str> = made.iter().filter_map(|k| k.split(' ').next()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "dhcp", "igw", "instance", "key", "lb", "listener", "rtb", "sg", "subnet", "tg", "vpc"
        ]),
        "{made:?}"
    );

    let after = spec("after-rename", installation);
    let listed = infra
        .inventory(&after, &InfraState::new("after-rename"))
        .await
        .unwrap();
    assert_eq!(listed.calls.mutating, 0);
    let listed_kinds: BTreeSet<Kind> = listed.found.iter().map(|f| f.kind).collect();
    assert_eq!(listed_kinds.len(), 11, "{listed:?}");
    let lb = listed
        .found
        .iter()
        .find(|f| f.kind == Kind::LoadBalancer)
        .unwrap();
    assert_eq!(lb.name.as_deref(), Some("before-rename"));
    assert!(lb.created.is_some(), "{lb:?}");
    let nodes: BTreeSet<Option<&str>> = listed
        .found
        .iter()
        .filter(|f| f.kind == Kind::Instance)
        .map(|f| f.name.as_deref())
        .collect();
    assert_eq!(nodes, BTreeSet::from([Some("master-0"), Some("worker-0")]));

    let down = infra
        .down(&after, &InfraState::new("after-rename"))
        .await
        .unwrap();
    assert!(down.left_behind.is_empty(), "{down:?}");
    assert!(down.not_ours.is_empty(), "{down:?}");
    // 2 instances, listener, load balancer, target group, route table, gateway, subnet,
    // security group, DHCP options, VPC, key pair
    assert_eq!(down.deleted.len(), 12, "{down:?}");
    assert_eq!(owned(&direct, installation).await, BTreeSet::new());
}

/// A first `up` that times out (the machines stay pending longer than `ready` allows) has
/// recorded, before its first change, the cluster, installation and region, and after each
/// creation what exists: every recorded ID is there in moto, a spec naming another region is
/// refused with that state, and `down` with it leaves nothing.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn a_first_up_cut_short_has_recorded_its_region_and_what_it_made() {
    let moto = Moto::shared();
    let direct = sdk(moto.url(), REGION);
    let mut slow = Timing::none();
    slow.pending = Duration::from_secs(120);
    let proxy = AwsTiming::start(moto.url(), slow);
    let mut t = timeouts();
    t.ready = Duration::from_secs(1);
    let infra = infra_at(&sdk(&proxy.url(), REGION), t).await;
    let dir = tempfile::tempdir().unwrap();
    let installation = "test-cut-short";
    let spec = spec("cut-short", installation);

    let records: Mutex<Vec<InfraState>> = Mutex::default();
    // What moto held when each record was made, asked from another thread (the recorder is
    // called from the task doing the work, and must not block it on its own runtime).
    let held: Mutex<Vec<BTreeSet<String>>> = Mutex::default();
    let url = moto.url().to_string();
    let record = |s: &InfraState| {
        let first = records.lock().unwrap().is_empty();
        if first {
            let url = url.clone();
            let there = std::thread::spawn(move || {
                k8s_hard_tests::aws_owned::owned_in(&url, REGION, installation)
            })
            .join()
            .unwrap();
            held.lock().unwrap().push(there);
        }
        records.lock().unwrap().push(s.clone());
        Ok(())
    };
    let e = infra
        .up_recording(&spec, &InfraState::default(), dir.path(), &record)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Timeout { what, .. } if what == "instances running"),
        "{e:?}"
    );
    let records = records.into_inner().unwrap();
    assert!(records.len() > 10, "{records:?}");
    let first = &records[0];
    assert_eq!(first.cluster, "cut-short");
    assert_eq!(first.installation_id.as_deref(), Some(installation));
    assert_eq!(first.region.as_deref(), Some(REGION));
    assert!(!first.has_resources(), "{first:?}");
    assert_eq!(held.into_inner().unwrap(), vec![BTreeSet::new()]);

    let last = records.last().unwrap().clone();
    assert_eq!(last.region.as_deref(), Some(REGION));
    assert_eq!(last.instances.len(), 2, "{last:?}");
    let there = owned(&direct, installation).await;
    let recorded = [
        format!("vpc {}", last.vpc_id.clone().unwrap()),
        format!("subnet {}", last.subnet_id.clone().unwrap()),
        format!("sg {}", last.security_group_id.clone().unwrap()),
        format!("igw {}", last.internet_gateway_id.clone().unwrap()),
        format!("dhcp {}", last.dhcp_options_id.clone().unwrap()),
        "key cut-short".to_string(),
        "lb cut-short".to_string(),
        "tg cut-short".to_string(),
        format!("instance {}", last.instances["master-0"].id),
        format!("instance {}", last.instances["worker-0"].id),
    ];
    for r in &recorded {
        assert!(there.contains(r), "{r} recorded but not in moto: {there:?}");
    }

    let mut elsewhere = spec.clone();
    elsewhere.region = Some("eu-west-1".into());
    assert!(matches!(
        infra.plan(&elsewhere, &last, dir.path()).await,
        Err(Error::RegionChanged { .. })
    ));
    let down = infra_at(&direct, timeouts())
        .await
        .down(&spec, &last)
        .await
        .unwrap();
    assert!(down.left_behind.is_empty(), "{down:?}");
    assert_eq!(owned(&direct, installation).await, BTreeSet::new());
}

/// IDs in the state that are not IDs of their kind (edited by hand, another kind's) are
/// looked for by tags, with a warning, as AWS's `…Malformed` answer would otherwise stop
/// `up` and `down`: the second `up` finds everything, and `down` deletes everything.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn malformed_ids_in_the_state_fall_back_to_the_tag_search() {
    let moto = Moto::shared();
    let direct = sdk(moto.url(), REGION);
    let warnings: std::sync::Arc<Mutex<Vec<String>>> = std::sync::Arc::default();
    let seen = warnings.clone();
    let infra = infra_at(&direct, timeouts()).await.with_progress(move |p| {
        if let Progress::Warning { message } = p {
            seen.lock().unwrap().push(message.clone());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let installation = "test-malformed-ids";
    let spec = spec("malformed", installation);
    let up = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    let mut state = up.state.clone();
    state.vpc_id = Some("vpc-not-hex!".into());
    state.subnet_id = state.security_group_id.clone();
    state.load_balancer_arn = Some("my-load-balancer".into());
    warnings.lock().unwrap().clear();

    let again = infra.up(&spec, &state, dir.path()).await.unwrap();
    assert_eq!(again.calls.mutating, 0, "{:?}", again.changes);
    assert_eq!(again.state.vpc_id, up.state.vpc_id);
    assert_eq!(again.state.subnet_id, up.state.subnet_id);
    assert_eq!(again.state.load_balancer_arn, up.state.load_balancer_arn);
    let said = warnings.lock().unwrap().clone();
    for want in [
        "the state's vpc ID \"vpc-not-hex!\" is malformed; finding the vpc by its tags instead",
        "the state's load balancer ID \"my-load-balancer\" is malformed",
    ] {
        assert!(
            said.iter().any(|w| w.contains(want)),
            "{want:?} not in {said:?}"
        );
    }

    let down = infra.down(&spec, &state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{down:?}");
    assert_eq!(down.deleted.len(), 12, "{down:?}");
    assert_eq!(owned(&direct, installation).await, BTreeSet::new());
}
