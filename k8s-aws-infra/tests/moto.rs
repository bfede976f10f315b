//! Against a real `moto_server`: what `up` creates is checked with describe calls made here with
//! the SDK (not with our own state), and idempotency, plan, status, down and isolation are
//! checked with the call counter and describe calls.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{Filter, InstanceAttributeName, VpcAttributeName};
use base64::Engine;
use k8s_aws_infra::{
    Action, Error, Infra, InfraSpec, InfraState, Kind, Progress, Timeouts, key_path,
};
use k8s_hard_tests::aws_timing::{AwsTiming, Stalled, Timing};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};

const OWNER: &str = "k8s-hard/cluster";
const INSTALLATION: &str = "k8s-hard/installation";

async fn sdk(moto: &Moto) -> SdkConfig {
    sdk_at(moto.url()).await
}

/// The SDK configuration the tests use, with every call sent to `url`: built field by field,
/// so that nothing of the machine's own AWS setup is read (no `~/.aws` files, no `AWS_*`
/// variables, no instance metadata).
async fn sdk_at(url: &str) -> SdkConfig {
    k8s_hard_tests::aws_owned::sdk(url, REGION)
}

/// Short bounds: every wait in these tests is over in seconds.
fn timeouts() -> Timeouts {
    let mut t = Timeouts::default();
    t.poll = Duration::from_millis(250);
    t.ready = Duration::from_secs(30);
    t.teardown = Duration::from_secs(30);
    t.propagation = Duration::from_secs(30);
    t.call = Duration::from_secs(30);
    t
}

async fn infra(moto: &Moto) -> Infra {
    infra_at(&sdk(moto).await).await
}

async fn infra_at(sdk: &SdkConfig) -> Infra {
    Infra::from_sdk_config(sdk.clone())
        .await
        .unwrap()
        .with_timeouts(timeouts())
}

/// The installation ID the tests give `cluster`.
fn installation(cluster: &str) -> String {
    format!("test-{cluster}")
}

fn spec(cluster: &str, masters: u8, workers: u8) -> InfraSpec {
    let mut s = InfraSpec::new(cluster, installation(cluster), masters, workers);
    s.region = Some(REGION.into());
    s.image.name = UBUNTU_IMAGE_NAME.into();
    s
}

/// Owned by the installation of `cluster`, as [`installation`] names it.
fn owner(cluster: &str) -> Filter {
    owned_by(&installation(cluster))
}

