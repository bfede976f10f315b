//! Kubeconfig files and the API server's encryption-at-rest config, as STEP 6 and STEP 7 of
//! "Kubernetes from the ground up" make them with `kubectl config … --embed-certs` and a
//! heredoc.
//!
//! What it does:
//! - a typed kubeconfig model ([`Kubeconfig`]) with kubectl's key names, that keeps keys it
//!   does not know (parse + render loses nothing) and never shows secrets in `Debug`;
//! - builders for the tutorial's five kinds of client ([`Component`], one table row each) and for
//!   any user ([`build_user_kubeconfig`]), from PEM bytes and an [`ApiEndpoint`];
//! - merging a kubeconfig into another the way kubectl does ([`merge_kubeconfig`]), and into the
//!   user's file ([`merge_into_file`], [`user_kubeconfig_path`]);
//! - the `EncryptionConfiguration` ([`EncryptionConfig`]): generated with a random 32-byte
//!   `aescbc` key, validated when read (the tutorial's legacy form accepted), never replaced
//!   silently ([`prepare_encryption_config`]), and rotated in Kubernetes' documented stages
//!   ([`EncryptionConfig::rotate`], [`EncryptionConfig::promote`], [`EncryptionConfig::prune`],
//!   [`RotationStage`]).
//!
//! What it does not do: issue certificates (that is `k8s-pki`), pick file names or folders for
//! the generated files (the caller writes them, e.g. with `k8s-files`), talk to a cluster, or
//! handle `exec`/`auth-provider` credentials beyond keeping them as read. Only
//! [`merge_into_file`], [`read_kubeconfig`] and [`user_kubeconfig_path`] touch the filesystem or
//! the environment; key generation reads the operating system's random generator.
//!
//! # Example
//! ```
//! use k8s_kubeconfig::{
//!     build_kubeconfig, prepare_encryption_config, render_encryption_config,
//!     render_kubeconfig, ApiEndpoint, Component, Credentials,
//! };
//! # fn main() -> Result<(), k8s_kubeconfig::Error> {
//! # let ca_pem = b"-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
//! # let admin_pem = b"-----BEGIN CERTIFICATE-----\nQ0U=\n-----END CERTIFICATE-----\n";
//! # let admin_key_pem = b"-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";
//! // PEM bytes as k8s-pki (or openssl) wrote them.
//! let credentials = Credentials {
//!     ca_pem,
//!     client_cert_pem: admin_pem,
//!     client_key_pem: admin_key_pem,
//! };
//! let endpoint = ApiEndpoint::parse("k8s-api.example.com")?; // port 6443
//! let admin = build_kubeconfig(&Component::Admin, "k8s-cluster-from-ground-up", &endpoint, &credentials)?;
//! assert_eq!(admin.current_context, "default");
//! let yaml = render_kubeconfig(&admin)?; // write it as admin.kubeconfig, mode 0600
//! assert!(yaml.contains("server: https://k8s-api.example.com:6443"));
//!
//! // No file yet: a new key is generated. Given the old file's text, it would be kept.
//! let prepared = prepare_encryption_config(None)?;
//! assert!(prepared.needs_write());
//! let text = render_encryption_config(prepared.config())?; // encryption-config.yaml, 0600
//! assert!(text.contains("kind: EncryptionConfiguration"));
//! # Ok(()) }
//! ```

mod build;
mod encryption;
mod error;
mod fs;
mod merge;
mod model;
mod secret;

pub use build::{
    APISERVER_PORT, ApiEndpoint, Component, Credentials, DEFAULT_CONTEXT, ServerChoice, WorkerNode,
    build_kubeconfig, build_user_kubeconfig,
};
pub use encryption::{
    AescbcProvider, ENCRYPTION_API_VERSION, ENCRYPTION_KIND, EncryptionConfig, EncryptionKey,
    ExtraProviders, Identity, KEY_BYTES, LEGACY_ENCRYPTION_API_VERSION, LEGACY_ENCRYPTION_KIND,
    Prepared, Provider, ResourceEncryption, RotationStage, parse_encryption_config,
    prepare_encryption_config, render_encryption_config,
};
pub use error::{Error, Result};
pub use fs::{
    Replace, merge_into_file, merge_into_file_checked, read_kubeconfig, user_kubeconfig_path,
    user_kubeconfig_path_from,
};
pub use merge::{CurrentContext, NameClash, merge_kubeconfig, name_clashes};
pub use model::{
    Cluster, Context, EmbeddedCertificates, Extra, KUBECONFIG_API_VERSION, KUBECONFIG_KIND,
    Kubeconfig, NamedCluster, NamedContext, NamedUser, Preferences, User, parse_kubeconfig,
    render_kubeconfig,
};
pub use secret::Secret;
