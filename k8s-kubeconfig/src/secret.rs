//! A string that must not leak through logs.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Secret text (a base64 private key, a token, a password, an encryption key).
///
/// `Debug` prints `<redacted>`; the memory is wiped on drop. It serializes as the plain string,
/// since the file is where it belongs. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret text itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_text_and_serde_is_transparent() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
        let yaml = serde_yaml::to_string(&s).unwrap();
        assert_eq!(yaml.trim(), "hunter2");
        let back: Secret = serde_yaml::from_str("hunter2").unwrap();
        assert_eq!(back, s);
    }
}
