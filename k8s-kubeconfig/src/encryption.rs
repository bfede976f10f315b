//! The API server's encryption-at-rest config ("Kubernetes from the ground up" STEP 7): secrets
//! encrypted with `aescbc`.
//!
//! Losing or silently replacing the key makes every stored secret unreadable, so this module
//! never does that: [`prepare_encryption_config`] keeps a valid existing file, and rotation
//! follows Kubernetes' documented stages, in which every server can always read what any other
//! server writes, even while they are updated one by one:
//!
//! 1. [`EncryptionConfig::rotate`] adds a new key **second** (read with it, do not write yet);
//!    restart every API server;
//! 2. [`EncryptionConfig::promote`] moves it first (write with it, keep the old to read);
//!    restart every API server, then re-encrypt every secret;
//! 3. [`EncryptionConfig::prune`] removes the old keys.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::{Extra, null_as_default};
use crate::secret::Secret;

/// The `apiVersion` written (and accepted).
pub const ENCRYPTION_API_VERSION: &str = "apiserver.config.k8s.io/v1";
/// The `kind` written (and accepted).
pub const ENCRYPTION_KIND: &str = "EncryptionConfiguration";
/// The tutorial's legacy `apiVersion` (STEP 7), accepted when read.
pub const LEGACY_ENCRYPTION_API_VERSION: &str = "v1";
/// The tutorial's legacy `kind` (STEP 7), accepted when read.
pub const LEGACY_ENCRYPTION_KIND: &str = "EncryptionConfig";

/// The size of generated keys: 32 bytes, AES-256.
pub const KEY_BYTES: usize = 32;

/// A whole `EncryptionConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionConfig {
    /// `apiserver.config.k8s.io/v1` (the legacy `v1` is replaced when read).
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// `EncryptionConfiguration` (the legacy `EncryptionConfig` is replaced when read).
    #[serde(default)]
    pub kind: String,
    /// Which resources are encrypted, and how.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<ResourceEncryption>,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `resources`: a list of resource kinds and their providers, first one writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceEncryption {
    /// Resource kinds, e.g. `secrets`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<String>,
    /// Providers in order: the first encrypts new writes, all are tried when reading.
    #[serde(default, deserialize_with = "null_as_default")]
    pub providers: Vec<Provider>,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One provider; exactly one of its fields is set in a valid file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// AES-CBC with the listed keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aescbc: Option<AescbcProvider>,
    /// No encryption: reads data written before encryption was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Providers this model does not type (`aesgcm`, `secretbox`, `kms`), kept as read.
    /// Not shown by `Debug`'s values since they hold keys too.
    #[serde(flatten)]
    pub extra: ExtraProviders,
}

/// Providers kept as read; `Debug` shows their names only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtraProviders(pub Extra);

impl std::fmt::Debug for ExtraProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The `aescbc` provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AescbcProvider {
    /// Keys in order: the first encrypts new writes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: Vec<EncryptionKey>,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `identity` provider (`identity: {}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A named key: `secret` is the base64 of 16, 24 or 32 random bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionKey {
    /// The key's name, stored in front of every value it encrypted.
    #[serde(default)]
    pub name: String,
    /// The base64 key.
    #[serde(default)]
    pub secret: Secret,
}

impl EncryptionKey {
    /// A new key of [`KEY_BYTES`] bytes from the operating system's random generator.
    ///
    /// # Errors
    /// [`Error::Random`] when the generator fails.
    pub fn generate(name: &str) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(bytes.as_mut()).map_err(|source| Error::Random { source })?;
        Ok(Self::from_bytes(name, bytes.as_ref()))
    }

    /// A key holding `bytes` (not checked here; [`parse_encryption_config`] and
    /// [`render_encryption_config`] check sizes).
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Self {
        EncryptionKey {
            name: name.to_string(),
            secret: Secret::new(STANDARD.encode(bytes)),
        }
    }

    /// The key bytes.
    ///
    /// # Errors
    /// [`Error::InvalidField`] (field `secret`) when the secret is not base64.
    pub fn decode(&self) -> Result<Zeroizing<Vec<u8>>> {
        STANDARD
            .decode(self.secret.expose())
            .map(Zeroizing::new)
            .map_err(|e| Error::field("secret", format!("not valid base64: {e}")))
    }
}

