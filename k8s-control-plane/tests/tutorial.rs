//! Each rendered unit and config file beside the tutorial's, key by key and flag by flag.
//!
//! The tutorial's files are in `tests/tutorial/`, as its heredocs write them (each names its
//! source). Every difference must be in [`DIFFERENCES`] with its reason, and every row there
//! must still be a difference: a new flag, a changed value or a stale row fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_control_plane::{Component, ControlPlane, render_unit};

mod common;

/// One known difference: the key (a flag `--name`, a unit key `Section.Key`, a YAML path), the
/// tutorial's value and ours (`None`: not there; `""`: a flag given without a value).
struct Difference {
    file: &'static str,
    key: &'static str,
    tutorial: Option<&'static str>,
    ours: Option<&'static str>,
    reason: &'static str,
}

const DIFFERENCES: &[Difference] = &[
    Difference {
        file: "etcd.service",
        key: "Unit.Documentation",
        tutorial: Some("https://github.com/coreos"),
        ours: Some("https://github.com/etcd-io/etcd"),
        reason: "etcd moved to the etcd-io organisation (Kubernetes the Hard Way's current unit links it)",
    },
    Difference {
        file: "etcd.service",
        key: "--name",
        tutorial: Some("master-0"),
        ours: Some("ip-172-31-0-10"),
        reason: "our addresses: a member is named after its master's hostname (cluster.yaml's), \
                 which `etcdctl member list` shows; the tutorial reads `name=master-0` from the \
                 instance's user data",
    },
    Difference {
        file: "etcd.service",
        key: "--initial-cluster",
        tutorial: Some(
            "master-0=https://172.31.0.10:2380,master-1=https://172.31.0.11:2380,master-2=https://172.31.0.12:2380",
        ),
        ours: Some(
            "ip-172-31-0-10=https://172.31.0.10:2380,ip-172-31-0-11=https://172.31.0.11:2380,ip-172-31-0-12=https://172.31.0.12:2380",
        ),
        reason: "our addresses: the same members at the same peer URLs, under their --name",
    },
    Difference {
        file: "kube-apiserver.service",
        key: "--apiserver-count",
        tutorial: Some("3"),
        ours: None,
        reason: "deprecated: v1.37.2 warns 'apiserver-count is deprecated and will be removed in \
                 a future version'; only the old master-count endpoint reconciler read it, the \
                 default lease reconciler does not",
    },
    Difference {
        file: "kube-apiserver.service",
        key: "--audit-policy-file",
        tutorial: None,
        ours: Some("/etc/kubernetes/config/audit-policy.yaml"),
        reason: "without a policy the API server records nothing (v1.37.2: 'No audit policy file \
                 provided, no events will be recorded for log backend'), so the tutorial's \
                 --audit-log-* flags write an empty file; the policy records each request's \
                 metadata",
    },
    Difference {
        file: "kube-apiserver.service",
        key: "--runtime-config",
        tutorial: Some("api/all=true"),
        ours: None,
        reason: "it serves every alpha and beta API of the release (v1.37.2: four alpha groups, \
                 admissionregistration.k8s.io/v1alpha1, coordination.k8s.io/v1alpha2, \
                 internal.apiserver.k8s.io/v1alpha1, resource.k8s.io/v1alpha3, and six more beta \
                 versions); alpha APIs are off by default because they change and may lose data \
                 between releases, and nothing the tutorial runs needs one",
    },
    Difference {
        file: "kube-apiserver.service",
        key: "--secure-port",
        tutorial: None,
        ours: Some("6443"),
        reason: "the default, written out: the port is an input (a test harness moves it)",
    },
    Difference {
        file: "kube-apiserver.service",
        key: "--service-account-issuer",
        tutorial: Some("https://172.31.0.10:6443"),
        ours: Some("https://k8s-api-server.svc.darey.io:6443"),
        reason: "one issuer on every master, the API endpoint (as Kubernetes the Hard Way sets it): \
                 with the tutorial's per-master issuer, a token one API server signs is refused \
                 by the other two behind the load balancer",
    },
    Difference {
        file: "kube-apiserver.service",
        key: "--service-cluster-ip-range",
        tutorial: Some("172.32.0.0/24"),
        ours: Some("10.32.0.0/24"),
        reason: "cluster.yaml's network.service_cidr: its first address, 10.32.0.1, is in our API \
                 server certificate; 172.32.0.0/24 is outside the private ranges and its first \
                 address is in no certificate the tutorial makes",
    },
    Difference {
        file: "kube-controller-manager.service",
        key: "--cluster-cidr",
        tutorial: Some("172.31.0.0/16"),
        ours: Some("172.20.0.0/16"),
        reason: "the pods' range (cluster.yaml's network.pod_cidr, which holds each worker's \
                 pod-cidr 172.20.<i>.0/24 of STEP 3); the tutorial passes the VPC's range, the \
                 machines' own addresses",
    },
    Difference {
        file: "kube-controller-manager.service",
        key: "--secure-port",
        tutorial: None,
        ours: Some("10257"),
        reason: "the default, written out: the port is an input",
    },
    Difference {
        file: "kube-controller-manager.service",
        key: "--service-cluster-ip-range",
        tutorial: Some("172.32.0.0/24"),
        ours: Some("10.32.0.0/24"),
        reason: "cluster.yaml's network.service_cidr, as the API server's",
    },
    Difference {
        file: "kube-scheduler.service",
        key: "--bind-address",
        tutorial: None,
        ours: Some("0.0.0.0"),
        reason: "the default, written out: the address is an input, as the controller-manager's",
    },
    Difference {
        file: "kube-scheduler.service",
        key: "--secure-port",
        tutorial: None,
        ours: Some("10259"),
        reason: "the default, written out: the port is an input",
    },
    Difference {
        file: "kube-scheduler.yaml",
        key: "apiVersion",
        tutorial: Some("kubescheduler.config.k8s.io/v1beta1"),
        ours: Some("kubescheduler.config.k8s.io/v1"),
        reason: "removed in v1.23 (v1.37.2: 'no kind \"KubeSchedulerConfiguration\" is registered \
                 for version \"kubescheduler.config.k8s.io/v1beta1\"'); v1 since v1.25, the same \
                 fields",
    },
    Difference {
        file: "kube-apiserver-to-kubelet.yaml",
        key: "ClusterRoleBinding metadata.namespace",
        tutorial: Some(""),
        ours: None,
        reason: "a ClusterRoleBinding has no namespace; the API server drops the empty one",
    },
];

