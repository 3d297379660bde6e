package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// environment is what an applet reads and writes.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// wgetOptions are busybox wget's options (1.35, FEATURE_WGET_LONG_OPTIONS).
type wgetOptions struct {
	quiet, serverResponse, spider, resume, noCheckCert bool
	output, logFile, prefix, userAgent, proxy          string
	postData, postFile                                 string
	headers                                            []string
	timeout                                            float64
	tries                                              string
}

const wgetUsage = `Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]
	[--post-data STR | --post-file FILE] [-Y on/off]
	[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...

Retrieve files via HTTP or HTTPS

	--spider	Only check URL existence: $? is 0 if exists
	--header STR	Add STR (of form 'header: value') to headers
	--post-data STR	Send STR using POST method
	--post-file FILE	Send FILE using POST method
	--no-check-certificate	Don't validate the server's certificate
	-c		Continue retrieval of aborted transfer
	-q		Quiet
	-P DIR		Save to DIR (default .)
	-S    		Show server response
	-T SEC		Network read timeout is SEC seconds
	-O FILE		Save to FILE ('-' for stdout)
	-o LOGFILE	Log messages to FILE
	-U STR		Use STR for User-Agent header
	-Y on/off	Use proxy
`

// wget fetches each URL as busybox wget does: exit 0 when all came, 1
// (with busybox's message) when one did not.
func wget(ctx context.Context, args []string, env environment) int {
	var o wgetOptions
	fs := pflag.NewFlagSet("wget", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "")
	fs.BoolVarP(&o.serverResponse, "server-response", "S", false, "")
	fs.BoolVar(&o.spider, "spider", false, "")
	fs.BoolVarP(&o.resume, "continue", "c", false, "")
	fs.BoolVar(&o.noCheckCert, "no-check-certificate", false, "")
	fs.StringVarP(&o.output, "output-document", "O", "", "")
	fs.StringVarP(&o.logFile, "output-file", "o", "", "")
	fs.StringVarP(&o.prefix, "directory-prefix", "P", "", "")
	fs.StringVarP(&o.userAgent, "user-agent", "U", "Wget", "")
	fs.StringVarP(&o.proxy, "proxy", "Y", "on", "")
	fs.StringVar(&o.postData, "post-data", "", "")
	fs.StringVar(&o.postFile, "post-file", "", "")
	fs.StringArrayVar(&o.headers, "header", nil, "")
	fs.Float64VarP(&o.timeout, "timeout", "T", 0, "")
	fs.StringVarP(&o.tries, "tries", "t", "", "") // accepted and ignored, as busybox does
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(env.stderr, "wget: %v\n%s", err, wgetUsage)
		return 1
	}
	if *help || fs.NArg() == 0 {
		fmt.Fprint(env.stderr, wgetUsage)
		return 1
	}
	if o.timeout < 0 {
		fmt.Fprintf(env.stderr, "wget: invalid number '%v'\n", o.timeout)
		return 1
	}
	log := env.stderr
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			fmt.Fprintf(env.stderr, "wget: can't open '%s': %v\n", o.logFile, errText(err))
			return 1
		}
		defer f.Close()
		log = f
	}
	if o.quiet {
		log = io.Discard
	}
	client := o.client(log)
	for _, raw := range fs.Args() {
		if err := o.fetch(ctx, client, raw, env.stdout, log); err != nil {
			fmt.Fprintf(env.stderr, "wget: %v\n", err)
			return 1
		}
	}
	return 0
}

// client is an HTTP client whose connect and every read give up after
// the -T timeout (busybox: "network read timeout"; none by default). Like
// busybox it says where it connects once the name is resolved:
// "Connecting to web (10.96.0.12:80)".
func (o *wgetOptions) client(log io.Writer) *http.Client {
	timeout := time.Duration(o.timeout * float64(time.Second))
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil {
				return nil, err
			}
			if len(ips) == 0 {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			var c net.Conn
			for _, ip := range ips { // the next address when one refuses, as Go's dialer does
				target := net.JoinHostPort(ip.String(), port)
				fmt.Fprintf(log, "Connecting to %s (%s)\n", host, target)
				if c, err = dialer.DialContext(ctx, network, target); err == nil {
					break
				}
			}
			if err != nil || timeout == 0 {
				return c, err
			}
			return &deadlineConn{Conn: c, timeout: timeout}, nil
		},
		TLSHandshakeTimeout: timeout,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: o.noCheckCert},
	}
	if o.proxy != "off" {
		tr.Proxy = http.ProxyFromEnvironment
	}
	return &http.Client{Transport: tr}
}

