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

    /// No key at all is recorded for the host (in the known_hosts file, or the pinned keys),
    /// and the policy refuses unknown hosts. Nothing was sent.
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

    /// The host offered a key that is not recorded for it, while other keys (of any type) are:
    /// possibly a man in the middle, possibly a rebuilt instance. Nothing was sent, and
    /// [`UnknownHosts::AcceptNew`](crate::UnknownHosts::AcceptNew) records nothing.
    #[error(
        "node {node} ({address}): HOST KEY CHANGED: expected {}, host offered {found} (recorded in {source_name})",
        expected.join(" or ")
    )]
    HostKeyChanged {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// SHA256 fingerprints of every key recorded for the host, whatever its type.
        expected: Vec<String>,
        /// SHA256 fingerprint of the key the host offered.
        found: String,
        /// Where the recorded keys are: `FILE:LINE` for each of `expected`, joined by `, `
        /// (like OpenSSH's "Offending key in FILE:LINE"), or `pinned keys`.
        source_name: String,
    },

    /// The host offered a key that the known_hosts file marks `@revoked` (for any host),
    /// even if another line also lists it. Nothing was sent.
    #[error(
        "node {node} ({address}): host key {fingerprint} is REVOKED ({}:{line}): refused",
        path.display()
    )]
    HostKeyRevoked {
        /// The node.
        node: String,
        /// `host:port`.
        address: String,
        /// SHA256 fingerprint of the key the host offered.
        fingerprint: String,
        /// The known_hosts file.
        path: PathBuf,
        /// The `@revoked` line (1-based).
        line: usize,
    },

    /// Keys to pin cannot be written as known_hosts lines.
    #[error("pin host keys for {host}: {reason}")]
    InvalidPin {
        /// The host as recorded (`host`, or `[host]:port`).
        host: String,
        /// What is wrong.
        reason: String,
    },

    /// The known_hosts file already records other keys for the host, not written by a pin
    /// with the same marker tag. The file was not changed.
    #[error(
        "known_hosts file {}: {host} already has other keys ({}): if the machine was re-created, remove them with `ssh-keygen -R '{host}' -f {}`",
        path.display(),
        offending.join(", "),
        path.display()
    )]
    PinConflict {
        /// The known_hosts file.
        path: PathBuf,
        /// The host as recorded (`host`, or `[host]:port`).
        host: String,
        /// The other keys: `SHA256:… at line N`.
        offending: Vec<String>,
    },

    /// A key to pin is marked `@revoked` in the known_hosts file. The file was not changed.
    #[error(
        "known_hosts file {}: cannot pin {fingerprint} for {host}: it is revoked at line {line}",
        path.display()
    )]
    PinRevoked {
        /// The known_hosts file.
        path: PathBuf,
        /// The host as recorded (`host`, or `[host]:port`).
        host: String,
        /// SHA256 fingerprint of the revoked key.
        fingerprint: String,
        /// The `@revoked` line (1-based).
        line: usize,
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
            | Error::HostKeyRevoked { node, .. }
            | Error::Auth { node, .. }
            | Error::Ssh { node, .. }
            | Error::Remote { node, .. } => Some(node),
            Error::LocalFile { .. }
            | Error::PrivateKey { .. }
            | Error::KnownHosts { .. }
            | Error::NoHomeDir
            | Error::InvalidPin { .. }
            | Error::PinConflict { .. }
            | Error::PinRevoked { .. } => None,
        }
    }
}
