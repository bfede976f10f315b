//! Human tables fit a 100-column terminal: `infra status` on a real (moto) infrastructure of
//! the default topology, with the load balancer's, target group's and listener's full ARNs,
//! puts STATE before ID and shortens the ARNs; `--output wide` and `--output json` keep them.

mod common;

use std::path::Path;

use common::{aws_command, init_with, json};
use k8s_hard_tests::moto::{Moto, REGION, UBUNTU_IMAGE_NAME};

const WIDTH: usize = 100;

fn infra(dir: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = aws_command(dir);
    cmd.arg("infra")
        .args(args)
        .arg("--endpoint-url")
        .arg(Moto::shared().url());
    assert_cmd::Command::from_std(cmd)
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn infra_status_fits_100_columns_and_wide_shows_every_arn() {
    Moto::shared().warm_up();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The default name (the longest in the tutorial) and its 3 masters + 3 workers.
    init_with(
        dir,
        &["--region", REGION],
        &[
            (
                "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
                UBUNTU_IMAGE_NAME,
            ),
            ("rsa-2048", "ecdsa-p256"),
        ],
    );
    infra(dir, &["up"]).assert().success();

    let full = json(&infra(dir, &["status", "-o", "json"]).assert().success());
    let arns: Vec<String> = full["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .filter(|id| id.starts_with("arn:"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        arns.len(),
        3,
        "load balancer, target group, listener: {full}"
    );
    assert!(arns.iter().all(|a| a.len() > 60), "{arns:?}");

    let human = stdout(&infra(dir, &["status"]).assert().success());
    let header = human.lines().next().unwrap();
    let (state, id) = (header.find("STATE").unwrap(), header.find("ID").unwrap());
    assert!(state < id, "{header}");
    for line in human.lines() {
        assert!(
            line.chars().count() <= WIDTH,
            "{} columns: {line}\n{human}",
            line.chars().count()
        );
    }
    assert!(!human.contains("arn:aws:"), "{human}");
    for arn in &arns {
        let last = arn.rsplit('/').next().unwrap();
        assert!(human.contains(&format!("…/{last}")), "{last}\n{human}");
    }
    let wide = stdout(&infra(dir, &["status", "-o", "wide"]).assert().success());
    for arn in &arns {
        assert!(wide.contains(arn.as_str()), "{arn}\n{wide}");
    }
}