/// What [`prepare_encryption_config`] found, so the caller knows whether to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// The existing file is valid and current: keep it as it is, write nothing.
    KeepExisting(EncryptionConfig),
    /// The existing file is valid but in the tutorial's legacy form: same keys, write this
    /// (current form) over it.
    UpgradeExisting(EncryptionConfig),
    /// There was no file: a new key was generated; write this.
    GeneratedNew(EncryptionConfig),
}

impl Prepared {
    /// The config to use.
    pub fn config(&self) -> &EncryptionConfig {
        match self {
            Prepared::KeepExisting(c)
            | Prepared::UpgradeExisting(c)
            | Prepared::GeneratedNew(c) => c,
        }
    }

    /// Whether the caller has to write [`Prepared::config`] to the file.
    pub fn needs_write(&self) -> bool {
        !matches!(self, Prepared::KeepExisting(_))
    }
}

/// Where an encryption config stands in a staged key rotation ([`EncryptionConfig::rotate`],
/// [`EncryptionConfig::promote`], [`EncryptionConfig::prune`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum RotationStage {
    /// One key: no rotation under way.
    Single {
        /// The key that writes.
        writing: String,
    },
    /// Stage 1 done: a new key is there to read with, the old one still writes. Next: every
    /// API server restarted with it, then promote.
    NewKeySecond {
        /// The key added.
        new: String,
        /// The key that writes.
        writing: String,
    },
    /// Stage 2 done: the newest key writes, older ones are kept to read. Next: every API
    /// server restarted with it, every secret re-encrypted, then prune.
    NewKeyFirst {
        /// The key that writes.
        writing: String,
        /// The older keys still listed.
        old: Vec<String>,
    },
}

impl RotationStage {
    /// The command that moves to the next stage, e.g. `promote`; `None` when there is none
    /// (one key).
    pub fn next_step(&self) -> Option<&'static str> {
        match self {
            RotationStage::Single { .. } => None,
            RotationStage::NewKeySecond { .. } => Some("promote"),
            RotationStage::NewKeyFirst { .. } => Some("prune"),
        }
    }
}

impl std::fmt::Display for RotationStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RotationStage::Single { writing } => write!(f, "one key ({writing})"),
            RotationStage::NewKeySecond { new, writing } => {
                write!(f, "rotated: {new} added second, {writing} still writes")
            }
            RotationStage::NewKeyFirst { writing, old } => write!(
                f,
                "promoted: {writing} writes, {} kept to read",
                old.join(", ")
            ),
        }
    }
}

/// Keeps the existing file's keys, or generates a new config when there is none (`None`).
/// An existing file that is not valid is an error, never replaced.
///
/// # Errors
/// As [`parse_encryption_config`] for the existing text; [`Error::Random`] when generating.
pub fn prepare_encryption_config(existing: Option<&str>) -> Result<Prepared> {
    match existing {
        None => Ok(Prepared::GeneratedNew(EncryptionConfig::generate()?)),
        Some(text) => {
            let (config, legacy) = parse_with_form(text)?;
            Ok(if legacy {
                Prepared::UpgradeExisting(config)
            } else {
                Prepared::KeepExisting(config)
            })
        }
    }
}

impl EncryptionConfig {
    /// The tutorial's config (STEP 7) with `key` as the only aescbc key: `secrets` encrypted by
    /// `aescbc`, then `identity` to read what was stored before.
    pub fn with_key(key: EncryptionKey) -> Self {
        EncryptionConfig {
            api_version: ENCRYPTION_API_VERSION.to_string(),
            kind: ENCRYPTION_KIND.to_string(),
            resources: vec![ResourceEncryption {
                resources: vec!["secrets".to_string()],
                providers: vec![
                    Provider {
                        aescbc: Some(AescbcProvider {
                            keys: vec![key],
                            extra: Extra::new(),
                        }),
                        ..Provider::default()
                    },
                    Provider {
                        identity: Some(Identity::default()),
                        ..Provider::default()
                    },
                ],
                extra: Extra::new(),
            }],
            extra: Extra::new(),
        }
    }

