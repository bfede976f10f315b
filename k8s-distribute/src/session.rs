//! One SSH session to one node: connect (with host key check), authenticate, run commands,
//! feed an SCP sink.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};

use crate::error::Error;
use crate::host_keys::{Rejection, Verifier};
use crate::manifest::Node;
use crate::text::remote_text;

/// What every session of a client shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<client::Config>,
    pub(crate) key: Arc<PrivateKey>,
    pub(crate) key_path: PathBuf,
    pub(crate) verifier: Verifier,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
}

/// The russh handler: checks the host key, nothing else.
pub(crate) struct Checker {
    shared: Arc<Shared>,
    node: String,
    host: String,
    port: u16,
}

#[derive(Debug)]
pub(crate) enum HandshakeError {
    Ssh(russh::Error),
    Rejected(Rejection),
}

impl From<russh::Error> for HandshakeError {
    fn from(e: russh::Error) -> Self {
        HandshakeError::Ssh(e)
    }
}

impl client::Handler for Checker {
    type Error = HandshakeError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // A certificate's own key is what known_hosts would list without @cert-authority.
            PublicKeyOrCertificate::Certificate(cert) => {
                russh::keys::PublicKey::from(cert.public_key().clone())
            }
        };
        self.shared
            .verifier
            .check(&self.node, &self.host, self.port, &key)
            .map(|()| true)
            .map_err(HandshakeError::Rejected)
    }
}

/// Why one connection attempt failed; decides whether to retry.
pub(crate) enum ConnectFailure {
    /// Worth another try: refused, reset, timed out, dropped during the handshake.
    Transient(String),
    /// Host key or authentication problem, or a local file problem: retrying cannot help.
    Final(Error),
}

impl ConnectFailure {
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, ConnectFailure::Transient(_))
    }
}

/// An authenticated session.
pub(crate) struct Session {
    handle: Handle<Checker>,
    pub(crate) node: String,
    pub(crate) address: String,
    command_timeout: Duration,
}

/// The most of a command's stdout, and of its stderr, that is kept: a node cannot make this
/// process hold more by answering without end (what follows is read and dropped).
pub const MAX_OUTPUT: usize = 1 << 20;

/// The most of an SCP sink's answer line (or its stderr) that is read: its messages are one
/// short line.
const MAX_SCP_ANSWER: usize = 64 << 10;

/// The most of a node's stderr quoted in an error message.
const MAX_QUOTED: usize = 4 << 10;

/// Output of one remote command.
pub(crate) struct Output {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) exit_status: Option<u32>,
    /// Whether stdout or stderr passed [`MAX_OUTPUT`] and was cut there.
    pub(crate) cut: bool,
}

/// Appends `data` to `buffer` up to `limit` bytes; returns whether some of it was dropped.
fn append_bounded(buffer: &mut Vec<u8>, data: &[u8], limit: usize) -> bool {
    let room = limit.saturating_sub(buffer.len());
    buffer.extend_from_slice(&data[..data.len().min(room)]);
    data.len() > room
}

/// A node's stderr as quoted in an error: its first [`MAX_QUOTED`] bytes, [`remote_text`],
/// and a note when there was more.
fn quoted(stderr: &[u8], cut: bool) -> String {
    let shown = remote_text(&stderr[..stderr.len().min(MAX_QUOTED)]);
    if cut || stderr.len() > MAX_QUOTED {
        format!("{shown} … (cut: longer than {} KiB)", MAX_QUOTED >> 10)
    } else {
        shown
    }
}

/// One attempt: TCP connect, key exchange with host key check, public key authentication,
/// all within the connect timeout.
pub(crate) async fn connect(shared: &Arc<Shared>, node: &Node) -> Result<Session, ConnectFailure> {
    let address = node.host_port();
    let attempt = async {
        let checker = Checker {
            shared: Arc::clone(shared),
            node: node.name.clone(),
            host: node.address.clone(),
            port: node.port,
        };
        let mut handle = match client::connect(
            Arc::clone(&shared.config),
            (node.address.as_str(), node.port),
            checker,
        )
        .await
        {
            Ok(h) => h,
            Err(HandshakeError::Rejected(r)) => {
                return Err(ConnectFailure::Final(rejection_error(node, &address, r)));
            }
            Err(HandshakeError::Ssh(e)) => return Err(classify(node, &address, e)),
        };
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| classify(node, &address, e))?
            .flatten();
        let auth = handle
            .authenticate_publickey(
                node.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::clone(&shared.key), hash),
            )
            .await
            .map_err(|e| classify(node, &address, e))?;
        if !auth.success() {
            return Err(ConnectFailure::Final(Error::Auth {
                node: node.name.clone(),
                address: address.clone(),
                user: node.user.clone(),
                key_path: shared.key_path.clone(),
            }));
        }
        Ok(handle)
    };
    match tokio::time::timeout(shared.connect_timeout, attempt).await {
        Ok(Ok(handle)) => Ok(Session {
            handle,
            node: node.name.clone(),
            address,
            command_timeout: shared.command_timeout,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ConnectFailure::Transient(format!(
            "no answer within {:?}",
            shared.connect_timeout
        ))),
    }
}

