//! AWS's documented timing, emulated by an HTTP proxy in front of `moto_server`, on loopback.
//!
//! moto answers at once and is always consistent; real AWS is neither. [`AwsTiming`] sits
//! between the AWS SDK and moto and, for a configurable window after each event ([`Timing`]),
//! answers the way AWS does:
//!
//! - **eventual consistency** ([`Timing::not_found`]): a new VPC, subnet, internet gateway, route
//!   table, security group, DHCP option set, instance, load balancer or target group is unknown
//!   to later requests of the same service that name it (not to describe-by-filter);
//! - **instances pending** ([`Timing::pending`]): a new instance is `pending` (code 0), without
//!   public IP, public DNS name or public association;
//! - **load balancers provisioning** ([`Timing::provisioning`]);
//! - **instances shutting down** ([`Timing::shutting_down`]) after `TerminateInstances`;
//! - **load balancer interfaces linger** ([`Timing::linger`]) after `DeleteLoadBalancer`: deleting
//!   a security group, subnet, target group or the VPC of that load balancer, or detaching its
//!   internet gateway, fails with `DependencyViolation` / `ResourceInUse`;
//! - **console output** ([`AwsTiming::set_console_output`]): text a test registers for a private
//!   IP is put first in that instance's `GetConsoleOutput`, from [`Timing::console`] after it
//!   stops pending on (cloud-init prints the host keys late in the boot);
//! - **the key pair reaching the machine** ([`AwsTiming::add_machine`]): [`Timing::key_install`]
//!   after an instance launched with a `KeyName` stops pending, the key pair's public key (what `ImportKeyPair`
//!   imported, or the public half of what `CreateKeyPair` answered) is appended to the
//!   `authorized_keys` of the test host standing for that private IP, as cloud-init installs
//!   it on a new instance; until then that host refuses the key.
//!
//! [`Stalled`] is an endpoint that never answers, for operation timeouts.
//!
//! Point the SDK at [`AwsTiming::url`] as its `endpoint_url` (region
//! [`REGION`](crate::moto::REGION), the dummy credentials of [`crate::moto`]); the proxy keeps
//! the SDK's connections alive and opens one connection to moto per request.
//!
//! # Example
//!
//! ```no_run
//! use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
//! use k8s_hard_tests::moto::Moto;
//!
//! let proxy = AwsTiming::start(Moto::shared().url(), Timing::short());
//! proxy.set_console_output("10.240.0.10", "ssh-ed25519 AAAA... root@controller-0");
//! proxy.add_machine("10.240.0.11", std::path::Path::new("/tmp/host-11/.ssh/authorized_keys"));
//! let endpoint = proxy.url(); // give this to the SDK, as below
//! // ... run the code under test; wait Timing::short().slowest() to see moto's own answers ...
//! assert!(proxy.counts().not_found > 0, "the emulation never bit");
//! # drop(endpoint);
//! ```
//!
//! With the AWS SDK for Rust (in a crate that depends on it; the harness does not, so this is
//! not compiled here: `k8s-aws-infra/tests` does exactly this):
//!
//! ```text
//! // Built, not loaded: nothing is read from ~/.aws or AWS_* variables.
//! let sdk = SdkConfig::builder()
//!     .behavior_version(BehaviorVersion::latest())
//!     .region(Region::new(REGION))
//!     .endpoint_url(proxy.url())
//!     .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
//!         ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "tests",
//!     )))
//!     // against `Stalled`: an operation timeout, or the call waits forever
//!     .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(2)).build())
//!     .build();
//! let ec2 = aws_sdk_ec2::Client::new(&sdk);
//! let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
//! ```
//!
//! What it does not do: HTTPS, any service but EC2 and ELBv2 (others pass through untouched),
//! pagination-aware rewriting, throttling, or timing on AWS's real scale (windows are what the
//! test gives). It logs nothing unless `K8S_HARD_AWS_TIMING_LOG=1` (then to stderr).
//!
//! A harness failure (moto unreachable, a successful create whose answer lacks the new ID, a
//! console output that is not base64) is answered as a service error with code
//! `AwsTimingHarnessFailure`, recorded ([`AwsTiming::failures`]), and makes dropping the proxy
//! panic: a test never passes with the emulation silently off.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Set to `1` to log each request and each emulated behaviour to stderr.
pub const LOG_ENV: &str = "K8S_HARD_AWS_TIMING_LOG";

/// The error code of an answer the proxy gives when it cannot do its job (see the module docs).
pub const HARNESS_FAILURE: &str = "AwsTimingHarnessFailure";

const EC2_VERSION: &str = "2016-11-15";
const ELB_VERSION: &str = "2015-12-01";
/// How long an idle client connection waits between checks of the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Bound on one request or response being read, once started.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a request or response head (request line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// How long each emulated behaviour lasts; [`Duration::ZERO`] turns a behaviour off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// After a create succeeds: the new ID is unknown (`InvalidVpcID.NotFound`,
    /// `LoadBalancerNotFound`, ...) to later requests of the same service naming it.
    pub not_found: Duration,
    /// After `RunInstances`: the instance is `pending`, without public IP or DNS name.
    pub pending: Duration,
    /// After `CreateLoadBalancer`: the load balancer is `provisioning`.
    pub provisioning: Duration,
    /// After `TerminateInstances`: the instance is `shutting-down` instead of `terminated`.
    pub shutting_down: Duration,
    /// After `DeleteLoadBalancer`: its VPC's security groups, subnets, target groups, internet
    /// gateway attachment and the VPC itself cannot be deleted yet.
    pub linger: Duration,
    /// After an instance stops pending (it boots): its registered console text is not in its
    /// `GetConsoleOutput` yet.
    pub console: Duration,
    /// After an instance launched with a `KeyName` stops pending: the key pair's public key is
    /// not yet in the `authorized_keys` of a machine registered with [`AwsTiming::add_machine`].
    pub key_install: Duration,
}

impl Timing {
    /// Short windows for tests: 1 s not found, 2 s pending, 2 s provisioning, 1.5 s shutting
    /// down, 1.5 s linger; once running, host keys in the console after 1.5 s and the key pair
    /// installed after 3 s. On a real machine the last two come in either order (sshd may
    /// answer before cloud-init wrote `authorized_keys`); here the key comes last, so that a
    /// client that waits for the console keys still meets a machine refusing its key at first.
    pub fn short() -> Timing {
        Timing {
            not_found: Duration::from_millis(1000),
            pending: Duration::from_millis(2000),
            provisioning: Duration::from_millis(2000),
            shutting_down: Duration::from_millis(1500),
            linger: Duration::from_millis(1500),
            console: Duration::from_millis(1500),
            key_install: Duration::from_millis(3000),
        }
    }

    /// Every behaviour off: the proxy passes everything through (console output still applies).
    pub fn none() -> Timing {
        Timing::default()
    }

    /// AWS's windows scaled down for the benches, so that a run takes seconds: the slowest
    /// thing `up` waits for is an instance pending (3 s) and `down` a lingering load balancer
    /// interface (3 s); a new machine's console shows its keys 1 s after boot, its key pair
    /// arrives after 1.5 s.
    pub fn bench() -> Timing {
        Timing {
            not_found: Duration::from_millis(1000),
            pending: Duration::from_millis(3000),
            provisioning: Duration::from_millis(2500),
            shutting_down: Duration::from_millis(2000),
            linger: Duration::from_millis(3000),
            console: Duration::from_millis(1000),
            key_install: Duration::from_millis(1500),
        }
    }

    /// The longest window: waiting this long after the last event sees moto's own answers.
    pub fn slowest(&self) -> Duration {
        [
            self.not_found,
            self.pending,
            self.provisioning,
            self.shutting_down,
            self.linger,
            self.pending + self.console,
            self.pending + self.key_install,
        ]
        .into_iter()
        .max()
        .unwrap_or(Duration::ZERO)
    }
}

