//! Runnable examples of the k8s-hard libraries, one program each: see the `.rs` files beside
//! this one, `cargo run -p k8s-hard-examples --example <name>`. This library is empty; it only
//! gives the examples a package, and its tests build and run every example.
//!
//! - `pki_for_existing_machines`: the cluster PKI with `k8s-pki` alone.
//! - `kubeconfig_for_custom_user`: a kubeconfig for a user of your own (`k8s-pki`,
//!   `k8s-kubeconfig`).
//! - `distribute_files`: any files to any hosts over SSH with `k8s-distribute` alone.
//! - `aws_infra_plan_apply`: the AWS machines of "Kubernetes from the ground up" with
//!   `k8s-aws-infra` alone: plan, `--apply`, `--destroy`.
//! - `custom_bootstrap`: the PKI, kubeconfigs and encryption config for machines that are not
//!   ours, sent to each over SSH (`k8s-pki`, `k8s-kubeconfig`, `k8s-distribute`).