/// The tutorial's shell variables, with their values on its first master (172.31.0.10, user
/// data `name=master-0`, the VPC 172.31.0.0/16, cluster k8s-cluster-from-ground-up).
const VARIABLES: &[(&str, &str)] = &[
    ("${INTERNAL_IP}", "172.31.0.10"),
    ("${ETCD_NAME}", "master-0"),
    ("${VPC_CIDR}", "172.31.0.0/16"),
    ("${NAME}", "k8s-cluster-from-ground-up"),
];

/// The tutorial's topology and its API endpoint name (`KUBERNETES_API_SERVER_ADDRESS`).
fn plane() -> ControlPlane {
    ControlPlane::new(common::tutorial_inputs("k8s-api-server.svc.darey.io"))
        .expect("the tutorial's inputs are valid")
}

fn tutorial_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tutorial")
        .join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (var, value) in VARIABLES {
        text = text.replace(var, value);
    }
    assert!(!text.contains("${"), "{name}: a variable without a value");
    text
}

/// systemd's reading of a unit: comments dropped, a line ending in `\` joined to the next
/// with a space, `Section.Key` to value.
fn unit_keys(text: &str) -> Vec<(String, String)> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if current.is_empty() && (trimmed.starts_with('#') || trimmed.starts_with(';')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in logical {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a key: {line}"));
        keys.push((
            format!("{section}.{}", key.trim()),
            value.trim().to_string(),
        ));
    }
    keys
}