/// How many requests each emulated behaviour changed (for tests to check the emulation bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Requests the proxy received (answered locally or forwarded).
    pub requests: u64,
    /// Requests answered with a not-found error without reaching moto.
    pub not_found: u64,
    /// Responses where an instance was turned `pending`.
    pub pending: u64,
    /// Responses where a load balancer was turned `provisioning`.
    pub provisioning: u64,
    /// Responses where an instance was turned `shutting-down`.
    pub shutting_down: u64,
    /// Requests answered `DependencyViolation` / `ResourceInUse` without reaching moto.
    pub linger: u64,
    /// `GetConsoleOutput` responses that got registered text.
    pub console_output: u64,
    /// `GetConsoleOutput` responses of an instance with registered text, answered without it
    /// because its [`Timing::console`] window was still open.
    pub console_not_yet: u64,
    /// Public keys installed in a machine's `authorized_keys` after `RunInstances`.
    pub key_installed: u64,
}

/// The running proxy; stops accepting connections on drop.
#[derive(Debug)]
pub struct AwsTiming {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    installer: Option<JoinHandle<()>>,
}

impl AwsTiming {
    /// Starts the proxy on a free port of 127.0.0.1, in front of moto at `upstream_url`
    /// (`http://127.0.0.1:PORT`). Panics when `upstream_url` is not on loopback or no port is
    /// free.
    pub fn start(upstream_url: &str, timing: Timing) -> AwsTiming {
        let upstream = crate::loopback_addr("aws_timing: upstream", upstream_url);
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("aws_timing: no free loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("aws_timing: no local address: {e}"));
        let shared = Arc::new(Shared {
            upstream,
            timing,
            log: std::env::var(LOG_ENV).is_ok_and(|v| v == "1"),
            stop: AtomicBool::new(false),
            next_request_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                accept_loop(&listener, &shared.stop, |stream| {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || serve(&shared, stream));
                })
            })
        };
        let installer = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || install_loop(&shared))
        };
        AwsTiming {
            addr,
            shared,
            accept: Some(accept),
            installer: Some(installer),
        }
    }

    /// The endpoint URL to give the AWS SDK: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The windows this proxy emulates.
    pub fn timing(&self) -> Timing {
        self.shared.timing
    }

    /// Registers `text` for the instance with private IP `private_ip`: from
    /// [`Timing::console`] after it stops pending (at once for one the proxy did not see
    /// launched), its `GetConsoleOutput` becomes `text`, a newline, then moto's output (as a
    /// host's SSH keys precede the boot log). Replaces what was registered before.
    pub fn set_console_output(&self, private_ip: &str, text: &str) {
        self.shared
            .state()
            .console
            .insert(private_ip.to_string(), text.to_string());
    }

    /// Registers the test host that stands for the machine EC2 launches at `private_ip`: the
    /// key pair named by a `RunInstances` there reaches `authorized_keys` (appended, once)
    /// [`Timing::key_install`] after the instance stops pending. A launch with a key pair the proxy never saw made is a
    /// harness failure.
    pub fn add_machine(&self, private_ip: &str, authorized_keys: &Path) {
        self.shared
            .state()
            .machines
            .insert(private_ip.to_string(), authorized_keys.to_path_buf());
    }

    /// Makes each test host of `hosts` the machine EC2 launches at `private_ip(i)`, as a new
    /// instance is: the key pair reaches its `authorized_keys` ([`AwsTiming::add_machine`]),
    /// and its console shows what cloud-init's script prints over its host keys, after an
    /// earlier boot's block of other keys, with kernel lines around and inside the key block
    /// and CRLF line ends ([`crate::cloud_init::boot_console`]).
    pub fn launch_as(&self, hosts: &crate::sshd::SshdHosts, private_ip: impl Fn(usize) -> String) {
        let earlier = hosts.earlier_boot_console();
        for (i, host) in hosts.hosts().iter().enumerate() {
            let ip = private_ip(i);
            self.add_machine(&ip, &host.authorized_keys());
            self.set_console_output(
                &ip,
                &crate::cloud_init::boot_console(Some(&earlier), &host.console()),
            );
        }
    }

    /// How many requests each behaviour changed so far.
    pub fn counts(&self) -> Counts {
        self.shared.state().counts
    }

    /// The harness failures so far (each also answered to the client as
    /// `AwsTimingHarnessFailure`); dropping the proxy panics when there are any.
    pub fn failures(&self) -> Vec<String> {
        self.shared.state().failures.clone()
    }
}

impl Drop for AwsTiming {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in [self.accept.take(), self.installer.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
        let failures = self.failures();
        if !failures.is_empty() && !std::thread::panicking() {
            panic!(
                "aws_timing proxy {} failed {} time(s):\n{}",
                self.url(),
                failures.len(),
                failures.join("\n")
            );
        }
    }
}

/// A loopback endpoint that accepts connections and reads requests but never answers; holds
/// its sockets open until dropped.
#[derive(Debug)]
pub struct Stalled {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl Stalled {
    /// Starts the endpoint on a free port of 127.0.0.1 (panics when none is free).
    pub fn start() -> Stalled {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("aws_timing: no free loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("aws_timing: no local address: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, held) = (Arc::clone(&stop), Arc::clone(&held));
            std::thread::spawn(move || {
                accept_loop(&listener, &stop, |mut stream| {
                    if let Ok(clone) = stream.try_clone() {
                        lock(&held).push(clone);
                    }
                    // Read (and drop) whatever comes, so the client's writes never block.
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 8192];
                        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    });
                })
            })
        };
        Stalled {
            addr,
            stop,
            held,
            accept: Some(accept),
        }
    }

    /// The endpoint URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections it has accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.held).len()
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for s in lock(&self.held).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accepts until `stop`, polling so that dropping the owner never hangs on `accept`.
fn accept_loop(listener: &TcpListener, stop: &AtomicBool, mut on_conn: impl FnMut(TcpStream)) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(false).is_ok() {
                    let _ = stream.set_nodelay(true);
                    on_conn(stream);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State and behaviours

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Service {
    Ec2,
    Elb,
    Other,
}

/// A created ID not yet visible.
#[derive(Debug)]
struct Fresh {
    code: &'static str,
    until: Instant,
}

#[derive(Debug, Default)]
struct State {
    fresh: HashMap<(Service, String), Fresh>,
    /// Instance ID → end of its pending window.
    launched: HashMap<String, Instant>,
    /// Instance ID → end of its shutting-down window.
    terminating: HashMap<String, Instant>,
    /// Load balancer ARN → end of its provisioning window.
    provisioning: HashMap<String, Instant>,
    /// VPC ID → (deleted load balancer ARN, end of the linger window).
    lingering: HashMap<String, (String, Instant)>,
    lb_vpc: HashMap<String, String>,
    tg_vpc: HashMap<String, String>,
    subnet_vpc: HashMap<String, String>,
    sg_vpc: HashMap<String, String>,
    instance_ip: HashMap<String, String>,
    /// Private IP → text to put first in the console output.
    console: HashMap<String, String>,
    /// Private IP → when the proxy last saw an instance launched there.
    launched_at: HashMap<String, Instant>,
    /// Private IP → the `authorized_keys` of the test host standing for that machine.
    machines: HashMap<String, PathBuf>,
    /// Key pair name → its public key line, from `ImportKeyPair` or `CreateKeyPair`.
    key_pairs: HashMap<String, String>,
    /// Keys due in an `authorized_keys`: when, where, what.
    installs: Vec<(Instant, PathBuf, String)>,
    counts: Counts,
    failures: Vec<String>,
}

impl State {
    fn expire(&mut self, now: Instant) {
        self.fresh.retain(|_, f| f.until > now);
        self.launched.retain(|_, t| *t > now);
        self.terminating.retain(|_, t| *t > now);
        self.provisioning.retain(|_, t| *t > now);
        self.lingering.retain(|_, (_, t)| *t > now);
    }
}

/// A create whose new ID AWS does not know at once.
struct Create {
    service: Service,
    action: &'static str,
    /// Element names from the ID's parents down to the ID element.
    path: &'static [&'static str],
    code: &'static str,
}

