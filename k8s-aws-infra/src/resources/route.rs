//! The pod network routes: each worker's pod CIDR to that worker's instance.

use futures::future::try_join_all;

use crate::context::{Action, Ctx, Kind};
use crate::error::{Result, aws};
use crate::resources::instance::Instance;
use crate::resources::route_table::RouteTable;

const KIND: Kind = Kind::Route;

/// Creates (or repoints) the route of every worker's pod CIDR in `table`.
pub(crate) async fn ensure(
    ctx: &Ctx<'_>,
    table: &RouteTable,
    instances: &[Instance],
) -> Result<()> {
    let mut jobs = Vec::new();
    for (role, node) in ctx.spec.nodes() {
        let Some(pod) = node.pod_cidr else { continue };
        let _ = role;
        let Some(inst) = instances.iter().find(|i| i.node == node.name) else {
            continue;
        };
        let dest = pod.to_string();
        let current = table
            .routes
            .iter()
            .find(|(d, _)| *d == dest)
            .map(|(_, t)| t.clone());
        let name = format!("{dest} -> {}", node.name);
        let replace = match current {
            Some(t) if t == inst.id => continue,
            Some(t) => {
                if !ctx.change(
                    KIND,
                    &name,
                    Some(&table.id),
                    Action::Update(format!("target {} instead of {t}", inst.id)),
                ) {
                    continue;
                }
                true
            }
            None => {
                if !ctx.change(KIND, &name, None, Action::Create) {
                    continue;
                }
                false
            }
        };
        let (table_id, instance_id) = (table.id.clone(), inst.id.clone());
        jobs.push(async move {
            let id = format!("{KIND} {dest} in {table_id}");
            let names = [
                (Kind::RouteTable, table_id.as_str()),
                (Kind::Instance, &instance_id),
            ];
            if replace {
                ctx.follow_up(&names, || async {
                    ctx.ec2
                        .replace_route()
                        .route_table_id(&table_id)
                        .destination_cidr_block(&dest)
                        .instance_id(&instance_id)
                        .send()
                        .await
                        .map_err(aws(id.clone(), "ReplaceRoute"))
                })
                .await?;
            } else {
                ctx.follow_up(&names, || async {
                    ctx.ec2
                        .create_route()
                        .route_table_id(&table_id)
                        .destination_cidr_block(&dest)
                        .instance_id(&instance_id)
                        .send()
                        .await
                        .map_err(aws(id.clone(), "CreateRoute"))
                })
                .await?;
                ctx.created(KIND, &format!("{dest} -> {instance_id}"))?;
            }
            Ok::<_, crate::Error>(())
        });
    }
    try_join_all(jobs).await?;
    Ok(())
}