/// A command line split into words as systemd does: whitespace separates, single and double
/// quotes group (with `\"` and `\\` inside double quotes), `%%` and `$$` are single signs.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = command.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => word.extend(chars.by_ref().take_while(|&q| q != '\'')),
                '"' => {
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => break,
                            '\\' => word.extend(chars.next()),
                            q => word.push(q),
                        }
                    }
                }
                '%' | '$' if chars.peek() == Some(&c) => {
                    chars.next();
                    word.push(c);
                }
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// The flags of a command line: `--name=value`, `--name value`, or `--name` alone (value "").
fn flags(args: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let name = arg
            .strip_prefix("--")
            .unwrap_or_else(|| panic!("not a flag: {arg}"));
        if let Some((name, value)) = name.split_once('=') {
            out.push((format!("--{name}"), value.to_string()));
        } else if args.get(i + 1).is_some_and(|next| !next.starts_with("--")) {
            out.push((format!("--{name}"), args[i + 1].clone()));
            i += 1;
        } else {
            out.push((format!("--{name}"), String::new()));
        }
        i += 1;
    }
    out
}

/// Every key of a unit, `ExecStart` spread into `binary` and one key per flag.
fn unit_entries(text: &str) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    for (key, value) in unit_keys(text) {
        if key == "Service.ExecStart" {
            let words = words(&value);
            let (binary, args) = words.split_first().expect("a binary");
            entries.insert("binary".to_string(), binary.clone());
            for (flag, v) in flags(args) {
                let clash = entries.insert(flag.clone(), v);
                assert!(clash.is_none(), "{flag} given twice");
            }
        } else {
            let clash = entries.insert(key.clone(), value);
            assert!(clash.is_none(), "{key} given twice");
        }
    }
    entries
}

