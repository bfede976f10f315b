//! Merging one kubeconfig into another, the way `kubectl config set-*` does.

use crate::model::Kubeconfig;

/// What a merge does with `current-context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentContext {
    /// Leave the base's `current-context` as it is.
    Keep,
    /// Use the incoming kubeconfig's `current-context` (when it has one).
    UseIncoming,
}

/// Merges `incoming` into `base`: each cluster, user and context of `incoming` replaces the
/// entry of the same name in `base` (in place) or is appended; everything else in `base` stays,
/// including its unknown fields and preferences.
pub fn merge_kubeconfig(
    mut base: Kubeconfig,
    incoming: &Kubeconfig,
    current: CurrentContext,
) -> Kubeconfig {
    upsert(&mut base.clusters, &incoming.clusters, |c| &c.name);
    upsert(&mut base.users, &incoming.users, |u| &u.name);
    upsert(&mut base.contexts, &incoming.contexts, |c| &c.name);
    if current == CurrentContext::UseIncoming && !incoming.current_context.is_empty() {
        base.current_context = incoming.current_context.clone();
    }
    base
}

/// A cluster, user or context of the incoming kubeconfig whose name is taken in the base by a
/// different entry: merging would replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameClash {
    /// `cluster`, `user` or `context`.
    pub kind: &'static str,
    /// The name both use.
    pub name: String,
}

impl std::fmt::Display for NameClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind, self.name)
    }
}

/// The entries [`merge_kubeconfig`] would replace with something different (an entry equal to
/// the incoming one is not a clash: merging again changes nothing).
pub fn name_clashes(base: &Kubeconfig, incoming: &Kubeconfig) -> Vec<NameClash> {
    let mut clashes = Vec::new();
    for c in &incoming.clusters {
        if base.clusters.iter().any(|b| b.name == c.name && b != c) {
            clashes.push(NameClash {
                kind: "cluster",
                name: c.name.clone(),
            });
        }
    }
    for u in &incoming.users {
        if base.users.iter().any(|b| b.name == u.name && b != u) {
            clashes.push(NameClash {
                kind: "user",
                name: u.name.clone(),
            });
        }
    }
    for c in &incoming.contexts {
        if base.contexts.iter().any(|b| b.name == c.name && b != c) {
            clashes.push(NameClash {
                kind: "context",
                name: c.name.clone(),
            });
        }
    }
    clashes
}

fn upsert<T: Clone>(into: &mut Vec<T>, from: &[T], name: impl Fn(&T) -> &String) {
    for entry in from {
        match into.iter_mut().find(|e| name(e) == name(entry)) {
            Some(existing) => *existing = entry.clone(),
            None => into.push(entry.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_kubeconfig;

    const BASE: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://other:6443"}
- name: k8s
  cluster: {server: "https://old:6443"}
users:
- name: me
  user: {token: t0k3n}
contexts:
- name: work
  context: {cluster: other, user: me, namespace: dev}
current-context: work
preferences: {colors: true}
"#;
    const INCOMING: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: k8s
  cluster: {server: "https://new:6443"}
users:
- name: admin
  user: {client-key-data: S0VZ}
contexts:
- name: k8s-admin
  context: {cluster: k8s, user: admin}
current-context: k8s-admin
"#;

    #[test]
    fn replaces_same_names_keeps_the_rest() {
        let base = parse_kubeconfig(BASE).unwrap();
        let incoming = parse_kubeconfig(INCOMING).unwrap();
        let merged = merge_kubeconfig(base.clone(), &incoming, CurrentContext::Keep);
        let names: Vec<_> = merged.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["other", "k8s"]);
        assert_eq!(merged.cluster("k8s").unwrap().server, "https://new:6443");
        assert_eq!(
            merged.cluster("other").unwrap().server,
            "https://other:6443"
        );
        assert!(merged.user("me").is_some() && merged.user("admin").is_some());
        assert!(merged.context("work").is_some() && merged.context("k8s-admin").is_some());
        assert_eq!(merged.current_context, "work");
        assert_eq!(merged.preferences, base.preferences);

        let merged = merge_kubeconfig(base, &incoming, CurrentContext::UseIncoming);
        assert_eq!(merged.current_context, "k8s-admin");
    }

    #[test]
    fn merging_into_empty_gives_the_incoming() {
        let incoming = parse_kubeconfig(INCOMING).unwrap();
        let merged = merge_kubeconfig(
            Kubeconfig::default(),
            &incoming,
            CurrentContext::UseIncoming,
        );
        assert_eq!(merged, incoming);
    }

    #[test]
    fn clashes_are_differing_entries_of_the_same_name() {
        let base = parse_kubeconfig(BASE).unwrap();
        let incoming = parse_kubeconfig(INCOMING).unwrap();
        let clashes = name_clashes(&base, &incoming);
        assert_eq!(
            clashes,
            [NameClash {
                kind: "cluster",
                name: "k8s".into()
            }]
        );
        assert_eq!(clashes[0].to_string(), "cluster \"k8s\"");
        let merged = merge_kubeconfig(base, &incoming, CurrentContext::Keep);
        assert!(name_clashes(&merged, &incoming).is_empty());
    }
}
