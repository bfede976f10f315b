//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, checking or storing a cluster PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input field is invalid; `field` names it the way the caller's spec does.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field, e.g. `workers[2].private_ip`.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The certificate table itself is inconsistent (a programming error caught by validation).
    #[error("certificate catalog: {0}")]
    Catalog(String),
    /// Key generation or signing failed in the crypto backend.
    #[error("{name}: {operation} failed: {source}")]
    Crypto {
        /// The certificate being made (file base name).
        name: String,
        /// What was being done: "key generation", "signing", ...
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: rcgen::Error,
    },
    /// The existing CA cannot be used (unreadable, key does not match, not a CA).
    #[error(
        "existing CA unusable: {reason} (use the replace-CA option to make a new one, which re-issues every certificate)"
    )]
    CaUnusable {
        /// What is wrong with it.
        reason: String,
    },
    /// An interrupted run left a new CA half-written ([`crate::store::CA_PENDING`]): until
    /// [`crate::store::recover`] finishes it, `ca.pem` and `ca-key.pem` may be the old CA, the
    /// new one or one of each, so nothing reads them.
    #[error(
        "{path}: an interrupted run left a new CA half-written (ca.pem and ca-key.pem may not belong together): it must be finished before the CA is used"
    )]
    CaPending {
        /// The pending file.
        path: PathBuf,
    },
    /// A PEM file could not be parsed.
    #[error("{name}: cannot parse {what}: {reason}")]
    Parse {
        /// The certificate or key's base name.
        name: String,
        /// "certificate" or "private key".
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// Asked to renew a certificate the catalog does not have.
    #[error("no certificate named {name:?} (known: {known})")]
    UnknownCertificate {
        /// The requested name.
        name: String,
        /// The names the catalog has, comma separated.
        known: String,
    },
    /// Reading or writing a file under the PKI folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a file failed.
    #[error(transparent)]
    Write(#[from] k8s_files::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}