    /// A new config with a random 32-byte key named `key1`.
    ///
    /// # Errors
    /// [`Error::Random`] when the generator fails.
    pub fn generate() -> Result<Self> {
        Ok(Self::with_key(EncryptionKey::generate("key1")?))
    }

    /// The keys of the aescbc provider that encrypts `secrets`, first (writing) key first.
    /// Empty when there is no such provider (a parsed config always has one).
    pub fn secrets_keys(&self) -> &[EncryptionKey] {
        match self.secrets_aescbc_index() {
            Some((r, p)) => self.resources[r].providers[p]
                .aescbc
                .as_ref()
                .map(|a| a.keys.as_slice())
                .unwrap_or_default(),
            None => &[],
        }
    }

    /// Stage 1 of a key rotation (Kubernetes' documented procedure): adds a new random 32-byte
    /// key, named `key<N>` after the highest number in use, as the **second** aescbc key. Every
    /// server given this config can read with it; none writes with it yet, so servers still on
    /// the old config can read everything. Returns the new key's name.
    ///
    /// Next: give every API server this config and restart them, then [`Self::promote`].
    ///
    /// # Errors
    /// [`Error::Random`] when the generator fails; [`Error::InvalidField`] when the config has
    /// no aescbc provider for `secrets`, or a rotation is under way (a newer key is not yet
    /// first: promote it before adding another).
    pub fn rotate(&mut self) -> Result<String> {
        let name = self.next_key_name();
        self.rotate_with(EncryptionKey::generate(&name)?)?;
        Ok(name)
    }

    /// [`Self::rotate`] with the given key.
    ///
    /// # Errors
    /// [`Error::InvalidField`] when there is no such provider, `key`'s name is already used or
    /// its secret is not a valid key, or a rotation is under way.
    pub fn rotate_with(&mut self, key: EncryptionKey) -> Result<()> {
        let (r, p) = self.secrets_aescbc()?;
        check_key_secret("key.secret", &key)?;
        if self.secrets_keys().iter().any(|k| k.name == key.name) {
            return Err(Error::field(
                "key.name",
                format!("{:?} is already used", key.name),
            ));
        }
        if let RotationStage::NewKeySecond { new, .. } = self.rotation_stage() {
            return Err(Error::field(
                "keys",
                format!(
                    "a rotation is under way: {new:?} was added but is not first yet; promote it (and prune the old keys) before adding another"
                ),
            ));
        }
        if let Some(aescbc) = self.resources[r].providers[p].aescbc.as_mut() {
            let at = aescbc.keys.len().min(1);
            aescbc.keys.insert(at, key);
        }
        Ok(())
    }

    /// Stage 2: moves the newest key (the one [`Self::rotate`] added) first, so that new writes
    /// use it; the old keys stay, in their order, to read what they wrote. Returns its name.
    ///
    /// Next: give every API server this config and restart them, re-encrypt every secret
    /// (`kubectl get secrets -A -o json | kubectl replace -f -`), then [`Self::prune`].
    ///
    /// # Errors
    /// [`Error::InvalidField`] when there is no newer key waiting (nothing was rotated, or it
    /// is first already).
    pub fn promote(&mut self) -> Result<String> {
        let (r, p) = self.secrets_aescbc()?;
        let RotationStage::NewKeySecond { new, .. } = self.rotation_stage() else {
            return Err(Error::field(
                "keys",
                format!(
                    "nothing to promote: {:?} is already the newest key and first; rotate first",
                    self.writing_key_name()
                ),
            ));
        };
        if let Some(aescbc) = self.resources[r].providers[p].aescbc.as_mut()
            && let Some(i) = aescbc.keys.iter().position(|k| k.name == new)
        {
            let key = aescbc.keys.remove(i);
            aescbc.keys.insert(0, key);
        }
        Ok(new)
    }

