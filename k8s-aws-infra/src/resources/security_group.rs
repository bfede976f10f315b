//! The security group: the tutorial's ingress rules (STEP 2) plus all traffic between cluster
//! members.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::vpc::Vpc;
use crate::resources::{Which, find_ec2};
use crate::spec::{API_PORT, InfraSpec};

const KIND: Kind = Kind::SecurityGroup;

/// The cluster's security group.
#[derive(Debug, Clone)]
pub(crate) struct SecurityGroup {
    pub(crate) id: String,
}

/// One ingress rule, normalised so AWS's answer and our spec compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rule {
    protocol: String,
    ports: Option<(i32, i32)>,
    /// `cidr:<net>` or `group:<id>` (`group:self` for the group itself).
    source: String,
}

impl Rule {
    fn new(protocol: &str, from: i32, to: i32, source: String) -> Self {
        let ports = if protocol == "-1" {
            None
        } else {
            Some((from, to))
        };
        Rule {
            protocol: protocol.into(),
            ports,
            source,
        }
    }

    fn to_permission(&self, own_id: &str) -> IpPermission {
        let b = IpPermission::builder().ip_protocol(&self.protocol);
        let b = match self.ports {
            Some((f, t)) => b.from_port(f).to_port(t),
            None => b,
        };
        if let Some(g) = self.source.strip_prefix("group:") {
            let g = if g == "self" { own_id } else { g };
            b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build())
                .build()
        } else {
            let cidr = self.source.trim_start_matches("cidr:");
            b.ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build()
        }
    }
}

/// The rules the spec asks for.
pub(crate) fn desired_rules(spec: &InfraSpec) -> BTreeSet<Rule> {
    let subnet = format!("cidr:{}", spec.subnet_cidr);
    let api = i32::from(API_PORT);
    [
        Rule::new("tcp", 2379, 2380, subnet.clone()),
        Rule::new("tcp", 30000, 32767, subnet),
        Rule::new("tcp", api, api, "cidr:0.0.0.0/0".into()),
        Rule::new("tcp", 22, 22, format!("cidr:{}", spec.ssh_ingress_cidr)),
        Rule::new("icmp", -1, -1, "cidr:0.0.0.0/0".into()),
        Rule::new("-1", -1, -1, "group:self".into()),
    ]
    .into_iter()
    .collect()
}

/// The group's ingress rules as AWS has them.
pub(crate) fn actual_rules(g: &aws_sdk_ec2::types::SecurityGroup) -> BTreeSet<Rule> {
    let own = g.group_id().unwrap_or_default();
    let mut out = BTreeSet::new();
    for p in g.ip_permissions() {
        let proto = p.ip_protocol().unwrap_or("-1").to_lowercase();
        let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
        for r in p.ip_ranges() {
            out.insert(Rule::new(
                &proto,
                from,
                to,
                format!("cidr:{}", r.cidr_ip().unwrap_or_default()),
            ));
        }
        for u in p.user_id_group_pairs() {
            let g = u.group_id().unwrap_or_default();
            let g = if g == own { "self" } else { g };
            out.insert(Rule::new(&proto, from, to, format!("group:{g}")));
        }
    }
    out
}

/// Finds the group by the state's ID, else by tags (inside `vpc_id` when known).
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    which: Which,
    vpc_id: Option<&str>,
) -> Result<Vec<aws_sdk_ec2::types::SecurityGroup>> {
    let describe = |ids, filters| async move {
        let out = ctx
            .ec2
            .describe_security_groups()
            .set_group_ids(ids)
            .set_filters(filters)
            .send()
            .await;
        Ok(out
            .map_err(aws(KIND.to_string(), "DescribeSecurityGroups"))?
            .security_groups
            .unwrap_or_default())
    };
    let sid = ctx.state.security_group_id.as_deref();
    find_ec2(
        ctx,
        KIND,
        which,
        sid,
        vpc_id,
        describe,
        |g| g.tags(),
        |g| g.group_id(),
    )
    .await
}

