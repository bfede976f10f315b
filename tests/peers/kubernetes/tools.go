//go:build tools

// Package peers pins the Kubernetes components the tests run against: the real
// kube-apiserver, kube-controller-manager, kube-scheduler and kubectl, built from the Go module
// proxy by scripts/build-peers. k8s.io/kubernetes' own replace lines point into its repository
// and are ignored for a dependency, so go.mod maps every staging module to its published
// v0.x.y of the same release.
package peers

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