const CREATES: &[Create] = &[
    Create {
        service: Service::Ec2,
        action: "CreateVpc",
        path: &["vpc", "vpcId"],
        code: "InvalidVpcID.NotFound",
    },
    Create {
        service: Service::Ec2,
        action: "CreateSubnet",
        path: &["subnet", "subnetId"],
        code: "InvalidSubnetID.NotFound",
    },
    Create {
        service: Service::Ec2,
        action: "CreateInternetGateway",
        path: &["internetGateway", "internetGatewayId"],
        code: "InvalidInternetGatewayID.NotFound",
    },
    Create {
        service: Service::Ec2,
        action: "CreateRouteTable",
        path: &["routeTable", "routeTableId"],
        code: "InvalidRouteTableID.NotFound",
    },
    Create {
        service: Service::Ec2,
        action: "CreateSecurityGroup",
        path: &["CreateSecurityGroupResponse", "groupId"],
        code: "InvalidGroup.NotFound",
    },
    Create {
        service: Service::Ec2,
        action: "CreateDhcpOptions",
        path: &["dhcpOptions", "dhcpOptionsId"],
        code: "InvalidDhcpOptionID.NotFound",
    },
    Create {
        service: Service::Ec2,
        action: "RunInstances",
        path: &["instancesSet", "item", "instanceId"],
        code: "InvalidInstanceID.NotFound",
    },
    Create {
        service: Service::Elb,
        action: "CreateLoadBalancer",
        path: &["LoadBalancers", "member", "LoadBalancerArn"],
        code: "LoadBalancerNotFound",
    },
    Create {
        service: Service::Elb,
        action: "CreateTargetGroup",
        path: &["TargetGroups", "member", "TargetGroupArn"],
        code: "TargetGroupNotFound",
    },
];

/// AWS's message for a not-found `code` about `id`.
fn not_found_message(code: &str, id: &str) -> String {
    match code {
        "InvalidVpcID.NotFound" => format!("The vpc ID '{id}' does not exist"),
        "InvalidSubnetID.NotFound" => format!("The subnet ID '{id}' does not exist"),
        "InvalidInternetGatewayID.NotFound" => {
            format!("The internetGateway ID '{id}' does not exist")
        }
        "InvalidRouteTableID.NotFound" => format!("The routeTable ID '{id}' does not exist"),
        "InvalidGroup.NotFound" => format!("The security group '{id}' does not exist"),
        "InvalidDhcpOptionID.NotFound" => format!("The dhcpOption ID '{id}' does not exist"),
        "InvalidInstanceID.NotFound" => format!("The instance ID '{id}' does not exist"),
        "LoadBalancerNotFound" => format!("Load balancers '[{id}]' not found"),
        "TargetGroupNotFound" => format!("Target groups '[{id}]' not found"),
        _ => format!("'{id}' does not exist"),
    }
}

/// The actions whose successful answers the proxy reads.
const READ_ACTIONS: &[(Service, &str)] = &[
    (Service::Ec2, "CreateVpc"),
    (Service::Ec2, "CreateSubnet"),
    (Service::Ec2, "CreateInternetGateway"),
    (Service::Ec2, "CreateRouteTable"),
    (Service::Ec2, "CreateSecurityGroup"),
    (Service::Ec2, "CreateDhcpOptions"),
    (Service::Ec2, "RunInstances"),
    (Service::Ec2, "DescribeInstances"),
    (Service::Ec2, "TerminateInstances"),
    (Service::Ec2, "DescribeSubnets"),
    (Service::Ec2, "DescribeSecurityGroups"),
    (Service::Ec2, "GetConsoleOutput"),
    (Service::Ec2, "ImportKeyPair"),
    (Service::Ec2, "CreateKeyPair"),
    (Service::Elb, "CreateLoadBalancer"),
    (Service::Elb, "DescribeLoadBalancers"),
    (Service::Elb, "CreateTargetGroup"),
    (Service::Elb, "DescribeTargetGroups"),
    (Service::Elb, "DeleteLoadBalancer"),
];

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    timing: Timing,
    log: bool,
    stop: AtomicBool,
    next_request_id: AtomicU64,
    state: Mutex<State>,
}

