//! The DHCP options set: the region's internal domain name and Amazon's DNS, associated to the VPC.

use aws_sdk_ec2::types::{DhcpConfiguration, NewDhcpConfiguration, ResourceType};

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::vpc::Vpc;
use crate::resources::{Which, find_ec2};

const KIND: Kind = Kind::DhcpOptions;

/// The cluster's DHCP options set.
#[derive(Debug, Clone)]
pub(crate) struct DhcpOptions {
    pub(crate) id: String,
}

/// `domain-name`: `ec2.internal` in us-east-1, `<region>.compute.internal` elsewhere.
pub(crate) fn domain_name(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    }
}

fn desired(region: &str) -> Vec<(String, Vec<String>)> {
    vec![
        ("domain-name".into(), vec![domain_name(region)]),
        (
            "domain-name-servers".into(),
            vec!["AmazonProvidedDNS".into()],
        ),
    ]
}

fn actual(c: &[DhcpConfiguration]) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = c
        .iter()
        .map(|c| {
            let vals = c.values().iter().filter_map(|a| a.value.clone()).collect();
            (c.key.clone().unwrap_or_default(), vals)
        })
        .collect();
    v.sort();
    v
}

/// Finds the set by the state's ID, else by tags.
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    which: Which,
) -> Result<Vec<aws_sdk_ec2::types::DhcpOptions>> {
    let describe = |ids, filters| async move {
        let out = ctx
            .ec2
            .describe_dhcp_options()
            .set_dhcp_options_ids(ids)
            .set_filters(filters)
            .send()
            .await;
        Ok(out
            .map_err(aws(KIND.to_string(), "DescribeDhcpOptions"))?
            .dhcp_options
            .unwrap_or_default())
    };
    let sid = ctx.state.dhcp_options_id.as_deref();
    find_ec2(
        ctx,
        KIND,
        which,
        sid,
        None,
        describe,
        |d| d.tags(),
        |d| d.dhcp_options_id(),
    )
    .await
}

/// Finds or creates the set and associates it to the VPC. DHCP options cannot be edited:
/// a set with other values is reported.
pub(crate) async fn ensure(ctx: &Ctx<'_>, vpc: &Vpc) -> Result<DhcpOptions> {
    let name = ctx.spec.cluster.as_str();
    let want = desired(&ctx.region);
    // A fresh VPC means an earlier run never got this far: skip the look-up.
    let found = if vpc.fresh {
        None
    } else {
        find(ctx, Which::One).await?.pop()
    };
    let id = match found {
        Some(d) => {
            let id = d.dhcp_options_id().unwrap_or_default().to_string();
            ctx.found(KIND, &id);
            let have = actual(d.dhcp_configurations());
            if have != want {
                return Err(Error::Immutable {
                    resource: KIND.to_string(),
                    id,
                    field: "dhcp_configurations",
                    actual: format!("{have:?}"),
                    desired: format!("{want:?}"),
                });
            }
            id
        }
        None => {
            if !ctx.change(KIND, name, None, Action::Create) {
                return Ok(DhcpOptions { id: PLANNED.into() });
            }
            let confs = want
                .iter()
                .map(|(k, v)| {
                    NewDhcpConfiguration::builder()
                        .key(k)
                        .set_values(Some(v.clone()))
                        .build()
                })
                .collect();
            let out = ctx
                .ec2
                .create_dhcp_options()
                .set_dhcp_configurations(Some(confs))
                .tag_specifications(ctx.tags.spec(ResourceType::DhcpOptions))
                .send()
                .await
                .map_err(aws(KIND.to_string(), "CreateDhcpOptions"))?;
            let d = out.dhcp_options.ok_or_else(|| {
                Error::missing(KIND.to_string(), "CreateDhcpOptions", "DhcpOptions")
            })?;
            let id = d
                .dhcp_options_id()
                .ok_or_else(|| {
                    Error::missing(KIND.to_string(), "CreateDhcpOptions", "DhcpOptionsId")
                })?
                .to_string();
            ctx.created(KIND, &id)?;
            // AWS echoes the tags given at creation; an emulator that ignored them (moto does
            // for this call) gets them set explicitly, or the set could never be found again.
            if !ctx.tags.owns(d.tags()) {
                let tags = ctx.tags.spec(ResourceType::DhcpOptions).tags;
                ctx.follow_up(&[(KIND, &id)], || async {
                    ctx.ec2
                        .create_tags()
                        .resources(&id)
                        .set_tags(tags.clone())
                        .send()
                        .await
                        .map_err(aws(format!("{KIND} {id}"), "CreateTags"))
                })
                .await?;
            }
            id
        }
    };
    if vpc.dhcp_options_id.as_deref() != Some(id.as_str())
        && ctx.change(
            KIND,
            name,
            Some(&id),
            Action::Update(format!("associate with {}", vpc.id)),
        )
    {
        ctx.follow_up(&[(KIND, &id), (Kind::Vpc, &vpc.id)], || async {
            ctx.ec2
                .associate_dhcp_options()
                .dhcp_options_id(&id)
                .vpc_id(&vpc.id)
                .send()
                .await
                .map_err(aws(format!("{KIND} {id}"), "AssociateDhcpOptions"))
        })
        .await?;
    }
    Ok(DhcpOptions { id })
}

/// Gives the VPCs that have this set the default one back, then deletes it.
pub(crate) async fn delete(ctx: &Ctx<'_>, id: &str, vpc_ids: &[String]) -> Result<()> {
    for vpc_id in vpc_ids {
        ctx.ec2
            .associate_dhcp_options()
            .dhcp_options_id("default")
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(aws(format!("{KIND} {id}"), "AssociateDhcpOptions"))?;
    }
    ctx.ec2
        .delete_dhcp_options()
        .dhcp_options_id(id)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DeleteDhcpOptions"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_has_its_own_domain_name() {
        assert_eq!(domain_name("us-east-1"), "ec2.internal");
        assert_eq!(domain_name("eu-central-1"), "eu-central-1.compute.internal");
    }
}
