// Package restconfig turns the --server and --kubeconfig flags that every
// minik8s component and ctl accept into a client-go rest.Config.
package restconfig
