//! Key algorithms and key generation.

use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, RsaKeySize};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The algorithm (and size) of every private key in the PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// RSA 2048 bits, signed with SHA-256: what the tutorial's cfssl config makes.
    #[default]
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA 3072 bits.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA 4096 bits (key generation takes about a second each).
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// ECDSA on P-256 with SHA-256: fast and small.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in the order `--help` lists them.
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    /// The name used in cluster.yaml and on the command line, e.g. `rsa-2048`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
        }
    }

    /// Whether keys of this kind are RSA (which also get the keyEncipherment usage).
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    /// Generates a new private key. `name` only labels an error.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the backend fails.
    pub fn generate(self, name: &str) -> Result<KeyPair> {
        let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        match self {
            KeyAlgorithm::Rsa2048 => rsa(RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => rsa(RsaKeySize::_3072),
            KeyAlgorithm::Rsa4096 => rsa(RsaKeySize::_4096),
            KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        }
        .map_err(|source| Error::Crypto {
            name: name.to_string(),
            operation: "key generation",
            source,
        })
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidInput {
                field: "key_algorithm".into(),
                reason: format!(
                    "unknown algorithm {s:?}, expected one of: {}",
                    KeyAlgorithm::ALL.map(|a| a.as_str()).join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(a.as_str().parse::<KeyAlgorithm>().unwrap(), a);
        }
        let err = "dsa-1024".parse::<KeyAlgorithm>().unwrap_err().to_string();
        assert!(
            err.contains("key_algorithm") && err.contains("rsa-2048"),
            "{err}"
        );
    }
}
