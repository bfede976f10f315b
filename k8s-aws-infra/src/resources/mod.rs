//! One module per AWS resource kind, each with the same shape: `find` (by the state's ID, else by
//! tags), a check of immutable fields, `ensure` (create with tags at creation, or fix mutable
//! attributes) and `delete`. Dependencies are typed parameters, so the order is visible.

pub(crate) mod dhcp_options;
pub(crate) mod image;
pub(crate) mod instance;
pub(crate) mod internet_gateway;
pub(crate) mod key_pair;
pub(crate) mod listener;
pub(crate) mod load_balancer;
pub(crate) mod route;
pub(crate) mod route_table;
pub(crate) mod security_group;
pub(crate) mod subnet;
pub(crate) mod target_group;
pub(crate) mod vpc;

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_ec2::types::{Filter, Tag};

use crate::context::{Ctx, Kind, is_malformed, is_not_found};
use crate::error::{Error, Result, aws};
use crate::tags::{CREATED_TAG_KEY, INSTALLATION_TAG_KEY, filter, holder, tag_value};

/// How many of a kind's owned resources a `find` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// For `up`, `plan`, `status`: the state's, else the oldest of those with the installation
    /// tag and the cluster's name (with a warning when there are several: a create retried
    /// behind our back).
    One,
    /// For `down`: the state's and every one with the installation tag, whatever its name (the
    /// cluster may have been renamed since), each once.
    All,
}

/// Whether `id` has the shape of a `kind` ID (`vpc-` and 8 to 17 hex digits, an ELBv2 ARN of
/// the kind). A state edited by hand, or holding another kind's ID, is then not sent to AWS
/// (which answers `…Malformed`): the resource is found by its tags, as for a vanished ID.
pub(crate) fn well_formed(kind: Kind, id: &str) -> bool {
    let elb_arn = |part: &str| {
        id.starts_with("arn:") && id.contains(":elasticloadbalancing:") && id.contains(part)
    };
    let prefix = match kind {
        Kind::Vpc => "vpc-",
        Kind::DhcpOptions => "dopt-",
        Kind::Subnet => "subnet-",
        Kind::InternetGateway => "igw-",
        Kind::RouteTable => "rtb-",
        Kind::SecurityGroup => "sg-",
        Kind::Instance => "i-",
        Kind::LoadBalancer => return elb_arn(":loadbalancer/"),
        Kind::TargetGroup => return elb_arn(":targetgroup/"),
        Kind::Listener => return elb_arn(":listener/"),
        _ => return !id.is_empty(),
    };
    id.strip_prefix(prefix).is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The state's ID of `kind`, when it is one (see [`well_formed`]); a warning otherwise.
fn usable_id<'s>(ctx: &Ctx<'_>, kind: Kind, state_id: Option<&'s str>) -> Option<&'s str> {
    let id = state_id?;
    if well_formed(kind, id) {
        return Some(id);
    }
    ctx.warn(format!(
        "the state's {kind} ID {id:?} is malformed; finding the {kind} by its tags instead"
    ));
    None
}

/// The shared `find` of the EC2 kinds: the state's ID first (a vanished or malformed ID falls
/// through), then by tags: the installation's, inside `vpc_id` when given, and for
/// [`Which::One`] the cluster's name. `describe(ids, filters)` makes the kind's Describe call.
/// A resource found by ID must carry the ownership tag.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn find_ec2<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    which: Which,
    state_id: Option<&str>,
    vpc_id: Option<&str>,
    describe: D,
    tags: impl Fn(&T) -> &[Tag],
    id: impl Fn(&T) -> Option<&str>,
) -> Result<Vec<T>>
where
    D: Fn(Option<Vec<String>>, Option<Vec<Filter>>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut all: Vec<T> = find_by_id(ctx, kind, state_id, &describe, &tags)
        .await?
        .into_iter()
        .collect();
    if which == Which::One && !all.is_empty() {
        return Ok(all);
    }
    let mut filters = vec![ctx.tags.owner_filter()];
    if which == Which::One {
        filters.push(ctx.tags.name_filter());
    }
    if let Some(v) = vpc_id {
        filters.push(filter("vpc-id", v));
    }
    for r in describe(None, Some(filters)).await? {
        if !all.iter().any(|a| id(a) == id(&r)) {
            all.push(r);
        }
    }
    Ok(match which {
        Which::One => oldest(ctx, kind, all, tags, id).into_iter().collect(),
        Which::All => all,
    })
}

