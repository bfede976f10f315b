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

use crate::context::{Ctx, Kind, at_most_one, is_not_found};
use crate::error::{Error, Result};

/// The shared `find` of the EC2 kinds: by the state's ID first (a vanished ID falls through),
/// else by `filters`. `describe(ids, filters)` makes the kind's Describe call. A resource found
/// by ID must carry the ownership tag; more than one found by tags is an error.
pub(crate) async fn find_ec2<T, D, Fut>(
    ctx: &Ctx<'_>,
    kind: Kind,
    state_id: Option<&str>,
    filters: Vec<Filter>,
    describe: D,
    tags: impl Fn(&T) -> &[Tag],
    id: impl Fn(&T) -> Option<&str>,
) -> Result<Option<T>>
where
    D: Fn(Option<Vec<String>>, Option<Vec<Filter>>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    if let Some(sid) = state_id {
        match describe(Some(vec![sid.to_string()]), None).await {
            Ok(found) => {
                if let Some(r) = found.into_iter().next() {
                    if !ctx.tags.owns(tags(&r)) {
                        return Err(Error::NotOwned {
                            resource: kind.to_string(),
                            id: sid.to_string(),
                            tag: ctx.tags.owner(),
                        });
                    }
                    return Ok(Some(r));
                }
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let found = describe(None, Some(filters)).await?;
    at_most_one(kind, found, |r| id(r).unwrap_or_default().to_string())
}

/// The shared `find` of the ELBv2 kinds: by the state's ARN, else by the cluster name (a
/// missing one is "not found", not an error); then the ownership tag is checked.
/// `describe(arn, name)` makes the kind's Describe call with one of the two.
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
    let mut found = None;
    if let Some(a) = state_arn {
        found = absent_ok(describe(Some(a.to_string()), None).await)?;
    }
    if found.is_none() {
        found = absent_ok(describe(None, Some(ctx.spec.cluster.clone())).await)?;
    }
    let Some(r) = found else { return Ok(None) };
    let a = arn(&r).unwrap_or_default().to_string();
    if !load_balancer::owned(ctx, kind, &a).await? {
        return Err(Error::NotOwned {
            resource: kind.to_string(),
            id: a,
            tag: ctx.tags.owner(),
        });
    }
    Ok(Some(r))
}
