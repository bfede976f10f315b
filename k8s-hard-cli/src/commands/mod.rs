//! One module per subcommand.

pub mod bundle;
pub mod completions;
pub mod distribute;
pub mod down;
pub mod encryption_config;
pub mod infra;
pub mod init;
pub mod kubeconfig;
pub mod pki;
pub mod status;
pub mod up;
