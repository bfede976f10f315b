//! A cluster PKI for machines you already have, with `k8s-pki` alone: no cluster.yaml,
//! no AWS, no CLI.
//!
//! ```sh
//! cargo run -p k8s-hard-examples --example pki_for_existing_machines -- ./pki \
//!     master:cp-1:10.0.0.10 worker:node-1:10.0.0.21 worker:node-2:10.0.0.22 \
//!     endpoint:k8s.example.com
//! ```
//!
//! Writes `ca.pem`, `master-kubernetes.pem`, `node-1.pem`, … with their keys (0600) into the
//! folder. Run it again: everything that is still right is kept byte for byte.

use std::error::Error;
use std::path::PathBuf;

use k8s_pki::{Change, Node, Pki, PkiInputs, ReconcileOptions, store};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: DIR (master|worker):NAME:IP… [endpoint:NAME]")?,
    );

    let (mut masters, mut workers, mut endpoints) = (Vec::new(), Vec::new(), Vec::new());
    for arg in args {
        let parts: Vec<&str> = arg.splitn(3, ':').collect();
        match parts.as_slice() {
            ["endpoint", name] => endpoints.push(name.to_string()),
            [role @ ("master" | "worker"), name, ip] => {
                let node = Node {
                    name: name.to_string(),
                    // The kubelet registers under its hostname; here the machine's name.
                    hostname: name.to_string(),
                    fqdn: None,
                    private_ip: ip.parse().map_err(|e| format!("{arg}: {e}"))?,
                    public_ip: None,
                };
                if *role == "master" {
                    masters.push(node)
                } else {
                    workers.push(node)
                }
            }
            _ => {
                return Err(format!(
                    "cannot read {arg:?}: want master:NAME:IP, worker:NAME:IP or endpoint:NAME"
                )
                .into());
            }
        }
    }

    let mut inputs = PkiInputs::new("existing", masters, workers);
    inputs.api_endpoints = endpoints;
    let pki = Pki::new(inputs)?; // validates: duplicate names or IPs, bad hostnames, ...
    for warning in pki.warnings() {
        eprintln!("warning: {warning}");
    }

    // Read what is there, make or fix only what is needed, write only what changed.
    let existing = store::load(&dir, pki.specs())?;
    let bundle = pki.reconcile(&existing, &ReconcileOptions::default())?;
    store::save(&dir, &bundle)?;
    for item in &bundle.items {
        let what = match &item.change {
            Change::Kept => "kept".to_string(),
            Change::Created => "created".to_string(),
            Change::Reissued(why) => format!("reissued ({})", why.join("; ")),
        };
        println!("{:<24} {what}", item.name);
    }
    Ok(())
}
