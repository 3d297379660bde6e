package ctl

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileLines(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	second := write("second.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n   labels: x\n")
	first := write("first.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: [a\n")
	leading := write("leading.yaml", "--- # first\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: [a\n")

	tests := []struct {
		name string
		msg  string
		want string
	}{
		{
			name: "second document",
			msg:  "error: error parsing " + second + ": error converting YAML to JSON: yaml: line 5: mapping values are not allowed in this context",
			want: "error: error parsing " + second + ": error converting YAML to JSON: yaml: line 10 (line 5 of 2nd document): mapping values are not allowed in this context",
		},
		{
			name: "first document unchanged",
			msg:  "error: error parsing " + first + ": error converting YAML to JSON: yaml: line 5: did not find expected ',' or ']'",
			want: "error: error parsing " + first + ": error converting YAML to JSON: yaml: line 5: did not find expected ',' or ']'",
		},
		{
			name: "document after a leading separator",
			msg:  "error: error parsing " + leading + ": error converting YAML to JSON: yaml: line 5: did not find expected ',' or ']'",
			want: "error: error parsing " + leading + ": error converting YAML to JSON: yaml: line 6 (line 5 of 2nd document): did not find expected ',' or ']'",
		},
		{
			name: "stdin unchanged",
			msg:  "error: error parsing STDIN: error converting YAML to JSON: yaml: line 3: x",
			want: "error: error parsing STDIN: error converting YAML to JSON: yaml: line 3: x",
		},
		{name: "other message", msg: "error: something else", want: "error: something else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fileLines(tt.msg); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
