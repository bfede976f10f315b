//! Load a cluster.yaml with `k8s-cluster` and print what building it means, without touching
//! AWS or any machine: its nodes, every certificate with its subject and SANs, which
//! certificate each kubeconfig embeds, and which file goes to which node.
//!
//! ```text
//! cargo run -p k8s-hard-examples --example cluster_plan -- ./my-cluster
//! ```
//!
//! `./my-cluster/cluster.yaml` is what `k8s-hard init` writes (or any valid one); the folder
//! is only read. `Cluster::plan_up` adds what AWS would change, given an `Infra`.

use std::path::PathBuf;

use k8s_cluster::Cluster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: cluster_plan DIR (with DIR/cluster.yaml)")?;
    let cluster = Cluster::load(&dir)?;

    println!("cluster {} in {}", cluster.spec.name, cluster.spec.region);
    for (role, nodes) in [("master", &cluster.masters), ("worker", &cluster.workers)] {
        for n in nodes {
            let pods = n.pod_cidr.map(|p| format!(" pods {p}")).unwrap_or_default();
            println!("  {role} {} {} {}{pods}", n.name, n.private_ip, n.fqdn);
        }
    }

    let pki = cluster.pki()?;
    println!("certificates:");
    for spec in pki.specs() {
        println!(
            "  {:<40} CN={} O={} ({} SANs)",
            spec.name,
            spec.common_name,
            spec.organization,
            spec.sans.len()
        );
    }

    println!("kubeconfigs:");
    for component in cluster.kubeconfig_components() {
        let cert = cluster.kubeconfig_certificate(&pki, &component)?;
        println!(
            "  {:<40} user {} with {}.pem",
            component.file_name(),
            component.user_name(),
            cert.name
        );
    }

    println!("distribution:");
    for node in cluster.manifest()?.nodes {
        let files: Vec<&str> = node.files.iter().map(|f| f.remote_name.as_str()).collect();
        println!(
            "  {} ({}): {}",
            node.node.name,
            node.node.host_port(),
            files.join(" ")
        );
    }
    Ok(())
}
