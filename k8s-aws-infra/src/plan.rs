//! The order of things: `up` (and `plan`, the same walk without changes) runs the kinds in
//! dependency order, independent ones concurrently; `down` runs them in reverse.

use std::future::Future;

use aws_sdk_ec2::types as ec2;
use aws_sdk_elasticloadbalancingv2::types as elb;
use futures::{future, try_join};
use serde::Serialize;

use crate::context::{Action, Change, Ctx, Kind, PLANNED, Pace, Progress};
use crate::error::{Error, Result};
use crate::resources::{
    self, Which, dhcp_options, image, instance, internet_gateway, key_pair, listener,
    load_balancer, route, route_table, security_group, subnet, target_group, vpc,
};
use crate::state::{InfraState, InstanceState};
use crate::tags::{CREATED_TAG_KEY, NODE_TAG_KEY, tag_value};

/// Every resource handle `up` produced.
pub(crate) struct Built {
    pub(crate) vpc: vpc::Vpc,
    pub(crate) dhcp: dhcp_options::DhcpOptions,
    pub(crate) subnet: subnet::Subnet,
    pub(crate) igw: internet_gateway::InternetGateway,
    pub(crate) route_table: route_table::RouteTable,
    pub(crate) sg: security_group::SecurityGroup,
    pub(crate) lb: load_balancer::LoadBalancer,
    pub(crate) tg: target_group::TargetGroup,
    pub(crate) listener: String,
    pub(crate) image: String,
    pub(crate) key: key_pair::KeyPair,
    pub(crate) instances: Vec<instance::Instance>,
}

/// Finds (and, unless a dry run, creates or fixes) everything, in dependency order. Returns
/// once the instances run with public IPs; the load balancer may still be provisioning.
pub(crate) async fn converge(ctx: &Ctx<'_>) -> Result<Built> {
    // Names AWS keeps unique per account and region must be free or ours before anything is
    // made: another installation's load balancer must not be found after our VPC exists.
    try_join!(
        load_balancer::find(ctx),
        target_group::find(ctx),
        key_pair::find(ctx)
    )?;
    // Before the first change: from here on the state names the region, however the run ends.
    if !ctx.dry_run {
        ctx.pin()?;
    }
    let (vpc, image, key) = try_join!(vpc::ensure(ctx), image::find(ctx), key_pair::ensure(ctx))?;
    let (dhcp, subnet, igw, sg, tg) = try_join!(
        dhcp_options::ensure(ctx, &vpc),
        subnet::ensure(ctx, &vpc),
        internet_gateway::ensure(ctx, &vpc),
        security_group::ensure(ctx, &vpc),
        target_group::ensure(ctx, &vpc),
    )?;
    let (route_table, lb, instances) = try_join!(
        route_table::ensure(ctx, &vpc, &subnet, &igw),
        load_balancer::ensure(ctx, &subnet, &vpc.id),
        instance::ensure_all(ctx, &subnet, &sg, &image, &key, &vpc.id),
    )?;
    let (listener, ()) = try_join!(
        listener::ensure(ctx, &lb, &tg),
        route::ensure(ctx, &route_table, &instances),
    )?;
    Ok(Built {
        vpc,
        dhcp,
        subnet,
        igw,
        route_table,
        sg,
        lb,
        tg,
        listener,
        image,
        key,
        instances,
    })
}

fn real(id: &str) -> Option<String> {
    (id != PLANNED).then(|| id.to_string())
}

