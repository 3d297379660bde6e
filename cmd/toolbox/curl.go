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
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// curlOptions are the curl options that tutorials and Kubernetes' e2e
// tests type from a pod ("curl -q -s --connect-timeout 5 svc/hostname",
// "curl -s -o /dev/null -w %{http_code} --max-time 5 URL"): a small curl,
// not all of it. Unknown options are refused with curl's message.
type curlOptions struct {
	silent, showError, fail, head, location, insecure, include, verbose bool
	output, writeOut, method, data, iface, user                         string
	headers                                                             []string
	connectTimeout, maxTime                                             float64
}

// curl's exit codes (man curl, "EXIT CODES") for what this curl can meet.
const (
	curlOK            = 0
	curlUsage         = 2
	curlBadURL        = 3
	curlNoResolve     = 6
	curlNoConnect     = 7
	curlWriteError    = 23
	curlHTTPError     = 22
	curlTimeout       = 28
	curlRecvError     = 56
	curlInterfaceFail = 45
)

// curl fetches each URL to stdout (or -o FILE) as curl does and returns
// curl's exit code.
func curl(ctx context.Context, args []string, env environment) int {
	// curl reads ~/.curlrc unless -q comes first; there is none here.
	if len(args) > 0 && (args[0] == "-q" || args[0] == "--disable") {
		args = args[1:]
	}
	var o curlOptions
	fs := pflag.NewFlagSet("curl", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVarP(&o.silent, "silent", "s", false, "")
	fs.BoolVarP(&o.showError, "show-error", "S", false, "")
	fs.BoolVarP(&o.fail, "fail", "f", false, "")
	fs.BoolVarP(&o.head, "head", "I", false, "")
	fs.BoolVarP(&o.location, "location", "L", false, "")
	fs.BoolVarP(&o.insecure, "insecure", "k", false, "")
	fs.BoolVarP(&o.include, "include", "i", false, "")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "")
	fs.BoolP("globoff", "g", false, "") // no URL globbing here anyway
	fs.BoolP("disable", "q", false, "")
	fs.StringVarP(&o.output, "output", "o", "", "")
	fs.StringVarP(&o.writeOut, "write-out", "w", "", "")
	fs.StringVarP(&o.method, "request", "X", "", "")
	fs.StringVarP(&o.data, "data", "d", "", "")
	fs.StringVarP(&o.user, "user-agent", "A", "curl/8.14.1", "")
	fs.StringVar(&o.iface, "interface", "", "")
	fs.StringArrayVarP(&o.headers, "header", "H", nil, "")
	fs.Float64Var(&o.connectTimeout, "connect-timeout", 0, "")
	fs.Float64VarP(&o.maxTime, "max-time", "m", 0, "")
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(env.stderr, "curl: %v\ncurl: try 'curl --help' for more information\n", err)
		return curlUsage
	}
	if *help {
		fmt.Fprintln(env.stdout, "Usage: curl [options...] <url>\n -s, --silent, -S, --show-error, -f, --fail, -I, --head, -L, --location, -k, --insecure,\n -i, --include, -v, --verbose, -o, --output FILE, -w, --write-out FORMAT, -X, --request METHOD,\n -d, --data DATA, -H, --header 'K: V', -A, --user-agent UA, --interface IP, --connect-timeout SEC, -m, --max-time SEC")
		return curlOK
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(env.stderr, "curl: no URL specified\ncurl: try 'curl --help' for more information")
		return curlUsage
	}
	client, err := o.client()
	if err != nil {
		o.complain(env, err.Error())
		return curlInterfaceFail
	}
	if o.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, seconds(o.maxTime))
		defer cancel()
	}
	start := time.Now()
	code := curlOK
	for _, raw := range fs.Args() {
		if code = o.fetch(ctx, client, raw, env, start); code != curlOK {
			break
		}
	}
	return code
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// complain prints an error unless -s without -S asked for silence.
func (o *curlOptions) complain(env environment, msg string) {
	if !o.silent || o.showError {
		fmt.Fprintf(env.stderr, "curl: %s\n", msg)
	}
}

