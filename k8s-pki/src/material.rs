//! PEM material in memory: what exists before a run and what a run produces.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

/// A private key in PEM. Its `Debug` never shows the key; the memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretPem(Zeroizing<String>);

impl SecretPem {
    /// Wraps a PEM-encoded private key.
    pub fn new(pem: String) -> Self {
        SecretPem(Zeroizing::new(pem))
    }

    /// The PEM text, for writing it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretPem(<redacted>)")
    }
}

/// A certificate and its key as found on disk; either may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingPair {
    /// The certificate PEM (`<name>.pem`).
    pub cert_pem: Option<String>,
    /// The private key PEM (`<name>-key.pem`), PKCS#8, PKCS#1 or SEC1.
    pub key_pem: Option<SecretPem>,
}

/// Existing material by file base name (`ca`, `admin`, ...).
pub type Existing = BTreeMap<String, ExistingPair>;

/// What a run did to one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", content = "reasons", rename_all = "kebab-case")]
pub enum Change {
    /// It was right and is kept byte for byte.
    Kept,
    /// It did not exist.
    Created,
    /// It existed but was wrong, expiring, or renewal was asked for; the reasons say which.
    Reissued(Vec<String>),
}

/// One certificate and key of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The file base name.
    pub name: String,
    /// The certificate PEM.
    pub cert_pem: String,
    /// The private key PEM.
    pub key_pem: SecretPem,
    /// What happened to it in this run.
    pub change: Change,
    /// Whether the private key is new in this run (a re-issued certificate may keep its key).
    pub key_changed: bool,
}

/// The whole PKI in memory, in catalog order (the CA first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Every certificate of the catalog.
    pub items: Vec<Issued>,
}

impl Bundle {
    /// The certificate named `name`.
    pub fn get(&self, name: &str) -> Option<&Issued> {
        self.items.iter().find(|i| i.name == name)
    }

    /// The items this run created or re-issued.
    pub fn changed(&self) -> impl Iterator<Item = &Issued> {
        self.items.iter().filter(|i| i.change != Change::Kept)
    }

    /// The bundle as "existing" material, as if it had been written and read back.
    pub fn to_existing(&self) -> Existing {
        self.items
            .iter()
            .map(|i| {
                let pair = ExistingPair {
                    cert_pem: Some(i.cert_pem.clone()),
                    key_pem: Some(i.key_pem.clone()),
                };
                (i.name.clone(), pair)
            })
            .collect()
    }
}
