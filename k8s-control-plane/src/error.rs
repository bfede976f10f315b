//! The crate's one error type.

/// Everything that can go wrong while checking the inputs or rendering a master's files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input field is invalid; `field` names it the way [`crate::ControlPlaneInputs`] does.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field, e.g. `masters[2].hostname`.
        field: String,
        /// Why it is rejected.
        reason: String,
    },

    /// A master was asked for by a hostname that is not one of the inputs' masters.
    #[error("no master with hostname {hostname:?} (the masters are {known})")]
    UnknownMaster {
        /// The hostname asked for.
        hostname: String,
        /// The inputs' master hostnames, comma-separated.
        known: String,
    },

    /// A YAML document could not be written.
    #[error("cannot render {document}")]
    Render {
        /// The document: `KubeSchedulerConfiguration`, `audit Policy`, `RBAC objects`.
        document: &'static str,
        /// What the YAML writer said.
        #[source]
        source: serde_yaml::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}