/// The state to store after `up`.
pub(crate) fn state_of(ctx: &Ctx<'_>, b: &Built) -> InfraState {
    InfraState {
        cluster: ctx.spec.cluster.clone(),
        installation_id: Some(ctx.spec.installation_id.clone()),
        region: Some(ctx.region.clone()),
        vpc_id: real(&b.vpc.id),
        dhcp_options_id: real(&b.dhcp.id),
        subnet_id: real(&b.subnet.id),
        internet_gateway_id: real(&b.igw.id),
        route_table_id: real(&b.route_table.id),
        security_group_id: real(&b.sg.id),
        load_balancer_arn: real(&b.lb.arn),
        load_balancer_dns_name: b.lb.dns_name.clone(),
        target_group_arn: real(&b.tg.arn),
        listener_arn: real(&b.listener),
        image_id: Some(b.image.clone()),
        key_pair_name: Some(b.key.name.clone()),
        key_path: b.key.path.clone(),
        instances: b
            .instances
            .iter()
            .filter(|i| i.id != PLANNED)
            .map(|i| {
                (
                    i.node.clone(),
                    InstanceState {
                        id: i.id.clone(),
                        role: i.role,
                        private_ip: i.private_ip.clone(),
                        public_ip: i.public_ip.clone(),
                        public_dns: i.public_dns.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// One resource as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceStatus {
    /// Kind.
    pub kind: Kind,
    /// Name (cluster name, node name, CIDR...).
    pub name: String,
    /// ID or ARN; `None` when it does not exist.
    pub id: Option<String>,
    /// `ok`, `missing`, `needs update`, or AWS's state of an instance (`running`, `pending`,
    /// `stopped` ...) or of the load balancer (`active`, `provisioning` ...).
    pub state: String,
    /// True when it is as `up` leaves it.
    pub ok: bool,
    /// What `up` would do about it; `None` when nothing.
    pub up_would: Option<String>,
}

/// The status rows of a dry-run walk: each resource, and what `up` would do about it.
pub(crate) fn statuses(ctx: &Ctx<'_>, b: &Built, changes: &[Change]) -> Vec<ResourceStatus> {
    // `ready`: AWS's own state, when it has one, whether that is the state `up` leaves, and
    // what `up` waits for otherwise.
    let row =
        |kind: Kind, name: &str, change_name: &str, id: &str, ready: Option<(&str, bool, &str)>| {
            let planned = id == PLANNED;
            let pending: Vec<String> = changes
                .iter()
                .filter(|c| {
                    c.kind == kind
                        && (c.name == change_name || (!planned && c.id.as_deref() == Some(id)))
                })
                .map(|c| match &c.action {
                    Action::Create => "create".to_string(),
                    Action::Update(what) => what.clone(),
                })
                .collect();
            let (state, ok, wait) = match ready {
                _ if planned => ("missing".to_string(), false, None),
                Some((s, true, _)) => (s.to_string(), pending.is_empty(), None),
                // A pending change (start) includes the wait.
                Some((s, false, wait)) => (
                    s.to_string(),
                    false,
                    pending.is_empty().then(|| wait.to_string()),
                ),
                None if pending.is_empty() => ("ok".to_string(), true, None),
                None => ("needs update".to_string(), false, None),
            };
            let mut would = pending;
            would.extend(wait);
            ResourceStatus {
                kind,
                name: name.to_string(),
                id: (!planned).then(|| id.to_string()),
                state,
                ok,
                up_would: (!would.is_empty()).then(|| would.join("; ")),
            }
        };
    let cluster = ctx.spec.cluster.as_str();
    let subnet = ctx.spec.subnet_cidr.to_string();
    let lb_state = if b.lb.active {
        "active"
    } else {
        "provisioning"
    };
    let key_missing = changes
        .iter()
        .any(|c| c.kind == Kind::KeyPair && c.action == Action::Create);
    let key_id = if key_missing {
        PLANNED
    } else {
        b.key.name.as_str()
    };
    let listener_name = format!("{cluster}:{}", crate::spec::API_PORT);
    let mut rows = vec![
        row(Kind::Vpc, cluster, cluster, &b.vpc.id, None),
        row(Kind::DhcpOptions, cluster, cluster, &b.dhcp.id, None),
        row(Kind::Subnet, &subnet, &subnet, &b.subnet.id, None),
        row(Kind::InternetGateway, cluster, cluster, &b.igw.id, None),
        row(Kind::RouteTable, cluster, cluster, &b.route_table.id, None),
        row(Kind::SecurityGroup, cluster, cluster, &b.sg.id, None),
        row(
            Kind::LoadBalancer,
            cluster,
            cluster,
            &b.lb.arn,
            Some((lb_state, b.lb.active, "wait until it is active")),
        ),
        row(Kind::TargetGroup, cluster, cluster, &b.tg.arn, None),
        row(Kind::Listener, cluster, &listener_name, &b.listener, None),
        row(Kind::Image, &ctx.spec.image.name, "", &b.image, None),
        row(Kind::KeyPair, &b.key.name, &b.key.name, key_id, None),
    ];
    for i in &b.instances {
        let running = i.state == "running" && i.public_ip.is_some();
        let change_name = format!("{cluster}-{}", i.node);
        rows.push(row(
            Kind::Instance,
            &i.node,
            &change_name,
            &i.id,
            Some((&i.state, running, "wait until it runs with a public IP")),
        ));
    }
    for w in &ctx.spec.workers {
        let Some(pod) = w.pod_cidr.map(|p| p.to_string()) else {
            continue;
        };
        let target = b
            .route_table
            .routes
            .iter()
            .find(|(d, _)| *d == pod)
            .map(|(_, t)| t.clone());
        let name = format!("{pod} -> {}", w.name);
        rows.push(row(
            Kind::Route,
            &name,
            &name,
            target.as_deref().unwrap_or(PLANNED),
            None,
        ));
    }
    rows
}

/// A resource `down` deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// Kind.
    pub kind: Kind,
    /// ID, ARN or name.
    pub id: String,
}

/// A resource `down` could not delete (or refused to, lacking the ownership tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftBehind {
    /// Kind.
    pub kind: Kind,
    /// ID, ARN or name, when known.
    pub id: Option<String>,
    /// Why.
    pub reason: String,
}

/// A resource of the installation, as `down` finds it (by the installation tag alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Kind.
    pub kind: Kind,
    /// ID, ARN or (key pairs) name: what `down` reports as deleted.
    pub id: String,
    /// Its name: the node of an instance, else its `Name` tag or AWS name.
    pub name: Option<String>,
    /// When it was made (UTC, RFC 3339): AWS's own time where it keeps one, else the
    /// [`CREATED_TAG_KEY`](crate::CREATED_TAG_KEY) tag.
    pub created: Option<String>,
    /// AWS's state of it, where it has one (`running`, `active` ...).
    pub state: Option<String>,
}

/// Error codes that mean "something still depends on it: try again later".
const DEPENDENCY_CODES: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "InvalidGroup.InUse",
    "IncorrectState",
];

/// Everything of the installation in the region, found by its tag: what `down` deletes.
#[derive(Default)]
pub(crate) struct Owned {
    instances: Vec<ec2::Instance>,
    /// Each with its API listener.
    balancers: Vec<(elb::LoadBalancer, Option<elb::Listener>)>,
    target_groups: Vec<elb::TargetGroup>,
    route_tables: Vec<ec2::RouteTable>,
    gateways: Vec<ec2::InternetGateway>,
    subnets: Vec<ec2::Subnet>,
    groups: Vec<ec2::SecurityGroup>,
    dhcp: Vec<ec2::DhcpOptions>,
    vpcs: Vec<ec2::Vpc>,
    key_pairs: Vec<ec2::KeyPairInfo>,
}

/// What [`search`] found, and what it could not look at.
#[derive(Default)]
pub(crate) struct Search {
    pub(crate) owned: Owned,
    /// Resources with the cluster's names that belong to someone else.
    pub(crate) not_ours: Vec<LeftBehind>,
    /// Look-ups that failed.
    pub(crate) failed: Vec<(Kind, Error)>,
}

impl Search {
    /// What a look-up found; another installation's resource is noted as not ours, a
    /// failure as failed.
    fn take<T>(&mut self, kind: Kind, r: Result<Vec<T>>) -> Vec<T> {
        match r {
            Ok(v) => v,
            Err(e) => {
                self.not_ours_or_failed(kind, e);
                Vec::new()
            }
        }
    }

    /// [`Search::take`] for an ELBv2 kind, whose not-ours name holder comes beside what is
    /// ours.
    fn take_elb<T>(&mut self, kind: Kind, r: Result<resources::ElbFound<T>>) -> Vec<T> {
        let found = self.take(kind, r.map(|f| vec![f])).pop();
        found.map_or_else(Vec::new, |f| {
            if let Some(e) = f.not_ours {
                self.not_ours_or_failed(kind, e);
            }
            f.owned
        })
    }

    fn not_ours_or_failed(&mut self, kind: Kind, e: Error) {
        let id = match &e {
            Error::NotOwned { id, .. } => id.clone(),
            Error::NameTaken { name, .. } => name.clone(),
            _ => return self.failed.push((kind, e)),
        };
        self.not_ours.push(LeftBehind {
            kind,
            id: Some(id),
            reason: e.to_string(),
        });
    }
}

/// Finds everything carrying the installation tag in the region, whatever its name, every
/// kind at once (one round of calls, then the listeners of the load balancers found).
pub(crate) async fn search(ctx: &Ctx<'_>) -> Search {
    let (instances, lbs, tgs, vpcs, tables, gateways, subnets, groups, dhcp, keys, key_name) = futures::join!(
        instance::find_all(ctx, None, instance::NOT_TERMINATED),
        load_balancer::find_owned(ctx),
        target_group::find_owned(ctx),
        vpc::find(ctx, Which::All),
        route_table::find(ctx, Which::All, None),
        internet_gateway::find(ctx, Which::All),
        subnet::find(ctx, Which::All, None),
        security_group::find(ctx, Which::All, None),
        dhcp_options::find(ctx, Which::All),
        key_pair::find_owned(ctx),
        key_pair::find(ctx),
    );
    let mut s = Search::default();
    let balancers = s.take_elb(Kind::LoadBalancer, lbs);
    let target_groups = s.take_elb(Kind::TargetGroup, tgs);
    // Ours come from the tag search; this look-up by name only tells who else holds it.
    if let Err(e) = key_name {
        s.not_ours_or_failed(Kind::KeyPair, e);
    }
    let listeners = future::join_all(
        balancers
            .iter()
            .map(|lb| listener::find(ctx, lb.load_balancer_arn().unwrap_or_default())),
    )
    .await;
    let mut with_listeners = Vec::new();
    for (lb, l) in balancers.into_iter().zip(listeners) {
        let l = s.take(Kind::Listener, l.map(Vec::from_iter));
        with_listeners.push((lb, l.into_iter().next()));
    }
    s.owned = Owned {
        instances: s.take(Kind::Instance, instances),
        balancers: with_listeners,
        target_groups,
        route_tables: s.take(Kind::RouteTable, tables),
        gateways: s.take(Kind::InternetGateway, gateways),
        subnets: s.take(Kind::Subnet, subnets),
        groups: s.take(Kind::SecurityGroup, groups),
        dhcp: s.take(Kind::DhcpOptions, dhcp),
        vpcs: s.take(Kind::Vpc, vpcs),
        key_pairs: s.take(Kind::KeyPair, keys),
    };
    s
}

/// AWS's time as RFC 3339.
fn time_of(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| {
        t.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

impl Owned {
    /// Every resource, in the order `down` deletes them.
    pub(crate) fn list(&self) -> Vec<Found> {
        let ec2 = |kind, id: Option<&str>, tags: &[ec2::Tag]| Found {
            kind,
            id: id.unwrap_or_default().to_string(),
            name: tag_value(tags, "Name").map(str::to_string),
            created: tag_value(tags, CREATED_TAG_KEY).map(str::to_string),
            state: None,
        };
        let mut out: Vec<Found> = self
            .instances
            .iter()
            .map(|i| Found {
                name: tag_value(i.tags(), NODE_TAG_KEY)
                    .or(tag_value(i.tags(), "Name"))
                    .map(str::to_string),
                created: time_of(i.launch_time()),
                state: i.state().and_then(|s| s.name()).map(|n| n.to_string()),
                ..ec2(Kind::Instance, i.instance_id(), i.tags())
            })
            .collect();
        for (lb, l) in &self.balancers {
            if let Some(l) = l {
                out.push(Found {
                    kind: Kind::Listener,
                    id: l.listener_arn().unwrap_or_default().to_string(),
                    name: l.port().map(|p| p.to_string()),
                    created: None,
                    state: None,
                });
            }
            out.push(Found {
                kind: Kind::LoadBalancer,
                id: lb.load_balancer_arn().unwrap_or_default().to_string(),
                name: lb.load_balancer_name().map(str::to_string),
                created: time_of(lb.created_time()),
                state: lb.state().and_then(|s| s.code()).map(|c| c.to_string()),
            });
        }
        out.extend(self.target_groups.iter().map(|tg| Found {
            kind: Kind::TargetGroup,
            id: tg.target_group_arn().unwrap_or_default().to_string(),
            name: tg.target_group_name().map(str::to_string),
            created: None,
            state: None,
        }));
        out.extend(
            self.route_tables
                .iter()
                .map(|r| ec2(Kind::RouteTable, r.route_table_id(), r.tags())),
        );
        out.extend(
            self.gateways
                .iter()
                .map(|g| ec2(Kind::InternetGateway, g.internet_gateway_id(), g.tags())),
        );
        out.extend(
            self.subnets
                .iter()
                .map(|x| ec2(Kind::Subnet, x.subnet_id(), x.tags())),
        );
        out.extend(
            self.groups
                .iter()
                .map(|g| ec2(Kind::SecurityGroup, g.group_id(), g.tags())),
        );
        out.extend(
            self.dhcp
                .iter()
                .map(|d| ec2(Kind::DhcpOptions, d.dhcp_options_id(), d.tags())),
        );
        out.extend(
            self.vpcs
                .iter()
                .map(|v| ec2(Kind::Vpc, v.vpc_id(), v.tags())),
        );
        out.extend(self.key_pairs.iter().map(|k| Found {
            created: time_of(k.create_time()),
            ..ec2(Kind::KeyPair, k.key_name(), k.tags())
        }));
        out
    }
}

#[derive(Default)]
pub(crate) struct Teardown {
    pub(crate) deleted: Vec<Deleted>,
    pub(crate) left: Vec<LeftBehind>,
    pub(crate) not_ours: Vec<LeftBehind>,
}

impl Teardown {
    fn left(&mut self, kind: Kind, id: Option<&str>, e: &Error) {
        self.left.push(LeftBehind {
            kind,
            id: id.map(str::to_string),
            reason: e.to_string(),
        });
    }

    fn extend(&mut self, other: Teardown) {
        self.deleted.extend(other.deleted);
        self.left.extend(other.left);
        self.not_ours.extend(other.not_ours);
    }
}

/// Deletes one resource, retrying dependency errors up to the teardown bound.
async fn delete_one<F, Fut>(ctx: &Ctx<'_>, t: &mut Teardown, kind: Kind, id: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    ctx.emit(Progress::Deleting {
        kind,
        id: id.to_string(),
    });
    match ctx
        .retry_on(kind, id, DEPENDENCY_CODES, Pace::Teardown, f)
        .await
    {
        Ok(()) => {
            ctx.emit(Progress::Deleted {
                kind,
                id: id.to_string(),
            });
            t.deleted.push(Deleted {
                kind,
                id: id.to_string(),
            });
        }
        Err(e) if crate::context::is_not_found(&e) => {}
        Err(e) => t.left(kind, Some(id), &e),
    }
}

/// Terminates the installation's instances and waits until they are gone (also those a
/// previous `down` left shutting down).
async fn destroy_machines(ctx: &Ctx<'_>, found: &[ec2::Instance]) -> Teardown {
    let mut t = Teardown::default();
    let ids: Vec<String> = found.iter().filter_map(|i| i.instance_id.clone()).collect();
    let live: Vec<String> = found
        .iter()
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("shutting-down"))
        .filter_map(|i| i.instance_id.clone())
        .collect();
    if ids.is_empty() {
        return t;
    }
    for id in &ids {
        ctx.emit(Progress::Deleting {
            kind: Kind::Instance,
            id: id.clone(),
        });
    }
    let terminated = async {
        if !live.is_empty() {
            instance::terminate(ctx, &live).await?;
        }
        ctx.wait_for(
            "instances terminated",
            ids.len(),
            ctx.timeouts.teardown,
            || instance::count_terminated(ctx, &ids),
        )
        .await
    };
    match terminated.await {
        Ok(()) => {
            for id in ids {
                ctx.emit(Progress::Deleted {
                    kind: Kind::Instance,
                    id: id.clone(),
                });
                t.deleted.push(Deleted {
                    kind: Kind::Instance,
                    id,
                });
            }
        }
        Err(e) => t.left(Kind::Instance, Some(&ids.join(",")), &e),
    }
    t
}

