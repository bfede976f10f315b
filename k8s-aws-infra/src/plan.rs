//! The order of things: `up` (and `plan`, the same walk without changes) runs the kinds in
//! dependency order, independent ones concurrently; `down` runs them in reverse.

use std::future::Future;

use futures::{future, try_join};
use serde::Serialize;

use crate::context::{Action, Change, Ctx, Kind, PLANNED, Progress};
use crate::error::{Error, Result};
use crate::resources::{
    dhcp_options, image, instance, internet_gateway, key_pair, listener, load_balancer, route,
    route_table, security_group, subnet, target_group, vpc,
};
use crate::state::{InfraState, InstanceState};

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

/// Finds (and, unless a dry run, creates or fixes) everything, in dependency order.
pub(crate) async fn converge(ctx: &Ctx<'_>) -> Result<Built> {
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
    let (listener, (), ()) = try_join!(
        listener::ensure(ctx, &lb, &tg),
        route::ensure(ctx, &route_table, &instances),
        load_balancer::wait_active(ctx, &lb),
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
    /// `missing`, `ok`, `needs update`, or the instance / load balancer state.
    pub state: String,
}

/// The status rows of a dry-run walk.
pub(crate) fn statuses(ctx: &Ctx<'_>, b: &Built, changes: &[Change]) -> Vec<ResourceStatus> {
    let state = |kind: Kind, id: &str| {
        if id == PLANNED {
            return "missing".to_string();
        }
        let pending = changes.iter().any(|c| {
            c.kind == kind && c.id.as_deref() == Some(id) && matches!(c.action, Action::Update(_))
        });
        if pending { "needs update" } else { "ok" }.to_string()
    };
    let row = |kind: Kind, name: &str, id: &str| ResourceStatus {
        kind,
        name: name.to_string(),
        id: real(id),
        state: state(kind, id),
    };
    let cluster = ctx.spec.cluster.as_str();
    let key_exists = !changes
        .iter()
        .any(|c| c.kind == Kind::KeyPair && c.action == Action::Create);
    let mut rows = vec![
        row(Kind::Vpc, cluster, &b.vpc.id),
        row(Kind::DhcpOptions, cluster, &b.dhcp.id),
        row(
            Kind::Subnet,
            &ctx.spec.subnet_cidr.to_string(),
            &b.subnet.id,
        ),
        row(Kind::InternetGateway, cluster, &b.igw.id),
        row(Kind::RouteTable, cluster, &b.route_table.id),
        row(Kind::SecurityGroup, cluster, &b.sg.id),
        ResourceStatus {
            state: if b.lb.arn == PLANNED {
                "missing".into()
            } else if b.lb.active {
                "active".into()
            } else {
                "provisioning".into()
            },
            ..row(Kind::LoadBalancer, cluster, &b.lb.arn)
        },
        row(Kind::TargetGroup, cluster, &b.tg.arn),
        row(Kind::Listener, cluster, &b.listener),
        row(Kind::Image, &ctx.spec.image.name, &b.image),
        ResourceStatus {
            kind: Kind::KeyPair,
            name: b.key.name.clone(),
            id: key_exists.then(|| b.key.name.clone()),
            state: if key_exists { "ok" } else { "missing" }.into(),
        },
    ];
    for i in &b.instances {
        rows.push(ResourceStatus {
            kind: Kind::Instance,
            name: i.node.clone(),
            id: real(&i.id),
            state: if i.id == PLANNED {
                "missing".into()
            } else {
                i.state.clone()
            },
        });
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
        let pending = changes
            .iter()
            .any(|c| c.kind == Kind::Route && c.name == name);
        rows.push(ResourceStatus {
            kind: Kind::Route,
            state: match (&target, pending) {
                (None, _) => "missing",
                (Some(_), true) => "needs update",
                (Some(_), false) => "ok",
            }
            .into(),
            id: target,
            name,
        });
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

/// Error codes that mean "something still depends on it: try again later".
const DEPENDENCY_CODES: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "InvalidGroup.InUse",
    "IncorrectState",
];

#[derive(Default)]
pub(crate) struct Teardown {
    pub(crate) deleted: Vec<Deleted>,
    pub(crate) left: Vec<LeftBehind>,
}

impl Teardown {
    fn left(&mut self, kind: Kind, id: Option<&str>, e: &Error) {
        self.left.push(LeftBehind {
            kind,
            id: id.map(str::to_string),
            reason: e.to_string(),
        });
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
        .retry_on(kind, id, DEPENDENCY_CODES, ctx.timeouts.teardown, f)
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

/// Finds a resource for deletion; a refusal (not ours) or a failed look-up is left behind.
fn found<T>(t: &mut Teardown, kind: Kind, r: Result<Option<T>>) -> Option<T> {
    match r {
        Ok(v) => v,
        Err(e) => {
            t.left(kind, None, &e);
            None
        }
    }
}

/// Deletes everything the cluster owns, in reverse dependency order.
pub(crate) async fn destroy(ctx: &Ctx<'_>) -> Teardown {
    let mut t = Teardown::default();

    // Machines and the load balancer chain first, concurrently: they hold addresses in the
    // subnet and security group.
    let machines = async {
        let mut t = Teardown::default();
        let found = instance::find_all(ctx, None).await;
        let ids: Vec<String> = found
            .map_err(|e| t.left(Kind::Instance, None, &e))
            .unwrap_or_default()
            .iter()
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
            instance::terminate(ctx, &ids).await?;
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
    };
    let balancer = async {
        let mut t = Teardown::default();
        let lb = found(&mut t, Kind::LoadBalancer, load_balancer::find(ctx).await);
        let lb_arn = lb.and_then(|l| l.load_balancer_arn);
        if let Some(arn) = &lb_arn
            && let Some(l) = found(&mut t, Kind::Listener, listener::find(ctx, arn).await)
        {
            let id = l.listener_arn.unwrap_or_default();
            delete_one(ctx, &mut t, Kind::Listener, &id, || {
                listener::delete(ctx, &id)
            })
            .await;
        }
        if let Some(tg) = found(&mut t, Kind::TargetGroup, target_group::find(ctx).await) {
            let id = tg.target_group_arn.unwrap_or_default();
            delete_one(ctx, &mut t, Kind::TargetGroup, &id, || {
                target_group::delete(ctx, &id)
            })
            .await;
        }
        if let Some(arn) = &lb_arn {
            delete_one(ctx, &mut t, Kind::LoadBalancer, arn, || {
                load_balancer::delete(ctx, arn)
            })
            .await;
        }
        t
    };
    let (m, b) = future::join(machines, balancer).await;
    for part in [m, b] {
        t.deleted.extend(part.deleted);
        t.left.extend(part.left);
    }

    let vpc = found(&mut t, Kind::Vpc, vpc::find(ctx).await);
    let vpc_id = vpc.as_ref().and_then(|v| v.vpc_id.clone());
    let vpc_ref = vpc_id.as_deref();

    if let Some(rt) = found(
        &mut t,
        Kind::RouteTable,
        route_table::find(ctx, vpc_ref).await,
    ) {
        let id = rt.route_table_id.clone().unwrap_or_default();
        for (assoc, _) in route_table::subnet_associations(&rt) {
            if let Err(e) = route_table::disassociate(ctx, &id, &assoc).await {
                t.left(Kind::RouteTable, Some(&id), &e);
            }
        }
        delete_one(ctx, &mut t, Kind::RouteTable, &id, || {
            route_table::delete(ctx, &id)
        })
        .await;
    }
    if let Some(g) = found(
        &mut t,
        Kind::InternetGateway,
        internet_gateway::find(ctx).await,
    ) {
        let id = g.internet_gateway_id.clone().unwrap_or_default();
        for v in internet_gateway::attached_vpcs(&g) {
            // Detaching fails while instances still hold public addresses: retry.
            let detached = ctx
                .retry_on(
                    Kind::InternetGateway,
                    &id,
                    DEPENDENCY_CODES,
                    ctx.timeouts.teardown,
                    || internet_gateway::detach(ctx, &id, &v),
                )
                .await;
            if let Err(e) = detached {
                t.left(Kind::InternetGateway, Some(&id), &e);
            }
        }
        delete_one(ctx, &mut t, Kind::InternetGateway, &id, || {
            internet_gateway::delete(ctx, &id)
        })
        .await;
    }
    if let Some(s) = found(&mut t, Kind::Subnet, subnet::find(ctx, vpc_ref).await) {
        let id = s.subnet_id.unwrap_or_default();
        delete_one(ctx, &mut t, Kind::Subnet, &id, || subnet::delete(ctx, &id)).await;
    }
    if let Some(g) = found(
        &mut t,
        Kind::SecurityGroup,
        security_group::find(ctx, vpc_ref).await,
    ) {
        let id = g.group_id.unwrap_or_default();
        delete_one(ctx, &mut t, Kind::SecurityGroup, &id, || {
            security_group::delete(ctx, &id)
        })
        .await;
    }
    if let Some(d) = found(&mut t, Kind::DhcpOptions, dhcp_options::find(ctx).await) {
        let id = d.dhcp_options_id.unwrap_or_default();
        let associated = vpc
            .as_ref()
            .filter(|v| v.dhcp_options_id.as_deref() == Some(id.as_str()))
            .and_then(|v| v.vpc_id.clone());
        delete_one(ctx, &mut t, Kind::DhcpOptions, &id, || {
            dhcp_options::delete(ctx, &id, associated.as_deref())
        })
        .await;
    }
    if let Some(id) = vpc_ref {
        delete_one(ctx, &mut t, Kind::Vpc, id, || vpc::delete(ctx, id)).await;
    }
    if found(&mut t, Kind::KeyPair, key_pair::find(ctx).await).is_some() {
        let name = ctx.spec.cluster.clone();
        delete_one(ctx, &mut t, Kind::KeyPair, &name, || {
            key_pair::delete(ctx, &name)
        })
        .await;
    }
    t
}
