// Package containerlog writes and reads container log files in the format
// Kubernetes' container runtimes use (CRI): one line per line of output,
//
//	2024-05-01T10:00:00.123456789Z stdout F the text
//
// with the time it was read, the stream, and F for a full line or P for
// the part of a line cut at MaxLine bytes or by the end of the output.
// The writer runs beside each container (cmd/container-logger, started by
// containerd's shim), so output keeps landing in the file while the node
// agent is down; the agent reads the files to serve logs with timestamps,
// since and tail.
package containerlog
