// Package manager is the controller-manager command: it connects to the API
// server, builds one set of shared informers and an event recorder, and runs
// the controllers chosen by --controllers until its context ends.
package manager
