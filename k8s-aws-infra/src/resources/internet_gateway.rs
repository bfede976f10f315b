//! The internet gateway, attached to the VPC.

use aws_sdk_ec2::types::ResourceType;

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::vpc::Vpc;
use crate::resources::{Which, find_ec2};

const KIND: Kind = Kind::InternetGateway;

/// The cluster's internet gateway.
#[derive(Debug, Clone)]
pub(crate) struct InternetGateway {
    pub(crate) id: String,
}

/// The VPCs the gateway is attached to.
pub(crate) fn attached_vpcs(g: &aws_sdk_ec2::types::InternetGateway) -> Vec<String> {
    g.attachments()
        .iter()
        .filter_map(|a| a.vpc_id.clone())
        .collect()
}

/// Finds the gateway by the state's ID, else by tags.
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    which: Which,
) -> Result<Vec<aws_sdk_ec2::types::InternetGateway>> {
    let describe = |ids, filters| async move {
        let out = ctx
            .ec2
            .describe_internet_gateways()
            .set_internet_gateway_ids(ids)
            .set_filters(filters)
            .send()
            .await;
        Ok(out
            .map_err(aws(KIND.to_string(), "DescribeInternetGateways"))?
            .internet_gateways
            .unwrap_or_default())
    };
    let sid = ctx.state.internet_gateway_id.as_deref();
    find_ec2(
        ctx,
        KIND,
        which,
        sid,
        None,
        describe,
        |g| g.tags(),
        |g| g.internet_gateway_id(),
    )
    .await
}

/// Finds or creates the gateway and attaches it to the VPC.
pub(crate) async fn ensure(ctx: &Ctx<'_>, vpc: &Vpc) -> Result<InternetGateway> {
    let name = ctx.spec.cluster.as_str();
    let found = if vpc.fresh {
        None
    } else {
        find(ctx, Which::One).await?.pop()
    };
    let (id, attached) = match found {
        Some(g) => {
            let id = g.internet_gateway_id().unwrap_or_default().to_string();
            ctx.found(KIND, &id);
            let vpcs = attached_vpcs(&g);
            if let Some(other) = vpcs.iter().find(|v| **v != vpc.id) {
                return Err(Error::Immutable {
                    resource: KIND.to_string(),
                    id,
                    field: "attachment",
                    actual: other.clone(),
                    desired: vpc.id.clone(),
                });
            }
            (id, !vpcs.is_empty())
        }
        None => {
            if !ctx.change(KIND, name, None, Action::Create) {
                return Ok(InternetGateway { id: PLANNED.into() });
            }
            let out = ctx
                .ec2
                .create_internet_gateway()
                .tag_specifications(ctx.tags.spec(ResourceType::InternetGateway))
                .send()
                .await
                .map_err(aws(KIND.to_string(), "CreateInternetGateway"))?;
            let id = out
                .internet_gateway
                .and_then(|g| g.internet_gateway_id)
                .ok_or_else(|| {
                    Error::missing(
                        KIND.to_string(),
                        "CreateInternetGateway",
                        "InternetGatewayId",
                    )
                })?;
            ctx.created(KIND, &id)?;
            (id, false)
        }
    };
    if !attached
        && ctx.change(
            KIND,
            name,
            Some(&id),
            Action::Update(format!("attach to {}", vpc.id)),
        )
    {
        ctx.follow_up(&[(KIND, &id), (Kind::Vpc, &vpc.id)], || async {
            ctx.ec2
                .attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(&vpc.id)
                .send()
                .await
                .map_err(aws(format!("{KIND} {id}"), "AttachInternetGateway"))
        })
        .await?;
    }
    Ok(InternetGateway { id })
}

/// Detaches the gateway from `vpc`.
pub(crate) async fn detach(ctx: &Ctx<'_>, id: &str, vpc: &str) -> Result<()> {
    ctx.ec2
        .detach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DetachInternetGateway"))?;
    Ok(())
}

/// Deletes the gateway.
pub(crate) async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    ctx.ec2
        .delete_internet_gateway()
        .internet_gateway_id(id)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DeleteInternetGateway"))?;
    Ok(())
}