    /// Stage 3: removes every aescbc key but the first (the one writing). Returns the names
    /// removed (empty when there was only one). Only safe once every secret was re-encrypted
    /// with the first key and etcd backed up with it.
    ///
    /// # Errors
    /// [`Error::InvalidField`] when the newest key is not first yet: pruning then would drop
    /// the key rotated in before any server wrote with it; promote first.
    pub fn prune(&mut self) -> Result<Vec<String>> {
        let (r, p) = self.secrets_aescbc()?;
        if let RotationStage::NewKeySecond { new, writing } = self.rotation_stage() {
            return Err(Error::field(
                "keys",
                format!(
                    "{new:?} is not first yet ({writing:?} still writes): promote it, restart the API servers and re-encrypt before pruning"
                ),
            ));
        }
        let mut removed = Vec::new();
        if let Some(aescbc) = self.resources[r].providers[p].aescbc.as_mut() {
            removed = aescbc.keys.drain(1..).map(|k| k.name).collect();
        }
        Ok(removed)
    }

    /// Where this config stands in a rotation, judged from the key names: the newest key is
    /// the highest `key<N>` (as [`Self::rotate`] names them).
    pub fn rotation_stage(&self) -> RotationStage {
        let keys = self.secrets_keys();
        let writing = self.writing_key_name();
        if keys.len() <= 1 {
            return RotationStage::Single { writing };
        }
        let newest = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((k.name.strip_prefix("key")?.parse::<u64>().ok()?, i)))
            .max()
            .map(|(_, i)| i);
        match newest {
            Some(i) if i > 0 => RotationStage::NewKeySecond {
                new: keys[i].name.clone(),
                writing,
            },
            _ => RotationStage::NewKeyFirst {
                writing,
                old: keys[1..].iter().map(|k| k.name.clone()).collect(),
            },
        }
    }

    /// Whether a server with this config can read everything a server with `other` writes:
    /// `other`'s first key (name and secret) is among this config's keys.
    pub fn reads_writes_of(&self, other: &EncryptionConfig) -> bool {
        match other.secrets_keys().first() {
            Some(w) => self
                .secrets_keys()
                .iter()
                .any(|k| k.name == w.name && k.secret == w.secret),
            None => true,
        }
    }

    fn writing_key_name(&self) -> String {
        self.secrets_keys()
            .first()
            .map(|k| k.name.clone())
            .unwrap_or_default()
    }

    fn secrets_aescbc(&self) -> Result<(usize, usize)> {
        self.secrets_aescbc_index()
            .ok_or_else(|| Error::field("resources", "no aescbc provider for secrets"))
    }

    fn next_key_name(&self) -> String {
        let highest = self
            .secrets_keys()
            .iter()
            .filter_map(|k| k.name.strip_prefix("key")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        format!("key{}", highest.saturating_add(1))
    }

    /// (resource entry, provider) of the first aescbc provider of the first entry that
    /// lists `secrets`.
    fn secrets_aescbc_index(&self) -> Option<(usize, usize)> {
        let r = self
            .resources
            .iter()
            .position(|e| e.resources.iter().any(|k| k == "secrets"))?;
        let p = self.resources[r]
            .providers
            .iter()
            .position(|p| p.aescbc.is_some())?;
        Some((r, p))
    }

    fn validate(&self) -> Result<()> {
        let (r, p) = self.secrets_aescbc_index().ok_or_else(|| {
            match self
                .resources
                .iter()
                .position(|e| e.resources.iter().any(|k| k == "secrets"))
            {
                None => Error::field("resources", "no entry lists secrets"),
                Some(r) => Error::field(
                    format!("resources[{r}].providers"),
                    "no aescbc provider for secrets",
                ),
            }
        })?;
        if self.secrets_keys().is_empty() {
            return Err(Error::field(
                format!("resources[{r}].providers[{p}].aescbc.keys"),
                "no keys",
            ));
        }
        for (ri, entry) in self.resources.iter().enumerate() {
            for (pi, provider) in entry.providers.iter().enumerate() {
                let Some(aescbc) = &provider.aescbc else {
                    continue;
                };
                let mut seen = HashSet::new();
                for (ki, key) in aescbc.keys.iter().enumerate() {
                    let at = format!("resources[{ri}].providers[{pi}].aescbc.keys[{ki}]");
                    if key.name.is_empty() {
                        return Err(Error::field(format!("{at}.name"), "must not be empty"));
                    }
                    if !seen.insert(key.name.as_str()) {
                        return Err(Error::field(
                            format!("{at}.name"),
                            format!("{:?} is used by an earlier key", key.name),
                        ));
                    }
                    check_key_secret(&format!("{at}.secret"), key)?;
                }
            }
        }
        Ok(())
    }
}

