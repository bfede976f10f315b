//! One module per subcommand.

pub mod completions;
pub mod init;
pub mod pki;
