package kubelet

import (
	"bytes"
	"io"
	"os"
	"strings"

	v1 "k8s.io/api/core/v1"

	"minik8s/pkg/containerlog"
)

// The kubelet's limits on a terminated state's message
// (kubecontainer.MaxContainerTerminationMessage*): the file is read up to
// 4 KiB from its end; the fallback takes the log's last 80 lines, at most
// 2 KiB of them.
const (
	maxTerminationMessage         = 4 << 10
	maxTerminationMessageLogLines = 80
	maxTerminationMessageLogBytes = 2 << 10
)

// terminationLogPath is where on the node a container attempt's
// terminationMessagePath file is (bind-mounted at that path in the
// container): beside the attempt's log, so it goes with the pod's files.
func terminationLogPath(logPath string) string {
	return strings.TrimSuffix(logPath, ".log") + ".termination-log"
}

// terminationMessage is the message of the terminated state of attempt of
// c, which exited with code, as the kubelet's getTerminationMessage makes
// it: what the container wrote to its terminationMessagePath, or, with
// terminationMessagePolicy FallbackToLogsOnError when it wrote nothing and
// failed, the end of its log.
func (w *podWorker) terminationMessage(c *v1.Container, attempt, code int) string {
	logPath := w.deps.rt.LogPath(w.uid, c.Name, attempt)
	if logPath == "" || c.TerminationMessagePath == "" && c.TerminationMessagePolicy != v1.TerminationMessageFallbackToLogsOnError {
		return ""
	}
	var msg []byte
	if c.TerminationMessagePath != "" {
		msg = readTail(terminationLogPath(logPath), maxTerminationMessage)
	}
	if len(msg) > 0 || c.TerminationMessagePolicy != v1.TerminationMessageFallbackToLogsOnError || code == 0 {
		return string(msg)
	}
	return logTail(logPath, maxTerminationMessageLogLines, maxTerminationMessageLogBytes)
}

// readTail is the last max bytes of the file at path (nothing when it
// cannot be read).
func readTail(path string, max int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return nil
		}
	}
	b, _ := io.ReadAll(io.LimitReader(f, max))
	return b
}

// logTail is the output of the last lines lines of the container log at
// path, at most limit bytes of it.
func logTail(path string, lines, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if err := seekTail(f, lines); err != nil {
		return ""
	}
	var buf bytes.Buffer
	_, _ = containerlog.NewReader(f, containerlog.Options{}).WriteTo(&limitWriter{w: &buf, n: limit})
	return buf.String()
}