fn owned_by(installation: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{INSTALLATION}"))
        .values(installation)
        .build()
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// Everything carrying the installation tag of `cluster` ([`installation`]), as `kind id`
/// strings, found by describe calls made here.
async fn owned(sdk: &SdkConfig, cluster: &str) -> BTreeSet<String> {
    owned_by_installation(sdk, &installation(cluster)).await
}

async fn owned_by_installation(sdk: &SdkConfig, installation: &str) -> BTreeSet<String> {
    k8s_hard_tests::aws_owned::owned(sdk, installation).await
}

/// Checks every resource `up` made, with describe calls.
async fn verify(sdk: &SdkConfig, spec: &InfraSpec, dir: &Path) {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let cluster = spec.cluster.as_str();
    let f = owner(cluster);

    let vpcs = ec2.describe_vpcs().filters(f.clone()).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "one VPC");
    let vpc = &vpcs.vpcs()[0];
    let vpc_id = vpc.vpc_id().unwrap();
    assert_eq!(vpc.cidr_block(), Some("172.31.0.0/16"));
    assert_eq!(tag(vpc.tags(), "Name"), Some(cluster));
    for attr in [
        VpcAttributeName::EnableDnsSupport,
        VpcAttributeName::EnableDnsHostnames,
    ] {
        let a = ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(attr.clone())
            .send()
            .await
            .unwrap();
        let on = a
            .enable_dns_support()
            .or(a.enable_dns_hostnames())
            .and_then(|b| b.value());
        assert_eq!(on, Some(true), "{attr:?}");
    }

    let dhcp = ec2
        .describe_dhcp_options()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    let d = &dhcp.dhcp_options()[0];
    assert_eq!(vpc.dhcp_options_id(), d.dhcp_options_id(), "associated");
    let conf: BTreeSet<(String, String)> = d
        .dhcp_configurations()
        .iter()
        .flat_map(|c| {
            c.values()
                .iter()
                .map(|v| (c.key().unwrap().to_string(), v.value().unwrap().to_string()))
        })
        .collect();
    assert!(conf.contains(&("domain-name".into(), "us-east-2.compute.internal".into())));
    assert!(conf.contains(&("domain-name-servers".into(), "AmazonProvidedDNS".into())));

    let subnets = ec2
        .describe_subnets()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    let subnet = &subnets.subnets()[0];
    assert_eq!(subnet.cidr_block(), Some("172.31.0.0/24"));
    assert_eq!(subnet.vpc_id(), Some(vpc_id));
    let subnet_id = subnet.subnet_id().unwrap();

    let igws = ec2
        .describe_internet_gateways()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    let igw = &igws.internet_gateways()[0];
    let igw_id = igw.internet_gateway_id().unwrap();
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id));

    let sgs = ec2
        .describe_security_groups()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    let sg = &sgs.security_groups()[0];
    let sg_id = sg.group_id().unwrap();
    let mut rules = BTreeSet::new();
    for p in sg.ip_permissions() {
        let proto = p.ip_protocol().unwrap().to_string();
        for r in p.ip_ranges() {
            rules.insert(format!(
                "{proto} {:?}-{:?} {}",
                p.from_port(),
                p.to_port(),
                r.cidr_ip().unwrap()
            ));
        }
        for g in p.user_id_group_pairs() {
            assert_eq!(
                g.group_id(),
                Some(sg_id),
                "members rule points at the group"
            );
            rules.insert(format!("{proto} members"));
        }
    }
    for want in [
        "tcp Some(2379)-Some(2380) 172.31.0.0/24",
        "tcp Some(30000)-Some(32767) 172.31.0.0/24",
        "tcp Some(6443)-Some(6443) 0.0.0.0/0",
        "tcp Some(22)-Some(22) 0.0.0.0/0",
        "icmp Some(-1)-Some(-1) 0.0.0.0/0",
        "-1 members",
    ] {
        assert!(rules.contains(want), "missing rule {want}: {rules:?}");
    }

    // instances
    let res = ec2
        .describe_instances()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    let instances: Vec<_> = res
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).unwrap().as_str() == "running")
        .collect();
    assert_eq!(instances.len(), spec.masters.len() + spec.workers.len());
    let images = ec2
        .describe_images()
        .owners("099720109477")
        .filters(
            Filter::builder()
                .name("name")
                .values(UBUNTU_IMAGE_NAME)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let image_id = images.images()[0].image_id().unwrap();
    for (_, node) in spec.nodes() {
        let name = format!("{cluster}-{}", node.name);
        let i = instances
            .iter()
            .find(|i| tag(i.tags(), "Name") == Some(name.as_str()))
            .unwrap_or_else(|| panic!("instance {name}"));
        assert_eq!(
            i.private_ip_address(),
            Some(node.private_ip.to_string().as_str())
        );
        assert!(i.public_ip_address().is_some(), "{name} has a public IP");
        assert_eq!(i.subnet_id(), Some(subnet_id));
        assert_eq!(i.image_id(), Some(image_id));
        assert_eq!(i.key_name(), Some(cluster));
        assert_eq!(i.instance_type().unwrap().as_str(), "t2.micro");
        assert_eq!(tag(i.tags(), OWNER), Some(cluster));
        // The group sits on the primary network interface (moto does not echo it at the
        // instance level).
        let eni_groups: Vec<&str> = i
            .network_interfaces()
            .iter()
            .flat_map(|n| n.groups())
            .chain(i.security_groups())
            .filter_map(|g| g.group_id())
            .collect();
        assert!(eni_groups.contains(&sg_id), "{name}: {eni_groups:?}");
        let id = i.instance_id().unwrap();
        let sdc = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::SourceDestCheck)
            .send()
            .await
            .unwrap();
        assert_eq!(
            sdc.source_dest_check().and_then(|b| b.value()),
            Some(false),
            "{name}"
        );
        let ud = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .unwrap();
        let ud = ud.user_data().and_then(|v| v.value()).unwrap();
        let ud = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(ud)
                .unwrap(),
        )
        .unwrap();
        let want = match node.pod_cidr {
            Some(p) => format!("name={}|pod-cidr={p}", node.name),
            None => format!("name={}", node.name),
        };
        assert_eq!(ud, want);
    }

    // route table: associated, default route, pod routes to the workers
    let rts = ec2
        .describe_route_tables()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    let rt = &rts.route_tables()[0];
    assert!(
        rt.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet_id))
    );
    let route = |dest: &str| {
        rt.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some(dest))
            .cloned()
            .unwrap_or_else(|| panic!("route {dest}"))
    };
    assert_eq!(route("0.0.0.0/0").gateway_id(), Some(igw_id));
    for w in &spec.workers {
        let name = format!("{cluster}-{}", w.name);
        let i = instances
            .iter()
            .find(|i| tag(i.tags(), "Name") == Some(name.as_str()))
            .unwrap();
        assert_eq!(
            route(&w.pod_cidr.unwrap().to_string()).instance_id(),
            i.instance_id()
        );
    }

    // load balancer, target group, listener
    let lbs = elb
        .describe_load_balancers()
        .names(cluster)
        .send()
        .await
        .unwrap();
    let lb = &lbs.load_balancers()[0];
    assert_eq!(lb.scheme().unwrap().as_str(), "internet-facing");
    assert_eq!(lb.r#type().unwrap().as_str(), "network");
    assert_eq!(lb.vpc_id(), Some(vpc_id));
    let tgs = elb
        .describe_target_groups()
        .names(cluster)
        .send()
        .await
        .unwrap();
    let tg = &tgs.target_groups()[0];
    assert_eq!(tg.protocol().unwrap().as_str(), "TCP");
    assert_eq!(tg.port(), Some(6443));
    assert_eq!(tg.target_type().unwrap().as_str(), "ip");
    let health = elb
        .describe_target_health()
        .target_group_arn(tg.target_group_arn().unwrap())
        .send()
        .await
        .unwrap();
    let targets: BTreeSet<&str> = health
        .target_health_descriptions()
        .iter()
        .map(|d| d.target().unwrap().id().unwrap())
        .collect();
    let masters: BTreeSet<String> = spec
        .masters
        .iter()
        .map(|m| m.private_ip.to_string())
        .collect();
    assert_eq!(
        targets,
        masters.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let l = &listeners.listeners()[0];
    assert_eq!(l.port(), Some(6443));
    assert_eq!(l.protocol().unwrap().as_str(), "TCP");
    assert_eq!(
        l.default_actions()[0].target_group_arn(),
        tg.target_group_arn()
    );
    let lb_tags = elb
        .describe_tags()
        .resource_arns(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        lb_tags.tag_descriptions()[0]
            .tags()
            .iter()
            .any(|t| t.key() == Some(OWNER) && t.value() == Some(cluster))
    );

    // key pair and its private key
    let keys = ec2
        .describe_key_pairs()
        .filters(f.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(keys.key_pairs()[0].key_name(), Some(cluster));
    let key = key_path(dir, cluster);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.contains("PRIVATE KEY"), "{pem}");
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn up_creates_everything_then_a_second_up_makes_no_mutating_call_and_down_removes_all() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("full", 3, 3);

    let first = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    assert!(first.calls.mutating > 0);
    eprintln!("first up: {:?}, second: see below", first.calls);
    assert!(first.calls.total() <= 40, "{:?}", first.calls);
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.contains("ssh_ingress_cidr"))
    );
    verify(&sdk, &spec, dir.path()).await;
    let state = &first.state;
    assert!(state.api_endpoint().is_some());
    assert_eq!(state.instances.len(), 6);
    assert!(state.instances.values().all(|i| i.public_ip.is_some()));

    // Second run, with the state: nothing to do.
    let second = infra.up(&spec, state, dir.path()).await.unwrap();
    eprintln!("second up: {:?}", second.calls);
    assert_eq!(second.calls.mutating, 0, "{:?}", second.changes);
    assert!(second.changes.is_empty());
    assert_eq!(&second.state, state);

    // Without the state (lost file): found by tags, still nothing to do.
    let third = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(third.calls.mutating, 0, "{:?}", third.changes);
    assert_eq!(third.state.vpc_id, state.vpc_id);

    // The private key file lost while machines use the key pair: a clear error, and a
    // warning from plan.
    let key = key_path(dir.path(), "full");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    match infra.up(&spec, state, dir.path()).await {
        Err(e @ Error::KeyFileMissing { .. }) => {
            assert!(e.to_string().contains("private key"), "{e}")
        }
        other => panic!("expected KeyFileMissing, got {other:?}"),
    }
    let plan = infra.plan(&spec, state, dir.path()).await.unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    std::fs::write(&key, saved).unwrap();

    let status = infra.status(&spec, state).await.unwrap();
    assert_eq!(status.calls.mutating, 0);
    assert_eq!(status.api_endpoint, state.load_balancer_dns_name);
    for r in &status.resources {
        assert!(
            r.id.is_some() && r.state != "missing" && r.state != "needs update",
            "{r:?}"
        );
    }
    let kinds = |k: Kind| status.resources.iter().filter(|r| r.kind == k).count();
    assert_eq!((kinds(Kind::Instance), kinds(Kind::Route)), (6, 3));
    let json = serde_json::to_string(&status).unwrap();
    assert!(json.contains("\"kind\":\"load_balancer\""), "{json}");

    let down = infra.down(&spec, state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    // 6 instances, listener, target group, LB, route table, IGW, subnet, SG, DHCP, VPC, key
    assert_eq!(down.deleted.len(), 16, "{:?}", down.deleted);
    assert_eq!(owned(&sdk, "full").await, BTreeSet::new());
    // A second down finds nothing to do.
    let again = infra.down(&spec, &InfraState::default()).await.unwrap();
    assert!(again.deleted.is_empty() && again.left_behind.is_empty());
    assert_eq!(again.calls.mutating, 0);
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn plan_changes_nothing_and_lists_what_up_would_do() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("planned", 1, 1);

    let plan = infra
        .plan(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(plan.calls.mutating, 0);
    assert!(plan.calls.read > 0);
    assert_eq!(owned(&sdk, "planned").await, BTreeSet::new());
    let created: BTreeSet<Kind> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .map(|c| c.kind)
        .collect();
    for k in [
        Kind::Vpc,
        Kind::DhcpOptions,
        Kind::Subnet,
        Kind::InternetGateway,
        Kind::RouteTable,
        Kind::SecurityGroup,
        Kind::LoadBalancer,
        Kind::TargetGroup,
        Kind::Listener,
        Kind::KeyPair,
        Kind::Instance,
    ] {
        assert!(created.contains(&k), "{k} missing from {:?}", plan.changes);
    }
    let status = infra.status(&spec, &InfraState::default()).await.unwrap();
    assert!(
        status
            .resources
            .iter()
            .any(|r| r.kind == Kind::Vpc && r.state == "missing")
    );

    let up = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    // A drifted attribute shows in the plan, which still changes nothing.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let worker = &up.state.instances["worker-0"].id;
    ec2.modify_instance_attribute()
        .instance_id(worker)
        .source_dest_check(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = infra.plan(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(plan.calls.mutating, 0);
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
    assert_eq!(plan.changes[0].kind, Kind::Instance);
    let fixed = infra.up(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(fixed.calls.mutating, 1);
    let plan = infra.plan(&spec, &up.state, dir.path()).await.unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);

    // A stopped machine is started again.
    ec2.stop_instances()
        .instance_ids(worker)
        .send()
        .await
        .unwrap();
    let started = infra.up(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(started.calls.mutating, 1, "{:?}", started.changes);
    assert_eq!(
        started.changes[0].action,
        Action::Update("start".into()),
        "{:?}",
        started.changes
    );
    let state = ec2
        .describe_instances()
        .instance_ids(worker)
        .send()
        .await
        .unwrap();
    let i = &state.reservations()[0].instances()[0];
    assert_eq!(
        i.state().and_then(|s| s.name()).unwrap().as_str(),
        "running"
    );
    assert!(started.state.instances["worker-0"].public_ip.is_some());

    // An immutable difference is reported, not papered over.
    let mut moved = spec.clone();
    moved.vpc_cidr = "10.0.0.0/16".parse().unwrap();
    moved.subnet_cidr = "10.0.0.0/24".parse().unwrap();
    for (i, n) in moved
        .masters
        .iter_mut()
        .chain(moved.workers.iter_mut())
        .enumerate()
    {
        n.private_ip = format!("10.0.0.{}", 10 + i).parse().unwrap();
    }
    match infra.up(&moved, &up.state, dir.path()).await {
        Err(Error::Immutable { field, .. }) => assert_eq!(field, "cidr_block"),
        other => panic!("expected an immutable difference, got {other:?}"),
    }
    let down = infra.down(&spec, &up.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn an_up_interrupted_after_the_vpc_converges_with_one_vpc() {
    let moto = Moto::shared();
    let sdk = sdk(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("interrupted", 1, 1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let infra = infra(moto).await.with_progress(move |p| {
        if let Progress::Created {
            kind: Kind::Vpc, ..
        } = p
        {
            let _ = tx.send(());
        }
    });
    let state = InfraState::default();
    let up = infra.up(&spec, &state, dir.path());
    tokio::select! {
        r = up => panic!("up finished before it could be interrupted: {r:?}"),
        _ = rx.recv() => {}
    }
    // The `up` future is dropped here: killed right after creating the VPC.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpcs = || async {
        ec2.describe_vpcs()
            .filters(owner("interrupted"))
            .send()
            .await
            .unwrap()
            .vpcs()
            .len()
    };
    assert_eq!(vpcs().await, 1);

    let infra = self::infra(moto).await;
    let again = infra.up(&spec, &state, dir.path()).await.unwrap();
    assert!(
        !again
            .changes
            .iter()
            .any(|c| c.kind == Kind::Vpc && c.action == Action::Create)
    );
    assert_eq!(vpcs().await, 1);
    verify(&sdk, &spec, dir.path()).await;
    let down = infra.down(&spec, &again.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
}

#[tokio::test]
#[ignore = "needs moto_server and ssh-keygen: run scripts/test"]
async fn an_existing_private_key_is_imported_not_overwritten() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("own-key", 1, 0);
    let key = key_path(dir.path(), "own-key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (Debian openssh-client) must be installed");
    assert!(made.success());
    let before = std::fs::read(&key).unwrap();

    let up = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "the local key was overwritten"
    );
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let pairs = ec2
        .describe_key_pairs()
        .key_names("own-key")
        .send()
        .await
        .unwrap();
    let pair = &pairs.key_pairs()[0];
    assert_eq!(tag(pair.tags(), OWNER), Some("own-key"));
    let instance_key = ec2
        .describe_instances()
        .filters(owner("own-key"))
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .key_name()
        .map(str::to_string);
    assert_eq!(instance_key.as_deref(), Some("own-key"));

    let again = infra.up(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(again.calls.mutating, 0, "{:?}", again.changes);
    let down = infra.down(&spec, &up.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "down removed the local key"
    );
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn two_clusters_in_one_account_do_not_see_each_other() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let a = spec("alpha", 1, 1);
    let b = spec("beta", 1, 1);
    let empty = InfraState::default();
    let (ua, ub) = tokio::join!(
        infra.up(&a, &empty, dir.path()),
        infra.up(&b, &empty, dir.path())
    );
    let (ua, ub) = (ua.unwrap(), ub.unwrap());
    assert_ne!(ua.state.vpc_id, ub.state.vpc_id);
    assert_ne!(ua.state.load_balancer_arn, ub.state.load_balancer_arn);
    let beta_before = owned(&sdk, "beta").await;
    assert!(beta_before.len() >= 10, "{beta_before:?}");

    let down = infra.down(&a, &ua.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    assert_eq!(owned(&sdk, "alpha").await, BTreeSet::new());
    assert_eq!(owned(&sdk, "beta").await, beta_before);
    let again = infra.up(&b, &ub.state, dir.path()).await.unwrap();
    assert_eq!(again.calls.mutating, 0);

    // A state file of another cluster is refused.
    match infra.up(&a, &ub.state, dir.path()).await {
        Err(Error::Spec { field, .. }) => assert_eq!(field, "cluster"),
        other => panic!("expected a spec error, got {other:?}"),
    }
    let down = infra.down(&b, &ub.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn a_same_named_resource_without_the_ownership_tag_is_never_touched() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    // Someone else's key pair with our cluster's name.
    // (Already there when the shared server outlived an earlier run: fine.)
    let _ = ec2.create_key_pair().key_name("foreign").send().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("foreign", 1, 1);
    let before = infra.calls();
    match infra.up(&spec, &InfraState::default(), dir.path()).await {
        Err(e @ Error::NameTaken { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("key pair name \"foreign\" is already taken in us-east-2 by something k8s-hard did not make"),
                "{msg}"
            );
            assert!(msg.contains("give this cluster another name"), "{msg}");
        }
        other => panic!("expected NameTaken, got {other:?}"),
    }
    assert_eq!(infra.calls().since(before).mutating, 0);
    assert_eq!(owned(&sdk, "foreign").await, BTreeSet::new());
    let down = infra.down(&spec, &InfraState::default()).await.unwrap();
    assert!(down.left_behind.is_empty(), "{down:?}");
    assert!(down.deleted.is_empty(), "{down:?}");
    assert_eq!(down.not_ours.len(), 1, "{down:?}");
    assert_eq!(down.not_ours[0].kind, Kind::KeyPair);
    let keys = ec2.describe_key_pairs().key_names("foreign").send().await;
    assert_eq!(keys.unwrap().key_pairs().len(), 1, "still there");
}

/// Two folders (two people) with one `name:` in one account and region: each has its own
/// installation ID, and neither can adopt or delete the other's resources.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn two_installations_with_one_name_never_touch_each_other() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spec("twin", 1, 1);
    let mut b = spec("twin", 1, 1);
    b.installation_id = "test-twin-other".into();

    let up_a = infra
        .up(&a, &InfraState::default(), dir_a.path())
        .await
        .unwrap();
    let before = owned(&sdk, "twin").await;
    // vpc, dhcp, subnet, igw, route table, sg, lb, listener, tg, key, 2 instances
    assert_eq!(before.len(), 12, "{before:?}");

    // The second installation: plan and up stop before any change, naming the fix.
    let calls = infra.calls();
    for r in [
        infra
            .plan(&b, &InfraState::default(), dir_b.path())
            .await
            .map(|_| ()),
        infra
            .up(&b, &InfraState::default(), dir_b.path())
            .await
            .map(|_| ()),
    ] {
        match r {
            Err(e @ Error::NameTaken { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("name \"twin\" is already taken in us-east-2 by another k8s-hard installation (k8s-hard/installation=test-twin)"), "{msg}");
                assert!(msg.contains("give this cluster another name"), "{msg}");
            }
            other => panic!("expected NameTaken, got {other:?}"),
        }
    }
    assert_eq!(infra.calls().since(calls).mutating, 0);
    assert_eq!(
        owned_by_installation(&sdk, "test-twin-other").await,
        BTreeSet::new()
    );

    // Its `down` (the tutorial's `init` then `down` in an empty folder) deletes nothing of A.
    let down_b = infra.down(&b, &InfraState::default()).await.unwrap();
    assert!(down_b.deleted.is_empty(), "{down_b:?}");
    assert!(down_b.left_behind.is_empty(), "{down_b:?}");
    let not_ours: BTreeSet<Kind> = down_b.not_ours.iter().map(|n| n.kind).collect();
    assert_eq!(
        not_ours,
        BTreeSet::from([Kind::LoadBalancer, Kind::TargetGroup, Kind::KeyPair]),
        "{down_b:?}"
    );
    assert_eq!(owned(&sdk, "twin").await, before);
    let again = infra.up(&a, &up_a.state, dir_a.path()).await.unwrap();
    assert_eq!(again.calls.mutating, 0, "{:?}", again.changes);

    let down_a = infra.down(&a, &up_a.state).await.unwrap();
    assert!(down_a.left_behind.is_empty(), "{:?}", down_a.left_behind);
    assert_eq!(owned(&sdk, "twin").await, BTreeSet::new());
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn a_state_in_another_region_is_refused_before_any_call() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let mut state = InfraState::new("moved");
    state.region = Some(REGION.into());
    state.vpc_id = Some("vpc-12345678".into());
    let mut s = spec("moved", 1, 1);
    s.region = Some("eu-west-1".into());
    let e = infra.up(&s, &state, dir.path()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the cluster's resources are in us-east-2 (recorded in its state), but the spec names eu-west-1: delete them there first (`down` with region us-east-2), then create the cluster in eu-west-1"
    );
    assert!(matches!(
        infra.down(&s, &state).await,
        Err(Error::RegionChanged { .. })
    ));
    assert_eq!(infra.calls().total(), 0);
    // A state that names the region pins it even without resources (recorded before `up`'s
    // first change); once `down` emptied the state, the region is free to change.
    state.vpc_id = None;
    assert!(matches!(
        infra.plan(&s, &state, dir.path()).await,
        Err(Error::RegionChanged { .. })
    ));
    let state = InfraState::new("moved");
    infra.plan(&s, &state, dir.path()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn a_duplicate_resource_neither_wedges_up_nor_survives_down() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("dups", 1, 0);
    let first = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    let original = first.state.vpc_id.clone().unwrap();
    // A second VPC with the same tags, created later (as a create the SDK retried would be).
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let extra = ec2
        .create_vpc()
        .cidr_block("172.31.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(tag("Name", "dups"))
                .tags(tag(OWNER, "dups"))
                .tags(tag(INSTALLATION, &installation("dups")))
                .tags(tag("k8s-hard/created", "2999-01-01T00:00:00.000Z"))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();

    // Without the state (lost): the oldest is kept, with a warning; nothing changes.
    let again = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(again.state.vpc_id.as_deref(), Some(original.as_str()));
    assert_eq!(again.calls.mutating, 0, "{:?}", again.changes);
    let warning = again
        .warnings
        .iter()
        .find(|w| w.contains(&extra))
        .unwrap_or_else(|| panic!("no warning names {extra}: {:?}", again.warnings));
    assert!(
        warning.starts_with(&format!("2 vpc resources carry this installation's tags ({original}, {extra}); using the oldest, {original}")),
        "{warning}"
    );

    // `down` deletes both.
    let down = infra.down(&spec, &again.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    let vpcs: BTreeSet<&str> = down
        .deleted
        .iter()
        .filter(|d| d.kind == Kind::Vpc)
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(vpcs, BTreeSet::from([original.as_str(), extra.as_str()]));
    assert_eq!(owned(&sdk, "dups").await, BTreeSet::new());
}

/// `status` is ok only when everything is as `up` leaves it, and says what `up` would do.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn status_tells_what_up_would_change() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let sdk = sdk(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("truth", 1, 1);
    let up = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    let status = infra.status(&spec, &up.state).await.unwrap();
    assert!(status.ok, "{:?}", status.resources);
    assert!(
        status
            .resources
            .iter()
            .all(|r| r.ok && r.up_would.is_none())
    );

    // The API rule revoked by hand, a worker stopped.
    let sg = up.state.security_group_id.clone().unwrap();
    ec2.revoke_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(6443)
                .to_port(6443)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let worker = up.state.instances["worker-0"].id.clone();
    ec2.stop_instances()
        .instance_ids(&worker)
        .send()
        .await
        .unwrap();

    let status = infra.status(&spec, &up.state).await.unwrap();
    assert!(!status.ok);
    let row = |kind: Kind| status.resources.iter().find(|r| r.kind == kind).unwrap();
    let group = row(Kind::SecurityGroup);
    assert_eq!(
        (group.state.as_str(), group.ok, group.up_would.as_deref()),
        (
            "needs update",
            false,
            Some("allow tcp 6443 from cidr:0.0.0.0/0")
        )
    );
    let w = status
        .resources
        .iter()
        .find(|r| r.kind == Kind::Instance && r.name == "worker-0")
        .unwrap();
    assert_eq!(
        (w.state.as_str(), w.ok, w.up_would.as_deref()),
        ("stopped", false, Some("start"))
    );
    let bad: Vec<&str> = status
        .resources
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(bad, ["truth", "worker-0"], "{:?}", status.resources);

    let fixed = infra.up(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(fixed.calls.mutating, 2, "{:?}", fixed.changes);
    assert!(infra.status(&spec, &fixed.state).await.unwrap().ok);
    let down = infra.down(&spec, &fixed.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn bad_specs_fail_naming_the_field_before_any_call() {
    let moto = Moto::shared();
    let infra = infra(moto).await;
    let dir = tempfile::tempdir().unwrap();
    type Breaker = Box<dyn Fn(&mut InfraSpec)>;
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "subnet_cidr",
            Box::new(|s| s.subnet_cidr = "10.9.0.0/24".parse().unwrap()),
        ),
        (
            "masters[0].private_ip",
            Box::new(|s| s.masters[0].private_ip = "172.31.0.2".parse().unwrap()),
        ),
        (
            "workers[0].pod_cidr",
            Box::new(|s| s.workers[0].pod_cidr = Some("172.31.5.0/24".parse().unwrap())),
        ),
        ("cluster", Box::new(|s| s.cluster = "UPPER".into())),
    ];
    for (field, break_it) in cases {
        let mut s = spec("bad", 1, 1);
        break_it(&mut s);
        let before = infra.calls();
        for r in [
            infra
                .up(&s, &InfraState::default(), dir.path())
                .await
                .map(|_| ()),
            infra
                .plan(&s, &InfraState::default(), dir.path())
                .await
                .map(|_| ()),
            infra.down(&s, &InfraState::default()).await.map(|_| ()),
        ] {
            match r {
                Err(Error::Spec { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a spec error, got {other:?}"),
            }
        }
        assert_eq!(infra.calls().since(before).total(), 0, "{field}");
    }
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn no_region_is_a_clear_error_before_any_call() {
    let sdk = sdk(Moto::shared())
        .await
        .into_builder()
        .region(None)
        .build();
    let infra = Infra::from_sdk_config(sdk).await.unwrap();
    let mut s = spec("noregion", 1, 1);
    s.region = None;
    let dir = tempfile::tempdir().unwrap();
    let e = infra
        .plan(&s, &InfraState::default(), dir.path())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoRegion), "{e:?}");
    assert!(e.to_string().contains("region"));
    assert_eq!(infra.calls().total(), 0);
}

/// Run in a child process with a clean environment (no credentials anywhere, IMDS disabled),
/// so the real default chain is what fails.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn no_credentials_is_a_clear_error() {
    if std::env::var_os("K8S_AWS_INFRA_NO_CREDS_CHILD").is_some() {
        let url = std::env::var("K8S_AWS_INFRA_ENDPOINT").unwrap();
        let opts = k8s_aws_infra::AwsOptions {
            endpoint_url: Some(url),
            ..Default::default()
        };
        let e = Infra::connect(&opts).await.unwrap_err();
        assert!(matches!(e, Error::NoCredentials { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("no AWS credentials"), "{msg}");
        // The chain's reasons, in words; not the SDK's debug dump.
        assert!(msg.contains("Environment: "), "{msg}");
        assert!(!msg.contains("CredentialsNotLoaded("), "{msg}");
        println!("CHILD-OK: {msg}");
        return;
    }
    let moto = Moto::shared();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_credentials_is_a_clear_error",
            "--include-ignored",
            "--nocapture",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("K8S_AWS_INFRA_NO_CREDS_CHILD", "1")
        .env("K8S_AWS_INFRA_ENDPOINT", moto.url())
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn progress_reports_creations_and_waits() {
    let moto = Moto::shared();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let infra = infra(moto)
        .await
        .with_progress(move |p| sink.lock().unwrap().push(p.clone()));
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec("progress", 1, 1);
    spec.ssh_ingress_cidr = "203.0.113.0/24".parse().unwrap();
    let up = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    assert!(up.warnings.is_empty());
    {
        let seen = seen.lock().unwrap();
        assert!(seen.iter().any(|p| matches!(
            p,
            Progress::Created {
                kind: Kind::Vpc,
                ..
            }
        )));
        assert!(seen.iter().any(|p| matches!(
            p,
            Progress::Created {
                kind: Kind::Instance,
                ..
            }
        )));
        assert!(!seen.iter().any(|p| matches!(p, Progress::Warning { .. })));
    }
    // Narrowing SSH further revokes the old rule.
    spec.ssh_ingress_cidr = "203.0.113.7/32".parse().unwrap();
    let again = infra.up(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(again.calls.mutating, 2, "{:?}", again.changes);
    let down = infra.down(&spec, &up.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
}

/// Through an emulation of AWS's timing (IDs unknown for a moment after creation, instances
/// pending without a public IP, the load balancer provisioning, terminations shutting down,
/// a deleted load balancer's interfaces lingering): the first `up` converges without a re-run.
/// Checked against moto directly, not through the emulation.
#[tokio::test]
#[ignore = "needs moto_server: run scripts/test"]
async fn against_aws_timing_the_first_up_converges_and_down_leaves_nothing() {
    let moto = Moto::shared();
    let proxy = AwsTiming::start(moto.url(), Timing::short());
    let infra = infra_at(&sdk_at(&proxy.url()).await).await;
    let direct = sdk(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("settling", 2, 2);

    let up = infra
        .up(&spec, &InfraState::default(), dir.path())
        .await
        .unwrap();
    // `up` does not wait for the new load balancer: its name is all the next steps need.
    assert!(!up.load_balancer_active);
    infra
        .wait_load_balancer_active(&spec, &up.state)
        .await
        .unwrap();
    verify(&direct, &spec, dir.path()).await;
    let counts = proxy.counts();
    assert!(
        counts.not_found > 0 && counts.pending > 0,
        "the emulation did not bite: {counts:?}"
    );

    // The public IPs recorded are the ones AWS reports.
    let described = aws_sdk_ec2::Client::new(&direct)
        .describe_instances()
        .filters(owner("settling"))
        .send()
        .await
        .unwrap();
    let described: BTreeMap<String, String> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                tag(i.tags(), "k8s-hard/node").unwrap().to_string(),
                i.public_ip_address().unwrap().to_string(),
            )
        })
        .collect();
    let recorded: BTreeMap<String, String> = up
        .state
        .instances
        .iter()
        .map(|(node, i)| (node.clone(), i.public_ip.clone().unwrap()))
        .collect();
    assert_eq!(recorded, described);
    assert_eq!(recorded.len(), 4);

    let second = infra.up(&spec, &up.state, dir.path()).await.unwrap();
    assert_eq!(second.calls.mutating, 0, "{:?}", second.changes);
    assert!(second.load_balancer_active);

    let down = infra.down(&spec, &up.state).await.unwrap();
    assert!(down.left_behind.is_empty(), "{:?}", down.left_behind);
    assert_eq!(owned(&direct, "settling").await, BTreeSet::new());
    let counts = proxy.counts();
    assert!(
        counts.shutting_down > 0 && counts.linger > 0,
        "the teardown emulation did not bite: {counts:?}"
    );
}

/// An endpoint that accepts connections and never answers: every command fails within its
/// bound, naming the call; nothing hangs.
#[tokio::test]
async fn a_stalled_endpoint_fails_in_bounded_time_naming_the_call() {
    let stalled = Stalled::start();
    let mut t = timeouts();
    t.call = Duration::from_secs(1);
    let infra = Infra::from_sdk_config(sdk_at(&stalled.url()).await)
        .await
        .unwrap()
        .with_timeouts(t);
    let dir = tempfile::tempdir().unwrap();
    let spec = spec("stalled", 1, 1);
    let state = InfraState::default();
    let bound = Duration::from_secs(60);
    let errors = [
        tokio::time::timeout(bound, infra.plan(&spec, &state, dir.path()))
            .await
            .unwrap_or_else(|_| panic!("plan hung past {bound:?}"))
            .map(|_| ())
            .unwrap_err(),
        tokio::time::timeout(bound, infra.up(&spec, &state, dir.path()))
            .await
            .unwrap_or_else(|_| panic!("up hung past {bound:?}"))
            .map(|_| ())
            .unwrap_err(),
        tokio::time::timeout(bound, infra.status(&spec, &state))
            .await
            .unwrap_or_else(|_| panic!("status hung past {bound:?}"))
            .map(|_| ())
            .unwrap_err(),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(matches!(e, Error::Aws { .. }), "{e:?}");
        assert!(
            msg.contains(": Describe") && msg.contains(" failed: "),
            "{msg}"
        );
        assert!(msg.contains("timeout"), "{msg}");
    }
    let down = tokio::time::timeout(bound, infra.down(&spec, &state))
        .await
        .unwrap_or_else(|_| panic!("down hung past {bound:?}"))
        .unwrap();
    assert!(down.deleted.is_empty());
    assert!(!down.left_behind.is_empty());
    for l in &down.left_behind {
        assert!(
            l.reason.contains(" failed: ") && l.reason.contains("timeout"),
            "{l:?}"
        );
    }
    assert!(stalled.connections() > 0);
}
