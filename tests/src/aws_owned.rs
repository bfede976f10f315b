//! What an installation owns in moto, read back with the AWS SDK's describe calls: the judge
//! of what `up` made and `down` left, independent of our own finding and state.
//!
//! [`sdk`] points the SDK at moto (or the timing proxy) with the dummy credentials;
//! [`owned`] lists everything tagged with an installation; [`owned_in`] does both, blocking,
//! for tests that drive the `k8s-hard` binary.

use std::collections::BTreeSet;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::types::Filter;

use crate::moto::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// The tag key that carries the installation ID.
pub const INSTALLATION_TAG: &str = "k8s-hard/installation";

/// An SDK configuration sending every call to `url` in `region`, with the dummy credentials:
/// built field by field, so that nothing of the machine's own AWS setup is read (no `~/.aws`
/// files, no `AWS_*` variables, no instance metadata).
pub fn sdk(url: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "tests",
        )))
        .build()
}

/// Everything carrying [`INSTALLATION_TAG`]`=installation` in the SDK configuration's region,
/// as `kind id` strings (`vpc vpc-…`, `instance i-…` for instances not terminated, `key NAME`,
/// `lb NAME`, `tg NAME`, `listener ARN`). ELBv2 has no tag filter: every load balancer and
/// target group is listed, then their tags read. Panics when a call fails.
pub async fn owned(sdk: &SdkConfig, installation: &str) -> BTreeSet<String> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let f = Filter::builder()
        .name(format!("tag:{INSTALLATION_TAG}"))
        .values(installation)
        .build();
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, id: Option<&str>| {
        out.insert(format!("{kind} {}", id.unwrap_or("?")));
    };
    let vpcs = ec2.describe_vpcs().filters(f.clone()).send().await;
    for v in vpcs.expect("DescribeVpcs").vpcs() {
        add("vpc", v.vpc_id());
    }
    let dhcp = ec2.describe_dhcp_options().filters(f.clone()).send().await;
    for d in dhcp.expect("DescribeDhcpOptions").dhcp_options() {
        add("dhcp", d.dhcp_options_id());
    }
    let subnets = ec2.describe_subnets().filters(f.clone()).send().await;
    for s in subnets.expect("DescribeSubnets").subnets() {
        add("subnet", s.subnet_id());
    }
    let gateways = ec2
        .describe_internet_gateways()
        .filters(f.clone())
        .send()
        .await;
    for g in gateways
        .expect("DescribeInternetGateways")
        .internet_gateways()
    {
        add("igw", g.internet_gateway_id());
    }
    let tables = ec2.describe_route_tables().filters(f.clone()).send().await;
    for t in tables.expect("DescribeRouteTables").route_tables() {
        add("rtb", t.route_table_id());
    }
    let groups = ec2
        .describe_security_groups()
        .filters(f.clone())
        .send()
        .await;
    for g in groups.expect("DescribeSecurityGroups").security_groups() {
        add("sg", g.group_id());
    }
    let instances = ec2.describe_instances().filters(f.clone()).send().await;
    for r in instances.expect("DescribeInstances").reservations() {
        for i in r.instances() {
            if i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated") {
                add("instance", i.instance_id());
            }
        }
    }
    let keys = ec2.describe_key_pairs().filters(f).send().await;
    for k in keys.expect("DescribeKeyPairs").key_pairs() {
        add("key", k.key_name());
    }
    let tagged = |arn: String| {
        let elb = elb.clone();
        async move {
            let tags = elb.describe_tags().resource_arns(&arn).send().await;
            tags.expect("DescribeTags")
                .tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .any(|t| t.key() == Some(INSTALLATION_TAG) && t.value() == Some(installation))
        }
    };
    let lbs = elb.describe_load_balancers().send().await;
    for lb in lbs.expect("DescribeLoadBalancers").load_balancers() {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        if tagged(arn.to_string()).await {
            add("lb", lb.load_balancer_name());
            let listeners = elb.describe_listeners().load_balancer_arn(arn).send().await;
            for l in listeners.expect("DescribeListeners").listeners() {
                add("listener", l.listener_arn());
            }
        }
    }
    let tgs = elb.describe_target_groups().send().await;
    for tg in tgs.expect("DescribeTargetGroups").target_groups() {
        if tagged(tg.target_group_arn().unwrap_or_default().to_string()).await {
            add("tg", tg.target_group_name());
        }
    }
    out
}

/// [`owned`] for moto at `url` in `region`, from synchronous code.
pub fn owned_in(url: &str, region: &str, installation: &str) -> BTreeSet<String> {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(owned(&sdk(url, region), installation))
}
