package containerlog

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// clock returns times one second apart from t0.
func clock(t0 time.Time) func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n-1) * time.Second)
	}
}

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 500, time.UTC)

func write(t *testing.T, streams ...string) string {
	t.Helper()
	var file bytes.Buffer
	w := NewWriter(&file)
	w.now = clock(t0)
	for i := 0; i+1 < len(streams); i += 2 {
		if err := w.Copy(streams[i], strings.NewReader(streams[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	return file.String()
}

func TestWriterEntries(t *testing.T) {
	long := strings.Repeat("x", MaxLine+10)
	for _, tt := range []struct {
		name    string
		streams []string
		want    string
	}{
		{"lines", []string{"stdout", "a\nb\n"},
			"2025-03-01T10:00:00.0000005Z stdout F a\n2025-03-01T10:00:01.0000005Z stdout F b\n"},
		{"empty line and stderr", []string{"stdout", "\n", "stderr", "oops\n"},
			"2025-03-01T10:00:00.0000005Z stdout F \n2025-03-01T10:00:01.0000005Z stderr F oops\n"},
		{"last line without newline", []string{"stdout", "a\nno newline"},
			"2025-03-01T10:00:00.0000005Z stdout F a\n2025-03-01T10:00:01.0000005Z stdout P no newline\n"},
		{"long line cut", []string{"stdout", long + "\n"},
			"2025-03-01T10:00:00.0000005Z stdout P " + long[:MaxLine] + "\n2025-03-01T10:00:01.0000005Z stdout F " + long[MaxLine:] + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := write(t, tt.streams...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func read(t *testing.T, file string, opts Options) string {
	t.Helper()
	var out bytes.Buffer
	if _, err := NewReader(strings.NewReader(file), opts).WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestReaderGivesBackTheOutput(t *testing.T) {
	long := strings.Repeat("y", 2*MaxLine+3)
	output := "first\n\n" + long + "\nlast, no newline"
	file := write(t, "stdout", output)
	if got := read(t, file, Options{}); got != output {
		t.Errorf("round trip lost bytes: got %d bytes, want %d", len(got), len(output))
	}
}

func TestReaderOptions(t *testing.T) {
	file := write(t, "stdout", "one\ntwo\n", "stderr", "three\n")
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"plain", Options{}, "one\ntwo\nthree\n"},
		{"timestamps", Options{Timestamps: true},
			"2025-03-01T10:00:00.0000005Z one\n2025-03-01T10:00:01.0000005Z two\n2025-03-01T10:00:02.0000005Z three\n"},
		{"since skips older entries", Options{Since: t0.Add(time.Second)}, "two\nthree\n"},
		{"since after everything", Options{Since: t0.Add(time.Hour)}, ""},
		{"stdout only", Options{Stream: "stdout"}, "one\ntwo\n"},
		{"stderr only", Options{Stream: "stderr"}, "three\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := read(t, file, tt.opts); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReaderPassesOtherLinesThrough(t *testing.T) {
	file := "raw output\n2025-03-01T10:00:00Z stdout F entry\n"
	if got, want := read(t, file, Options{Timestamps: true}), "raw output\n2025-03-01T10:00:00Z entry\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReaderFollowsAFileBeingWritten reads an entry written in two parts:
// nothing comes out until the entry is whole.
func TestReaderFollowsAFileBeingWritten(t *testing.T) {
	file := &growing{}
	r := NewReader(file, Options{})
	file.append("2025-03-01T10:00:00Z stdout F hel")
	var out bytes.Buffer
	if _, err := r.WriteTo(&out); err != nil || out.Len() != 0 {
		t.Fatalf("half an entry gave %q, %v; want nothing yet", out.String(), err)
	}
	file.append("lo\n")
	if _, err := r.WriteTo(&out); err != nil || out.String() != "hello\n" {
		t.Fatalf("whole entry gave %q, %v; want hello", out.String(), err)
	}
}

// growing is a file that returns EOF at its current end and can grow.
type growing struct {
	data []byte
	off  int
}

func (g *growing) append(s string) { g.data = append(g.data, s...) }

func (g *growing) Read(p []byte) (int, error) {
	if g.off >= len(g.data) {
		return 0, io.EOF
	}
	n := copy(p, g.data[g.off:])
	g.off += n
	return n, nil
}
