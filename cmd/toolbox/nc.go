package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// ncOptions are OpenBSD netcat's options (the nc of the Alpine images
// Kubernetes' e2e tests run in: "echo hostName | nc -v -t -w 2 svc 80",
// "nc -w 1 -u -W 1 ip port"), which busybox's nc lacks (-v, -W, -z, -k,
// -N, -U). This nc is linked as nc only where an image wants OpenBSD's
// (the conformance stand-in for agnhost); the toolbox image keeps
// busybox's.
type ncOptions struct {
	verbose, udp, listen, keep, zero, unix, shutdownOnEOF, noDNS bool
	timeout, quitAfter                                           float64
	recvLimit                                                    int
	sourcePort, sourceAddr                                       string
}

// nc connects to HOST PORT (or listens with -l) and copies stdin to the
// connection and the connection to stdout, as OpenBSD's nc does: exit 0
// when the peer closes or the -w idle timeout passes, 1 on a failed
// connect or read.
func nc(ctx context.Context, args []string, env environment) int {
	var o ncOptions
	fs := pflag.NewFlagSet("nc", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "")
	fs.BoolVarP(&o.udp, "udp", "u", false, "")
	fs.BoolVarP(&o.listen, "listen", "l", false, "")
	fs.BoolVarP(&o.keep, "keep-open", "k", false, "")
	fs.BoolVarP(&o.zero, "zero", "z", false, "")
	fs.BoolVarP(&o.unix, "unix", "U", false, "")
	fs.BoolVarP(&o.shutdownOnEOF, "shutdown", "N", false, "")
	fs.BoolVarP(&o.noDNS, "numeric", "n", false, "")
	fs.BoolP("telnet", "t", false, "") // telnet negotiation answers: nothing to answer here
	fs.BoolP("ipv4", "4", false, "")
	fs.Float64VarP(&o.timeout, "wait", "w", 0, "")
	fs.Float64VarP(&o.quitAfter, "quit", "q", -1, "")
	fs.IntVarP(&o.recvLimit, "recv-limit", "W", 0, "")
	fs.StringVarP(&o.sourcePort, "source-port", "p", "", "")
	fs.StringVarP(&o.sourceAddr, "source", "s", "", "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(env.stderr, "nc: %v\nusage: nc [-46klNntUuvz] [-p source_port] [-q seconds] [-s sourceaddr] [-W recvlimit] [-w timeout] [destination] [port]\n", err)
		return 1
	}
	network := "tcp"
	if o.udp {
		network = "udp"
	}
	if o.unix {
		network = "unix"
		if o.udp {
			network = "unixgram"
		}
	}
	if o.listen {
		return o.serve(ctx, network, fs.Args(), env)
	}
	var addr, host, port string
	switch {
	case o.unix && fs.NArg() == 1:
		addr = fs.Arg(0)
	case !o.unix && fs.NArg() == 2:
		host, port = fs.Arg(0), fs.Arg(1)
		addr = net.JoinHostPort(host, port)
	default:
		fmt.Fprintln(env.stderr, "nc: missing hostname and port")
		return 1
	}
	d := &net.Dialer{Timeout: seconds(o.timeout)}
	if o.sourcePort != "" || o.sourceAddr != "" {
		p, _ := strconv.Atoi(o.sourcePort)
		ip := net.ParseIP(o.sourceAddr)
		if o.udp {
			d.LocalAddr = &net.UDPAddr{IP: ip, Port: p}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: ip, Port: p}
		}
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		var op *net.OpError
		msg := err.Error()
		if errors.As(err, &op) {
			msg = errText(op.Err)
			if ne, ok := op.Err.(net.Error); ok && ne.Timeout() {
				msg = "Operation timed out"
			}
		}
		if o.unix {
			fmt.Fprintf(env.stderr, "nc: unix connect failed: %s\n", msg)
		} else {
			fmt.Fprintf(env.stderr, "nc: connect to %s port %s (%s) failed: %s\n", host, port, network, msg)
		}
		return 1
	}
	defer conn.Close()
	if o.verbose {
		if o.unix {
			fmt.Fprintf(env.stderr, "Connection to %s succeeded!\n", addr)
		} else {
			fmt.Fprintf(env.stderr, "Connection to %s %s port [%s/*] succeeded!\n", host, port, network)
		}
	}
	if o.zero {
		return 0
	}
	return o.copy(ctx, conn, env)
}

// copy runs the session: stdin to conn (one datagram per read for UDP),
// conn to stdout until the peer closes, -W datagrams came, or nothing
// came for the -w timeout.
func (o *ncOptions) copy(ctx context.Context, conn net.Conn, env environment) int {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, env.stdin)
		if o.shutdownOnEOF {
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}
		close(done)
	}()
	if o.quitAfter >= 0 {
		go func() {
			<-done
			time.Sleep(seconds(o.quitAfter))
			conn.Close()
		}()
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	buf := make([]byte, 64<<10)
	for n := 0; o.recvLimit == 0 || n < o.recvLimit; n++ {
		if o.timeout > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(seconds(o.timeout)))
		}
		k, err := conn.Read(buf)
		if k > 0 {
			if _, werr := env.stdout.Write(buf[:k]); werr != nil {
				return 1
			}
		}
		var ne net.Error
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return 0
		case errors.As(err, &ne) && ne.Timeout():
			return 0 // idle for -w: OpenBSD's nc ends quietly
		default:
			var op *net.OpError
			msg := err.Error()
			if errors.As(err, &op) {
				msg = errText(op.Err)
			}
			fmt.Fprintf(env.stderr, "nc: read failed: %s\n", msg)
			return 1
		}
	}
	return 0
}

// serve is -l: listen on [ADDR] PORT (or -p PORT, or a -U path) and run a
// session with each peer, one at a time; -k keeps listening after one.
func (o *ncOptions) serve(ctx context.Context, network string, args []string, env environment) int {
	var addr string
	switch {
	case o.unix && len(args) == 1:
		addr = args[0]
	case !o.unix && len(args) == 2:
		addr = net.JoinHostPort(args[0], args[1])
	case !o.unix && len(args) == 1:
		addr = net.JoinHostPort("", args[0])
	case !o.unix && len(args) == 0 && o.sourcePort != "":
		addr = net.JoinHostPort(o.sourceAddr, o.sourcePort)
	default:
		fmt.Fprintln(env.stderr, "nc: missing port number")
		return 1
	}
	if o.udp || network == "unixgram" {
		pc, err := net.ListenPacket(network, addr)
		if err != nil {
			fmt.Fprintf(env.stderr, "nc: %v\n", err)
			return 1
		}
		defer pc.Close()
		if o.verbose {
			fmt.Fprintf(env.stderr, "Bound on %s\n", pc.LocalAddr())
		}
		go func() {
			<-ctx.Done()
			pc.Close()
		}()
		buf := make([]byte, 64<<10)
		for {
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return 0
			}
			if _, err := env.stdout.Write(buf[:k]); err != nil {
				return 1
			}
		}
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintf(env.stderr, "nc: %v\n", err)
		return 1
	}
	defer l.Close()
	if o.verbose {
		fmt.Fprintf(env.stderr, "Listening on %s\n", l.Addr())
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			return 0
		}
		if o.verbose {
			fmt.Fprintf(env.stderr, "Connection received on %s\n", conn.RemoteAddr())
		}
		code := o.copy(ctx, conn, env)
		conn.Close()
		if !o.keep {
			return code
		}
	}
}
