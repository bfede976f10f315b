//! The machines: fixed private IP, public IP, user-data naming the node, source/dest check off.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType,
    ResourceType,
};
use base64::Engine;
use futures::future::try_join_all;

use crate::context::{Action, Ctx, Kind, PLANNED};
use crate::error::{Error, Result, aws};
use crate::resources::key_pair::KeyPair;
use crate::resources::security_group::SecurityGroup;
use crate::resources::subnet::Subnet;
use crate::spec::{NodeSpec, Role, new_installation_id};
use crate::state::InstanceState;
use crate::tags::{NODE_TAG_KEY, filter, tag_value};

const KIND: Kind = Kind::Instance;

/// One of the cluster's machines.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) node: String,
    pub(crate) role: Role,
    pub(crate) id: String,
    pub(crate) private_ip: Option<String>,
    pub(crate) public_ip: Option<String>,
    pub(crate) public_dns: Option<String>,
    pub(crate) state: String,
}

impl Instance {
    fn from_aws(node: &str, role: Role, i: &aws_sdk_ec2::types::Instance) -> Self {
        Instance {
            node: node.to_string(),
            role,
            id: i.instance_id().unwrap_or_default().to_string(),
            private_ip: i.private_ip_address.clone(),
            public_ip: i.public_ip_address.clone(),
            public_dns: i.public_dns_name.clone().filter(|d| !d.is_empty()),
            state: state_of(i).to_string(),
        }
    }

    fn running(&self) -> bool {
        self.state == InstanceStateName::Running.as_str()
    }
}

fn state_of(i: &aws_sdk_ec2::types::Instance) -> &str {
    i.state()
        .and_then(|s| s.name())
        .map(|n| n.as_str())
        .unwrap_or("unknown")
}

/// The user-data of a node: `name=master-0`, `name=worker-0|pod-cidr=172.20.0.0/24`.
pub(crate) fn user_data(node: &NodeSpec) -> String {
    match &node.pod_cidr {
        Some(p) => format!("name={}|pod-cidr={p}", node.name),
        None => format!("name={}", node.name),
    }
}

/// The instance states `up` adopts.
pub(crate) const LIVE: &[&str] = &["pending", "running", "stopping", "stopped"];
/// The instance states `down` waits for: [`LIVE`] and those terminating already.
pub(crate) const NOT_TERMINATED: &[&str] =
    &["pending", "running", "stopping", "stopped", "shutting-down"];

