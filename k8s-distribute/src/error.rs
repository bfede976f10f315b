//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while planning, connecting, uploading or running commands.
///
/// Node-level variants name the node (and its `host:port`); file-level variants name the file.
/// No variant ever carries private key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A node of the cluster description cannot be used (empty or duplicate name, bad characters).
    #[error("node {node:?}: {reason}")]
    InvalidNode {
        /// The node's name as given.
        node: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file of the manifest cannot be used as a remote file name.
    #[error("node {node}: remote file name {name:?}: {reason}")]
    InvalidRemoteName {
        /// The node the file is meant for.
        node: String,
        /// The remote name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A local file of the manifest is missing or unreadable; nothing was sent anywhere.
    #[error("local file {path}: {source}")]
    LocalFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The private key file cannot be read or parsed (encrypted keys are not supported).
    #[error("private key {path}: {reason}")]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be used (never the key itself).
        reason: String,
    },

    /// The known_hosts file cannot be read or written.
    #[error("known_hosts file {path}: {reason}")]
    KnownHosts {
        /// The known_hosts file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// No home folder to find `~/.ssh/known_hosts` in.
    #[error("no home folder: set HOME or give a known_hosts file")]
    NoHomeDir,

    /// A pinned host key is not an OpenSSH public key line.
    #[error("node {node}: pinned host key: {reason}")]
    PinnedKey {
        /// The node the key is pinned for.
        node: String,
        /// Why it does not parse.
        reason: String,
    },

    /// The node could not be reached (after the configured retries).
    #[error("node {node} ({address}): cannot connect: {reason}")]
    Connect {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// The last failure.
        reason: String,
    },

    /// An operation on the node took longer than its timeout.
    #[error("node {node} ({address}): {action} timed out after {after:?}")]
    Timeout {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// What was being done (`connect`, `check`, `upload`, `finalize`, `command`).
        action: String,
        /// The timeout.
        after: Duration,
    },

    /// The host's key is in neither the known_hosts file nor the pinned keys, and the policy
    /// refuses unknown hosts. Nothing was sent.
    #[error(
        "node {node} ({address}): host key {fingerprint} is not known (add it to {source_name} or accept new hosts)"
    )]
    UnknownHostKey {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// SHA256 fingerprint of the key the host offered.
        fingerprint: String,
        /// Where known keys were looked up (a known_hosts path, or `pinned keys`).
        source_name: String,
    },

    /// The host offered a key different from the recorded one: possibly a man in the middle,
    /// possibly a rebuilt instance. Nothing was sent.
    #[error(
        "node {node} ({address}): HOST KEY CHANGED: expected {}, host offered {found} (recorded in {source_name})",
        expected.join(" or ")
    )]
    HostKeyChanged {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// SHA256 fingerprints of the recorded keys of the same algorithm.
        expected: Vec<String>,
        /// SHA256 fingerprint of the key the host offered.
        found: String,
        /// Where the recorded keys come from (a known_hosts path, or `pinned keys`).
        source_name: String,
    },

    /// The host refused the private key for this user.
    #[error("node {node} ({address}): authentication as {user} with key {key_path} refused")]
    Auth {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// The login user.
        user: String,
        /// The private key file offered.
        key_path: PathBuf,
    },

    /// The SSH session failed after it was established.
    #[error("node {node} ({address}): ssh: {source}")]
    Ssh {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// What russh said (boxed: it is large).
        #[source]
        source: Box<russh::Error>,
    },

    /// A remote step did not do what was expected (a shell step failed, the SCP sink refused).
    #[error("node {node} ({address}): {action}: {reason}")]
    Remote {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// The step (`check`, `upload`, `finalize`, `command`).
        action: String,
        /// What the remote side said.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The node this error is about, if it is about one.
    pub fn node(&self) -> Option<&str> {
        match self {
            Error::InvalidNode { node, .. }
            | Error::InvalidRemoteName { node, .. }
            | Error::PinnedKey { node, .. }
            | Error::Connect { node, .. }
            | Error::Timeout { node, .. }
            | Error::UnknownHostKey { node, .. }
            | Error::HostKeyChanged { node, .. }
            | Error::Auth { node, .. }
            | Error::Ssh { node, .. }
            | Error::Remote { node, .. } => Some(node),
            Error::LocalFile { .. }
            | Error::PrivateKey { .. }
            | Error::KnownHosts { .. }
            | Error::NoHomeDir => None,
        }
    }
}
