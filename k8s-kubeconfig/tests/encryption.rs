//! The encryption-at-rest config: generated keys, keeping and rotating them, the tutorial's
//! legacy file (STEP 7), and errors that name the field at fault.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_kubeconfig::{
    EncryptionConfig, Error, Prepared, RotationStage, parse_encryption_config,
    prepare_encryption_config, render_encryption_config,
};

/// What the tutorial's heredoc writes (STEP 7), with a fixed key.
fn tutorial_file(secret: &str) -> String {
    format!(
        "kind: EncryptionConfig
apiVersion: v1
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: {secret}
      - identity: {{}}
"
    )
}

fn key_b64(byte: u8, len: usize) -> String {
    STANDARD.encode(vec![byte; len])
}

fn current_file(keys: &[(&str, String)]) -> String {
    let mut text = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n",
    );
    for (name, secret) in keys {
        text.push_str(&format!("      - name: {name}\n        secret: {secret}\n"));
    }
    text.push_str("  - identity: {}\n");
    text
}

#[test]
fn generated_key_is_32_random_bytes_named_key1() {
    let prepared = prepare_encryption_config(None).unwrap();
    assert!(matches!(prepared, Prepared::GeneratedNew(_)));
    assert!(prepared.needs_write());
    let keys = prepared.config().secrets_keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "key1");
    assert_eq!(keys[0].decode().unwrap().len(), 32);
    let text = render_encryption_config(prepared.config()).unwrap();
    let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(value["apiVersion"], "apiserver.config.k8s.io/v1");
    assert_eq!(value["kind"], "EncryptionConfiguration");
    assert_eq!(value["resources"][0]["resources"][0], "secrets");
    let providers = &value["resources"][0]["providers"];
    assert!(providers[0]["aescbc"].is_mapping());
    assert_eq!(
        providers[1]["identity"],
        serde_yaml::from_str::<serde_yaml::Value>("{}").unwrap()
    );
    // two generations never share a key
    let other = EncryptionConfig::generate().unwrap();
    assert_ne!(other.secrets_keys()[0].secret, keys[0].secret);
}

#[test]
fn an_existing_file_is_kept_not_replaced() {
    let first =
        render_encryption_config(prepare_encryption_config(None).unwrap().config()).unwrap();
    let again = prepare_encryption_config(Some(&first)).unwrap();
    assert!(matches!(again, Prepared::KeepExisting(_)));
    assert!(!again.needs_write());
    assert_eq!(render_encryption_config(again.config()).unwrap(), first);
}

#[test]
fn rotate_adds_a_new_key_second_and_promote_moves_it_first() {
    let old = key_b64(1, 32);
    let mut config = parse_encryption_config(&current_file(&[("key1", old.clone())])).unwrap();
    let name = config.rotate().unwrap();
    assert_eq!(name, "key2");
    let keys = config.secrets_keys();
    assert_eq!(keys.len(), 2);
    // the old key still writes; the new one only reads until promoted
    assert_eq!(keys[0].name, "key1");
    assert_eq!(keys[0].secret.expose(), old);
    assert_eq!(keys[1].name, "key2");
    assert_eq!(keys[1].decode().unwrap().len(), 32);
    assert_ne!(keys[1].secret.expose(), old);
    // the rotated file reads back the same, at the same stage
    let text = render_encryption_config(&config).unwrap();
    let again = parse_encryption_config(&text).unwrap();
    assert_eq!(again, config);
    assert_eq!(
        again.rotation_stage(),
        RotationStage::NewKeySecond {
            new: "key2".into(),
            writing: "key1".into()
        }
    );
    assert_eq!(config.promote().unwrap(), "key2");
    assert_eq!(
        config.rotation_stage(),
        RotationStage::NewKeyFirst {
            writing: "key2".into(),
            old: vec!["key1".into()]
        }
    );
    // a new rotation may start before the old keys are pruned
    assert_eq!(config.rotate().unwrap(), "key3");
    let names: Vec<&str> = config
        .secrets_keys()
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(names, ["key2", "key3", "key1"]);
}

#[test]
fn the_tutorials_legacy_file_is_accepted_and_upgraded() {
    let secret = key_b64(9, 32);
    let prepared = prepare_encryption_config(Some(&tutorial_file(&secret))).unwrap();
    let Prepared::UpgradeExisting(config) = &prepared else {
        panic!("expected an upgrade, got {prepared:?}");
    };
    assert!(prepared.needs_write());
    assert_eq!(config.secrets_keys()[0].secret.expose(), secret);
    let text = render_encryption_config(config).unwrap();
    assert_eq!(text, {
        let mut want = current_file(&[("key1", secret.clone())]);
        want = want.replace("- resources: [secrets]\n", "- resources:\n  - secrets\n");
        want
    });
}

fn error_of(text: &str) -> Error {
    match parse_encryption_config(text) {
        Ok(config) => panic!("accepted a malformed file: {config:?}"),
        Err(e) => e,
    }
}

fn field_of(text: &str) -> String {
    match error_of(text) {
        Error::InvalidField { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn malformed_files_name_the_field() {
    let good = key_b64(1, 32);
    assert_eq!(
        field_of(&current_file(&[
            ("key1", good.clone()),
            ("key2", "not base64!".into())
        ])),
        "resources[0].providers[0].aescbc.keys[1].secret"
    );
    let err = error_of(&current_file(&[("key1", key_b64(1, 20))]));
    assert!(err.to_string().contains("20 bytes"), "{err}");
    assert!(
        err.to_string()
            .starts_with("resources[0].providers[0].aescbc.keys[0].secret: "),
        "{err}"
    );
    assert_eq!(
        field_of(&current_file(&[
            ("key1", good.clone()),
            ("key1", key_b64(2, 16))
        ])),
        "resources[0].providers[0].aescbc.keys[1].name"
    );
    assert_eq!(
        field_of(&current_file(&[("", good.clone())])),
        "resources[0].providers[0].aescbc.keys[0].name"
    );
    assert_eq!(
        field_of(&current_file(&[])),
        "resources[0].providers[0].aescbc.keys"
    );
    assert_eq!(
        field_of(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n"
        ),
        "resources[0].providers"
    );
    assert_eq!(
        field_of("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"),
        "resources"
    );
    assert_eq!(field_of("apiVersion: v1\nkind: Secret\n"), "kind");
    assert!(matches!(
        error_of("resources: [unclosed"),
        Error::Parse { .. }
    ));
    assert!(matches!(error_of("just text"), Error::Parse { .. }));
    // and a malformed existing file is an error, never replaced by a new key
    assert!(prepare_encryption_config(Some("resources: [unclosed")).is_err());
}

#[test]
fn debug_never_shows_a_key() {
    let secret = key_b64(7, 32);
    let config = parse_encryption_config(&current_file(&[("key1", secret.clone())])).unwrap();
    let prepared =
        prepare_encryption_config(Some(&current_file(&[("key1", secret.clone())]))).unwrap();
    let debug = format!("{config:?} {config:#?} {prepared:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("key1"));
}
