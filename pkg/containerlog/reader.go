package containerlog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// Options select and shape what a Reader writes.
type Options struct {
	// Timestamps prefixes each entry with its time (RFC 3339, nanoseconds).
	Timestamps bool
	// Since skips the entries written before it (zero: none skipped).
	Since time.Time
	// Stream keeps only the entries of one stream, "stdout" or "stderr",
	// and drops lines that are not entries (empty: everything).
	Stream string
}

// Reader turns a log file's entries back into the container's output.
type Reader struct {
	br      *bufio.Reader
	opts    Options
	partial []byte // the start of an entry whose end is not written yet
	out     []byte
}

// NewReader reads entries from r.
func NewReader(r io.Reader, opts Options) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64*1024), opts: opts}
}

// WriteTo writes every complete entry available to w and returns at the
// end of the data; called again, it goes on from there (to follow a file
// that is still written). A line that is not an entry (a file written
// without timestamps) is written as it is.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		line, err := r.br.ReadSlice('\n')
		if err != nil && !(errors.Is(err, bufio.ErrBufferFull) || errors.Is(err, io.EOF)) {
			return n, err
		}
		if err != nil {
			r.partial = append(r.partial, line...)
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			continue
		}
		if len(r.partial) > 0 {
			line = append(r.partial, line...)
			r.partial = r.partial[:0]
		}
		m, err := w.Write(r.format(line))
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// format is the output for one entry (line ends with '\n'); nothing when
// Since skips it.
func (r *Reader) format(line []byte) []byte {
	ts, stream, text, full, ok := parse(line)
	if !ok {
		if r.opts.Stream != "" {
			return nil
		}
		return line
	}
	if r.opts.Stream != "" && r.opts.Stream != string(stream) {
		return nil
	}
	if !r.opts.Since.IsZero() {
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err == nil && t.Before(r.opts.Since) {
			return nil
		}
	}
	out := r.out[:0]
	if r.opts.Timestamps {
		out = append(append(out, ts...), ' ')
	}
	out = append(out, text...)
	if full {
		out = append(out, '\n')
	}
	r.out = out
	return out
}

// parse splits "<time> <stream> <F|P> <text>\n".
func parse(line []byte) (ts, stream, text []byte, full, ok bool) {
	line = line[:len(line)-1]
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(ts) < len("2006-01-02T15:04:05Z") || ts[4] != '-' || ts[10] != 'T' {
		return nil, nil, nil, false, false
	}
	stream, rest, ok = bytes.Cut(rest, []byte{' '})
	if !ok || !(string(stream) == "stdout" || string(stream) == "stderr") {
		return nil, nil, nil, false, false
	}
	tag, text, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(tag) != 1 || (tag[0] != 'F' && tag[0] != 'P') {
		return nil, nil, nil, false, false
	}
	return ts, stream, text, tag[0] == 'F', true
}