/// Every scalar of a YAML stream by its path (`metadata.name`, `rules[0].verbs[0]`); with
/// several documents, each path starts with the document's kind.
fn yaml_entries(text: &str) -> BTreeMap<String, String> {
    use serde::Deserialize;
    fn walk(prefix: &str, value: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
        use serde_yaml::Value;
        match value {
            Value::Mapping(map) => {
                for (k, v) in map {
                    let k = k.as_str().expect("string keys");
                    let path = if prefix.is_empty() {
                        k.to_string()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            Value::Sequence(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            Value::Bool(b) => {
                out.insert(prefix.to_string(), b.to_string());
            }
            Value::Number(n) => {
                out.insert(prefix.to_string(), n.to_string());
            }
            other => panic!("{prefix}: unexpected {other:?}"),
        }
    }
    let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).expect("YAML"))
        .collect();
    let mut out = BTreeMap::new();
    for doc in &documents {
        let prefix = if documents.len() > 1 {
            doc["kind"].as_str().expect("a kind").to_string() + " "
        } else {
            String::new()
        };
        let mut one = BTreeMap::new();
        walk("", doc, &mut one);
        out.extend(one.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
    }
    out
}

/// The differences between two files' entries, as `(key, tutorial, ours)`.
fn differences(
    tutorial: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) -> BTreeSet<(String, Option<String>, Option<String>)> {
    tutorial
        .keys()
        .chain(ours.keys())
        .filter(|k| tutorial.get(*k) != ours.get(*k))
        .map(|k| (k.clone(), tutorial.get(k).cloned(), ours.get(k).cloned()))
        .collect()
}

fn known(file: &str) -> BTreeSet<(String, Option<String>, Option<String>)> {
    DIFFERENCES
        .iter()
        .filter(|d| d.file == file)
        .map(|d| {
            assert!(!d.reason.is_empty());
            (
                d.key.to_string(),
                d.tutorial.map(str::to_string),
                d.ours.map(str::to_string),
            )
        })
        .collect()
}

fn assert_same_but_known(
    file: &str,
    tutorial: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) {
    let found = differences(tutorial, ours);
    let known = known(file);
    let unexplained: Vec<_> = found.difference(&known).collect();
    let stale: Vec<_> = known.difference(&found).collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{file}: differences from the tutorial not in DIFFERENCES (key, tutorial, ours): \
         {unexplained:#?}\nrows of DIFFERENCES that are no longer differences: {stale:#?}"
    );
}

#[test]
fn each_unit_differs_from_the_tutorials_only_as_listed() {
    let plane = plane();
    for component in Component::ALL {
        let unit = plane
            .unit(component, "ip-172-31-0-10")
            .expect("the first master");
        let file = unit.name.clone();
        let ours = unit_entries(&render_unit(&unit));
        let theirs = unit_entries(&tutorial_file(&file));
        assert_same_but_known(&file, &theirs, &ours);

        // What systemd reads from our text is the argument list the harness starts.
        let text = render_unit(&unit);
        let exec = unit_keys(&text)
            .into_iter()
            .find(|(k, _)| k == "Service.ExecStart")
            .expect("an ExecStart")
            .1;
        let read = words(&exec);
        assert_eq!(read[0], unit.exec_start.binary.display().to_string());
        assert_eq!(read[1..], unit.exec_start.args()[..], "{file}");
    }
}

#[test]
fn the_scheduler_config_differs_only_as_listed() {
    let ours = yaml_entries(&plane().render_scheduler_config().expect("renders"));
    let theirs = yaml_entries(&tutorial_file("kube-scheduler.yaml"));
    assert_same_but_known("kube-scheduler.yaml", &theirs, &ours);
}

#[test]
fn the_rbac_objects_differ_only_as_listed() {
    let ours = yaml_entries(&plane().render_rbac().expect("renders"));
    let theirs = yaml_entries(&tutorial_file("kube-apiserver-to-kubelet.yaml"));
    assert_same_but_known("kube-apiserver-to-kubelet.yaml", &theirs, &ours);
}

#[test]
fn the_parsers_read_what_systemd_reads() {
    // The tutorial's missing space before a continuation still separates the words.
    let keys = unit_keys("[Service]\nExecStart=/bin/x \\\n  --a=1\\\n  --b 2 \\\n  --c\n");
    assert_eq!(
        keys,
        [(
            "Service.ExecStart".to_string(),
            "/bin/x    --a=1   --b 2    --c".to_string()
        )]
    );
    let w = words("/bin/x '--a=b c' \"--d=\\\"e\\\"\" --f=50%% --g=$$H");
    assert_eq!(w, ["/bin/x", "--a=b c", "--d=\"e\"", "--f=50%", "--g=$H"]);
    let f = flags(
        &w[1..]
            .iter()
            .cloned()
            .chain(["--h".into(), "i".into(), "--j".into()])
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        f,
        [
            ("--a".to_string(), "b c".to_string()),
            ("--d".to_string(), "\"e\"".to_string()),
            ("--f".to_string(), "50%".to_string()),
            ("--g".to_string(), "$H".to_string()),
            ("--h".to_string(), "i".to_string()),
            ("--j".to_string(), String::new()),
        ]
    );
}

#[test]
fn a_difference_missing_from_the_table_is_caught() {
    let mut tutorial = BTreeMap::from([("--a".to_string(), "1".to_string())]);
    let ours = BTreeMap::from([("--a".to_string(), "2".to_string())]);
    assert_eq!(
        differences(&tutorial, &ours),
        BTreeSet::from([(
            "--a".to_string(),
            Some("1".to_string()),
            Some("2".to_string())
        )])
    );
    tutorial.insert("--a".into(), "2".into());
    assert!(differences(&tutorial, &ours).is_empty());
    let result = std::panic::catch_unwind(|| {
        assert_same_but_known(
            "etcd.service",
            &BTreeMap::from([("--x".to_string(), String::new())]),
            &BTreeMap::new(),
        )
    });
    assert!(result.is_err(), "an unlisted difference passed");
}
