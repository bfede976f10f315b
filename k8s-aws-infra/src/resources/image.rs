//! The machine image: the newest (by name) of the owner's images matching the name filter.

use crate::context::{Ctx, Kind};
use crate::error::{Error, Result, aws};
use crate::tags::filter;

const KIND: Kind = Kind::Image;

/// Looks the image up; never creates anything.
///
/// # Errors
/// [`Error::Spec`] on `image.name` when nothing matches.
pub(crate) async fn find(ctx: &Ctx<'_>) -> Result<String> {
    let img = &ctx.spec.image;
    let out = ctx
        .ec2
        .describe_images()
        .owners(&img.owner)
        .filters(filter("name", &img.name))
        .filters(filter("root-device-type", "ebs"))
        .filters(filter("architecture", "x86_64"))
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeImages"))?;
    let newest = out
        .images()
        .iter()
        .filter(|i| i.image_id().is_some())
        .max_by(|a, b| a.name().cmp(&b.name()))
        .and_then(|i| i.image_id())
        .ok_or_else(|| {
            Error::spec(
                "image.name",
                format!(
                    "no x86_64 EBS image of owner {} matches {:?} in {}",
                    img.owner, img.name, ctx.region
                ),
            )
        })?;
    ctx.found(KIND, newest);
    Ok(newest.to_string())
}