// client connects within --connect-timeout from --interface, and follows
// redirects only with -L, as curl.
func (o *curlOptions) client() (*http.Client, error) {
	dialer := &net.Dialer{Timeout: seconds(o.connectTimeout)}
	if o.iface != "" {
		ip := net.ParseIP(o.iface)
		if ip == nil {
			return nil, fmt.Errorf("(45) Failed binding local connection end: --interface %s is not an IP address (this curl binds to addresses only)", o.iface)
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	tr := &http.Transport{
		DialContext:        dialer.DialContext,
		Proxy:              http.ProxyFromEnvironment,
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: o.insecure},
	}
	c := &http.Client{Transport: tr}
	if !o.location {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c, nil
}

func (o *curlOptions) fetch(ctx context.Context, client *http.Client, raw string, env environment, start time.Time) int {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		o.complain(env, "(3) URL rejected: Malformed input to a URL function")
		return curlBadURL
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		o.complain(env, fmt.Sprintf("(1) Protocol %q not supported", u.Scheme))
		return 1
	}
	method := http.MethodGet
	var body io.Reader
	switch {
	case o.head:
		method = http.MethodHead
	case o.data != "":
		method, body = http.MethodPost, strings.NewReader(o.data)
	}
	if o.method != "" {
		method = o.method
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		o.complain(env, fmt.Sprintf("(3) %v", err))
		return curlBadURL
	}
	req.Header.Set("User-Agent", o.user)
	req.Header.Set("Accept", "*/*")
	if o.data != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			continue // curl ignores a header without a colon
		}
		if strings.EqualFold(strings.TrimSpace(k), "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if o.verbose {
		fmt.Fprintf(env.stderr, "> %s %s %s\n> Host: %s\n", method, u.RequestURI(), "HTTP/1.1", u.Host)
	}
	resp, err := client.Do(req)
	if err != nil {
		code, msg := curlErr(u, err, o, start)
		o.complain(env, msg)
		return code
	}
	defer resp.Body.Close()
	if o.verbose {
		fmt.Fprintf(env.stderr, "< %s %s\n", resp.Proto, resp.Status)
	}
	if o.fail && resp.StatusCode >= 400 {
		o.complain(env, fmt.Sprintf("(22) The requested URL returned error: %d", resp.StatusCode))
		o.writeOutTo(env.stdout, resp)
		return curlHTTPError
	}
	out := env.stdout
	if o.output != "" && o.output != "-" {
		f, err := os.OpenFile(o.output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			o.complain(env, fmt.Sprintf("(23) Failure writing output to destination: %s", errText(err)))
			return curlWriteError
		}
		defer f.Close()
		out = f
	}
	if o.include || o.head {
		fmt.Fprintf(out, "%s %s\r\n", resp.Proto, resp.Status)
		_ = resp.Header.Write(out)
		fmt.Fprint(out, "\r\n")
	}
	dst := &writeErr{w: out}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		if dst.err != nil {
			// Not the transfer: where it goes (a closed pipe, a full disk).
			o.complain(env, fmt.Sprintf("(23) Failure writing output to destination: %s", errText(dst.err)))
			return curlWriteError
		}
		code, msg := curlErr(u, err, o, start)
		if code == curlNoConnect {
			code, msg = curlRecvError, fmt.Sprintf("(56) Recv failure: %v", err)
		}
		o.complain(env, msg)
		return code
	}
	o.writeOutTo(env.stdout, resp)
	return curlOK
}

// writeOutTo prints -w's format: %{http_code} (also %{response_code})
// and \n are what the e2e tests and tutorials use.
func (o *curlOptions) writeOutTo(w io.Writer, resp *http.Response) {
	if o.writeOut == "" {
		return
	}
	s := strings.NewReplacer(
		"%{http_code}", fmt.Sprintf("%03d", resp.StatusCode),
		"%{response_code}", fmt.Sprintf("%03d", resp.StatusCode),
		`\n`, "\n", `\t`, "\t",
	).Replace(o.writeOut)
	fmt.Fprint(w, s)
}

// writeErr remembers the error of a failed write, which io.Copy returns
// just as it returns one of reading.
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// curlErr is curl's exit code and message for a failed transfer.
func curlErr(u *url.URL, err error, o *curlOptions, start time.Time) (int, string) {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var nerr net.Error
	elapsed := time.Since(start).Milliseconds()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return curlTimeout, fmt.Sprintf("(28) Operation timed out after %d milliseconds", elapsed)
	case errors.As(err, &dnsErr):
		return curlNoResolve, fmt.Sprintf("(6) Could not resolve host: %s", u.Hostname())
	case errors.As(err, &opErr) && opErr.Op == "dial":
		if errors.As(err, &nerr) && nerr.Timeout() {
			return curlTimeout, fmt.Sprintf("(28) Connection timed out after %d milliseconds", elapsed)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return curlNoConnect, fmt.Sprintf("(7) Failed to connect to %s port %s after %d ms: %s", u.Hostname(), port, elapsed, errText(opErr.Err))
	case errors.As(err, &nerr) && nerr.Timeout():
		return curlTimeout, fmt.Sprintf("(28) Operation timed out after %d milliseconds", elapsed)
	}
	return curlRecvError, fmt.Sprintf("(56) Recv failure: %v", err)
}