fn check_key_secret(field: &str, key: &EncryptionKey) -> Result<()> {
    let bytes = STANDARD
        .decode(key.secret.expose())
        .map_err(|e| Error::field(field, format!("not valid base64: {e}")))?;
    match bytes.len() {
        16 | 24 | 32 => Ok(()),
        n => Err(Error::field(
            field,
            format!("decodes to {n} bytes; an AES key is 16, 24 or 32 bytes"),
        )),
    }
}

/// Parses and validates an encryption config; the tutorial's legacy `kind: EncryptionConfig` /
/// `apiVersion: v1` is accepted and comes back in the current form.
///
/// Checks: an entry lists `secrets` with an aescbc provider holding at least one key; every
/// aescbc key has a non-empty name unique in its provider and a base64 secret of 16, 24 or
/// 32 bytes.
///
/// # Errors
/// [`Error::Parse`] when the text is not YAML of this shape; [`Error::InvalidField`] naming
/// the field (e.g. `resources[0].providers[0].aescbc.keys[1].secret`) otherwise.
pub fn parse_encryption_config(text: &str) -> Result<EncryptionConfig> {
    parse_with_form(text).map(|(config, _)| config)
}

/// Parses, validates and normalizes; also says whether the text was in the legacy form.
fn parse_with_form(text: &str) -> Result<(EncryptionConfig, bool)> {
    let mut config: EncryptionConfig =
        serde_yaml::from_str(text).map_err(|source| Error::Parse {
            document: "encryption config",
            source,
        })?;
    let legacy = match (config.api_version.as_str(), config.kind.as_str()) {
        (ENCRYPTION_API_VERSION, ENCRYPTION_KIND) => false,
        (LEGACY_ENCRYPTION_API_VERSION, LEGACY_ENCRYPTION_KIND) => true,
        (_, ENCRYPTION_KIND | LEGACY_ENCRYPTION_KIND) => {
            return Err(Error::field(
                "apiVersion",
                format!(
                    "expected {ENCRYPTION_API_VERSION:?}, found {:?}",
                    config.api_version
                ),
            ));
        }
        (_, kind) => {
            return Err(Error::field(
                "kind",
                format!("expected {ENCRYPTION_KIND:?}, found {kind:?}"),
            ));
        }
    };
    config.api_version = ENCRYPTION_API_VERSION.to_string();
    config.kind = ENCRYPTION_KIND.to_string();
    config.validate()?;
    Ok((config, legacy))
}

