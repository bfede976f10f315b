//! A systemd service unit as data, and its one renderer.
//!
//! Flags are `(name, value)` pairs, so a test or a harness takes the argument list
//! ([`ExecStart::args`]) exactly as systemd would pass it, without parsing unit text.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One command-line flag: `--name=value`, or `--name` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// The name without its dashes (`data-dir`).
    pub name: String,
    /// The value; `None` for a flag given alone (`--client-cert-auth`).
    pub value: Option<String>,
}

impl Flag {
    /// `--name=value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Flag {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// `--name`, a boolean flag switched on.
    pub fn switch(name: impl Into<String>) -> Self {
        Flag {
            name: name.into(),
            value: None,
        }
    }

    /// The argument as the program receives it: `--name=value` or `--name`.
    pub fn arg(&self) -> String {
        match &self.value {
            Some(v) => format!("--{}={v}", self.name),
            None => format!("--{}", self.name),
        }
    }
}

/// What systemd runs: a binary and its flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecStart {
    /// The binary's absolute path (`/usr/local/bin/etcd`).
    pub binary: PathBuf,
    /// Its flags, in order.
    pub flags: Vec<Flag>,
}

impl ExecStart {
    /// The arguments after the binary, as the program receives them.
    pub fn args(&self) -> Vec<String> {
        self.flags.iter().map(Flag::arg).collect()
    }

    /// The value of the flag `name`, if it is given with one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.value.as_deref())
    }
}

/// systemd's `Type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceType {
    /// `Type=simple` (systemd's default, written out only when asked for).
    Simple,
    /// `Type=notify`: the service says when it is ready (etcd does, once it joined its
    /// cluster), so units ordered after it wait for that.
    Notify,
}

impl ServiceType {
    fn as_str(self) -> &'static str {
        match self {
            ServiceType::Simple => "simple",
            ServiceType::Notify => "notify",
        }
    }
}

/// systemd's `Restart=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// `Restart=no`.
    No,
    /// `Restart=on-failure`: after a non-zero exit, a signal or a timeout.
    OnFailure,
    /// `Restart=always`.
    Always,
}

impl Restart {
    fn as_str(self) -> &'static str {
        match self {
            Restart::No => "no",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        }
    }
}

/// A systemd service unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// The unit's file name (`etcd.service`).
    pub name: String,
    /// `Description=`.
    pub description: String,
    /// `Documentation=`: a URL.
    pub documentation: String,
    /// `Type=`; `None` leaves systemd's default (`simple`).
    pub service_type: Option<ServiceType>,
    /// `ExecStart=`.
    pub exec_start: ExecStart,
    /// `Restart=`.
    pub restart: Restart,
    /// `RestartSec=`, in seconds.
    pub restart_sec: u32,
    /// `WantedBy=` of `[Install]`: the target that starts it at boot.
    pub wanted_by: String,
}

/// The unit file's text, as systemd reads it: one flag per line, each line but the last
/// ending in ` \`.
pub fn render_unit(unit: &Unit) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(out, "[Unit]");
    let _ = writeln!(out, "Description={}", unit.description);
    let _ = writeln!(out, "Documentation={}", unit.documentation);
    let _ = writeln!(out);
    let _ = writeln!(out, "[Service]");
    if let Some(t) = unit.service_type {
        let _ = writeln!(out, "Type={}", t.as_str());
    }
    let binary = unit.exec_start.binary.to_string_lossy();
    let _ = write!(out, "ExecStart={}", quote(&binary));
    for arg in unit.exec_start.args() {
        let _ = write!(out, " \\\n  {}", quote(&arg));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Restart={}", unit.restart.as_str());
    let _ = writeln!(out, "RestartSec={}", unit.restart_sec);
    let _ = writeln!(out);
    let _ = writeln!(out, "[Install]");
    let _ = writeln!(out, "WantedBy={}", unit.wanted_by);
    out
}

/// One word of a systemd command line: `%` and `$` doubled (systemd would expand them as
/// specifiers and variables), and double quotes around anything systemd would split or
/// unquote.
fn quote(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    let plain = !escaped.is_empty()
        && !escaped
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return escaped;
    }
    let mut quoted = String::from("\"");
    for c in escaped.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(flags: Vec<Flag>) -> Unit {
        Unit {
            name: "demo.service".into(),
            description: "demo".into(),
            documentation: "https://example.com/demo".into(),
            service_type: Some(ServiceType::Notify),
            exec_start: ExecStart {
                binary: "/usr/local/bin/demo".into(),
                flags,
            },
            restart: Restart::OnFailure,
            restart_sec: 5,
            wanted_by: "multi-user.target".into(),
        }
    }

    #[test]
    fn a_unit_renders_one_flag_per_line() {
        let u = unit(vec![
            Flag::new("name", "a"),
            Flag::switch("client-cert-auth"),
        ]);
        assert_eq!(
            render_unit(&u),
            "[Unit]\n\
             Description=demo\n\
             Documentation=https://example.com/demo\n\
             \n\
             [Service]\n\
             Type=notify\n\
             ExecStart=/usr/local/bin/demo \\\n  --name=a \\\n  --client-cert-auth\n\
             Restart=on-failure\n\
             RestartSec=5\n\
             \n\
             [Install]\n\
             WantedBy=multi-user.target\n"
        );
    }

    #[test]
    fn no_flags_and_no_type() {
        let mut u = unit(vec![]);
        u.service_type = None;
        let text = render_unit(&u);
        assert!(text.contains("\nExecStart=/usr/local/bin/demo\nRestart=on-failure\n"));
        assert!(!text.contains("Type="));
    }

    #[test]
    fn args_are_what_the_program_receives() {
        let u = unit(vec![
            Flag::new("v", "2"),
            Flag::switch("peer-client-cert-auth"),
        ]);
        assert_eq!(u.exec_start.args(), ["--v=2", "--peer-client-cert-auth"]);
        assert_eq!(u.exec_start.value("v"), Some("2"));
        assert_eq!(u.exec_start.value("peer-client-cert-auth"), None);
    }

    #[test]
    fn specifiers_variables_and_spaces_are_escaped() {
        assert_eq!(quote("--a=50%"), "--a=50%%");
        assert_eq!(quote("--a=$HOME"), "--a=$$HOME");
        assert_eq!(quote("--a=b c"), "\"--a=b c\"");
        assert_eq!(quote("--a=say \"hi\""), "\"--a=say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("--a=x;y"), "\"--a=x;y\"");
    }
}
