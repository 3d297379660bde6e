// Package e2e holds the end-to-end tests: they bring a real 3-node lab up
// with ../bin/ctl, run the scenarios against it and take it down, leaving
// nothing behind. Run them (as root, after building ../bin) with
//
//	go test -tags e2e -p 1 -timeout 25m ./e2e/
package e2e