fn rejection_error(node: &Node, address: &str, r: Rejection) -> Error {
    match r {
        Rejection::Unknown {
            fingerprint,
            source_name,
        } => Error::UnknownHostKey {
            node: node.name.clone(),
            address: address.to_string(),
            fingerprint,
            source_name,
        },
        Rejection::Changed {
            expected,
            found,
            source_name,
        } => Error::HostKeyChanged {
            node: node.name.clone(),
            address: address.to_string(),
            expected,
            found,
            source_name,
        },
        Rejection::Revoked {
            fingerprint,
            path,
            line,
        } => Error::HostKeyRevoked {
            node: node.name.clone(),
            address: address.to_string(),
            fingerprint,
            path,
            line,
        },
        Rejection::File { path, reason } => Error::KnownHosts { path, reason },
    }
}

/// Network trouble is transient; protocol disagreements are not.
fn classify(node: &Node, address: &str, e: russh::Error) -> ConnectFailure {
    use russh::Error as E;
    match e {
        E::IO(_)
        | E::Disconnect
        | E::HUP
        | E::ConnectionTimeout
        | E::KeepaliveTimeout
        | E::InactivityTimeout
        | E::SendError
        | E::RecvError => ConnectFailure::Transient(e.to_string()),
        other => ConnectFailure::Final(Error::Ssh {
            node: node.name.clone(),
            address: address.to_string(),
            source: Box::new(other),
        }),
    }
}

impl Session {
    fn ssh_err(&self, source: russh::Error) -> Error {
        Error::Ssh {
            node: self.node.clone(),
            address: self.address.clone(),
            source: Box::new(source),
        }
    }

    pub(crate) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    pub(crate) fn timeout_err(&self, action: &str) -> Error {
        Error::Timeout {
            node: self.node.clone(),
            address: self.address.clone(),
            action: action.to_string(),
            after: self.command_timeout,
        }
    }

    pub(crate) fn remote_err(&self, action: &str, reason: impl Into<String>) -> Error {
        Error::Remote {
            node: self.node.clone(),
            address: self.address.clone(),
            action: action.to_string(),
            reason: reason.into(),
        }
    }