/// One request as the proxy sees it.
struct Call<'a> {
    req: &'a Request,
    params: Vec<(String, String)>,
    service: Service,
    action: String,
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Filter.N.Value.M`: describe-by-filter sees new resources at once.
fn is_filter_value(key: &str) -> bool {
    let mut parts = key.split('.');
    parts.next() == Some("Filter") && parts.nth(1) == Some("Value")
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        let mut st = lock(&self.state);
        st.expire(Instant::now());
        st
    }

    fn log(&self, msg: impl FnOnce() -> String) {
        if self.log {
            eprintln!("aws_timing: {}", msg());
        }
    }

    fn handle(&self, req: &Request) -> Response {
        let params = if req
            .header("content-type")
            .is_some_and(|c| c.contains("x-www-form-urlencoded"))
        {
            parse_form(&req.body)
        } else {
            Vec::new()
        };
        let service = service_of(req, &params);
        let action = param(&params, "Action").unwrap_or_default().to_string();
        let call = Call {
            req,
            params,
            service,
            action,
        };
        self.state().counts.requests += 1;
        self.log(|| format!("{:?} {}", call.service, call.action));
        if let Some(resp) = self.before(&call) {
            return resp;
        }
        let mut resp = match forward(self.upstream, req) {
            Ok(r) => r,
            Err(e) => {
                return self.failure(
                    &call,
                    format!("cannot get an answer from moto at {}: {e}", self.upstream),
                );
            }
        };
        if (200..300).contains(&resp.status)
            && let Err(msg) = self.after(&call, &mut resp)
        {
            return self.failure(&call, msg);
        }
        resp
    }

    /// A local answer (emulated error), or `None` to forward.
    fn before(&self, call: &Call) -> Option<Response> {
        if call.service == Service::Other {
            return None;
        }
        {
            let mut st = self.state();
            let hit = call
                .params
                .iter()
                .filter(|(k, _)| k != "Action" && k != "Version" && !is_filter_value(k))
                .find_map(|(_, v)| {
                    st.fresh
                        .get(&(call.service, v.clone()))
                        .map(|f| (f.code, v.clone()))
                });
            if let Some((code, id)) = hit {
                st.counts.not_found += 1;
                drop(st);
                self.log(|| format!("{} {id}: {code} (not found yet)", call.action));
                return Some(self.error(call.service, code, &not_found_message(code, &id)));
            }
        }
        let linger = !self.timing.linger.is_zero();
        match (call.service, call.action.as_str()) {
            (Service::Elb, "DeleteLoadBalancer") if linger => {
                // Learn the VPC now: once deleted, moto cannot tell it any more.
                if let Some(arn) = call.param("LoadBalancerArn")
                    && !self.state().lb_vpc.contains_key(arn)
                {
                    self.side_lookup(
                        call,
                        "DescribeLoadBalancers",
                        "LoadBalancerArns.member.1",
                        arn,
                    );
                }
                None
            }
            (Service::Ec2, "DeleteSecurityGroup") => {
                let id = call.param("GroupId")?;
                let vpc = self.vpc_of(
                    call,
                    id,
                    |st| &st.sg_vpc,
                    "DescribeSecurityGroups",
                    "GroupId.1",
                )?;
                self.linger_error(call, &vpc, || {
                    format!("resource {id} has a dependent object")
                })
            }
            (Service::Ec2, "DeleteSubnet") => {
                let id = call.param("SubnetId")?;
                let vpc = self.vpc_of(
                    call,
                    id,
                    |st| &st.subnet_vpc,
                    "DescribeSubnets",
                    "SubnetId.1",
                )?;
                self.linger_error(call, &vpc, || {
                    format!("The subnet '{id}' has dependencies and cannot be deleted.")
                })
            }
            (Service::Ec2, "DetachInternetGateway") => {
                let vpc = call.param("VpcId")?.to_string();
                let igw = call
                    .param("InternetGatewayId")
                    .unwrap_or_default()
                    .to_string();
                self.linger_error(call, &vpc, || {
                    format!(
                        "Network {vpc} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway {igw}."
                    )
                })
            }
            (Service::Ec2, "DeleteVpc") => {
                let vpc = call.param("VpcId")?.to_string();
                self.linger_error(call, &vpc, || {
                    format!("The vpc '{vpc}' has dependencies and cannot be deleted.")
                })
            }
            (Service::Elb, "DeleteTargetGroup") => {
                let arn = call.param("TargetGroupArn")?;
                let vpc = self.vpc_of(
                    call,
                    arn,
                    |st| &st.tg_vpc,
                    "DescribeTargetGroups",
                    "TargetGroupArns.member.1",
                )?;
                self.linger_error(call, &vpc, || {
                    format!("Target group '{arn}' is currently in use by a listener or a rule")
                })
            }
            _ => None,
        }
    }

    /// The VPC of `id` while some load balancer's interfaces linger (asking moto when the
    /// proxy has not seen it yet); `None` when nothing lingers or the VPC is unknown.
    fn vpc_of(
        &self,
        call: &Call,
        id: &str,
        map: fn(&State) -> &HashMap<String, String>,
        describe: &str,
        key: &str,
    ) -> Option<String> {
        {
            let st = self.state();
            if st.lingering.is_empty() {
                return None;
            }
            if let Some(vpc) = map(&st).get(id) {
                return Some(vpc.clone());
            }
        }
        self.side_lookup(call, describe, key, id);
        map(&self.state()).get(id).cloned()
    }

    fn linger_error(
        &self,
        call: &Call,
        vpc: &str,
        message: impl FnOnce() -> String,
    ) -> Option<Response> {
        let mut st = self.state();
        let (lb, _) = st.lingering.get(vpc)?.clone();
        st.counts.linger += 1;
        drop(st);
        self.log(|| format!("{} in {vpc}: interfaces of {lb} linger", call.action));
        let code = match call.service {
            Service::Elb => "ResourceInUse",
            _ => "DependencyViolation",
        };
        Some(self.error(call.service, code, &message()))
    }

    /// Asks moto `action` with `key=value` (same service and headers as `call`) and learns
    /// from its answer; the answer goes nowhere else.
    fn side_lookup(&self, call: &Call, action: &str, key: &str, value: &str) {
        let version = match call.service {
            Service::Ec2 => EC2_VERSION,
            Service::Elb => ELB_VERSION,
            Service::Other => return,
        };
        let body = format!(
            "Action={action}&Version={version}&{key}={}",
            percent_encode(value)
        );
        let req = Request {
            method: "POST".into(),
            target: "/".into(),
            version: "HTTP/1.1".into(),
            headers: call.req.headers.clone(),
            body: body.into_bytes(),
        };
        let Ok(resp) = forward(self.upstream, &req) else {
            return;
        };
        if !(200..300).contains(&resp.status) {
            return;
        }
        if let Ok(text) = std::str::from_utf8(&resp.body)
            && let Ok(doc) = xml::Doc::parse(text)
        {
            learn(&mut self.state(), call.service, action, &[], &doc);
        }
    }

    /// Records what a successful answer teaches and rewrites it for the emulated windows.
    fn after(&self, call: &Call, resp: &mut Response) -> Result<(), String> {
        let action = call.action.as_str();
        if !READ_ACTIONS.contains(&(call.service, action)) {
            return Ok(());
        }
        if call.service == Service::Ec2 && action == "GetConsoleOutput" {
            self.console_prelookup(call);
        }
        let text = std::str::from_utf8(&resp.body)
            .map_err(|e| format!("{action}: moto's answer is not UTF-8: {e}"))?;
        let doc = xml::Doc::parse(text)
            .map_err(|e| format!("{action}: cannot parse moto's answer ({e}): {text}"))?;
        let now = Instant::now();
        let t = self.timing;
        // The public half of a new key pair, as EC2 keeps it (outside the lock: ssh-keygen).
        let created_key = match action {
            "CreateKeyPair" => Some(created_key_pair(&doc)?),
            _ => None,
        };
        let mut st = self.state();
        learn(&mut st, call.service, action, &call.params, &doc);
        if let Some((name, public)) = created_key {
            st.key_pairs.insert(name, public);
        }
        if action == "ImportKeyPair" {
            let (name, public) = imported_key_pair(call)?;
            st.key_pairs.insert(name, public);
        }
        if action == "RunInstances" {
            launched(&mut st, call, &doc, now, now + t.pending + t.key_install)?;
        }

        if let Some(create) = CREATES
            .iter()
            .find(|c| c.service == call.service && c.action == action)
        {
            let ids: Vec<String> = doc
                .at_path(create.path)
                .into_iter()
                .map(|n| doc.text(n))
                .filter(|id| !id.is_empty())
                .collect();
            if ids.is_empty() {
                return Err(format!(
                    "{action}: moto's answer has no {}: {text}",
                    create.path.join("/")
                ));
            }
            for id in &ids {
                if !t.not_found.is_zero() {
                    st.fresh.insert(
                        (call.service, id.clone()),
                        Fresh {
                            code: create.code,
                            until: now + t.not_found,
                        },
                    );
                }
                match action {
                    "RunInstances" if !t.pending.is_zero() => {
                        st.launched.insert(id.clone(), now + t.pending);
                    }
                    "CreateLoadBalancer" if !t.provisioning.is_zero() => {
                        st.provisioning.insert(id.clone(), now + t.provisioning);
                    }
                    _ => {}
                }
            }
            self.log(|| format!("{action}: new {}", ids.join(" ")));
        }

        let mut edits = Vec::new();
        match action {
            "TerminateInstances" if !t.shutting_down.is_zero() => {
                let items = doc.at_path(&["instancesSet", "item"]);
                if items.is_empty() {
                    return Err(format!(
                        "TerminateInstances: moto's answer has no instancesSet/item: {text}"
                    ));
                }
                for item in items {
                    let id = doc
                        .child_text(item, "instanceId")
                        .filter(|id| !id.is_empty())
                        .ok_or_else(|| {
                            format!("TerminateInstances: an item without instanceId: {text}")
                        })?;
                    let was = doc
                        .child(item, "previousState")
                        .and_then(|s| doc.child_text(s, "code"));
                    // Terminating a terminated instance changes nothing.
                    if was.as_deref() != Some("48") {
                        st.terminating.entry(id).or_insert(now + t.shutting_down);
                    }
                }
                if instance_edits(&doc, &st, &mut edits).shutting_down {
                    st.counts.shutting_down += 1;
                }
            }
            "RunInstances" | "DescribeInstances" => {
                let applied = instance_edits(&doc, &st, &mut edits);
                st.counts.pending += u64::from(applied.pending);
                st.counts.shutting_down += u64::from(applied.shutting_down);
            }
            "CreateLoadBalancer" | "DescribeLoadBalancers" => {
                for m in doc.at_path(&["LoadBalancers", "member"]) {
                    let arn = doc.child_text(m, "LoadBalancerArn").unwrap_or_default();
                    if !st.provisioning.contains_key(&arn) {
                        continue;
                    }
                    if let Some(s) = doc.child(m, "State")
                        && doc.child_text(s, "Code").as_deref() != Some("provisioning")
                    {
                        edits.push((
                            doc.range(s),
                            "<State><Code>provisioning</Code></State>".to_string(),
                        ));
                    }
                }
                if !edits.is_empty() {
                    st.counts.provisioning += 1;
                }
            }
            "DeleteLoadBalancer" if !t.linger.is_zero() => {
                let arn = call.param("LoadBalancerArn").unwrap_or_default();
                if let Some(vpc) = st.lb_vpc.get(arn).cloned() {
                    st.lingering.insert(vpc, (arn.to_string(), now + t.linger));
                } else {
                    drop(st);
                    self.log(|| format!("DeleteLoadBalancer {arn}: VPC unknown, no linger"));
                    return Ok(());
                }
            }
            "GetConsoleOutput" => {
                let id = call
                    .param("InstanceId")
                    .map(str::to_string)
                    .or_else(|| doc.child_text(doc.root(), "instanceId"))
                    .unwrap_or_default();
                let ip = st.instance_ip.get(&id).cloned().unwrap_or_default();
                let mut registered = st.console.get(&ip).cloned();
                let booting = st
                    .launched_at
                    .get(&ip)
                    .is_some_and(|at| now < *at + t.pending + t.console);
                if registered.is_some() && booting {
                    st.counts.console_not_yet += 1;
                    registered = None;
                }
                if let Some(prefix) = registered {
                    let node = doc
                        .at_path(&["GetConsoleOutputResponse", "output"])
                        .into_iter()
                        .next()
                        .ok_or_else(|| {
                            format!("GetConsoleOutput {id}: moto's answer has no <output>: {text}")
                        })?;
                    let moto_out = BASE64.decode(doc.text(node).trim()).map_err(|e| {
                        format!("GetConsoleOutput {id}: <output> is not base64 ({e}): {text}")
                    })?;
                    let mut out = prefix.into_bytes();
                    out.push(b'\n');
                    out.extend_from_slice(&moto_out);
                    edits.push((
                        doc.range(node),
                        format!("<output>{}</output>", BASE64.encode(out)),
                    ));
                    st.counts.console_output += 1;
                }
            }
            _ => {}
        }
        drop(st);
        if !edits.is_empty() {
            self.log(|| format!("{action}: {} rewrite(s)", edits.len()));
            resp.body = xml::apply(text, edits)?.into_bytes();
        }
        Ok(())
    }

    /// Learns the private IP of a `GetConsoleOutput` instance the proxy has not seen, when text
    /// is registered at all.
    fn console_prelookup(&self, call: &Call) {
        let Some(id) = call.param("InstanceId") else {
            return;
        };
        {
            let st = self.state();
            if st.console.is_empty() || st.instance_ip.contains_key(id) {
                return;
            }
        }
        self.side_lookup(call, "DescribeInstances", "InstanceId.1", id);
    }

    /// An answer in the service's own error format (as moto writes it).
    fn error(&self, service: Service, code: &str, message: &str) -> Response {
        let n = self.next_request_id.fetch_add(1, Ordering::SeqCst);
        let request_id = format!("aws-timing-{n:08}");
        let (code, message) = (xml::escape(code), xml::escape(message));
        let body = match service {
            Service::Elb => format!(
                "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
            _ => format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15\"><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        };
        Response {
            status: 400,
            reason: "Bad Request".into(),
            headers: vec![
                ("Content-Type".into(), "text/xml".into()),
                ("x-amzn-requestid".into(), request_id),
            ],
            body: body.into_bytes(),
        }
    }

    fn failure(&self, call: &Call, msg: String) -> Response {
        let msg = format!("{:?} {}: {msg}", call.service, call.action);
        self.log(|| format!("HARNESS FAILURE {msg}"));
        self.state().failures.push(msg.clone());
        self.error(call.service, HARNESS_FAILURE, &msg)
    }
}

/// The name and public key line of the key pair a `CreateKeyPair` answer carries: the public
/// half of its `keyMaterial`, by `ssh-keygen -y` (EC2 keeps only that).
fn created_key_pair(doc: &xml::Doc) -> Result<(String, String), String> {
    let root = doc.root();
    let name = doc
        .child_text(root, "keyName")
        .filter(|n| !n.is_empty())
        .ok_or("CreateKeyPair: moto's answer has no keyName")?;
    let material = doc
        .child_text(root, "keyMaterial")
        .filter(|m| !m.is_empty())
        .ok_or("CreateKeyPair: moto's answer has no keyMaterial")?;
    let dir = tempfile::tempdir().map_err(|e| format!("CreateKeyPair: temp dir: {e}"))?;
    let path = dir.path().join("key");
    let write = || -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(material.trim().as_bytes())?;
        f.write_all(b"\n")
    };
    write().map_err(|e| format!("CreateKeyPair {name}: cannot write its key: {e}"))?;
    let out = Command::new(crate::require_tool("ssh-keygen"))
        .arg("-y")
        .arg("-f")
        .arg(&path)
        .output()
        .map_err(|e| format!("CreateKeyPair {name}: cannot run ssh-keygen -y: {e}"))?;
    let public = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || public.is_empty() {
        return Err(format!(
            "CreateKeyPair {name}: ssh-keygen -y cannot read moto's keyMaterial: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((name, public))
}

/// The name and public key line an `ImportKeyPair` request imports.
fn imported_key_pair(call: &Call) -> Result<(String, String), String> {
    let name = call
        .param("KeyName")
        .ok_or("ImportKeyPair without KeyName")?
        .to_string();
    let material = call
        .param("PublicKeyMaterial")
        .ok_or("ImportKeyPair without PublicKeyMaterial")?;
    let bytes = BASE64
        .decode(material.trim())
        .map_err(|e| format!("ImportKeyPair {name}: PublicKeyMaterial is not base64: {e}"))?;
    let public = String::from_utf8(bytes)
        .map_err(|e| format!("ImportKeyPair {name}: the public key is not text: {e}"))?;
    Ok((name, public.trim().to_string()))
}

/// Records the instances a `RunInstances` answer launched (at `now`) and, for those at a
/// registered machine's address, schedules the key pair's arrival at `install_at`.
fn launched(
    st: &mut State,
    call: &Call,
    doc: &xml::Doc,
    now: Instant,
    install_at: Instant,
) -> Result<(), String> {
    let key_name = call.param("KeyName");
    for item in doc.at_path(&["instancesSet", "item"]) {
        let Some(ip) = doc.child_text(item, "privateIpAddress") else {
            continue;
        };
        st.launched_at.insert(ip.clone(), now);
        let (Some(key_name), Some(path)) = (key_name, st.machines.get(&ip)) else {
            continue;
        };
        let public = st.key_pairs.get(key_name).ok_or_else(|| {
            format!("RunInstances at {ip} with key pair {key_name}, which the proxy never saw made")
        })?;
        st.installs.push((install_at, path.clone(), public.clone()));
    }
    Ok(())
}

/// Until the proxy stops: appends each due key to its `authorized_keys` (once: a key already
/// there is not added again), as cloud-init does on a new instance.
fn install_loop(shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        let due: Vec<(PathBuf, String)> = {
            let mut st = lock(&shared.state);
            let now = Instant::now();
            let (due, later) = std::mem::take(&mut st.installs)
                .into_iter()
                .partition(|(at, _, _)| *at <= now);
            st.installs = later;
            due.into_iter().map(|(_, path, key)| (path, key)).collect()
        };
        for (path, key) in due {
            let result = (|| -> io::Result<bool> {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.lines().any(|l| l.trim() == key) {
                    return Ok(false);
                }
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)?;
                f.write_all(format!("{key}\n").as_bytes())?;
                Ok(true)
            })();
            let mut st = lock(&shared.state);
            match result {
                Ok(true) => st.counts.key_installed += 1,
                Ok(false) => {}
                Err(e) => st
                    .failures
                    .push(format!("cannot install a key in {}: {e}", path.display())),
            }
            drop(st);
            shared.log(|| format!("installed a key pair in {}", path.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What [`instance_edits`] changed.
#[derive(Debug, Default)]
struct InstanceEdits {
    pending: bool,
    shutting_down: bool,
}

/// Edits turning the instances of `doc` (`instancesSet/item`) pending or shutting down, as
/// their windows say.
fn instance_edits(
    doc: &xml::Doc,
    st: &State,
    edits: &mut Vec<(Range<usize>, String)>,
) -> InstanceEdits {
    let mut applied = InstanceEdits::default();
    for item in doc.at_path(&["instancesSet", "item"]) {
        let Some(id) = doc.child_text(item, "instanceId") else {
            continue;
        };
        if st.terminating.contains_key(&id) {
            for name in ["instanceState", "currentState"] {
                if let Some(s) = doc.child(item, name)
                    && doc.child_text(s, "code").as_deref() == Some("48")
                {
                    edits.push((
                        doc.range(s),
                        format!("<{name}><code>32</code><name>shutting-down</name></{name}>"),
                    ));
                    applied.shutting_down = true;
                }
            }
        } else if st.launched.contains_key(&id) {
            let before = edits.len();
            if let Some(s) = doc.child(item, "instanceState")
                && doc.child_text(s, "code").as_deref() != Some("0")
            {
                edits.push((
                    doc.range(s),
                    "<instanceState><code>0</code><name>pending</name></instanceState>".into(),
                ));
            }
            if let Some(ip) = doc.child(item, "ipAddress") {
                edits.push((doc.range(ip), String::new()));
            }
            if let Some(dns) = doc.child(item, "dnsName")
                && !doc.text(dns).is_empty()
            {
                edits.push((doc.range(dns), "<dnsName/>".into()));
            }
            if let Some(nis) = doc.child(item, "networkInterfaceSet") {
                for a in doc.descendants(nis, "association") {
                    edits.push((doc.range(a), String::new()));
                }
            }
            applied.pending |= edits.len() > before;
        }
    }
    applied
}

/// Records the IDs → VPC and instance → private IP relations an answer shows.
fn learn(
    st: &mut State,
    service: Service,
    action: &str,
    params: &[(String, String)],
    doc: &xml::Doc,
) {
    let pairs = |path: &[&str], key: &str, value: &str| -> Vec<(String, String)> {
        doc.at_path(path)
            .into_iter()
            .filter_map(|n| Some((doc.child_text(n, key)?, doc.child_text(n, value)?)))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .collect()
    };
    match (service, action) {
        (Service::Ec2, "CreateSubnet") => st.subnet_vpc.extend(pairs(
            &["CreateSubnetResponse", "subnet"],
            "subnetId",
            "vpcId",
        )),
        (Service::Ec2, "DescribeSubnets") => {
            st.subnet_vpc
                .extend(pairs(&["subnetSet", "item"], "subnetId", "vpcId"))
        }
        (Service::Ec2, "CreateSecurityGroup") => {
            if let Some(vpc) = param(params, "VpcId")
                && let Some(g) = doc.child_text(doc.root(), "groupId")
            {
                st.sg_vpc.insert(g, vpc.to_string());
            }
        }
        (Service::Ec2, "DescribeSecurityGroups") => {
            st.sg_vpc
                .extend(pairs(&["securityGroupInfo", "item"], "groupId", "vpcId"))
        }
        (Service::Ec2, "RunInstances" | "DescribeInstances") => st.instance_ip.extend(pairs(
            &["instancesSet", "item"],
            "instanceId",
            "privateIpAddress",
        )),
        (Service::Elb, "CreateLoadBalancer" | "DescribeLoadBalancers") => st.lb_vpc.extend(pairs(
            &["LoadBalancers", "member"],
            "LoadBalancerArn",
            "VpcId",
        )),
        (Service::Elb, "CreateTargetGroup" | "DescribeTargetGroups") => st.tg_vpc.extend(pairs(
            &["TargetGroups", "member"],
            "TargetGroupArn",
            "VpcId",
        )),
        _ => {}
    }
}

/// The service a request is for: the SigV4 credential scope (as moto routes), else the API
/// version.
fn service_of(req: &Request, params: &[(String, String)]) -> Service {
    if let Some(scope) = req
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
    {
        match scope.split('/').nth(3) {
            Some("ec2") => return Service::Ec2,
            Some("elasticloadbalancing") => return Service::Elb,
            _ => {}
        }
    }
    match param(params, "Version") {
        Some(EC2_VERSION) => Service::Ec2,
        Some(ELB_VERSION) => Service::Elb,
        _ => Service::Other,
    }
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` percent-encoded for a query string or form body (RFC 3986 unreserved kept).
pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the client asked to close the connection after this request.
    fn wants_close(&self) -> bool {
        let conn = self
            .header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase();
        conn.split(',').any(|t| t.trim() == "close")
            || (self.version == "HTTP/1.0" && !conn.split(',').any(|t| t.trim() == "keep-alive"))
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Headers that belong to one connection, not to the message (plus the framing we redo).
fn is_hop_by_hop(name: &str, headers: &[(String, String)]) -> bool {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    ];
    let lower = name.to_ascii_lowercase();
    HOP.contains(&lower.as_str())
        || header(headers, "connection")
            .is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(&lower)))
}

