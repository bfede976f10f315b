//go:build tools

// Package peers pins the etcd server and etcdctl the tests run against, built from the Go
// module proxy by scripts/build-peers (its own module: etcd's dependencies must not move
// Kubernetes' versions).
package peers

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
