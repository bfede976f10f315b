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

use std::future::Future;

use aws_sdk_ec2::types::{Filter, Tag};

use crate::context::{Ctx, Kind, is_not_found};
use crate::error::{Error, Result};
use crate::tags::{CREATED_TAG_KEY, holder, tag_value};

/// How many of a kind's owned resources a `find` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// For `up`, `plan`, `status`: the state's, else the oldest of those found by tags (with
    /// a warning when there are several: a create retried behind our back).
    One,
    /// For `down`: the state's and every one found by tags, each once.
    All,
}

/// The shared `find` of the EC2 kinds: the state's ID first (a vanished ID falls through),
/// then by `filters`. `describe(ids, filters)` makes the kind's Describe call. A resource
/// found by ID must carry the ownership tag.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn find_ec2<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    which: Which,
    state_id: Option<&str>,
    filters: Vec<Filter>,
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
    let Some(sid) = state_id else { return Ok(None) };
    match describe(Some(vec![sid.to_string()]), None).await {
        Ok(found) => match found.into_iter().next() {
            Some(r) if !ctx.tags.owns(tags(&r)) => Err(Error::NotOwned {
                resource: kind.to_string(),
                id: sid.to_string(),
                tag: ctx.tags.owner(),
            }),
            r => Ok(r),
        },
        Err(e) if is_not_found(&e) => Ok(None),
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

/// The shared `find` of the ELBv2 kinds, whose names AWS keeps unique per account and region:
/// by the state's ARN, else by the cluster name (a missing one is "not found", not an error).
/// One found by ARN without the ownership tag is [`Error::NotOwned`]; one found by name is
/// [`Error::NameTaken`]. `describe(arn, name)` makes the kind's Describe call with one of the
/// two.
pub(crate) async fn find_elb<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    state_arn: Option<&str>,
    describe: D,
    arn: impl Fn(&T) -> Option<&str>,
) -> Result<Option<T>>
where
    D: Fn(Option<String>, Option<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let absent_ok = |r: Result<Vec<T>>| match r {
        Ok(v) => Ok(v.into_iter().next()),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    };
    if let Some(a) = state_arn
        && let Some(r) = absent_ok(describe(Some(a.to_string()), None).await)?
    {
        ctx.seen(a);
        if load_balancer::elb_tags(ctx, kind, a).await?.owned {
            return Ok(Some(r));
        }
        return Err(Error::NotOwned {
            resource: kind.to_string(),
            id: a.to_string(),
            tag: ctx.tags.owner(),
        });
    }
    let Some(r) = absent_ok(describe(None, Some(ctx.spec.cluster.clone())).await)? else {
        return Ok(None);
    };
    let a = arn(&r).unwrap_or_default().to_string();
    // Found, so it exists: a NotFound for its tags is AWS catching up (made seconds ago by an
    // interrupted run).
    ctx.seen(&a);
    let tags = load_balancer::elb_tags(ctx, kind, &a).await?;
    if tags.owned {
        return Ok(Some(r));
    }
    Err(Error::NameTaken {
        resource: kind.to_string(),
        name: ctx.spec.cluster.clone(),
        region: ctx.region.clone(),
        holder: holder(tags.all.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    })
}
