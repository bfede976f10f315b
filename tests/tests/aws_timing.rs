//! The AWS timing proxy against a real moto: each emulated behaviour bites inside its window
//! and moto's own answer comes back after it. Raw HTTP, as the SDK sends it (no SDK here).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_hard_tests::aws_timing::{AwsTiming, Counts, Stalled, Timing};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};

/// One form parameter: name, value.
type Param<'a> = (&'a str, &'a str);

const EC2: &str = "ec2";
const ELB: &str = "elasticloadbalancing";

/// A keep-alive HTTP/1.1 client connection, sending what the SDK sends.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(url: &str) -> Client {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {url}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone the socket"));
        Client {
            reader,
            writer: stream,
        }
    }

    /// POSTs `params` (plus the service's API version) as the SDK does; (status, body).
    fn call(&mut self, service: &str, params: &[(&str, &str)]) -> (u16, String) {
        let body = form(service, params);
        let head = format!(
            "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n{}\r\n",
            self.writer.peer_addr().expect("peer address"),
            body.len(),
            auth_headers(service),
        );
        self.send(head.as_bytes(), body.as_bytes())
    }

    /// The same request with a chunked body.
    fn call_chunked(&mut self, service: &str, params: &[(&str, &str)]) -> (u16, String) {
        let body = form(service, params);
        let (a, b) = body.split_at(body.len() / 2);
        let chunked = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
        let head = format!(
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\n{}\r\n",
            auth_headers(service),
        );
        self.send(head.as_bytes(), chunked.as_bytes())
    }

    fn send(&mut self, head: &[u8], body: &[u8]) -> (u16, String) {
        let msg = [head, body].concat();
        self.writer.write_all(&msg).expect("write the request");
        let mut status_line = String::new();
        self.reader
            .read_line(&mut status_line)
            .expect("read the status line");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut len = None;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read a header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = Some(v.trim().parse::<usize>().expect("a numeric content-length"));
            }
        }
        let len = len.unwrap_or_else(|| panic!("no content-length in the answer ({status})"));
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("read the body");
        (status, String::from_utf8(body).expect("a UTF-8 body"))
    }
}

fn form(service: &str, params: &[(&str, &str)]) -> String {
    let version = if service == EC2 {
        "2016-11-15"
    } else {
        "2015-12-01"
    };
    params
        .iter()
        .copied()
        .chain([("Version", version)])
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn auth_headers(service: &str) -> String {
    format!(
        "authorization: AWS4-HMAC-SHA256 Credential=testing/20261130/{REGION}/{service}/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00\r\nx-amz-date: 20261130T000000Z\r\n"
    )
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// One request on its own connection.
fn call(url: &str, service: &str, params: &[(&str, &str)]) -> (u16, String) {
    Client::connect(url).call(service, params)
}

/// A successful call's body; a panic with moto's answer otherwise.
fn ok(url: &str, service: &str, params: &[(&str, &str)]) -> String {
    let (status, body) = call(url, service, params);
    assert_eq!(status, 200, "{params:?} failed: {body}");
    body
}

/// The text of the first `<tag>` in `xml`.
fn first(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("no </{tag}> in {xml}"));
    xml[start..start + end].to_string()
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        sleep(d + Duration::from_millis(50));
    }
}

/// The proxy in front of the shared moto, warmed up (moto loads each service's backend on its
/// first call, which could otherwise outlast a window).
fn start(timing: Timing) -> AwsTiming {
    static WARM: OnceLock<()> = OnceLock::new();
    let moto = Moto::shared();
    WARM.get_or_init(|| {
        moto.warm_up();
        ok(moto.url(), EC2, &[("Action", "DescribeVpcs")]);
        ok(moto.url(), ELB, &[("Action", "DescribeLoadBalancers")]);
    });
    AwsTiming::start(moto.url(), timing)
}

