// Package netns runs code and starts commands inside Linux network
// namespaces, and makes and removes namespaces bound to files.
//
// A network namespace belongs to an OS thread, not to a goroutine or a
// process: entering one means locking a goroutine to its thread, calling
// setns(2), and putting the thread back before the Go scheduler may run
// anything else on it. This package is the one place minik8s does that.
// Do runs its function on a fresh goroutine locked to its thread, so that
// when the thread cannot be returned to the namespace it came from the
// goroutine exits still locked and the runtime ends the thread instead of
// reusing it: no thread is ever handed back in the wrong namespace.
//
// What the function creates inside the namespace stays there whichever
// thread uses it later (sockets, netlink handles, listeners), and a process
// started from the thread (Start) runs in the namespace; goroutines the
// function starts do not.
package netns
