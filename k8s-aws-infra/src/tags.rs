//! The tags every resource carries and the filters that find them again.
//!
//! Ownership is the installation tag: `init` makes an ID for each cluster folder, so two
//! clusters with the same name in one account (two people, two folders, a tutorial's name)
//! never adopt or delete each other's resources.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::spec::InfraSpec;

/// The tag key that names a node on its instance.
pub const NODE_TAG_KEY: &str = "k8s-hard/node";
/// The tag key holding the cluster name (informative: ownership is the installation tag).
pub const CLUSTER_TAG_KEY: &str = "k8s-hard/cluster";
/// The ownership tag key: its value is the spec's installation ID.
pub const INSTALLATION_TAG_KEY: &str = "k8s-hard/installation";
/// The tag key holding the creation time (UTC, `2026-11-30T06:30:57.123Z`): when two owned
/// resources of one kind exist, the oldest is kept.
pub const CREATED_TAG_KEY: &str = "k8s-hard/created";

/// The cluster's tags.
#[derive(Debug, Clone)]
pub(crate) struct Tags {
    pub(crate) name: String,
    pub(crate) installation: String,
}

impl Tags {
    pub(crate) fn new(spec: &InfraSpec) -> Self {
        Tags {
            name: spec.cluster.clone(),
            installation: spec.installation_id.clone(),
        }
    }

    /// `key=value` of the ownership tag, for messages.
    pub(crate) fn owner(&self) -> String {
        format!("{INSTALLATION_TAG_KEY}={}", self.installation)
    }

    /// `(key, value)` pairs every new resource gets besides `Name`.
    fn common(&self) -> [(&'static str, String); 3] {
        [
            (CLUSTER_TAG_KEY, self.name.clone()),
            (INSTALLATION_TAG_KEY, self.installation.clone()),
            (CREATED_TAG_KEY, now()),
        ]
    }

    fn ec2_tags(&self, name: &str, extra: &[(&str, &str)]) -> Vec<Tag> {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let mut v = vec![tag("Name", name)];
        v.extend(self.common().iter().map(|(k, val)| tag(k, val)));
        v.extend(extra.iter().map(|(k, val)| tag(k, val)));
        v
    }

    /// Tags at creation for an EC2 resource named after the cluster.
    pub(crate) fn spec(&self, kind: ResourceType) -> TagSpecification {
        self.spec_named(kind, &self.name, &[])
    }

    /// Tags at creation with a specific `Name` and extra tags.
    pub(crate) fn spec_named(
        &self,
        kind: ResourceType,
        name: &str,
        extra: &[(&str, &str)],
    ) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(self.ec2_tags(name, extra)))
            .build()
    }

    /// Filter: named after the cluster (`up` adopts only what has the cluster's name; `down`
    /// goes by the installation tag alone, as the cluster may have been renamed since).
    pub(crate) fn name_filter(&self) -> Filter {
        filter("tag:Name", &self.name)
    }

    /// Filter: owned by this installation.
    pub(crate) fn owner_filter(&self) -> Filter {
        filter(&format!("tag:{INSTALLATION_TAG_KEY}"), &self.installation)
    }

    /// True when EC2 tags include the ownership tag.
    pub(crate) fn owns(&self, tags: &[Tag]) -> bool {
        tag_value(tags, INSTALLATION_TAG_KEY) == Some(self.installation.as_str())
    }

    /// Tags for an ELBv2 resource.
    pub(crate) fn elb(&self) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
        use aws_sdk_elasticloadbalancingv2::types::Tag as T;
        let mut v = vec![T::builder().key("Name").value(&self.name).build()];
        v.extend(
            self.common()
                .iter()
                .map(|(k, val)| T::builder().key(*k).value(val).build()),
        );
        v
    }
}

/// Who holds a resource that is not ours, from its tags: for messages.
pub(crate) fn holder<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let tags: Vec<(&str, &str)> = tags.collect();
    let get = |key: &str| tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    match (get(INSTALLATION_TAG_KEY), get(CLUSTER_TAG_KEY)) {
        (Some(id), _) => format!("another k8s-hard installation ({INSTALLATION_TAG_KEY}={id})"),
        (None, Some(_)) => {
            "a cluster made by an earlier k8s-hard, without an installation tag".to_string()
        }
        (None, None) => "something k8s-hard did not make".to_string(),
    }
}

/// The current UTC time as [`CREATED_TAG_KEY`] holds it: fixed width, so that text order is
/// time order.
fn now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// An EC2 filter with one value.
pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The value of tag `key`.
pub(crate) fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_times_sort_as_text() {
        let a = now();
        assert_eq!(a.len(), "2026-11-30T06:30:57.123Z".len(), "{a}");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now() > a);
    }

    #[test]
    fn holders_are_described_from_their_tags() {
        let other = [(INSTALLATION_TAG_KEY, "abc"), (CLUSTER_TAG_KEY, "c")];
        assert_eq!(
            holder(other.iter().copied()),
            "another k8s-hard installation (k8s-hard/installation=abc)"
        );
        assert!(holder([(CLUSTER_TAG_KEY, "c")].into_iter()).contains("earlier k8s-hard"));
        assert_eq!(
            holder(std::iter::empty()),
            "something k8s-hard did not make"
        );
    }
}
