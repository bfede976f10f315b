//! The route table: associated with the subnet, default route to the internet gateway.

use aws_sdk_ec2::types::ResourceType;

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::internet_gateway::InternetGateway;
use crate::resources::subnet::Subnet;
use crate::resources::vpc::Vpc;
use crate::resources::{Which, find_ec2};

const KIND: Kind = Kind::RouteTable;
const DEFAULT_ROUTE: &str = "0.0.0.0/0";

/// The cluster's route table and the routes it has.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    pub(crate) id: String,
    /// (destination CIDR, target: gateway or instance ID)
    pub(crate) routes: Vec<(String, String)>,
}

/// Finds the table by the state's ID, else by tags (inside `vpc_id` when known).
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    which: Which,
    vpc_id: Option<&str>,
) -> Result<Vec<aws_sdk_ec2::types::RouteTable>> {
    let describe = |ids, filters| async move {
        let out = ctx
            .ec2
            .describe_route_tables()
            .set_route_table_ids(ids)
            .set_filters(filters)
            .send()
            .await;
        Ok(out
            .map_err(aws(KIND.to_string(), "DescribeRouteTables"))?
            .route_tables
            .unwrap_or_default())
    };
    let sid = ctx.state.route_table_id.as_deref();
    find_ec2(
        ctx,
        KIND,
        which,
        sid,
        vpc_id,
        describe,
        |t| t.tags(),
        |t| t.route_table_id(),
    )
    .await
}

/// The table's routes as (destination, target).
pub(crate) fn routes(t: &aws_sdk_ec2::types::RouteTable) -> Vec<(String, String)> {
    t.routes()
        .iter()
        .filter_map(|r| {
            let dest = r.destination_cidr_block.clone()?;
            let target = r
                .gateway_id
                .clone()
                .or_else(|| r.instance_id.clone())
                .unwrap_or_default();
            Some((dest, target))
        })
        .collect()
}

/// The IDs of the table's subnet associations (not the main one).
pub(crate) fn subnet_associations(t: &aws_sdk_ec2::types::RouteTable) -> Vec<(String, String)> {
    t.associations()
        .iter()
        .filter(|a| a.main != Some(true))
        .filter_map(|a| {
            Some((
                a.route_table_association_id.clone()?,
                a.subnet_id.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

/// Finds or creates the table, associates it with the subnet, routes 0.0.0.0/0 to the gateway.
pub(crate) async fn ensure(
    ctx: &Ctx<'_>,
    vpc: &Vpc,
    subnet: &Subnet,
    igw: &InternetGateway,
) -> Result<RouteTable> {
    let name = ctx.spec.cluster.as_str();
    let found = if vpc.fresh {
        None
    } else {
        find(ctx, Which::One, Some(&vpc.id)).await?.pop()
    };
    let (id, mut have, associated) = match found {
        Some(t) => {
            let id = t.route_table_id().unwrap_or_default().to_string();
            ctx.found(KIND, &id);
            let in_vpc = t.vpc_id().unwrap_or_default();
            if in_vpc != vpc.id {
                return Err(Error::Immutable {
                    resource: KIND.to_string(),
                    id,
                    field: "vpc_id",
                    actual: in_vpc.into(),
                    desired: vpc.id.clone(),
                });
            }
            let assoc = subnet_associations(&t).iter().any(|(_, s)| *s == subnet.id);
            (id, routes(&t), assoc)
        }
        None => {
            if !ctx.change(KIND, name, None, Action::Create) {
                return Ok(RouteTable {
                    id: PLANNED.into(),
                    routes: Vec::new(),
                });
            }
            let out = ctx
                .follow_up(&[(Kind::Vpc, &vpc.id)], || async {
                    ctx.ec2
                        .create_route_table()
                        .vpc_id(&vpc.id)
                        .tag_specifications(ctx.tags.spec(ResourceType::RouteTable))
                        .send()
                        .await
                        .map_err(aws(KIND.to_string(), "CreateRouteTable"))
                })
                .await?;
            let id = out
                .route_table
                .and_then(|t| t.route_table_id)
                .ok_or_else(|| {
                    Error::missing(KIND.to_string(), "CreateRouteTable", "RouteTableId")
                })?;
            ctx.created(KIND, &id)?;
            (id, Vec::new(), false)
        }
    };
    if !associated
        && ctx.change(
            KIND,
            name,
            Some(&id),
            Action::Update(format!("associate with {}", subnet.id)),
        )
    {
        ctx.follow_up(&[(KIND, &id), (Kind::Subnet, &subnet.id)], || async {
            ctx.ec2
                .associate_route_table()
                .route_table_id(&id)
                .subnet_id(&subnet.id)
                .send()
                .await
                .map_err(aws(format!("{KIND} {id}"), "AssociateRouteTable"))
        })
        .await?;
    }
    match have
        .iter()
        .find(|(d, _)| d == DEFAULT_ROUTE)
        .map(|(_, t)| t.clone())
    {
        Some(t) if t == igw.id => {}
        Some(t) => {
            if ctx.change(
                KIND,
                name,
                Some(&id),
                Action::Update(format!(
                    "route {DEFAULT_ROUTE} to {} instead of {t}",
                    igw.id
                )),
            ) {
                ctx.follow_up(&[(Kind::InternetGateway, &igw.id)], || async {
                    ctx.ec2
                        .replace_route()
                        .route_table_id(&id)
                        .destination_cidr_block(DEFAULT_ROUTE)
                        .gateway_id(&igw.id)
                        .send()
                        .await
                        .map_err(aws(format!("{KIND} {id}"), "ReplaceRoute"))
                })
                .await?;
            }
        }
        None => {
            if ctx.change(
                KIND,
                name,
                Some(&id),
                Action::Update(format!("route {DEFAULT_ROUTE} to {}", igw.id)),
            ) {
                ctx.follow_up(&[(KIND, &id), (Kind::InternetGateway, &igw.id)], || async {
                    ctx.ec2
                        .create_route()
                        .route_table_id(&id)
                        .destination_cidr_block(DEFAULT_ROUTE)
                        .gateway_id(&igw.id)
                        .send()
                        .await
                        .map_err(aws(format!("{KIND} {id}"), "CreateRoute"))
                })
                .await?;
            }
        }
    }
    have.retain(|(d, _)| d != DEFAULT_ROUTE);
    have.push((DEFAULT_ROUTE.into(), igw.id.clone()));
    Ok(RouteTable { id, routes: have })
}

/// Removes one subnet association of the table.
pub(crate) async fn disassociate(ctx: &Ctx<'_>, id: &str, association: &str) -> Result<()> {
    ctx.ec2
        .disassociate_route_table()
        .association_id(association)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DisassociateRouteTable"))?;
    Ok(())
}

/// Deletes the table (its routes go with it).
pub(crate) async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    ctx.ec2
        .delete_route_table()
        .route_table_id(id)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DeleteRouteTable"))?;
    Ok(())
}