// deadlineConn sets a read deadline before every read, so a server that
// stops sending fails the download after the timeout.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (o *wgetOptions) fetch(ctx context.Context, client *http.Client, raw string, stdout, log io.Writer) error {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("not an http or https url: %s", raw)
	}
	method, body := http.MethodGet, io.Reader(nil)
	switch {
	case o.postFile != "":
		b, err := os.ReadFile(o.postFile)
		if err != nil {
			return fmt.Errorf("can't open '%s': %s", o.postFile, errText(err))
		}
		method, body = http.MethodPost, strings.NewReader(string(b))
	case o.postData != "":
		method, body = http.MethodPost, strings.NewReader(o.postData)
	case o.spider:
		method = http.MethodHead
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", o.userAgent)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("bad header '%s'", h)
		}
		if strings.EqualFold(strings.TrimSpace(k), "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	file := o.output
	if file == "" {
		file = path.Base(u.Path)
		if file == "/" || file == "." || file == "" {
			file = "index.html"
		}
		if o.prefix != "" {
			file = filepath.Join(o.prefix, file)
		}
	}
	var offset int64
	if o.resume && file != "-" {
		if st, err := os.Stat(file); err == nil && st.Size() > 0 {
			offset = st.Size()
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return netErr(u, err)
	}
	defer resp.Body.Close()
	if o.serverResponse {
		fmt.Fprintf(log, "  %s %s\n", resp.Proto, resp.Status)
		for k, vs := range resp.Header {
			for _, v := range vs {
				fmt.Fprintf(log, "  %s: %s\n", k, v)
			}
		}
	}
	if offset > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return nil // already whole
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("server returned error: %s %s", resp.Proto, resp.Status)
	}
	if o.spider {
		fmt.Fprintln(log, "remote file exists")
		return nil
	}
	var out io.Writer = stdout
	if file == "-" {
		fmt.Fprintln(log, "writing to stdout")
	} else {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		switch {
		case offset > 0 && resp.StatusCode == http.StatusPartialContent:
			flags = os.O_WRONLY | os.O_APPEND
		case o.output == "":
			flags |= os.O_EXCL // busybox keeps a file it did not name
		}
		f, err := os.OpenFile(file, flags, 0o666)
		if err != nil {
			return fmt.Errorf("can't open '%s': %s", file, errText(err))
		}
		defer f.Close()
		out = f
		fmt.Fprintf(log, "saving to '%s'\n", file)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return netErr(u, err)
	}
	if file == "-" {
		fmt.Fprintln(log, "written to stdout")
	} else {
		fmt.Fprintf(log, "'%s' saved\n", file)
	}
	return nil
}

// netErr words a transfer error as busybox does.
func netErr(u *url.URL, err error) error {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var nerr net.Error
	switch {
	case errors.As(err, &nerr) && nerr.Timeout():
		return errors.New("download timed out")
	case errors.As(err, &dnsErr):
		return fmt.Errorf("bad address '%s'", u.Hostname())
	case errors.As(err, &opErr) && opErr.Op == "dial":
		addr := u.Hostname()
		if opErr.Addr != nil {
			addr = opErr.Addr.String()
			if h, _, err := net.SplitHostPort(addr); err == nil {
				addr = h
			}
		}
		return fmt.Errorf("can't connect to remote host (%s): %s", addr, errText(opErr.Err))
	}
	return err
}

// errText is an error as libc's strerror words it ("Connection refused").
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return errText(pe.Err)
	}
	return err.Error()
}