/// Renders the config as YAML in the current form, after checking it as
/// [`parse_encryption_config`] would.
///
/// # Errors
/// [`Error::InvalidField`] when the config is not valid; [`Error::Render`] if the YAML writer
/// fails.
pub fn render_encryption_config(config: &EncryptionConfig) -> Result<String> {
    config.validate()?;
    let mut current = config.clone();
    current.api_version = ENCRYPTION_API_VERSION.to_string();
    current.kind = ENCRYPTION_KIND.to_string();
    serde_yaml::to_string(&current).map_err(|source| Error::Render {
        document: "encryption config",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_has_the_tutorials_shape() {
        let config = EncryptionConfig::with_key(EncryptionKey::from_bytes("key1", &[7; 32]));
        let text = render_encryption_config(&config).unwrap();
        let want = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources:\n  - secrets\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: {}\n  - identity: {{}}\n",
            STANDARD.encode([7; 32])
        );
        assert_eq!(text, want);
        assert_eq!(parse_encryption_config(&text).unwrap(), config);
    }

    #[test]
    fn next_name_follows_the_highest_number() {
        let mut config = EncryptionConfig::with_key(EncryptionKey::from_bytes("key1", &[1; 32]));
        config
            .rotate_with(EncryptionKey::from_bytes("key7", &[2; 16]))
            .unwrap();
        assert_eq!(config.promote().unwrap(), "key7");
        config
            .rotate_with(EncryptionKey::from_bytes("custom", &[3; 24]))
            .unwrap();
        assert_eq!(config.next_key_name(), "key8");
        let err = config
            .rotate_with(EncryptionKey::from_bytes("key1", &[4; 32]))
            .unwrap_err();
        assert!(err.to_string().starts_with("key.name: "), "{err}");
        let err = config
            .rotate_with(EncryptionKey::from_bytes("key9", &[4; 20]))
            .unwrap_err();
        assert!(err.to_string().starts_with("key.secret: "), "{err}");
    }

    #[test]
    fn other_providers_are_kept_and_not_shown_by_debug() {
        let text = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets, configmaps]\n  providers:\n  - aescbc:\n      keys: [{name: a, secret: AAAAAAAAAAAAAAAAAAAAAA==}]\n  - secretbox:\n      keys: [{name: s, secret: c2VjcmV0Ym94LXNlY3JldA==}]\n  - identity: {}\n";
        let config = parse_encryption_config(text).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("c2VjcmV0Ym94LXNlY3JldA=="), "{debug}");
        assert!(!debug.contains("AAAAAAAAAAAAAAAAAAAAAA=="), "{debug}");
        assert!(debug.contains("secretbox"));
        let again: serde_yaml::Value =
            serde_yaml::from_str(&render_encryption_config(&config).unwrap()).unwrap();
        let before: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        assert_eq!(again, before);
    }

    fn names(config: &EncryptionConfig) -> Vec<&str> {
        config
            .secrets_keys()
            .iter()
            .map(|k| k.name.as_str())
            .collect()
    }

    #[test]
    fn stages_follow_the_documented_order() {
        let mut config = EncryptionConfig::with_key(EncryptionKey::from_bytes("key1", &[1; 32]));
        assert_eq!(
            config.promote().unwrap_err().to_string(),
            "keys: nothing to promote: \"key1\" is already the newest key and first; rotate first"
        );
        assert!(config.prune().unwrap().is_empty());
        let stage0 = config.clone();
        assert_eq!(config.rotate().unwrap(), "key2");
        assert_eq!(names(&config), ["key1", "key2"]);
        assert_eq!(config.rotation_stage().next_step(), Some("promote"));
        let err = config.rotate().unwrap_err().to_string();
        assert!(err.contains("rotation is under way"), "{err}");
        let err = config.prune().unwrap_err().to_string();
        assert!(err.contains("promote it"), "{err}");
        let stage1 = config.clone();
        assert_eq!(config.promote().unwrap(), "key2");
        assert_eq!(names(&config), ["key2", "key1"]);
        assert_eq!(config.rotation_stage().next_step(), Some("prune"));
        let stage2 = config.clone();
        assert_eq!(config.prune().unwrap(), ["key1"]);
        assert_eq!(names(&config), ["key2"]);
        let stage3 = config.clone();
        // Neighbouring stages read each other's writes: a rollout server by server is safe.
        for (a, b) in [(&stage0, &stage1), (&stage1, &stage2), (&stage2, &stage3)] {
            assert!(a.reads_writes_of(b) && b.reads_writes_of(a));
        }
        // Skipping stage 1 (the old one-step rotation) is what breaks a rollout.
        assert!(!stage0.reads_writes_of(&stage2));
        // the identity provider stays last throughout
        let text = render_encryption_config(&stage3).unwrap();
        assert!(text.ends_with("  - identity: {}\n"), "{text}");
    }
}
