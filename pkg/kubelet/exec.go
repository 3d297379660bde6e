package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// The remote command protocols client-go's remotecommand speaks. The
// connection plumbing (SPDY upgrade, WebSocket channels) is Kubernetes' own
// httpstream code; this file only wires its streams to a runtime exec.
const (
	protoV4 = "v4.channel.k8s.io"
	protoV5 = "v5.channel.k8s.io"
	protoV3 = "v3.channel.k8s.io"
	protoV2 = "v2.channel.k8s.io"
	protoV1 = "channel.k8s.io"
)

type execParams struct {
	cmd                        []string
	stdin, stdout, stderr, tty bool
}

func parseExecParams(req *http.Request) (execParams, error) {
	q := req.URL.Query()
	b := func(k string) bool { v, _ := strconv.ParseBool(q.Get(k)); return v }
	p := execParams{cmd: q["command"], stdin: b("stdin"), stdout: b("stdout"), stderr: b("stderr"), tty: b("tty")}
	if len(p.cmd) == 0 {
		return p, errors.New("command is required")
	}
	if p.tty {
		p.stderr = false
	}
	if !p.stdin && !p.stdout && !p.stderr {
		return p, errors.New("you must specify at least one of stdin, stdout, stderr")
	}
	return p, nil
}

type execRunner func(ctx context.Context, opts ExecOptions) (int, error)

// serveExec runs an exec over SPDY or WebSocket, whichever the client asked.
func serveExec(w http.ResponseWriter, req *http.Request, p execParams, run execRunner) {
	if wsstream.IsWebSocketRequest(req) {
		serveExecWebSocket(w, req, p, run)
		return
	}
	serveExecSPDY(w, req, p, run)
}

type termSizeJSON struct {
	Width  uint16 `json:"Width"`
	Height uint16 `json:"Height"`
}

func resizeFrom(ctx context.Context, r io.Reader) <-chan TermSize {
	ch := make(chan TermSize, 4)
	go func() {
		defer close(ch)
		dec := json.NewDecoder(r)
		for {
			var sz termSizeJSON
			if err := dec.Decode(&sz); err != nil {
				return
			}
			select {
			case ch <- TermSize{Width: sz.Width, Height: sz.Height}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// exitStatus is what the v4/v5 error stream carries.
func exitStatus(code int, err error) []byte {
	var st metav1.Status
	switch {
	case err != nil:
		st = apierrors.NewInternalError(err).ErrStatus
	case code != 0:
		st = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}}}
	default:
		st = metav1.Status{Status: metav1.StatusSuccess}
	}
	st.Kind, st.APIVersion = "Status", "v1"
	b, _ := json.Marshal(st)
	return b
}

type spdyStream struct {
	stream    httpstream.Stream
	replySent <-chan struct{}
}

func serveExecSPDY(w http.ResponseWriter, req *http.Request, p execParams, run execRunner) {
	protocol, err := httpstream.Handshake(req, w, []string{protoV4, protoV3, protoV2, protoV1})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	streamCh := make(chan spdyStream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, req, func(s httpstream.Stream, replySent <-chan struct{}) error {
		streamCh <- spdyStream{s, replySent}
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(4 * time.Hour)

	expected := 1
	for _, b := range []bool{p.stdin, p.stdout, p.stderr, p.tty && protocol != protoV1 && protoV2 != protocol} {
		if b {
			expected++
		}
	}
	var errS, inS, outS, errOutS, resizeS httpstream.Stream
	var replies []<-chan struct{}
	timeout := time.After(30 * time.Second)
	for got := 0; got < expected; {
		select {
		case s := <-streamCh:
			got++
			replies = append(replies, s.replySent)
			switch s.stream.Headers().Get("streamType") {
			case "error":
				errS = s.stream
			case "stdin":
				inS = s.stream
			case "stdout":
				outS = s.stream
			case "stderr":
				errOutS = s.stream
			case "resize":
				resizeS = s.stream
			}
		case <-timeout:
			return
		case <-conn.CloseChan():
			return
		}
	}
	for _, r := range replies {
		<-r
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	go func() {
		select {
		case <-conn.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()
	opts := ExecOptions{Cmd: p.cmd, TTY: p.tty}
	if inS != nil {
		opts.Stdin = inS
	}
	if outS != nil {
		opts.Stdout = outS
	}
	if errOutS != nil {
		opts.Stderr = errOutS
	}
	if resizeS != nil {
		opts.Resize = resizeFrom(ctx, resizeS)
	}
	code, err := run(ctx, opts)
	if errS != nil {
		switch protocol {
		case protoV4:
			_, _ = errS.Write(exitStatus(code, err))
		default:
			if err != nil {
				_, _ = errS.Write([]byte(err.Error()))
			} else if code != 0 {
				_, _ = fmt.Fprintf(errS, "command terminated with non-zero exit code: exit status %d", code)
			}
		}
		errS.Close()
	}
	for _, s := range []httpstream.Stream{outS, errOutS} {
		if s != nil {
			s.Close()
		}
	}
}

func serveExecWebSocket(w http.ResponseWriter, req *http.Request, p execParams, run execRunner) {
	ch := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		ch(p.stdin, wsstream.ReadChannel),
		ch(p.stdout, wsstream.WriteChannel),
		ch(p.stderr, wsstream.WriteChannel),
		wsstream.WriteChannel,
		ch(p.tty, wsstream.ReadChannel),
	}
	protocols := map[string]wsstream.ChannelProtocolConfig{
		"":      {Binary: true, Channels: channels},
		protoV1: {Binary: true, Channels: channels},
		protoV4: {Binary: true, Channels: channels},
		protoV5: {Binary: true, Channels: channels},
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(4 * time.Hour)
	protocol, streams, err := conn.Open(w, req)
	if err != nil {
		return
	}
	defer conn.Close()
	opts := ExecOptions{Cmd: p.cmd, TTY: p.tty}
	if p.stdin {
		opts.Stdin = streams[0]
	}
	if p.stdout {
		opts.Stdout = streams[1]
	}
	if p.stderr {
		opts.Stderr = streams[2]
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	if p.tty {
		opts.Resize = resizeFrom(ctx, streams[4])
	}
	code, err := run(ctx, opts)
	if protocol == protoV4 || protocol == protoV5 {
		_, _ = streams[3].Write(exitStatus(code, err))
	} else if err != nil {
		_, _ = streams[3].Write([]byte(err.Error()))
	}
}