fn bad_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads a start line and headers.
fn read_head(r: &mut impl BufRead) -> io::Result<(String, Vec<(String, String)>)> {
    let mut total = 0;
    let mut line = Vec::new();
    let mut start = None;
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message head",
            ));
        }
        total += n;
        if total > MAX_HEAD {
            return Err(bad_data("message head too large"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        match &start {
            None if text.is_empty() => continue, // tolerated before a request line
            None => start = Some(text.to_string()),
            Some(_) if text.is_empty() => break,
            Some(_) => {
                let (k, v) = text
                    .split_once(':')
                    .ok_or_else(|| bad_data(format!("bad header line {text:?}")))?;
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    Ok((start.unwrap_or_default(), headers))
}

/// Reads a body framed by `Transfer-Encoding: chunked` or `Content-Length`; `None` for neither.
fn read_framed_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
) -> io::Result<Option<Vec<u8>>> {
    if header(headers, "transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(bad_data("connection closed inside a chunked body"));
            }
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(Some(body));
                    }
                }
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..])?;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    }
    if let Some(len) = header(headers, "content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad_data(format!("bad content-length {len:?}")))?;
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        return Ok(Some(body));
    }
    Ok(None)
}

/// Reads one request (its head already started arriving); answers `Expect: 100-continue`.
fn read_request(r: &mut impl BufRead, w: &mut impl Write) -> io::Result<Request> {
    let (line, headers) = read_head(r)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_data(format!("bad request line {line:?}")));
    };
    if header(&headers, "expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    let body = read_framed_body(r, &headers)?.unwrap_or_default();
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        body,
    })
}