    /// Runs `command` through the login shell, with the command timeout; `action` names the
    /// step in errors.
    pub(crate) async fn exec(&self, action: &str, command: &str) -> Result<Output, Error> {
        let work = async {
            let mut channel = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| self.ssh_err(e))?;
            channel
                .exec(true, command)
                .await
                .map_err(|e| self.ssh_err(e))?;
            let mut out = Output {
                stdout: Vec::new(),
                stderr: Vec::new(),
                exit_status: None,
                cut: false,
            };
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        out.cut |= append_bounded(&mut out.stdout, &data, MAX_OUTPUT);
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        out.cut |= append_bounded(&mut out.stderr, &data, MAX_OUTPUT);
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                    ChannelMsg::Failure => {
                        return Err(self.remote_err(action, "the server refused to run it"));
                    }
                    _ => {}
                }
            }
            Ok(out)
        };
        tokio::time::timeout(self.command_timeout, work)
            .await
            .map_err(|_| self.timeout_err(action))?
    }

    /// Runs `command` and insists on exit status 0 and an output that was not cut (what is
    /// parsed must be whole).
    pub(crate) async fn exec_ok(&self, action: &str, command: &str) -> Result<String, Error> {
        let out = self.exec(action, command).await?;
        if out.exit_status != Some(0) {
            return Err(self.remote_err(
                action,
                format!(
                    "exit status {}: {}",
                    out.exit_status
                        .map_or_else(|| "none".to_string(), |s| s.to_string()),
                    quoted(&out.stderr, out.cut)
                ),
            ));
        }
        if out.cut {
            return Err(self.remote_err(
                action,
                format!("its output passed {} MiB and was cut", MAX_OUTPUT >> 20),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Opens an SCP sink (`scp -t`) into `dir` and waits for its first acknowledgement.
    pub(crate) async fn scp_sink(&self, dir: &str) -> Result<ScpSink<'_>, Error> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.ssh_err(e))?;
        channel
            .exec(
                true,
                format!("scp -t -- {}", crate::transfer::sh_quote(dir)),
            )
            .await
            .map_err(|e| self.ssh_err(e))?;
        let mut sink = ScpSink {
            session: self,
            channel,
            buffered: Vec::new(),
            stderr: Vec::new(),
        };
        match sink.ack().await? {
            Ack::Ok => Ok(sink),
            Ack::Warning(m) | Ack::Fatal(m) => Err(self.remote_err("upload", m)),
        }
    }

    pub(crate) async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// What the SCP sink answered.
pub(crate) enum Ack {
    Ok,
    /// The sink refused this file but goes on (`\x01` message).
    Warning(String),
    /// The sink gave up (`\x02` message, or the channel closed).
    Fatal(String),
}

/// The sending side of the SCP protocol (`scp -t` on the node is the receiving side).
pub(crate) struct ScpSink<'a> {
    session: &'a Session,
    channel: russh::Channel<client::Msg>,
    buffered: Vec<u8>,
    stderr: Vec<u8>,
}

impl ScpSink<'_> {
    /// Sends one file: `C<mode> <size> <name>\n`, then the bytes and a zero byte.
    pub(crate) async fn send(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<Ack, Error> {
        let header = format!("C{:04o} {} {}\n", mode, data.len(), name);
        self.write(header.as_bytes()).await?;
        match self.ack().await? {
            Ack::Ok => {}
            other => return Ok(other),
        }
        self.write(data).await?;
        self.write(&[0]).await?;
        self.ack().await
    }

    async fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        self.channel
            .data(bytes)
            .await
            .map_err(|e| self.session.ssh_err(e))
    }

    async fn ack(&mut self) -> Result<Ack, Error> {
        loop {
            if let Some(&first) = self.buffered.first() {
                match first {
                    0 => {
                        self.buffered.remove(0);
                        return Ok(Ack::Ok);
                    }
                    1 | 2
                        if self.buffered.len() > MAX_SCP_ANSWER
                            && !self.buffered[..MAX_SCP_ANSWER].contains(&b'\n') =>
                    {
                        return Ok(Ack::Fatal(format!(
                            "an answer longer than {} KiB without a newline",
                            MAX_SCP_ANSWER >> 10
                        )));
                    }
                    1 | 2 => {
                        if let Some(end) = self.buffered.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = self.buffered.drain(..=end).collect();
                            let msg = remote_text(&line[1..]);
                            return Ok(if first == 1 {
                                Ack::Warning(msg)
                            } else {
                                Ack::Fatal(msg)
                            });
                        }
                    }
                    _ => {
                        let junk = remote_text(&self.buffered[..self.buffered.len().min(256)]);
                        return Ok(Ack::Fatal(format!("unexpected answer: {junk:?}")));
                    }
                }
            }
            match self.channel.wait().await {
                Some(ChannelMsg::Data { data }) => self.buffered.extend_from_slice(&data),
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    append_bounded(&mut self.stderr, &data, MAX_SCP_ANSWER);
                }
                Some(ChannelMsg::Failure) => {
                    return Ok(Ack::Fatal("the server refused to run scp".into()));
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                    let err = remote_text(&self.stderr);
                    return Ok(Ack::Fatal(if err.is_empty() {
                        "scp ended early".to_string()
                    } else {
                        err
                    }));
                }
                Some(_) => {}
            }
        }
    }

    /// Ends the transfer: EOF to the sink, then waits for the channel to close.
    pub(crate) async fn finish(self) -> Result<(), Error> {
        let _ = self.channel.eof().await;
        let mut channel = self.channel;
        while channel.wait().await.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_stop_at_their_limit_and_say_so() {
        let mut buffer = Vec::new();
        assert!(!append_bounded(&mut buffer, b"abc", 5));
        assert!(append_bounded(&mut buffer, b"defg", 5));
        assert!(append_bounded(&mut buffer, b"h", 5));
        assert_eq!(buffer, b"abcde");
        assert_eq!(quoted(b"short\n", false), "short");
        let long = vec![b'x'; MAX_QUOTED + 1];
        assert_eq!(
            quoted(&long, false),
            format!("{} … (cut: longer than 4 KiB)", "x".repeat(MAX_QUOTED))
        );
        assert_eq!(quoted(b"e", true), "e … (cut: longer than 4 KiB)");
    }
}
