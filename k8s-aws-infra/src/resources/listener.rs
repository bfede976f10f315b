//! The TCP 6443 listener forwarding to the target group.

use aws_sdk_elasticloadbalancingv2::types::{Action as ElbAction, ActionTypeEnum, ProtocolEnum};

use crate::context::{Action, Ctx, Kind, PLANNED, is_not_found};
use crate::error::{Error, Result, aws};
use crate::resources::load_balancer::LoadBalancer;
use crate::resources::target_group::TargetGroup;
use crate::spec::API_PORT;

const KIND: Kind = Kind::Listener;

/// The load balancer's listener on the API port.
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    lb_arn: &str,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::Listener>> {
    // A load balancer this run found or made is retried while AWS catches up; one that is
    // really gone has no listener.
    let described = ctx
        .follow_up(&[(Kind::LoadBalancer, lb_arn)], || async {
            ctx.elb
                .describe_listeners()
                .load_balancer_arn(lb_arn)
                .send()
                .await
                .map_err(aws(KIND.to_string(), "DescribeListeners"))
        })
        .await;
    match described {
        Ok(out) => Ok(out
            .listeners
            .unwrap_or_default()
            .into_iter()
            .find(|l| l.port() == Some(i32::from(API_PORT)))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn forward(tg: &TargetGroup) -> ElbAction {
    ElbAction::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(&tg.arn)
        .build()
}

/// Finds or creates the listener; repoints it at the target group if needed.
pub(crate) async fn ensure(ctx: &Ctx<'_>, lb: &LoadBalancer, tg: &TargetGroup) -> Result<String> {
    let name = format!("{}:{API_PORT}", ctx.spec.cluster);
    let found = if lb.fresh {
        None
    } else {
        find(ctx, &lb.arn).await?
    };
    if let Some(l) = found {
        let arn = l.listener_arn().unwrap_or_default().to_string();
        ctx.found(KIND, &arn);
        let ok = l.protocol() == Some(&ProtocolEnum::Tcp)
            && l.default_actions().len() == 1
            && l.default_actions().iter().all(|a| {
                a.r#type() == Some(&ActionTypeEnum::Forward)
                    && a.target_group_arn() == Some(tg.arn.as_str())
            });
        if !ok
            && ctx.change(
                KIND,
                &name,
                Some(&arn),
                Action::Update(format!("TCP, forward to {}", tg.arn)),
            )
        {
            ctx.follow_up(&[(Kind::TargetGroup, &tg.arn)], || async {
                ctx.elb
                    .modify_listener()
                    .listener_arn(&arn)
                    .protocol(ProtocolEnum::Tcp)
                    .default_actions(forward(tg))
                    .send()
                    .await
                    .map_err(aws(format!("{KIND} {arn}"), "ModifyListener"))
            })
            .await?;
        }
        return Ok(arn);
    }
    if !ctx.change(KIND, &name, None, Action::Create) {
        return Ok(PLANNED.into());
    }
    let names = [
        (Kind::LoadBalancer, lb.arn.as_str()),
        (Kind::TargetGroup, &tg.arn),
    ];
    let out = ctx
        .follow_up(&names, || async {
            ctx.elb
                .create_listener()
                .load_balancer_arn(&lb.arn)
                .protocol(ProtocolEnum::Tcp)
                .port(i32::from(API_PORT))
                .default_actions(forward(tg))
                .set_tags(Some(ctx.tags.elb()))
                .send()
                .await
                .map_err(aws(KIND.to_string(), "CreateListener"))
        })
        .await?;
    let arn = out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .ok_or_else(|| Error::missing(KIND.to_string(), "CreateListener", "ListenerArn"))?
        .to_string();
    ctx.created(KIND, &arn)?;
    Ok(arn)
}

/// Deletes the listener.
pub(crate) async fn delete(ctx: &Ctx<'_>, arn: &str) -> Result<()> {
    ctx.elb
        .delete_listener()
        .listener_arn(arn)
        .send()
        .await
        .map_err(aws(format!("{KIND} {arn}"), "DeleteListener"))?;
    Ok(())
}
