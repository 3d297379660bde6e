package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNCClient runs nc against local TCP and UDP servers as Kubernetes'
// e2e tests do ("echo hostName | nc -v -t -w 2 HOST PORT", "nc -u -w 1
// -W 1"), checking output, messages and exit codes.
func TestNCClient(t *testing.T) {
	// A TCP server answering one line with "got LINE" and closing, as
	// agnhost's serve-hostname answers; a silent one.
	answer := listenTCP(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "got "+line)
		c.Close()
	})
	silent := listenTCP(t, func(c net.Conn) { time.Sleep(5 * time.Second); c.Close() })
	// A UDP server echoing each datagram twice.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("1:"), buf[:n]...), from)
			pc.WriteTo(append([]byte("2:"), buf[:n]...), from)
		}
	}()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr)
	l.Close()

	hp := func(a net.Addr) []string {
		h, p, _ := net.SplitHostPort(a.String())
		return []string{h, p}
	}
	tests := []appletRun{
		{name: "-v -t -w", args: append([]string{"-v", "-t", "-w", "2"}, hp(answer)...), stdin: "hostName\n", wantStdout: "got hostName\n",
			wantStderr: "Connection to 127.0.0.1 " + hp(answer)[1] + " port [tcp/*] succeeded!"},
		{name: "quiet", args: append([]string{"-w", "2"}, hp(answer)...), stdin: "x\n", wantStdout: "got x\n"},
		{name: "idle timeout ends quietly", args: append([]string{"-w", "1"}, hp(silent)...), stdin: "x\n"},
		{name: "-z", args: append([]string{"-vz", "-w", "2"}, hp(answer)...), wantStderr: "succeeded!"},
		{name: "refused", args: []string{"-v", "-w", "2", "127.0.0.1", strings.TrimPrefix(closed.String(), "127.0.0.1:")}, wantCode: 1,
			wantStderr: "nc: connect to 127.0.0.1 port " + hp(closed)[1] + " (tcp) failed: Connection refused"},
		{name: "udp, first datagram only", args: append([]string{"-u", "-w", "2", "-W", "1"}, hp(pc.LocalAddr())...), stdin: "hostname", wantStdout: "1:hostname"},
		{name: "udp, until idle", args: append([]string{"-v", "-u", "-w", "1"}, hp(pc.LocalAddr())...), stdin: "h", wantStdout: "1:h2:h",
			wantStderr: "port [udp/*] succeeded!"},
		{name: "no port", args: []string{"127.0.0.1"}, wantCode: 1, wantStderr: "nc: missing hostname and port"},
		{name: "unknown option", args: []string{"-Y", "h", "1"}, wantCode: 1, wantStderr: "usage: nc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.wantQuietWhenNoError = true
			tt.check(t, nc)
		})
	}
}

// TestNCListen runs nc -l (TCP by port, -p, and a unix socket with -U)
// and sends it a line.
func TestNCListen(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")
	l.Close()
	sock := filepath.Join(t.TempDir(), "s")
	tests := []struct {
		name    string
		args    []string
		network string
		addr    string
	}{
		{name: "-l -p", args: []string{"-l", "-p", port}, network: "tcp", addr: "127.0.0.1:" + port},
		{name: "-l ADDR PORT", args: []string{"-l", "127.0.0.1", port}, network: "tcp", addr: "127.0.0.1:" + port},
		{name: "-lU", args: []string{"-lU", sock}, network: "unix", addr: sock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			done := make(chan int)
			stdin, stdinW := io.Pipe()
			go func() {
				done <- nc(context.Background(), tt.args, environment{stdin: stdin, stdout: &stdout, stderr: &stderr})
			}()
			var c net.Conn
			var err error
			for i := 0; i < 100; i++ { // until it listens
				if c, err = net.Dial(tt.network, tt.addr); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "hello\n")
			c.Close()
			if code := <-done; code != 0 {
				t.Errorf("exit code: got %d, want 0 (stderr %q)", code, stderr.String())
			}
			stdinW.Close()
			if got := stdout.String(); got != "hello\n" {
				t.Errorf("stdout: got %q, want %q", got, "hello\n")
			}
		})
	}
}

func listenTCP(t *testing.T, serve func(net.Conn)) net.Addr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l.Addr()
}
