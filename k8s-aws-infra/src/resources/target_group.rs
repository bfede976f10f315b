//! The TCP 6443 target group with the masters' private IPs as targets.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetDescription, TargetTypeEnum};

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::vpc::Vpc;
use crate::resources::{ElbFound, ElbQuery, find_elb, find_elb_owned};
use crate::spec::API_PORT;

const KIND: Kind = Kind::TargetGroup;

/// The cluster's target group.
#[derive(Debug, Clone)]
pub(crate) struct TargetGroup {
    pub(crate) arn: String,
}

/// One `DescribeTargetGroups` call.
async fn describe(
    ctx: &Ctx<'_>,
    query: ElbQuery,
) -> Result<(
    Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>,
    Option<String>,
)> {
    let req = ctx.elb.describe_target_groups();
    let req = match query {
        ElbQuery::Arn(a) => req.target_group_arns(a),
        ElbQuery::Name(n) => req.names(n),
        ElbQuery::Page(m) => req.set_marker(m),
    };
    let out = req
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeTargetGroups"))?;
    Ok((out.target_groups.unwrap_or_default(), out.next_marker))
}

/// Finds the group by the state's ARN, else by name; checks the ownership tag.
pub(crate) async fn find(
    ctx: &Ctx<'_>,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::TargetGroup>> {
    let sid = ctx.state.target_group_arn.as_deref();
    find_elb(
        ctx,
        KIND,
        sid,
        |q| describe(ctx, q),
        |t| t.target_group_arn(),
    )
    .await
}

/// Every target group of this installation in the region, whatever its name (for `down`).
pub(crate) async fn find_owned(
    ctx: &Ctx<'_>,
) -> Result<ElbFound<aws_sdk_elasticloadbalancingv2::types::TargetGroup>> {
    let sid = ctx.state.target_group_arn.as_deref();
    find_elb_owned(
        ctx,
        KIND,
        sid,
        |q| describe(ctx, q),
        |t| t.target_group_arn(),
        |t| t.target_group_name(),
    )
    .await
}

/// The registered target IPs.
async fn targets(ctx: &Ctx<'_>, arn: &str) -> Result<BTreeSet<String>> {
    let out = ctx
        .follow_up(&[(KIND, arn)], || async {
            ctx.elb
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(aws(format!("{KIND} {arn}"), "DescribeTargetHealth"))
        })
        .await?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_string))
        .collect())
}

fn described(ips: &[&String]) -> Vec<TargetDescription> {
    ips.iter()
        .map(|ip| {
            TargetDescription::builder()
                .id(*ip)
                .port(i32::from(API_PORT))
                .build()
        })
        .collect()
}

/// Finds or creates the group; registers the masters' IPs and deregisters other targets.
pub(crate) async fn ensure(ctx: &Ctx<'_>, vpc: &Vpc) -> Result<TargetGroup> {
    let name = ctx.spec.cluster.as_str();
    let want: BTreeSet<String> = ctx
        .spec
        .masters
        .iter()
        .map(|m| m.private_ip.to_string())
        .collect();
    let found = if vpc.fresh { None } else { find(ctx).await? };
    let (arn, have) = match found {
        Some(tg) => {
            let arn = tg.target_group_arn().unwrap_or_default().to_string();
            ctx.found(KIND, &arn);
            let immutable = |field, actual: String, desired: String| Error::Immutable {
                resource: KIND.to_string(),
                id: arn.clone(),
                field,
                actual,
                desired,
            };
            let p = tg.protocol().map(|p| p.as_str()).unwrap_or_default();
            if p != "TCP" {
                return Err(immutable("protocol", p.into(), "TCP".into()));
            }
            if tg.port() != Some(i32::from(API_PORT)) {
                return Err(immutable(
                    "port",
                    format!("{:?}", tg.port()),
                    API_PORT.to_string(),
                ));
            }
            let t = tg.target_type().map(|t| t.as_str()).unwrap_or_default();
            if t != "ip" {
                return Err(immutable("target_type", t.into(), "ip".into()));
            }
            let v = tg.vpc_id().unwrap_or_default();
            if v != vpc.id {
                return Err(immutable("vpc_id", v.into(), vpc.id.clone()));
            }
            let have = targets(ctx, &arn).await?;
            (arn, have)
        }
        None => {
            if !ctx.change(KIND, name, None, Action::Create) {
                return Ok(TargetGroup {
                    arn: PLANNED.into(),
                });
            }
            let out = ctx
                .elb
                .create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Tcp)
                .port(i32::from(API_PORT))
                .vpc_id(&vpc.id)
                .target_type(TargetTypeEnum::Ip)
                .set_tags(Some(ctx.tags.elb()))
                .send()
                .await
                .map_err(aws(KIND.to_string(), "CreateTargetGroup"))?;
            let arn = out
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .ok_or_else(|| {
                    Error::missing(KIND.to_string(), "CreateTargetGroup", "TargetGroupArn")
                })?
                .to_string();
            ctx.created(KIND, &arn)?;
            (arn, BTreeSet::new())
        }
    };
    let missing: Vec<&String> = want.difference(&have).collect();
    let extra: Vec<&String> = have.difference(&want).collect();
    if !missing.is_empty()
        && ctx.change(
            KIND,
            name,
            Some(&arn),
            Action::Update(format!(
                "register {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )
    {
        ctx.follow_up(&[(KIND, &arn)], || async {
            ctx.elb
                .register_targets()
                .target_group_arn(&arn)
                .set_targets(Some(described(&missing)))
                .send()
                .await
                .map_err(aws(format!("{KIND} {arn}"), "RegisterTargets"))
        })
        .await?;
    }
    if !extra.is_empty()
        && ctx.change(
            KIND,
            name,
            Some(&arn),
            Action::Update(format!(
                "deregister {}",
                extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )
    {
        ctx.follow_up(&[(KIND, &arn)], || async {
            ctx.elb
                .deregister_targets()
                .target_group_arn(&arn)
                .set_targets(Some(described(&extra)))
                .send()
                .await
                .map_err(aws(format!("{KIND} {arn}"), "DeregisterTargets"))
        })
        .await?;
    }
    Ok(TargetGroup { arn })
}

/// Deletes the group.
pub(crate) async fn delete(ctx: &Ctx<'_>, arn: &str) -> Result<()> {
    ctx.elb
        .delete_target_group()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(aws(format!("{KIND} {arn}"), "DeleteTargetGroup"))?;
    Ok(())
}
