package lab

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listener is one listening TCP socket from /proc/net/tcp{,6}.
type listener struct {
	Addr  net.IP
	Port  int
	Inode string
}

// parseProcNetTCP reads the LISTEN sockets of a /proc/net/tcp file.
func parseProcNetTCP(data string) []listener {
	var out []listener
	s := bufio.NewScanner(strings.NewReader(data))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		addr, port, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(addr)
		if err != nil {
			continue
		}
		// The kernel prints each 32-bit word in host (little-endian) order.
		for i := 0; i+4 <= len(raw); i += 4 {
			raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			continue
		}
		out = append(out, listener{Addr: net.IP(raw), Port: int(p), Inode: f[9]})
	}
	return out
}

// portTaken says who, if anyone, listens on port at an address that would
// clash with one of addrs (the same address or a wildcard).
func portTaken(port int, addrs ...string) (string, bool) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, l := range parseProcNetTCP(string(b)) {
			if l.Port != port {
				continue
			}
			clash := l.Addr.IsUnspecified()
			for _, a := range addrs {
				if l.Addr.Equal(net.ParseIP(a)) {
					clash = true
				}
			}
			if clash {
				return fmt.Sprintf("%s:%d by %s", l.Addr, port, socketOwner(l.Inode)), true
			}
		}
	}
	return "", false
}

// socketOwner names the process holding a socket inode.
func socketOwner(inode string) string {
	want := "socket:[" + inode + "]"
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == want {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
		}
	}
	return "an unknown process"
}

// checkPorts makes sure the apiserver's and the registry's ports are free.
func checkPorts() error {
	var msgs []string
	if who, taken := portTaken(APIPort, "127.0.0.1", GatewayAddr); taken {
		msgs = append(msgs, fmt.Sprintf("port %d (the lab's apiserver) is taken at %s: stop that process", APIPort, who))
	}
	if who, taken := portTaken(5000, GatewayAddr); taken {
		msgs = append(msgs, fmt.Sprintf("port 5000 (the lab's registry) is taken at %s: stop it (`deploy/install-deps.sh`, run as root, stops Debian's docker-registry service)", who))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}