fn describe(rules: &[&Rule]) -> String {
    rules
        .iter()
        .map(|r| match r.ports {
            Some((f, t)) if f == t => format!("{} {f} from {}", r.protocol, r.source),
            Some((f, t)) => format!("{} {f}-{t} from {}", r.protocol, r.source),
            None => format!("all from {}", r.source),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds or creates the group; adds missing ingress rules and removes ones the spec dropped.
pub(crate) async fn ensure(ctx: &Ctx<'_>, vpc: &Vpc) -> Result<SecurityGroup> {
    let name = ctx.spec.cluster.as_str();
    let want = desired_rules(ctx.spec);
    let found = if vpc.fresh {
        None
    } else {
        find(ctx, Which::One, Some(&vpc.id)).await?.pop()
    };
    let (id, have) = match found {
        Some(g) => {
            let id = g.group_id().unwrap_or_default().to_string();
            ctx.found(KIND, &id);
            let in_vpc = g.vpc_id().unwrap_or_default();
            if in_vpc != vpc.id {
                return Err(Error::Immutable {
                    resource: KIND.to_string(),
                    id,
                    field: "vpc_id",
                    actual: in_vpc.into(),
                    desired: vpc.id.clone(),
                });
            }
            (id, actual_rules(&g))
        }
        None => {
            if !ctx.change(KIND, name, None, Action::Create) {
                return Ok(SecurityGroup { id: PLANNED.into() });
            }
            let out = ctx
                .follow_up(&[(Kind::Vpc, &vpc.id)], || async {
                    ctx.ec2
                        .create_security_group()
                        .group_name(name)
                        .description("Kubernetes cluster security group")
                        .vpc_id(&vpc.id)
                        .tag_specifications(ctx.tags.spec(ResourceType::SecurityGroup))
                        .send()
                        .await
                        .map_err(aws(KIND.to_string(), "CreateSecurityGroup"))
                })
                .await?;
            let id = out.group_id.ok_or_else(|| {
                Error::missing(KIND.to_string(), "CreateSecurityGroup", "GroupId")
            })?;
            ctx.created(KIND, &id)?;
            (id, BTreeSet::new())
        }
    };
    let missing: Vec<&Rule> = want.difference(&have).collect();
    let extra: Vec<&Rule> = have.difference(&want).collect();
    if !missing.is_empty()
        && ctx.change(
            KIND,
            name,
            Some(&id),
            Action::Update(format!("allow {}", describe(&missing))),
        )
    {
        let permissions: Vec<IpPermission> = missing.iter().map(|r| r.to_permission(&id)).collect();
        ctx.follow_up(&[(KIND, &id)], || async {
            ctx.ec2
                .authorize_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(permissions.clone()))
                .send()
                .await
                .map_err(aws(format!("{KIND} {id}"), "AuthorizeSecurityGroupIngress"))
        })
        .await?;
    }
    if !extra.is_empty()
        && ctx.change(
            KIND,
            name,
            Some(&id),
            Action::Update(format!("revoke {}", describe(&extra))),
        )
    {
        let permissions: Vec<IpPermission> = extra.iter().map(|r| r.to_permission(&id)).collect();
        ctx.follow_up(&[(KIND, &id)], || async {
            ctx.ec2
                .revoke_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(permissions.clone()))
                .send()
                .await
                .map_err(aws(format!("{KIND} {id}"), "RevokeSecurityGroupIngress"))
        })
        .await?;
    }
    Ok(SecurityGroup { id })
}

/// Deletes the group.
pub(crate) async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    ctx.ec2
        .delete_security_group()
        .group_id(id)
        .send()
        .await
        .map_err(aws(format!("{KIND} {id}"), "DeleteSecurityGroup"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::SecurityGroup as Sg;

    #[test]
    fn aws_answer_and_spec_compare_equal() {
        let spec = InfraSpec::new("c", "0123456789abcdef", 1, 1);
        let want = desired_rules(&spec);
        assert_eq!(want.len(), 6);
        let perms = want.iter().map(|r| r.to_permission("sg-1")).collect();
        let g = Sg::builder()
            .group_id("sg-1")
            .set_ip_permissions(Some(perms))
            .build();
        assert_eq!(actual_rules(&g), want);
        // "all traffic" comes back with or without ports; both are the same rule.
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .from_port(0)
            .to_port(65535)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
            .build();
        let g = Sg::builder().group_id("sg-1").ip_permissions(all).build();
        assert_eq!(
            actual_rules(&g).into_iter().next(),
            Some(Rule::new("-1", -1, -1, "group:self".into()))
        );
    }
}
