//! The internet-facing network load balancer in front of the API servers.

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::subnet::Subnet;
use crate::resources::{ElbFound, ElbQuery, find_elb, find_elb_owned};

const KIND: Kind = Kind::LoadBalancer;

/// The cluster's load balancer.
#[derive(Debug, Clone)]
pub(crate) struct LoadBalancer {
    pub(crate) arn: String,
    pub(crate) dns_name: Option<String>,
    pub(crate) fresh: bool,
    pub(crate) active: bool,
}

/// One `DescribeLoadBalancers` call.
async fn describe(
    ctx: &Ctx<'_>,
    query: ElbQuery,
) -> Result<(
    Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>,
    Option<String>,
)> {
    let req = ctx.elb.describe_load_balancers();
    let req = match query {
        ElbQuery::Arn(a) => req.load_balancer_arns(a),
        ElbQuery::Name(n) => req.names(n),
        ElbQuery::Page(m) => req.set_marker(m),
    };
    let out = req
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeLoadBalancers"))?;
    Ok((out.load_balancers.unwrap_or_default(), out.next_marker))
}

/// Finds the load balancer by the state's ARN, else by name; checks the ownership tag.
pub(crate) async fn find(
    ctx: &Ctx<'_>,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>> {
    let sid = ctx.state.load_balancer_arn.as_deref();
    find_elb(
        ctx,
        KIND,
        sid,
        |q| describe(ctx, q),
        |l| l.load_balancer_arn(),
    )
    .await
}

/// Every load balancer of this installation in the region, whatever its name (for `down`).
pub(crate) async fn find_owned(
    ctx: &Ctx<'_>,
) -> Result<ElbFound<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>> {
    let sid = ctx.state.load_balancer_arn.as_deref();
    find_elb_owned(
        ctx,
        KIND,
        sid,
        |q| describe(ctx, q),
        |l| l.load_balancer_arn(),
        |l| l.load_balancer_name(),
    )
    .await
}

fn is_active(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> bool {
    lb.state().and_then(|s| s.code()) == Some(&LoadBalancerStateEnum::Active)
}

/// Finds or creates the load balancer; reports a changed type, scheme or VPC.
pub(crate) async fn ensure(ctx: &Ctx<'_>, subnet: &Subnet, vpc_id: &str) -> Result<LoadBalancer> {
    let name = ctx.spec.cluster.as_str();
    let found = if subnet.fresh { None } else { find(ctx).await? };
    if let Some(lb) = found {
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        ctx.found(KIND, &arn);
        let immutable = |field, actual: String, desired: String| Error::Immutable {
            resource: KIND.to_string(),
            id: arn.clone(),
            field,
            actual,
            desired,
        };
        let t = lb.r#type().map(|t| t.as_str()).unwrap_or_default();
        if t != LoadBalancerTypeEnum::Network.as_str() {
            return Err(immutable("type", t.into(), "network".into()));
        }
        let s = lb.scheme().map(|s| s.as_str()).unwrap_or_default();
        if s != LoadBalancerSchemeEnum::InternetFacing.as_str() {
            return Err(immutable("scheme", s.into(), "internet-facing".into()));
        }
        let v = lb.vpc_id().unwrap_or_default();
        if v != vpc_id {
            return Err(immutable("vpc_id", v.into(), vpc_id.into()));
        }
        return Ok(LoadBalancer {
            active: is_active(&lb),
            dns_name: lb.dns_name,
            arn,
            fresh: false,
        });
    }
    if !ctx.change(KIND, name, None, Action::Create) {
        return Ok(LoadBalancer {
            arn: PLANNED.into(),
            dns_name: None,
            fresh: true,
            active: true,
        });
    }
    let out = ctx
        .follow_up(&[(Kind::Subnet, &subnet.id)], || async {
            ctx.elb
                .create_load_balancer()
                .name(name)
                .subnets(&subnet.id)
                .scheme(LoadBalancerSchemeEnum::InternetFacing)
                .r#type(LoadBalancerTypeEnum::Network)
                .set_tags(Some(ctx.tags.elb()))
                .send()
                .await
                .map_err(aws(KIND.to_string(), "CreateLoadBalancer"))
        })
        .await?;
    let lb = out
        .load_balancers
        .and_then(|l| l.into_iter().next())
        .ok_or_else(|| Error::missing(KIND.to_string(), "CreateLoadBalancer", "LoadBalancers"))?;
    let arn = lb
        .load_balancer_arn()
        .ok_or_else(|| Error::missing(KIND.to_string(), "CreateLoadBalancer", "LoadBalancerArn"))?
        .to_string();
    ctx.created(KIND, &arn)?;
    ctx.record(|s| s.load_balancer_dns_name.clone_from(&lb.dns_name))?;
    Ok(LoadBalancer {
        active: is_active(&lb),
        dns_name: lb.dns_name,
        arn,
        fresh: true,
    })
}

/// Waits (bounded, with progress) until the load balancer `arn` is active.
pub(crate) async fn wait_active(ctx: &Ctx<'_>, arn: &str) -> Result<()> {
    ctx.wait_for("load balancer active", 1, ctx.timeouts.ready, || async {
        let out = ctx
            .follow_up(&[(KIND, arn)], || async {
                ctx.elb
                    .describe_load_balancers()
                    .load_balancer_arns(arn)
                    .send()
                    .await
                    .map_err(aws(format!("{KIND} {arn}"), "DescribeLoadBalancers"))
            })
            .await?;
        Ok(out.load_balancers().iter().filter(|l| is_active(l)).count())
    })
    .await
}

/// Deletes the load balancer.
pub(crate) async fn delete(ctx: &Ctx<'_>, arn: &str) -> Result<()> {
    ctx.elb
        .delete_load_balancer()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(aws(format!("{KIND} {arn}"), "DeleteLoadBalancer"))?;
    Ok(())
}
