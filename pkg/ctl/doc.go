// Package ctl is minik8s' command-line client, `ctl`.
//
// Its verbs are kubectl's own: the cobra commands of k8s.io/kubectl (apply
// with its three-way patch, get with server-side tables, describe, delete,
// scale, rollout, set image, cordon/drain, taint, label, logs, exec) built on
// a factory whose connection follows minik8s' rules (--kubeconfig,
// $KUBECONFIG, the lab's kubeconfig, ~/.kube/config, -s/--server, and
// https://127.0.0.1:6443 when nothing is configured). This package adds what
// kubectl leaves to its main: errors become returned values instead of
// os.Exit, messages a person can act on when the server is unreachable or a
// kind is unknown, and the API's Warning headers on stderr.
package ctl