/// The cluster's instances in one of `states` (inside `vpc_id` when known).
pub(crate) async fn find_all(
    ctx: &Ctx<'_>,
    vpc_id: Option<&str>,
    states: &[&str],
) -> Result<Vec<aws_sdk_ec2::types::Instance>> {
    let mut filters = vec![
        ctx.tags.owner_filter(),
        aws_sdk_ec2::types::Filter::builder()
            .name("tag-key")
            .values(NODE_TAG_KEY)
            .build(),
        aws_sdk_ec2::types::Filter::builder()
            .name("instance-state-name")
            .set_values(Some(states.iter().map(|s| s.to_string()).collect()))
            .build(),
    ];
    if let Some(v) = vpc_id {
        filters.push(filter("vpc-id", v));
    }
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = ctx
            .ec2
            .describe_instances()
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(aws(KIND.to_string(), "DescribeInstances"))?;
        all.extend(
            out.reservations()
                .iter()
                .flat_map(|r| r.instances().iter().cloned()),
        );
        token = out.next_token.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Finds or starts every node's instance, turns source/dest check off, waits until all run.
pub(crate) async fn ensure_all(
    ctx: &Ctx<'_>,
    subnet: &Subnet,
    sg: &SecurityGroup,
    image: &str,
    key: &KeyPair,
    vpc_id: &str,
) -> Result<Vec<Instance>> {
    let mut by_node: BTreeMap<String, Vec<aws_sdk_ec2::types::Instance>> = BTreeMap::new();
    if !subnet.fresh {
        for i in find_all(ctx, Some(vpc_id), LIVE).await? {
            if let Some(n) = tag_value(i.tags(), NODE_TAG_KEY) {
                by_node.entry(n.to_string()).or_default().push(i);
            }
        }
    }
    for extra in by_node
        .keys()
        .filter(|n| !ctx.spec.nodes().any(|(_, s)| s.name == **n))
    {
        ctx.warn(format!(
            "instance of node {extra} is not in the spec; left alone (`down` deletes it)"
        ));
    }
    let jobs = ctx.spec.nodes().map(|(role, node)| {
        let found = by_node.remove(&node.name).unwrap_or_default();
        ensure_one(ctx, role, node, found, subnet, sg, image, key)
    });
    let mut instances = try_join_all(jobs).await?;
    if ctx.dry_run {
        return Ok(instances);
    }
    let pending: Vec<String> = instances
        .iter()
        .filter(|i| !i.running() || i.public_ip.is_none())
        .map(|i| i.id.clone())
        .collect();
    if !pending.is_empty() {
        let total = instances.len();
        let latest = std::sync::Mutex::new(Vec::new());
        let names: Vec<(Kind, &str)> = pending.iter().map(|id| (KIND, id.as_str())).collect();
        ctx.wait_for("instances running", total, ctx.timeouts.ready, || async {
            let out = ctx
                .follow_up(&names, || async {
                    ctx.ec2
                        .describe_instances()
                        .set_instance_ids(Some(pending.clone()))
                        .send()
                        .await
                        .map_err(aws(KIND.to_string(), "DescribeInstances"))
                })
                .await?;
            let found: Vec<aws_sdk_ec2::types::Instance> = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances().iter().cloned())
                .collect();
            let ready = found
                .iter()
                .filter(|i| {
                    state_of(i) == InstanceStateName::Running.as_str()
                        && i.public_ip_address.is_some()
                })
                .count();
            if let Ok(mut l) = latest.lock() {
                *l = found;
            }
            Ok(total - pending.len() + ready)
        })
        .await?;
        let latest = latest.into_inner().unwrap_or_default();
        for inst in &mut instances {
            if let Some(i) = latest
                .iter()
                .find(|i| i.instance_id() == Some(inst.id.as_str()))
            {
                *inst = Instance::from_aws(&inst.node, inst.role, i);
            }
        }
    }
    Ok(instances)
}