/// Sends `req` to moto on a new connection and reads the whole answer.
fn forward(upstream: SocketAddr, req: &Request) -> io::Result<Response> {
    let stream = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !is_hop_by_hop(k, &req.headers) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    // One write: a second small one would wait for the peer's delayed ACK (Nagle).
    let mut msg = head.into_bytes();
    msg.extend_from_slice(&req.body);
    let mut w = &stream;
    w.write_all(&msg)?;
    w.flush()?;
    let mut r = BufReader::new(&stream);
    loop {
        let (line, headers) = read_head(&mut r)?;
        let mut parts = line.splitn(3, ' ');
        let _version = parts.next();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_data(format!("bad status line {line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_string();
        if (100..200).contains(&status) {
            continue;
        }
        let body = if req.method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(b) = read_framed_body(&mut r, &headers)? {
            b
        } else {
            let mut b = Vec::new();
            r.read_to_end(&mut b)?;
            b
        };
        return Ok(Response {
            status,
            reason,
            headers,
            body,
        });
    }
}

fn write_response(w: &mut impl Write, resp: &Response, close: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, resp.reason);
    for (k, v) in &resp.headers {
        if !is_hop_by_hop(k, &resp.headers) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut msg = head.into_bytes();
    msg.extend_from_slice(&resp.body);
    w.write_all(&msg)?;
    w.flush()
}

/// Serves one client connection: request after request until it closes (or the proxy stops
/// while it is idle).
fn serve(shared: &Shared, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::new(read_half);
    let mut w = stream;
    loop {
        // Wait for the next request, noticing a stop while idle.
        if r.get_ref().set_read_timeout(Some(IDLE_POLL)).is_err() {
            return;
        }
        loop {
            match r.fill_buf() {
                Ok([]) => return,
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        if r.get_ref().set_read_timeout(Some(IO_TIMEOUT)).is_err() {
            return;
        }
        let req = match read_request(&mut r, &mut w) {
            Ok(req) => req,
            Err(e) => {
                shared.log(|| format!("bad request from client: {e}"));
                let resp = Response {
                    status: 400,
                    reason: "Bad Request".into(),
                    headers: vec![("Content-Type".into(), "text/plain".into())],
                    body: format!("aws_timing: cannot read the request: {e}\n").into_bytes(),
                };
                let _ = write_response(&mut w, &resp, true);
                return;
            }
        };
        let close = req.wants_close();
        let resp = shared.handle(&req);
        if write_response(&mut w, &resp, close).is_err() || close {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal XML: element spans of a well-formed document, enough to find and replace elements.

mod xml {
    use std::ops::Range;

    /// One element: where it starts and ends in the text, and its content.
    #[derive(Debug)]
    struct Node {
        /// Local name (any `prefix:` dropped).
        name: String,
        start: usize,
        inner: Range<usize>,
        end: usize,
        parent: Option<usize>,
    }

    /// A parsed document: the text and its elements in document order.
    #[derive(Debug)]
    pub(super) struct Doc<'a> {
        text: &'a str,
        nodes: Vec<Node>,
    }

    fn find_from(text: &str, from: usize, pat: &str) -> Result<usize, String> {
        text[from..]
            .find(pat)
            .map(|i| from + i + pat.len())
            .ok_or_else(|| format!("unterminated markup at byte {from}"))
    }

    fn local(name: &str) -> String {
        name.rsplit(':').next().unwrap_or(name).to_string()
    }

    impl<'a> Doc<'a> {
        /// Parses `text`; `Err` when tags do not nest.
        pub(super) fn parse(text: &'a str) -> Result<Doc<'a>, String> {
            let b = text.as_bytes();
            let mut nodes: Vec<Node> = Vec::new();
            let mut stack: Vec<usize> = Vec::new();
            let mut i = 0;
            while let Some(off) = text[i..].find('<') {
                let s = i + off;
                let rest = &text[s..];
                if rest.starts_with("<?") {
                    i = find_from(text, s, "?>")?;
                    continue;
                }
                if rest.starts_with("<!--") {
                    i = find_from(text, s, "-->")?;
                    continue;
                }
                if rest.starts_with("<![CDATA[") {
                    i = find_from(text, s, "]]>")?;
                    continue;
                }
                if rest.starts_with("<!") {
                    i = find_from(text, s, ">")?;
                    continue;
                }
                let mut j = s + 1;
                let mut quote = None;
                while j < b.len() {
                    let c = b[j];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == b'"' || c == b'\'' => quote = Some(c),
                        None if c == b'>' => break,
                        None => {}
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return Err(format!("unterminated tag at byte {s}"));
                }
                let e = j + 1;
                if let Some(close) = rest.strip_prefix("</") {
                    let name = local(close[..j - s - 2].trim());
                    let idx = stack
                        .pop()
                        .ok_or_else(|| format!("</{name}> closes nothing at byte {s}"))?;
                    if nodes[idx].name != name {
                        return Err(format!(
                            "</{name}> closes <{}> at byte {s}",
                            nodes[idx].name
                        ));
                    }
                    nodes[idx].inner.end = s;
                    nodes[idx].end = e;
                } else {
                    let inside = &text[s + 1..j];
                    let self_closing = inside.ends_with('/');
                    let name = inside
                        .trim_end_matches('/')
                        .split(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or_default();
                    nodes.push(Node {
                        name: local(name),
                        start: s,
                        inner: e..e,
                        end: e,
                        parent: stack.last().copied(),
                    });
                    if !self_closing {
                        stack.push(nodes.len() - 1);
                    }
                }
                i = e;
            }
            if let Some(&open) = stack.last() {
                return Err(format!("<{}> is never closed", nodes[open].name));
            }
            if nodes.is_empty() {
                return Err("no element".into());
            }
            Ok(Doc { text, nodes })
        }

        /// The root element.
        pub(super) fn root(&self) -> usize {
            0
        }

        /// The first child of `parent` named `name`.
        pub(super) fn child(&self, parent: usize, name: &str) -> Option<usize> {
            let end = self.nodes[parent].end;
            (parent + 1..self.nodes.len())
                .take_while(|&i| self.nodes[i].start < end)
                .find(|&i| self.nodes[i].parent == Some(parent) && self.nodes[i].name == name)
        }

        /// The text of the first child of `parent` named `name`.
        pub(super) fn child_text(&self, parent: usize, name: &str) -> Option<String> {
            self.child(parent, name).map(|c| self.text(c))
        }

        /// The (unescaped) content of an element, meant for elements holding text only.
        pub(super) fn text(&self, node: usize) -> String {
            unescape(&self.text[self.nodes[node].inner.clone()])
        }

        /// The whole element, tags included.
        pub(super) fn range(&self, node: usize) -> Range<usize> {
            self.nodes[node].start..self.nodes[node].end
        }

        /// Elements named like the last of `path` whose parents, going up, are named like the
        /// rest of it in reverse (`["instancesSet", "item"]`: each `item` directly in an
        /// `instancesSet`).
        pub(super) fn at_path(&self, path: &[&str]) -> Vec<usize> {
            let Some((last, parents)) = path.split_last() else {
                return Vec::new();
            };
            (0..self.nodes.len())
                .filter(|&i| self.nodes[i].name == *last)
                .filter(|&i| {
                    let mut at = self.nodes[i].parent;
                    parents.iter().rev().all(|p| match at {
                        Some(a) if self.nodes[a].name == *p => {
                            at = self.nodes[a].parent;
                            true
                        }
                        _ => false,
                    })
                })
                .collect()
        }

        /// Elements named `name` inside `ancestor` (not those inside another such element).
        pub(super) fn descendants(&self, ancestor: usize, name: &str) -> Vec<usize> {
            let end = self.nodes[ancestor].end;
            let mut out: Vec<usize> = Vec::new();
            for i in ancestor + 1..self.nodes.len() {
                if self.nodes[i].start >= end {
                    break;
                }
                if self.nodes[i].name == name
                    && out
                        .last()
                        .is_none_or(|&o| self.nodes[i].start >= self.nodes[o].end)
                {
                    out.push(i);
                }
            }
            out
        }
    }

    /// `text` with each range of `edits` replaced; `Err` when edits overlap.
    pub(super) fn apply(
        text: &str,
        mut edits: Vec<(Range<usize>, String)>,
    ) -> Result<String, String> {
        edits.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (r, with) in edits {
            if r.start < at {
                return Err(format!("overlapping rewrites at byte {}", r.start));
            }
            out.push_str(&text[at..r.start]);
            out.push_str(&with);
            at = r.end;
        }
        out.push_str(&text[at..]);
        Ok(out)
    }

    /// Escapes element text (quotes stay literal, as moto and AWS write them).
    pub(super) fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    fn unescape(s: &str) -> String {
        if !s.contains('&') {
            return s.to_string();
        }
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIBE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><reservationSet><item><reservationId>r-1</reservationId><groupSet/><instancesSet><item><blockDeviceMapping><item><deviceName>/dev/sda1</deviceName></item></blockDeviceMapping><networkInterfaceSet><item><association><publicIp>54.1.1.1</publicIp></association><privateIpAddressesSet><item><association><publicIp>54.1.1.1</publicIp></association><privateIpAddress>10.0.0.5</privateIpAddress></item></privateIpAddressesSet></item></networkInterfaceSet><stateReason><code/><message/></stateReason><instanceId>i-new</instanceId><instanceState><code>16</code><name>running</name></instanceState><dnsName>ec2-54-1-1-1.compute.amazonaws.com</dnsName><privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>54.1.1.1</ipAddress></item><item><instanceId>i-old</instanceId><instanceState><code>16</code><name>running</name></instanceState><ipAddress>54.2.2.2</ipAddress></item></instancesSet></item></reservationSet></DescribeInstancesResponse>"#;

    #[test]
    fn pending_rewrites_only_the_new_instance() {
        let doc = xml::Doc::parse(DESCRIBE).expect("sample parses");
        let mut st = State::default();
        st.launched
            .insert("i-new".into(), Instant::now() + Duration::from_secs(60));
        let mut edits = Vec::new();
        let applied = instance_edits(&doc, &st, &mut edits);
        assert!(applied.pending && !applied.shutting_down);
        let out = xml::apply(DESCRIBE, edits).expect("edits do not overlap");
        assert!(out.contains("<instanceId>i-new</instanceId><instanceState><code>0</code><name>pending</name></instanceState><dnsName/><privateIpAddress>10.0.0.5</privateIpAddress></item>"), "{out}");
        assert!(!out.contains("<association>"), "{out}");
        assert!(out.contains("<instanceId>i-old</instanceId><instanceState><code>16</code><name>running</name></instanceState><ipAddress>54.2.2.2</ipAddress>"), "{out}");
        assert!(
            out.contains("<stateReason><code/><message/></stateReason>"),
            "{out}"
        );
        xml::Doc::parse(&out).expect("rewritten document parses");
    }

    /// A fake upstream: answers each connection with the next raw response, then closes.
    fn fake_upstream(responses: Vec<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        std::thread::spawn(move || {
            for raw in responses {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(stream.try_clone().expect("clone the socket"));
                if read_request(&mut r, &mut io::sink()).is_ok() {
                    let _ = (&stream).write_all(raw.as_bytes());
                }
            }
        });
        addr
    }

    fn shared(upstream: SocketAddr, timing: Timing) -> Shared {
        Shared {
            upstream,
            timing,
            log: false,
            stop: AtomicBool::new(false),
            next_request_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
        }
    }

    fn post(service: &str, body: &str) -> Request {
        Request {
            method: "POST".into(),
            target: "/".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                (
                    "authorization".into(),
                    format!(
                        "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-2/{service}/aws4_request, SignedHeaders=host, Signature=00"
                    ),
                ),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn upstream_framings_are_all_read() {
        let upstream = fake_upstream(vec![
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\n<a>\r\n4\r\n</a>\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<b>close-delimited</b>",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n<c/>",
        ]);
        let req = post("ec2", "Action=DescribeVpcs&Version=2016-11-15");
        let a = forward(upstream, &req).expect("chunked answer");
        assert_eq!((a.status, a.body.as_slice()), (200, b"<a></a>".as_slice()));
        assert_eq!(header(&a.headers, "x-a"), Some("1"));
        let b = forward(upstream, &req).expect("close-delimited answer");
        assert_eq!(b.body, b"<b>close-delimited</b>");
        let c = forward(upstream, &req).expect("content-length answer");
        assert_eq!((c.status, c.body.as_slice()), (201, b"<c/>".as_slice()));
        let mut out = Vec::new();
        write_response(&mut out, &a, false).expect("write to a vector");
        let out = String::from_utf8(out).expect("UTF-8");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(
            out.contains("X-A: 1\r\nContent-Length: 7\r\n\r\n<a></a>"),
            "{out}"
        );
        assert!(
            !out.to_ascii_lowercase().contains("transfer-encoding"),
            "{out}"
        );
    }

    #[test]
    fn provisioning_rewrites_only_that_load_balancer() {
        let upstream = fake_upstream(vec![concat!(
            "HTTP/1.1 200 OK\r\nContent-Length: 381\r\n\r\n",
            "<DescribeLoadBalancersResponse><DescribeLoadBalancersResult><LoadBalancers>",
            "<member><LoadBalancerArn>arn:lb/a</LoadBalancerArn><VpcId>vpc-a</VpcId><State><Code>active</Code></State></member>",
            "<member><LoadBalancerArn>arn:lb/b</LoadBalancerArn><VpcId>vpc-b</VpcId><State><Code>active</Code></State></member>",
            "</LoadBalancers></DescribeLoadBalancersResult></DescribeLoadBalancersResponse>"
        )]);
        let sh = shared(upstream, Timing::short());
        sh.state()
            .provisioning
            .insert("arn:lb/a".into(), Instant::now() + Duration::from_secs(60));
        let resp = sh.handle(&post(
            "elasticloadbalancing",
            "Action=DescribeLoadBalancers&Version=2015-12-01",
        ));
        let body = String::from_utf8(resp.body).expect("UTF-8");
        assert!(body.contains("<LoadBalancerArn>arn:lb/a</LoadBalancerArn><VpcId>vpc-a</VpcId><State><Code>provisioning</Code></State>"), "{body}");
        assert!(body.contains("<LoadBalancerArn>arn:lb/b</LoadBalancerArn><VpcId>vpc-b</VpcId><State><Code>active</Code></State>"), "{body}");
        let st = sh.state();
        assert_eq!(st.counts.provisioning, 1);
        assert_eq!(st.lb_vpc.get("arn:lb/b").map(String::as_str), Some("vpc-b"));
    }

    #[test]
    fn create_without_id_is_a_harness_failure_and_drop_panics() {
        let upstream = fake_upstream(vec![concat!(
            "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
            "<CreateVpcResponse><vpc></vpc></CreateVpcResponse>"
        )]);
        let proxy = AwsTiming::start(&format!("http://{upstream}"), Timing::short());
        let sh = Arc::clone(&proxy.shared);
        let resp = sh.handle(&post(
            "ec2",
            "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16",
        ));
        assert_eq!(resp.status, 400);
        let body = String::from_utf8(resp.body).expect("UTF-8");
        assert!(
            body.contains("<Code>AwsTimingHarnessFailure</Code>"),
            "{body}"
        );
        assert_eq!(proxy.failures().len(), 1, "{:?}", proxy.failures());
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(proxy)));
        assert!(dropped.is_err(), "dropping a failed proxy must panic");
    }

    #[test]
    fn xml_rejects_bad_nesting() {
        assert!(xml::Doc::parse("<a><b></a></b>").is_err());
        assert!(xml::Doc::parse("<a>").is_err());
        assert!(xml::Doc::parse("<a/>").is_ok());
    }

    #[test]
    fn form_decoding_and_filters() {
        let p =
            parse_form(b"Action=CreateVpc&CidrBlock=172.31.0.0%2F16&Name=a+b&Filter.1.Value.2=x");
        assert_eq!(param(&p, "CidrBlock"), Some("172.31.0.0/16"));
        assert_eq!(param(&p, "Name"), Some("a b"));
        assert!(is_filter_value("Filter.1.Value.2"));
        assert!(!is_filter_value("Filter.1.Name"));
        assert!(!is_filter_value("VpcId"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_encode("arn:aws/x"), "arn%3Aaws%2Fx");
    }

    #[test]
    fn chunked_bodies_are_read() {
        let mut r = io::Cursor::new(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nAbcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n".to_vec());
        let req = read_request(&mut r, &mut io::sink()).expect("chunked request reads");
        assert_eq!(req.body, b"Abcdefg");
    }
}
