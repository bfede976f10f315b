//! The VPC, with DNS support and DNS hostnames on.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::{Which, find_ec2};

const KIND: Kind = Kind::Vpc;

/// The cluster's VPC.
#[derive(Debug, Clone)]
pub(crate) struct Vpc {
    pub(crate) id: String,
    /// Created by this run (or planned): nothing inside it can exist yet.
    pub(crate) fresh: bool,
    pub(crate) dhcp_options_id: Option<String>,
}

/// Finds the VPC by the state's ID, else by tags.
pub(crate) async fn find(ctx: &Ctx<'_>, which: Which) -> Result<Vec<aws_sdk_ec2::types::Vpc>> {
    let describe = |ids, filters| async move {
        let out = ctx
            .ec2
            .describe_vpcs()
            .set_vpc_ids(ids)
            .set_filters(filters)
            .send()
            .await;
        Ok(out
            .map_err(aws(KIND.to_string(), "DescribeVpcs"))?
            .vpcs
            .unwrap_or_default())
    };
    find_ec2(
        ctx,
        KIND,
        which,
        ctx.state.vpc_id.as_deref(),
        None,
        describe,
        |v| v.tags(),
        |v| v.vpc_id(),
    )
    .await
}

async fn attribute(ctx: &Ctx<'_>, id: &str, name: VpcAttributeName) -> Result<bool> {
    let out = ctx
        .follow_up(&[(KIND, id)], || async {
            ctx.ec2
                .describe_vpc_attribute()
                .vpc_id(id)
                .attribute(name.clone())
                .send()
                .await
                .map_err(aws(format!("{KIND} {id}"), "DescribeVpcAttribute"))
        })
        .await?;
    let v = match name {
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames,
        _ => out.enable_dns_support,
    };
    Ok(v.and_then(|b| b.value).unwrap_or(false))
}

async fn enable(ctx: &Ctx<'_>, id: &str, name: VpcAttributeName) -> Result<()> {
    let on = AttributeBooleanValue::builder().value(true).build();
    let req = ctx.ec2.modify_vpc_attribute().vpc_id(id);
    let req = match name {
        VpcAttributeName::EnableDnsHostnames => req.enable_dns_hostnames(on),
        _ => req.enable_dns_support(on),
    };
    req.send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "ModifyVpcAttribute"))?;
    Ok(())
}

/// Finds or creates the VPC; fixes DNS attributes; reports a changed CIDR.
pub(crate) async fn ensure(ctx: &Ctx<'_>) -> Result<Vpc> {
    let name = ctx.spec.cluster.as_str();
    let cidr = ctx.spec.vpc_cidr.to_string();
    if let Some(v) = find(ctx, Which::One).await?.pop() {
        let id = v.vpc_id().unwrap_or_default().to_string();
        ctx.found(KIND, &id);
        let actual = v.cidr_block().unwrap_or_default();
        if actual != cidr {
            return Err(Error::Immutable {
                resource: KIND.to_string(),
                id,
                field: "cidr_block",
                actual: actual.to_string(),
                desired: cidr,
            });
        }
        // DNS support must be on before DNS hostnames can be.
        for attr in [
            VpcAttributeName::EnableDnsSupport,
            VpcAttributeName::EnableDnsHostnames,
        ] {
            if !attribute(ctx, &id, attr.clone()).await?
                && ctx.change(
                    KIND,
                    name,
                    Some(&id),
                    Action::Update(format!("turn on {}", attr.as_str())),
                )
            {
                ctx.follow_up(&[(KIND, &id)], || enable(ctx, &id, attr.clone()))
                    .await?;
            }
        }
        return Ok(Vpc {
            id,
            fresh: false,
            dhcp_options_id: v.dhcp_options_id,
        });
    }
    if !ctx.change(KIND, name, None, Action::Create) {
        return Ok(Vpc {
            id: PLANNED.into(),
            fresh: true,
            dhcp_options_id: None,
        });
    }
    let out = ctx
        .ec2
        .create_vpc()
        .cidr_block(&cidr)
        .tag_specifications(ctx.tags.spec(ResourceType::Vpc))
        .send()
        .await
        .map_err(aws(KIND.to_string(), "CreateVpc"))?;
    let v = out
        .vpc
        .ok_or_else(|| Error::missing(KIND.to_string(), "CreateVpc", "Vpc"))?;
    let id = v
        .vpc_id
        .ok_or_else(|| Error::missing(KIND.to_string(), "CreateVpc", "VpcId"))?;
    ctx.created(KIND, &id)?;
    // New VPCs have DNS support on already (AWS default); DNS hostnames are off.
    ctx.follow_up(&[(KIND, &id)], || {
        enable(ctx, &id, VpcAttributeName::EnableDnsHostnames)
    })
    .await?;
    Ok(Vpc {
        id,
        fresh: true,
        dhcp_options_id: v.dhcp_options_id,
    })
}

/// Deletes the VPC.
pub(crate) async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    ctx.ec2
        .delete_vpc()
        .vpc_id(id)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DeleteVpc"))?;
    Ok(())
}