#[allow(clippy::too_many_arguments)]
async fn ensure_one(
    ctx: &Ctx<'_>,
    role: Role,
    node: &NodeSpec,
    mut found: Vec<aws_sdk_ec2::types::Instance>,
    subnet: &Subnet,
    sg: &SecurityGroup,
    image: &str,
    key: &KeyPair,
) -> Result<Instance> {
    let name = ctx.spec.instance_name(node);
    if found.len() > 1 {
        // The one in the state, else the oldest.
        let recorded = ctx.state.instances.get(&node.name).map(|i| i.id.as_str());
        found.sort_by_key(|i| {
            (
                i.instance_id() != recorded,
                i.launch_time().map(|t| t.secs()),
                i.instance_id().unwrap_or_default().to_string(),
            )
        });
        let ids: Vec<&str> = found.iter().filter_map(|i| i.instance_id()).collect();
        ctx.warn(format!(
            "{} instances carry node {}'s tags ({}); using {}; `down` deletes all of them",
            ids.len(),
            node.name,
            ids.join(", "),
            ids[0]
        ));
        found.truncate(1);
    }
    if let Some(i) = found.pop() {
        let inst = Instance::from_aws(&node.name, role, &i);
        ctx.found(KIND, &inst.id);
        let immutable = |field, actual: &str, desired: String| Error::Immutable {
            resource: format!("{KIND} {name}"),
            id: inst.id.clone(),
            field,
            actual: actual.to_string(),
            desired,
        };
        let ip = node.private_ip.to_string();
        if i.private_ip_address() != Some(ip.as_str()) {
            return Err(immutable(
                "private_ip",
                i.private_ip_address().unwrap_or("none"),
                ip,
            ));
        }
        let t = i.instance_type().map(|t| t.as_str()).unwrap_or_default();
        if t != ctx.spec.instance_type {
            return Err(immutable(
                "instance_type",
                t,
                ctx.spec.instance_type.clone(),
            ));
        }
        if i.subnet_id() != Some(subnet.id.as_str()) {
            return Err(immutable(
                "subnet_id",
                i.subnet_id().unwrap_or("none"),
                subnet.id.clone(),
            ));
        }
        if inst.state == InstanceStateName::Stopped.as_str()
            && ctx.change(KIND, &name, Some(&inst.id), Action::Update("start".into()))
        {
            ctx.follow_up(&[(KIND, &inst.id)], || async {
                ctx.ec2
                    .start_instances()
                    .instance_ids(&inst.id)
                    .send()
                    .await
                    .map_err(aws(format!("{KIND} {name}"), "StartInstances"))
            })
            .await?;
        }
        if i.source_dest_check() != Some(false)
            && ctx.change(
                KIND,
                &name,
                Some(&inst.id),
                Action::Update("turn source/dest check off".into()),
            )
        {
            source_dest_off(ctx, &inst.id).await?;
        }
        return Ok(inst);
    }
    if !ctx.change(KIND, &name, None, Action::Create) {
        return Ok(Instance {
            node: node.name.clone(),
            role,
            id: PLANNED.into(),
            private_ip: Some(node.private_ip.to_string()),
            public_ip: None,
            public_dns: None,
            state: "planned".into(),
        });
    }
    let nic = InstanceNetworkInterfaceSpecification::builder()
        .device_index(0)
        .subnet_id(&subnet.id)
        .groups(&sg.id)
        .private_ip_address(node.private_ip.to_string())
        .associate_public_ip_address(true)
        .delete_on_termination(true)
        .build();
    // The same token on every attempt: a request the SDK sends again after a lost answer
    // starts no second machine.
    let token = new_installation_id()?;
    let tags = ctx
        .tags
        .spec_named(ResourceType::Instance, &name, &[(NODE_TAG_KEY, &node.name)]);
    let names = [
        (Kind::Subnet, subnet.id.as_str()),
        (Kind::SecurityGroup, &sg.id),
    ];
    let out = ctx
        .follow_up(&names, || async {
            ctx.ec2
                .run_instances()
                .client_token(&token)
                .image_id(image)
                .instance_type(InstanceType::from(ctx.spec.instance_type.as_str()))
                .key_name(&key.name)
                .min_count(1)
                .max_count(1)
                .network_interfaces(nic.clone())
                .user_data(base64::engine::general_purpose::STANDARD.encode(user_data(node)))
                .tag_specifications(tags.clone())
                .send()
                .await
                .map_err(aws(format!("{KIND} {name}"), "RunInstances"))
        })
        .await?;
    let i = out
        .instances()
        .first()
        .ok_or_else(|| Error::missing(format!("{KIND} {name}"), "RunInstances", "Instances"))?;
    let inst = Instance::from_aws(&node.name, role, i);
    ctx.created(KIND, &inst.id)?;
    ctx.record(|s| {
        s.instances.insert(
            inst.node.clone(),
            InstanceState {
                id: inst.id.clone(),
                role,
                private_ip: inst.private_ip.clone(),
                public_ip: None,
                public_dns: None,
            },
        );
    })?;
    if i.source_dest_check() != Some(false) {
        source_dest_off(ctx, &inst.id).await?;
    }
    Ok(inst)
}

async fn source_dest_off(ctx: &Ctx<'_>, id: &str) -> Result<()> {
    ctx.follow_up(&[(KIND, id)], || async {
        ctx.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .source_dest_check(AttributeBooleanValue::builder().value(false).build())
            .send()
            .await
            .map_err(aws(format!("{KIND} {id}"), "ModifyInstanceAttribute"))
    })
    .await?;
    Ok(())
}

/// Terminates `ids` in one call.
pub(crate) async fn terminate(ctx: &Ctx<'_>, ids: &[String]) -> Result<()> {
    ctx.ec2
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(aws(KIND.to_string(), "TerminateInstances"))?;
    Ok(())
}

/// How many of `ids` are terminated (or gone). A filter rather than IDs: long terminated
/// instances vanish from the API, and naming one would fail the whole call.
pub(crate) async fn count_terminated(ctx: &Ctx<'_>, ids: &[String]) -> Result<usize> {
    let out = ctx
        .ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-id")
                .set_values(Some(ids.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeInstances"))?;
    let alive = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| state_of(i) != InstanceStateName::Terminated.as_str())
        .count();
    Ok(ids.len().saturating_sub(alive))
}
