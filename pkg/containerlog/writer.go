package containerlog

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"time"
)

// MaxLine is the longest line written as one entry; longer lines are cut
// into P entries of this size, as CRI runtimes do.
const MaxLine = 16 * 1024

// Writer appends entries to a log file; the streams of one container share
// it, each entry written with a single write so that they never interleave.
type Writer struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
	buf []byte
	err error // the first write error
}

// NewWriter writes entries to out (a file opened with O_APPEND).
func NewWriter(out io.Writer) *Writer {
	return &Writer{out: out, now: time.Now}
}

// Err is the first write error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Copy writes every line read from r as an entry of stream ("stdout" or
// "stderr") until r ends. An entry that cannot be written is dropped and
// reading goes on, so that the container never blocks on a full pipe.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			full := line[len(line)-1] == '\n'
			if full {
				line = line[:len(line)-1]
			}
			w.write(stream, full, line)
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

func (w *Writer) write(stream string, full bool, text []byte) {
	tag := " P "
	if full {
		tag = " F "
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.now().UTC().AppendFormat(w.buf[:0], time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, tag...)
	b = append(b, text...)
	b = append(b, '\n')
	w.buf = b
	if _, err := w.out.Write(b); err != nil && w.err == nil {
		w.err = err
	}
}
