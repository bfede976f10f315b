//! The subnet every machine and the load balancer live in.

use aws_sdk_ec2::types::ResourceType;

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::vpc::Vpc;
use crate::resources::{Which, find_ec2};

const KIND: Kind = Kind::Subnet;

/// The cluster's subnet.
#[derive(Debug, Clone)]
pub(crate) struct Subnet {
    pub(crate) id: String,
    pub(crate) fresh: bool,
}

/// Finds the subnet by the state's ID, else by tags (inside `vpc_id` when known).
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    which: Which,
    vpc_id: Option<&str>,
) -> Result<Vec<aws_sdk_ec2::types::Subnet>> {
    let describe = |ids, filters| async move {
        let out = ctx
            .ec2
            .describe_subnets()
            .set_subnet_ids(ids)
            .set_filters(filters)
            .send()
            .await;
        Ok(out
            .map_err(aws(KIND.to_string(), "DescribeSubnets"))?
            .subnets
            .unwrap_or_default())
    };
    find_ec2(
        ctx,
        KIND,
        which,
        ctx.state.subnet_id.as_deref(),
        vpc_id,
        describe,
        |s| s.tags(),
        |s| s.subnet_id(),
    )
    .await
}

/// Finds or creates the subnet; reports a changed CIDR or VPC.
pub(crate) async fn ensure(ctx: &Ctx<'_>, vpc: &Vpc) -> Result<Subnet> {
    let cidr = ctx.spec.subnet_cidr.to_string();
    let found = if vpc.fresh {
        None
    } else {
        find(ctx, Which::One, Some(&vpc.id)).await?.pop()
    };
    if let Some(s) = found {
        let id = s.subnet_id().unwrap_or_default().to_string();
        ctx.found(KIND, &id);
        let actual = s.cidr_block().unwrap_or_default();
        if actual != cidr {
            return Err(Error::Immutable {
                resource: KIND.to_string(),
                id,
                field: "cidr_block",
                actual: actual.into(),
                desired: cidr,
            });
        }
        let in_vpc = s.vpc_id().unwrap_or_default();
        if in_vpc != vpc.id {
            return Err(Error::Immutable {
                resource: KIND.to_string(),
                id,
                field: "vpc_id",
                actual: in_vpc.into(),
                desired: vpc.id.clone(),
            });
        }
        return Ok(Subnet { id, fresh: false });
    }
    if !ctx.change(KIND, &cidr, None, Action::Create) {
        return Ok(Subnet {
            id: PLANNED.into(),
            fresh: true,
        });
    }
    let out = ctx
        .follow_up(&[(Kind::Vpc, &vpc.id)], || async {
            ctx.ec2
                .create_subnet()
                .vpc_id(&vpc.id)
                .cidr_block(&cidr)
                .tag_specifications(ctx.tags.spec(ResourceType::Subnet))
                .send()
                .await
                .map_err(aws(KIND.to_string(), "CreateSubnet"))
        })
        .await?;
    let id = out
        .subnet
        .and_then(|s| s.subnet_id)
        .ok_or_else(|| Error::missing(KIND.to_string(), "CreateSubnet", "SubnetId"))?;
    ctx.created(KIND, &id)?;
    Ok(Subnet { id, fresh: true })
}

/// Deletes the subnet.
pub(crate) async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    ctx.ec2
        .delete_subnet()
        .subnet_id(id)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DeleteSubnet"))?;
    Ok(())
}
