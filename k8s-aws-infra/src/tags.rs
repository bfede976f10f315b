//! The tags every resource carries and the filters that find them again.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::spec::InfraSpec;

/// The tag key that names a node on its instance.
pub const NODE_TAG_KEY: &str = "k8s-hard/node";

/// The cluster's tags: `Name` plus the ownership tag.
#[derive(Debug, Clone)]
pub(crate) struct Tags {
    pub(crate) name: String,
    pub(crate) owner_key: String,
    pub(crate) owner_value: String,
}

impl Tags {
    pub(crate) fn new(spec: &InfraSpec) -> Self {
        let (k, v) = spec.owner_tag();
        Tags {
            name: spec.cluster.clone(),
            owner_key: k.to_string(),
            owner_value: v.to_string(),
        }
    }

    /// `key=value` of the ownership tag, for messages.
    pub(crate) fn owner(&self) -> String {
        format!("{}={}", self.owner_key, self.owner_value)
    }

    fn ec2_tags(&self, name: &str, extra: &[(&str, &str)]) -> Vec<Tag> {
        let mut v = vec![
            Tag::builder().key("Name").value(name).build(),
            Tag::builder()
                .key(&self.owner_key)
                .value(&self.owner_value)
                .build(),
        ];
        v.extend(
            extra
                .iter()
                .map(|(k, val)| Tag::builder().key(*k).value(*val).build()),
        );
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

    /// Filters: owned by this cluster and named after it.
    pub(crate) fn filters(&self) -> Vec<Filter> {
        vec![self.owner_filter(), filter("tag:Name", &self.name)]
    }

    /// [`Tags::filters`], inside `vpc_id` when given.
    pub(crate) fn filters_in(&self, vpc_id: Option<&str>) -> Vec<Filter> {
        let mut f = self.filters();
        if let Some(v) = vpc_id {
            f.push(filter("vpc-id", v));
        }
        f
    }

    /// Filter: owned by this cluster.
    pub(crate) fn owner_filter(&self) -> Filter {
        filter(&format!("tag:{}", self.owner_key), &self.owner_value)
    }

    /// True when EC2 tags include the ownership tag.
    pub(crate) fn owns(&self, tags: &[Tag]) -> bool {
        tags.iter().any(|t| {
            t.key() == Some(self.owner_key.as_str()) && t.value() == Some(self.owner_value.as_str())
        })
    }

    /// Tags for an ELBv2 resource.
    pub(crate) fn elb(&self) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
        use aws_sdk_elasticloadbalancingv2::types::Tag as T;
        vec![
            T::builder().key("Name").value(&self.name).build(),
            T::builder()
                .key(&self.owner_key)
                .value(&self.owner_value)
                .build(),
        ]
    }

    /// True when ELBv2 tags include the ownership tag.
    pub(crate) fn owns_elb(&self, tags: &[aws_sdk_elasticloadbalancingv2::types::Tag]) -> bool {
        tags.iter().any(|t| {
            t.key() == Some(self.owner_key.as_str()) && t.value() == Some(self.owner_value.as_str())
        })
    }
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
