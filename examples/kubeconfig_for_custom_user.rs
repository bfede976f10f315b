//! A kubeconfig for a person or tool of your own (not one of the five of "Kubernetes from the
//! ground up", STEP 6), with `k8s-pki` (a client certificate from the cluster CA) and
//! `k8s-kubeconfig` (the file).
//!
//! ```sh
//! cargo run -p k8s-hard-examples --example kubeconfig_for_custom_user -- \
//!     ./demo/pki alice developers https://k8s-api.example.com:6443 alice.kubeconfig
//! ```
//!
//! The API server authenticates the user as `alice` in group `developers`; RBAC decides
//! what she may do. The CA key is only read, never copied.

use std::error::Error;
use std::path::PathBuf;

use k8s_files::{Mode, write_file};
use k8s_kubeconfig::{ApiEndpoint, Credentials, build_user_kubeconfig, render_kubeconfig};
use k8s_pki::{ClientRequest, ExistingPair, KeyAlgorithm, SecretPem, Subject, issue_client};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pki_dir, user, group, server, out] = args.as_slice() else {
        return Err("usage: PKI_DIR USER GROUP https://HOST:PORT OUT.kubeconfig".into());
    };
    let pki_dir = PathBuf::from(pki_dir);
    let read = |name: &str| {
        std::fs::read_to_string(pki_dir.join(name))
            .map_err(|e| format!("{}: {e}", pki_dir.join(name).display()))
    };
    let ca = ExistingPair {
        cert_pem: Some(read("ca.pem")?),
        key_pem: Some(SecretPem::new(read("ca-key.pem")?)),
    };

    let issued = issue_client(
        &ca,
        &ClientRequest {
            name: user.clone(),
            common_name: user.clone(),
            organization: group.clone(),
            subject: Subject::default(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_hours: 24 * 30,
        },
    )?;

    let endpoint = ApiEndpoint::parse(server.trim_start_matches("https://"))?;
    let ca_pem = ca.cert_pem.unwrap_or_default();
    let kubeconfig = build_user_kubeconfig(
        "my-cluster",
        &endpoint,
        user,
        &Credentials {
            ca_pem: ca_pem.as_bytes(),
            client_cert_pem: issued.cert_pem.as_bytes(),
            client_key_pem: issued.key_pem.expose().as_bytes(),
        },
    )?;
    // The kubeconfig embeds the private key: 0600, written whole.
    write_file(
        &PathBuf::from(out),
        render_kubeconfig(&kubeconfig)?.as_bytes(),
        Mode::Secret,
    )?;
    println!(
        "wrote {out} for user {user} (group {group}), server {}",
        endpoint.url()
    );
    Ok(())
}