async fn find_by_id<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    state_id: Option<&str>,
    describe: &D,
    tags: &impl Fn(&T) -> &[Tag],
) -> Result<Option<T>>
where
    D: Fn(Option<Vec<String>>, Option<Vec<Filter>>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let Some(sid) = usable_id(ctx, kind, state_id) else {
        return Ok(None);
    };
    match describe(Some(vec![sid.to_string()]), None).await {
        Ok(found) => match found.into_iter().next() {
            Some(r) if !ctx.tags.owns(tags(&r)) => Err(Error::NotOwned {
                resource: kind.to_string(),
                id: sid.to_string(),
                tag: ctx.tags.owner(),
            }),
            r => Ok(r),
        },
        Err(e) if is_not_found(&e) || is_malformed(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The oldest of `found` (by the creation tag, then ID); a warning when there are several.
fn oldest<T>(
    ctx: &Ctx<'_>,
    kind: Kind,
    mut found: Vec<T>,
    tags: impl Fn(&T) -> &[Tag],
    id: impl Fn(&T) -> Option<&str>,
) -> Option<T> {
    // Untagged (made by an older version) sorts after every timestamp.
    found.sort_by(|a, b| {
        let key = |r: &T| {
            (
                tag_value(tags(r), CREATED_TAG_KEY)
                    .unwrap_or("~")
                    .to_string(),
                id(r).unwrap_or_default().to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    if found.len() > 1 {
        let ids: Vec<&str> = found.iter().filter_map(&id).collect();
        ctx.warn(format!(
            "{} {kind} resources carry this installation's tags ({}); using the oldest, {}; `down` deletes all of them",
            ids.len(),
            ids.join(", "),
            ids[0]
        ));
    }
    found.into_iter().next()
}

/// One ELBv2 Describe call (`DescribeLoadBalancers`, `DescribeTargetGroups`): by ARN, by
/// name, or one page of all of them.
pub(crate) enum ElbQuery {
    /// The resource with this ARN.
    Arn(String),
    /// The resource with this name.
    Name(String),
    /// The page after this marker (`None`: the first).
    Page(Option<String>),
}

/// The tags of ELBv2 resources, by ARN, read in batches of 20 (`DescribeTags`' limit).
async fn elb_tags(
    ctx: &Ctx<'_>,
    kind: Kind,
    arns: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>> {
    let mut tags = HashMap::new();
    for batch in arns.chunks(20) {
        let names: Vec<(Kind, &str)> = batch.iter().map(|a| (kind, a.as_str())).collect();
        let out = ctx
            .follow_up(&names, || async {
                ctx.elb
                    .describe_tags()
                    .set_resource_arns(Some(batch.to_vec()))
                    .send()
                    .await
                    .map_err(aws(kind.to_string(), "DescribeTags"))
            })
            .await?;
        for d in out.tag_descriptions() {
            let pairs = d
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            tags.insert(d.resource_arn().unwrap_or_default().to_string(), pairs);
        }
    }
    Ok(tags)
}

/// Whether ELBv2 tags include this installation's.
fn elb_owned(ctx: &Ctx<'_>, tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(k, v)| k == INSTALLATION_TAG_KEY && *v == ctx.tags.installation)
}

/// [`Error::NameTaken`] for an ELBv2 resource with the cluster's name and these tags.
fn elb_name_taken(ctx: &Ctx<'_>, kind: Kind, tags: &[(String, String)]) -> Error {
    Error::NameTaken {
        resource: kind.to_string(),
        name: ctx.spec.cluster.clone(),
        region: ctx.region.clone(),
        holder: holder(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    }
}

/// The resource a query names; `None` when AWS says there is none (or that the ARN is not
/// one).
async fn elb_one<T, D, Fut>(describe: &D, query: ElbQuery) -> Result<Option<T>>
where
    D: Fn(ElbQuery) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    match describe(query).await {
        Ok((v, _)) => Ok(v.into_iter().next()),
        Err(e) if is_not_found(&e) || is_malformed(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The shared `find` of the ELBv2 kinds for `up`, whose names AWS keeps unique per account
/// and region: by the state's ARN, else by the cluster name (a missing one is "not found",
/// not an error). One found by ARN without the ownership tag is [`Error::NotOwned`]; one
/// found by name is [`Error::NameTaken`]. `describe` makes the kind's Describe call.
pub(crate) async fn find_elb<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    state_arn: Option<&str>,
    describe: D,
    arn: impl Fn(&T) -> Option<&str>,
) -> Result<Option<T>>
where
    D: Fn(ElbQuery) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    if let Some(a) = usable_id(ctx, kind, state_arn)
        && let Some(r) = elb_one(&describe, ElbQuery::Arn(a.to_string())).await?
    {
        ctx.seen(a);
        let tags = elb_tags(ctx, kind, &[a.to_string()]).await?;
        if tags.get(a).is_some_and(|t| elb_owned(ctx, t)) {
            return Ok(Some(r));
        }
        return Err(Error::NotOwned {
            resource: kind.to_string(),
            id: a.to_string(),
            tag: ctx.tags.owner(),
        });
    }
    let Some(r) = elb_one(&describe, ElbQuery::Name(ctx.spec.cluster.clone())).await? else {
        return Ok(None);
    };
    let a = arn(&r).unwrap_or_default().to_string();
    // Found, so it exists: a NotFound for its tags is AWS catching up (made seconds ago by an
    // interrupted run).
    ctx.seen(&a);
    let tags = elb_tags(ctx, kind, std::slice::from_ref(&a)).await?;
    match tags.get(&a) {
        Some(t) if elb_owned(ctx, t) => Ok(Some(r)),
        t => Err(elb_name_taken(ctx, kind, t.map_or(&[], Vec::as_slice))),
    }
}

/// What [`find_elb_owned`] found.
pub(crate) struct ElbFound<T> {
    /// Every one carrying this installation's tag, whatever its name.
    pub(crate) owned: Vec<T>,
    /// One with the cluster's name that is not ours ([`Error::NameTaken`]), if any.
    pub(crate) not_ours: Option<Error>,
}

/// The shared `find` of the ELBv2 kinds for `down`: every resource of the kind in the
/// region, each one's tags read, those of this installation kept whatever their name (ELBv2
/// has no tag filter; the cluster may have been renamed since `up`). The state's ARN is
/// looked up too, in case the list does not show a resource made seconds ago yet.
pub(crate) async fn find_elb_owned<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    state_arn: Option<&str>,
    describe: D,
    arn: impl Fn(&T) -> Option<&str>,
    name: impl Fn(&T) -> Option<&str>,
) -> Result<ElbFound<T>>
where
    D: Fn(ElbQuery) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    let mut all: Vec<T> = Vec::new();
    let mut marker = None;
    loop {
        let (page, next) = describe(ElbQuery::Page(marker)).await?;
        all.extend(page);
        marker = next.filter(|m| !m.is_empty());
        if marker.is_none() {
            break;
        }
    }
    if let Some(a) = usable_id(ctx, kind, state_arn)
        && !all.iter().any(|r| arn(r) == Some(a))
        && let Some(r) = elb_one(&describe, ElbQuery::Arn(a.to_string())).await?
    {
        all.push(r);
    }
    let arns: Vec<String> = all.iter().filter_map(&arn).map(str::to_string).collect();
    arns.iter().for_each(|a| ctx.seen(a));
    let tags = elb_tags(ctx, kind, &arns).await?;
    let mut found = ElbFound {
        owned: Vec::new(),
        not_ours: None,
    };
    for r in all {
        let t = arn(&r)
            .and_then(|a| tags.get(a))
            .map_or(&[][..], Vec::as_slice);
        if elb_owned(ctx, t) {
            found.owned.push(r);
        } else if name(&r) == Some(ctx.spec.cluster.as_str()) {
            found.not_ours = Some(elb_name_taken(ctx, kind, t));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_ids_of_another_shape_are_not_sent_to_aws() {
        for (kind, id) in [
            (Kind::Vpc, "vpc-0a1b2c3d"),
            (Kind::Vpc, "vpc-2915743fb38db0986"),
            (Kind::SecurityGroup, "sg-0123456789abcdef0"),
            (Kind::Instance, "i-0123456789abcdef0"),
            (
                Kind::LoadBalancer,
                "arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/net/c/0123456789abcdef",
            ),
            (
                Kind::TargetGroup,
                "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/c/0123456789abcdef",
            ),
        ] {
            assert!(well_formed(kind, id), "{kind} {id}");
        }
        for (kind, id) in [
            (Kind::Vpc, "subnet-0a1b2c3d"),
            (Kind::Vpc, "vpc-xyz"),
            (Kind::Vpc, "vpc-0a1b"),
            (Kind::Vpc, "vpc-0a1b2c3d\n"),
            (Kind::Vpc, ""),
            (Kind::Subnet, "vpc-0a1b2c3d"),
            (Kind::Instance, "i-0123456789abcdef0123"),
            (
                Kind::LoadBalancer,
                "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/c/0123456789abcdef",
            ),
            (Kind::TargetGroup, "c"),
        ] {
            assert!(!well_formed(kind, id), "{kind} {id:?}");
        }
    }
}