/// Deletes the listeners, the load balancers (their interfaces then linger for a while) and
/// the target groups.
async fn destroy_balancer(ctx: &Ctx<'_>, o: &Owned) -> Teardown {
    let mut t = Teardown::default();
    for (lb, l) in &o.balancers {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        if let Some(id) = l.as_ref().and_then(|l| l.listener_arn()) {
            delete_one(ctx, &mut t, Kind::Listener, id, || {
                listener::delete(ctx, id)
            })
            .await;
        }
        delete_one(ctx, &mut t, Kind::LoadBalancer, arn, || {
            load_balancer::delete(ctx, arn)
        })
        .await;
    }
    for tg in &o.target_groups {
        let id = tg.target_group_arn().unwrap_or_default();
        delete_one(ctx, &mut t, Kind::TargetGroup, id, || {
            target_group::delete(ctx, id)
        })
        .await;
    }
    t
}

/// Deletes everything the installation owns in the region, whatever its name, in reverse
/// dependency order; every owned copy of a kind (a create retried behind our back) goes too.
/// Then looks again: anything of the installation that appeared meanwhile (made by a request
/// of an interrupted run still in flight) is left behind, by name.
pub(crate) async fn destroy(ctx: &Ctx<'_>) -> Teardown {
    let found = search(ctx).await;
    let mut t = Teardown {
        not_ours: found.not_ours,
        ..Teardown::default()
    };
    for (kind, e) in &found.failed {
        t.left(*kind, None, e);
    }
    let o = found.owned;
    // Machines and the load balancer chain first, concurrently: they hold addresses in the
    // subnet and security group.
    let (m, b) = future::join(
        destroy_machines(ctx, &o.instances),
        destroy_balancer(ctx, &o),
    )
    .await;
    t.extend(m);
    t.extend(b);

    for rt in &o.route_tables {
        let id = rt.route_table_id().unwrap_or_default();
        for (assoc, _) in route_table::subnet_associations(rt) {
            if let Err(e) = route_table::disassociate(ctx, id, &assoc).await {
                t.left(Kind::RouteTable, Some(id), &e);
            }
        }
        delete_one(ctx, &mut t, Kind::RouteTable, id, || {
            route_table::delete(ctx, id)
        })
        .await;
    }
    for g in &o.gateways {
        let id = g.internet_gateway_id().unwrap_or_default();
        for v in internet_gateway::attached_vpcs(g) {
            // Detaching fails while instances or a deleted load balancer's interfaces still
            // hold public addresses: retry.
            let detached = ctx
                .retry_on(
                    Kind::InternetGateway,
                    id,
                    DEPENDENCY_CODES,
                    Pace::Teardown,
                    || internet_gateway::detach(ctx, id, &v),
                )
                .await;
            if let Err(e) = detached {
                t.left(Kind::InternetGateway, Some(id), &e);
            }
        }
        delete_one(ctx, &mut t, Kind::InternetGateway, id, || {
            internet_gateway::delete(ctx, id)
        })
        .await;
    }
    for s in &o.subnets {
        let id = s.subnet_id().unwrap_or_default();
        delete_one(ctx, &mut t, Kind::Subnet, id, || subnet::delete(ctx, id)).await;
    }
    for g in &o.groups {
        let id = g.group_id().unwrap_or_default();
        delete_one(ctx, &mut t, Kind::SecurityGroup, id, || {
            security_group::delete(ctx, id)
        })
        .await;
    }
    for d in &o.dhcp {
        let id = d.dhcp_options_id().unwrap_or_default();
        let associated: Vec<String> = o
            .vpcs
            .iter()
            .filter(|v| v.dhcp_options_id() == Some(id))
            .filter_map(|v| v.vpc_id.clone())
            .collect();
        delete_one(ctx, &mut t, Kind::DhcpOptions, id, || {
            dhcp_options::delete(ctx, id, &associated)
        })
        .await;
    }
    for v in &o.vpcs {
        let id = v.vpc_id().unwrap_or_default();
        delete_one(ctx, &mut t, Kind::Vpc, id, || vpc::delete(ctx, id)).await;
    }
    for k in &o.key_pairs {
        let name = k.key_name().unwrap_or_default();
        delete_one(ctx, &mut t, Kind::KeyPair, name, || {
            key_pair::delete(ctx, name)
        })
        .await;
    }
    if t.left.is_empty() {
        let again = search(ctx).await;
        for (kind, e) in &again.failed {
            t.left(*kind, None, e);
        }
        for f in again.owned.list() {
            if !t.deleted.iter().any(|d| d.kind == f.kind && d.id == f.id) {
                t.left.push(LeftBehind {
                    kind: f.kind,
                    id: Some(f.id),
                    reason: "appeared while `down` ran (made by a request still in flight?): run `down` again".into(),
                });
            }
        }
    }
    t
}
