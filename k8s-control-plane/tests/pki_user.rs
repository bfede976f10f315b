//! The RBAC binding names the user the API server is towards the kubelets: the CN of the
//! certificate it presents there (`--kubelet-client-certificate`), as k8s-pki issues it.

use k8s_control_plane::{Component, ControlPlane, ControlPlaneInputs, Master};
use k8s_pki::{Node, Pki, PkiInputs};

#[test]
fn the_binding_names_the_cn_of_the_kubelet_client_certificate() {
    let pki = Pki::new(PkiInputs::new(
        "k8s-cluster-from-ground-up",
        vec![Node {
            name: "k8s-cluster-from-ground-up-master-0".into(),
            hostname: "ip-172-31-0-10".into(),
            fqdn: None,
            private_ip: "172.31.0.10".parse().expect("literal IP"),
            public_ip: None,
        }],
        vec![],
    ))
    .expect("valid PKI inputs");

    let plane = ControlPlane::new(ControlPlaneInputs::new(
        "k8s-cluster-from-ground-up",
        vec![Master::new(
            "ip-172-31-0-10",
            "172.31.0.10".parse().expect("literal IP"),
        )],
        "k8s-api.example.com",
    ))
    .expect("valid inputs");
    let api = plane
        .unit(Component::KubeApiserver, "ip-172-31-0-10")
        .expect("a master");
    let presented = api
        .exec_start
        .value("kubelet-client-certificate")
        .expect("the flag");
    assert_eq!(presented, "/var/lib/kubernetes/master-kubernetes.pem");

    let spec = pki
        .spec("master-kubernetes")
        .expect("the API server certificate");
    assert_eq!(spec.common_name, "kubernetes");
    assert_eq!(plane.inputs().apiserver_kubelet_user, "kubernetes");
    assert!(
        plane
            .render_rbac()
            .expect("renders")
            .ends_with("  kind: User\n  name: kubernetes\n")
    );
}