/// A VPC and a subnet made directly on moto (no window applies to them).
fn vpc_and_subnet(vpc_cidr: &str, subnet_cidr: &str) -> (String, String) {
    let moto = Moto::shared().url();
    let vpc = first(
        &ok(
            moto,
            EC2,
            &[("Action", "CreateVpc"), ("CidrBlock", vpc_cidr)],
        ),
        "vpcId",
    );
    let subnet = first(
        &ok(
            moto,
            EC2,
            &[
                ("Action", "CreateSubnet"),
                ("VpcId", &vpc),
                ("CidrBlock", subnet_cidr),
                ("AvailabilityZone", "us-east-2a"),
            ],
        ),
        "subnetId",
    );
    (vpc, subnet)
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn new_vpc_is_not_found_until_the_window_ends_except_by_filter() {
    let proxy = start(Timing {
        not_found: Duration::from_millis(700),
        ..Timing::none()
    });
    let url = proxy.url();
    let created = ok(
        &url,
        EC2,
        &[("Action", "CreateVpc"), ("CidrBlock", "10.211.0.0/16")],
    );
    let window_end = Instant::now() + Duration::from_millis(700);
    let vpc = first(&created, "vpcId");
    assert!(vpc.starts_with("vpc-"), "{created}");

    let modify = [
        ("Action", "ModifyVpcAttribute"),
        ("VpcId", vpc.as_str()),
        ("EnableDnsHostnames.Value", "true"),
    ];
    let (status, body) = call(&url, EC2, &modify);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15\"><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID '{vpc}' does not exist</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            first(&body, "RequestID")
        )
    );
    let (status, body) = call(
        &url,
        EC2,
        &[
            ("Action", "CreateSubnet"),
            ("VpcId", vpc.as_str()),
            ("CidrBlock", "10.211.1.0/24"),
        ],
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "InvalidVpcID.NotFound");

    // Describe by filter sees it at once; another service naming it is not affected.
    let by_filter = ok(
        &url,
        EC2,
        &[
            ("Action", "DescribeVpcs"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", vpc.as_str()),
        ],
    );
    assert_eq!(first(&by_filter, "vpcId"), vpc);
    let (status, body) = call(
        &url,
        ELB,
        &[
            ("Action", "CreateTargetGroup"),
            ("Name", "aws-timing-nf-tg"),
            ("Protocol", "TCP"),
            ("Port", "6443"),
            ("VpcId", vpc.as_str()),
            ("TargetType", "ip"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        Instant::now() < window_end,
        "the test was too slow to observe the window"
    );

    sleep_until(window_end);
    let body = ok(&url, EC2, &modify);
    assert!(body.contains("<ModifyVpcAttributeResponse"), "{body}");
    assert_eq!(
        proxy.counts(),
        Counts {
            requests: 6,
            not_found: 2,
            ..Counts::default()
        }
    );
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn every_new_ec2_kind_is_not_found_in_the_window() {
    let (vpc, _subnet) = vpc_and_subnet("10.216.0.0/16", "10.216.1.0/24");
    let proxy = start(Timing {
        not_found: Duration::from_millis(800),
        ..Timing::none()
    });
    let url = proxy.url();
    let igw = first(
        &ok(&url, EC2, &[("Action", "CreateInternetGateway")]),
        "internetGatewayId",
    );
    let rtb = first(
        &ok(
            &url,
            EC2,
            &[("Action", "CreateRouteTable"), ("VpcId", vpc.as_str())],
        ),
        "routeTableId",
    );
    let sg = first(
        &ok(
            &url,
            EC2,
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", "aws-timing-kinds-sg"),
                ("GroupDescription", "aws timing kinds"),
                ("VpcId", vpc.as_str()),
            ],
        ),
        "groupId",
    );
    let dopt = first(
        &ok(
            &url,
            EC2,
            &[
                ("Action", "CreateDhcpOptions"),
                ("DhcpConfiguration.1.Key", "domain-name"),
                ("DhcpConfiguration.1.Value.1", "aws-timing.internal"),
            ],
        ),
        "dhcpOptionsId",
    );
    let window_end = Instant::now() + Duration::from_millis(800);
    let attach = [
        ("Action", "AttachInternetGateway"),
        ("InternetGatewayId", igw.as_str()),
        ("VpcId", vpc.as_str()),
    ];
    let route = [
        ("Action", "CreateRoute"),
        ("RouteTableId", rtb.as_str()),
        ("DestinationCidrBlock", "0.0.0.0/0"),
        ("GatewayId", igw.as_str()),
    ];
    let ingress = [
        ("Action", "AuthorizeSecurityGroupIngress"),
        ("GroupId", sg.as_str()),
        ("IpPermissions.1.IpProtocol", "tcp"),
        ("IpPermissions.1.FromPort", "22"),
        ("IpPermissions.1.ToPort", "22"),
        ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
    ];
    let tag = [
        ("Action", "CreateTags"),
        ("ResourceId.1", dopt.as_str()),
        ("Tag.1.Key", "Name"),
        ("Tag.1.Value", "aws-timing-kinds"),
    ];
    let associate = [
        ("Action", "AssociateDhcpOptions"),
        ("DhcpOptionsId", dopt.as_str()),
        ("VpcId", vpc.as_str()),
    ];
    let expected: [(&[Param], &str, String); 5] = [
        (
            &attach,
            "InvalidInternetGatewayID.NotFound",
            format!("The internetGateway ID '{igw}' does not exist"),
        ),
        (
            &route,
            "InvalidRouteTableID.NotFound",
            format!("The routeTable ID '{rtb}' does not exist"),
        ),
        (
            &ingress,
            "InvalidGroup.NotFound",
            format!("The security group '{sg}' does not exist"),
        ),
        (
            &tag,
            "InvalidDhcpOptionID.NotFound",
            format!("The dhcpOption ID '{dopt}' does not exist"),
        ),
        (
            &associate,
            "InvalidDhcpOptionID.NotFound",
            format!("The dhcpOption ID '{dopt}' does not exist"),
        ),
    ];
    for (params, code, message) in &expected {
        let (status, body) = call(&url, EC2, params);
        assert_eq!(status, 400, "{params:?}: {body}");
        assert_eq!(first(&body, "Code"), *code, "{params:?}");
        assert_eq!(first(&body, "Message"), *message, "{params:?}");
    }
    assert!(
        Instant::now() < window_end,
        "too slow to observe the window"
    );

    sleep_until(window_end);
    for (params, _, _) in &expected {
        ok(&url, EC2, params);
    }
    assert_eq!(proxy.counts().not_found, 5);
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn new_load_balancer_and_target_group_are_not_found_in_the_window() {
    let (vpc, subnet) = vpc_and_subnet("10.212.0.0/16", "10.212.1.0/24");
    let proxy = start(Timing {
        not_found: Duration::from_millis(700),
        ..Timing::none()
    });
    let url = proxy.url();
    let lb = ok(
        &url,
        ELB,
        &[
            ("Action", "CreateLoadBalancer"),
            ("Name", "aws-timing-nf-nlb"),
            ("Type", "network"),
            ("Scheme", "internet-facing"),
            ("Subnets.member.1", subnet.as_str()),
        ],
    );
    let tg = ok(
        &url,
        ELB,
        &[
            ("Action", "CreateTargetGroup"),
            ("Name", "aws-timing-nf-tg2"),
            ("Protocol", "TCP"),
            ("Port", "6443"),
            ("VpcId", vpc.as_str()),
            ("TargetType", "ip"),
        ],
    );
    let window_end = Instant::now() + Duration::from_millis(700);
    let lb = first(&lb, "LoadBalancerArn");
    let tg = first(&tg, "TargetGroupArn");

    let describe = [
        ("Action", "DescribeLoadBalancers"),
        ("LoadBalancerArns.member.1", lb.as_str()),
    ];
    let (status, body) = call(&url, ELB, &describe);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        format!(
            "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>Load balancers '[{lb}]' not found</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            first(&body, "RequestId")
        )
    );
    let register = [
        ("Action", "RegisterTargets"),
        ("TargetGroupArn", tg.as_str()),
        ("Targets.member.1.Id", "10.212.1.20"),
    ];
    let (status, body) = call(&url, ELB, &register);
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "TargetGroupNotFound");
    let listener = [
        ("Action", "CreateListener"),
        ("LoadBalancerArn", lb.as_str()),
        ("Protocol", "TCP"),
        ("Port", "6443"),
        ("DefaultActions.member.1.Type", "forward"),
        ("DefaultActions.member.1.TargetGroupArn", tg.as_str()),
    ];
    let (status, body) = call(&url, ELB, &listener);
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "LoadBalancerNotFound");
    assert!(
        Instant::now() < window_end,
        "too slow to observe the window"
    );

    sleep_until(window_end);
    assert_eq!(first(&ok(&url, ELB, &describe), "LoadBalancerArn"), lb);
    ok(&url, ELB, &register);
    ok(&url, ELB, &listener);
    assert_eq!(proxy.counts().not_found, 3);
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn instance_is_pending_then_running_and_shutting_down_then_terminated() {
    let moto = Moto::shared().url();
    let images = ok(
        moto,
        EC2,
        &[
            ("Action", "DescribeImages"),
            ("Owner.1", "099720109477"),
            ("Filter.1.Name", "name"),
            ("Filter.1.Value.1", UBUNTU_IMAGE_NAME),
        ],
    );
    let ami = first(&images, "imageId");
    let (_vpc, subnet) = vpc_and_subnet("10.213.0.0/16", "10.213.1.0/24");
    let proxy = start(Timing {
        not_found: Duration::from_millis(300),
        pending: Duration::from_millis(800),
        shutting_down: Duration::from_millis(600),
        ..Timing::none()
    });
    let url = proxy.url();
    proxy.set_console_output(
        "10.213.1.10",
        "ssh-ed25519 AAAAC3aws-timing-host-key root@node",
    );

    let run = ok(
        &url,
        EC2,
        &[
            ("Action", "RunInstances"),
            ("ImageId", ami.as_str()),
            ("InstanceType", "t3.micro"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("NetworkInterface.1.AssociatePublicIpAddress", "true"),
            ("NetworkInterface.1.DeviceIndex", "0"),
            ("NetworkInterface.1.SubnetId", subnet.as_str()),
            ("NetworkInterface.1.PrivateIpAddress", "10.213.1.10"),
        ],
    );
    let launched = Instant::now();
    let id = first(&run, "instanceId");
    assert!(
        run.contains("<instanceState><code>0</code><name>pending</name></instanceState>"),
        "{run}"
    );
    assert!(!run.contains("<ipAddress>"), "{run}");
    assert!(!run.contains("<association>"), "{run}");
    assert!(run.contains("<dnsName/>"), "{run}");

    let describe = [
        ("Action", "DescribeInstances"),
        ("InstanceId.1", id.as_str()),
    ];
    let (status, body) = call(&url, EC2, &describe);
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "InvalidInstanceID.NotFound");
    sleep_until(launched + Duration::from_millis(300));
    let body = ok(&url, EC2, &describe);
    assert!(
        body.contains("<instanceState><code>0</code><name>pending</name></instanceState>"),
        "{body}"
    );
    assert!(!body.contains("<ipAddress>"), "{body}");
    assert!(!body.contains("<publicIp>"), "{body}");
    assert!(
        Instant::now() < launched + Duration::from_millis(800),
        "too slow"
    );

    // A pending machine has not booted: moto's console output, without the registered text.
    let console = || {
        let console = ok(
            &url,
            EC2,
            &[("Action", "GetConsoleOutput"), ("InstanceId", id.as_str())],
        );
        let text = BASE64
            .decode(first(&console, "output"))
            .expect("console output is base64");
        String::from_utf8(text).expect("console output is UTF-8")
    };
    let text = console();
    assert!(text.starts_with("Linux version"), "{text}");
    assert_eq!(proxy.counts().console_not_yet, 1);

    sleep_until(launched + Duration::from_millis(800));
    let body = ok(&url, EC2, &describe);
    assert!(
        body.contains("<instanceState><code>16</code><name>running</name></instanceState>"),
        "{body}"
    );
    let text = console();
    assert!(
        text.starts_with("ssh-ed25519 AAAAC3aws-timing-host-key root@node\nLinux version"),
        "{text}"
    );
    assert!(body.contains("<ipAddress>"), "{body}");

    let term = ok(
        &url,
        EC2,
        &[
            ("Action", "TerminateInstances"),
            ("InstanceId.1", id.as_str()),
        ],
    );
    let terminated = Instant::now();
    assert!(
        term.contains("<currentState><code>32</code><name>shutting-down</name></currentState>"),
        "{term}"
    );
    let body = ok(&url, EC2, &describe);
    assert!(
        body.contains("<instanceState><code>32</code><name>shutting-down</name></instanceState>"),
        "{body}"
    );
    assert!(
        Instant::now() < terminated + Duration::from_millis(600),
        "too slow"
    );
    sleep_until(terminated + Duration::from_millis(600));
    let body = ok(&url, EC2, &describe);
    assert!(
        body.contains("<instanceState><code>48</code><name>terminated</name></instanceState>"),
        "{body}"
    );

    let counts = proxy.counts();
    assert_eq!(counts.not_found, 1, "{counts:?}");
    assert_eq!(counts.pending, 2, "{counts:?}");
    assert_eq!(counts.shutting_down, 1, "{counts:?}");
    assert_eq!(counts.console_output, 1, "{counts:?}");
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn network_load_balancer_provisions_then_its_interfaces_linger_after_delete() {
    let (vpc, subnet) = vpc_and_subnet("10.214.0.0/16", "10.214.1.0/24");
    let proxy = start(Timing {
        provisioning: Duration::from_millis(600),
        linger: Duration::from_millis(600),
        ..Timing::none()
    });
    let url = proxy.url();
    let sg = first(
        &ok(
            &url,
            EC2,
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", "aws-timing-linger-sg"),
                ("GroupDescription", "aws timing linger"),
                ("VpcId", vpc.as_str()),
            ],
        ),
        "groupId",
    );
    let tg = first(
        &ok(
            &url,
            ELB,
            &[
                ("Action", "CreateTargetGroup"),
                ("Name", "aws-timing-linger-tg"),
                ("Protocol", "TCP"),
                ("Port", "6443"),
                ("VpcId", vpc.as_str()),
                ("TargetType", "ip"),
            ],
        ),
        "TargetGroupArn",
    );
    let created = ok(
        &url,
        ELB,
        &[
            ("Action", "CreateLoadBalancer"),
            ("Name", "aws-timing-linger-nlb"),
            ("Type", "network"),
            ("Scheme", "internet-facing"),
            ("Subnets.member.1", subnet.as_str()),
        ],
    );
    let provisioned = Instant::now() + Duration::from_millis(600);
    let lb = first(&created, "LoadBalancerArn");
    assert_eq!(first(&created, "Code"), "provisioning", "{created}");
    let describe = [
        ("Action", "DescribeLoadBalancers"),
        ("LoadBalancerArns.member.1", lb.as_str()),
    ];
    assert_eq!(first(&ok(&url, ELB, &describe), "Code"), "provisioning");
    assert!(Instant::now() < provisioned, "too slow");
    sleep_until(provisioned);
    assert_eq!(first(&ok(&url, ELB, &describe), "Code"), "active");

    ok(
        &url,
        ELB,
        &[
            ("Action", "DeleteLoadBalancer"),
            ("LoadBalancerArn", lb.as_str()),
        ],
    );
    let gone = Instant::now() + Duration::from_millis(600);
    let delete_sg = [("Action", "DeleteSecurityGroup"), ("GroupId", sg.as_str())];
    let (status, body) = call(&url, EC2, &delete_sg);
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "DependencyViolation");
    assert_eq!(
        first(&body, "Message"),
        format!("resource {sg} has a dependent object")
    );
    let delete_subnet = [("Action", "DeleteSubnet"), ("SubnetId", subnet.as_str())];
    let (status, body) = call(&url, EC2, &delete_subnet);
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "DependencyViolation");
    let delete_tg = [
        ("Action", "DeleteTargetGroup"),
        ("TargetGroupArn", tg.as_str()),
    ];
    let (status, body) = call(&url, ELB, &delete_tg);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type><Code>ResourceInUse</Code>"),
        "{body}"
    );
    assert!(Instant::now() < gone, "too slow");

    sleep_until(gone);
    ok(&url, EC2, &delete_sg);
    ok(&url, ELB, &delete_tg);
    ok(&url, EC2, &delete_subnet);
    ok(
        &url,
        EC2,
        &[("Action", "DeleteVpc"), ("VpcId", vpc.as_str())],
    );
    let counts = proxy.counts();
    assert_eq!(counts.provisioning, 1, "{counts:?}");
    assert_eq!(counts.linger, 3, "{counts:?}");
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn linger_learns_the_vpc_of_resources_made_before_the_proxy() {
    // Everything is made on moto directly: the proxy asks moto for the VPCs it needs.
    let (vpc, subnet) = vpc_and_subnet("10.215.0.0/16", "10.215.1.0/24");
    let moto = Moto::shared().url();
    let lb = first(
        &ok(
            moto,
            ELB,
            &[
                ("Action", "CreateLoadBalancer"),
                ("Name", "aws-timing-learn-nlb"),
                ("Type", "network"),
                ("Scheme", "internet-facing"),
                ("Subnets.member.1", subnet.as_str()),
            ],
        ),
        "LoadBalancerArn",
    );
    let proxy = start(Timing {
        linger: Duration::from_millis(600),
        ..Timing::none()
    });
    let url = proxy.url();
    ok(
        &url,
        ELB,
        &[
            ("Action", "DeleteLoadBalancer"),
            ("LoadBalancerArn", lb.as_str()),
        ],
    );
    let gone = Instant::now() + Duration::from_millis(600);
    let (status, body) = call(
        &url,
        EC2,
        &[("Action", "DeleteVpc"), ("VpcId", vpc.as_str())],
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "DependencyViolation");
    let delete_subnet = [("Action", "DeleteSubnet"), ("SubnetId", subnet.as_str())];
    let (status, body) = call(&url, EC2, &delete_subnet);
    assert_eq!(status, 400, "{body}");
    assert_eq!(first(&body, "Code"), "DependencyViolation");
    assert!(Instant::now() < gone, "too slow");
    sleep_until(gone);
    ok(&url, EC2, &delete_subnet);
    assert_eq!(proxy.counts().linger, 2);
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn one_keep_alive_connection_carries_several_requests() {
    let proxy = start(Timing::short());
    let mut client = Client::connect(&proxy.url());
    for _ in 0..4 {
        let (status, body) = client.call(EC2, &[("Action", "DescribeRegions")]);
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("<regionName>us-east-2</regionName>"),
            "{body}"
        );
    }
    let (status, body) = client.call_chunked(
        EC2,
        &[("Action", "DescribeRegions"), ("RegionName.1", "us-east-2")],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<regionName>us-east-2</regionName>"),
        "{body}"
    );
    let (status, body) = client.call(ELB, &[("Action", "DescribeLoadBalancers")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(proxy.counts().requests, 6);
}

#[test]
fn stalled_endpoint_never_answers() {
    let stalled = Stalled::start();
    let mut client = Client::connect(&stalled.url());
    client
        .writer
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("set a read timeout");
    let body = form(EC2, &[("Action", "DescribeVpcs")]);
    let head = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.writer.write_all(head.as_bytes()).expect("write");
    client.writer.write_all(body.as_bytes()).expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let err = client
        .reader
        .read(&mut buf)
        .expect_err("the stalled endpoint answered");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(stalled.connections(), 1);
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn dropped_proxy_refuses_connections() {
    let proxy = start(Timing::short());
    let addr = proxy.url().trim_start_matches("http://").to_string();
    drop(proxy);
    assert!(TcpStream::connect(&addr).is_err(), "{addr} still accepts");
}

#[test]
fn short_timing_and_slowest() {
    let t = Timing::short();
    assert_eq!(t.not_found, Duration::from_millis(1000));
    // Pending, then the key pair's arrival.
    assert_eq!(t.slowest(), Duration::from_millis(5000));
    assert_eq!(Timing::none().slowest(), Duration::ZERO);
}
