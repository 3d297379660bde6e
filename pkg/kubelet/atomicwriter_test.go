package kubelet

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// readVolume is what a container sees in dir: every visible path (not
// starting with "..") with its content and mode, following symlinks.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		entries, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if rel == "" && strings.HasPrefix(e.Name(), "..") {
				continue
			}
			p := filepath.Join(rel, e.Name())
			fi, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() {
				walk(p)
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			out[p] = fi.Mode().Perm().String() + " " + string(b)
		}
	}
	walk("")
	return out
}

func tsDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..2") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		name      string
		payload   map[string]fileProjection
		wantWrite bool
		want      map[string]string
	}{
		{
			name: "first write",
			payload: map[string]fileProjection{
				"a":        {Data: []byte("1"), Mode: 0o644},
				"sub/b":    {Data: []byte("2"), Mode: 0o400},
				"sub/deep": {Data: []byte("3"), Mode: 0o600},
			},
			wantWrite: true,
			want:      map[string]string{"a": "-rw-r--r-- 1", "sub/b": "-r-------- 2", "sub/deep": "-rw------- 3"},
		},
		{
			name: "same payload writes nothing",
			payload: map[string]fileProjection{
				"a":        {Data: []byte("1"), Mode: 0o644},
				"sub/b":    {Data: []byte("2"), Mode: 0o400},
				"sub/deep": {Data: []byte("3"), Mode: 0o600},
			},
			wantWrite: false,
			want:      map[string]string{"a": "-rw-r--r-- 1", "sub/b": "-r-------- 2", "sub/deep": "-rw------- 3"},
		},
		{
			name: "changed content, a mode and a removed file",
			payload: map[string]fileProjection{
				"a":     {Data: []byte("one"), Mode: 0o644},
				"sub/b": {Data: []byte("2"), Mode: 0o440},
			},
			wantWrite: true,
			want:      map[string]string{"a": "-rw-r--r-- one", "sub/b": "-r--r----- 2"},
		},
		{
			name:      "a top-level name goes",
			payload:   map[string]fileProjection{"c": {Data: []byte("x"), Mode: 0o644}},
			wantWrite: true,
			want:      map[string]string{"c": "-rw-r--r-- x"},
		},
		{
			name:      "empty",
			payload:   map[string]fileProjection{},
			wantWrite: true,
			want:      map[string]string{},
		},
	}
	for _, s := range steps {
		wrote, err := writeAtomic(dir, s.payload)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrite {
			t.Errorf("%s: wrote = %v, want %v", s.name, wrote, s.wantWrite)
		}
		got := readVolume(t, dir)
		if len(got) != len(s.want) {
			t.Errorf("%s: files = %v, want %v", s.name, got, s.want)
		}
		for k, v := range s.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", s.name, k, got[k], v)
			}
		}
		// One timestamped directory, ..data pointing at it, and
		// every visible name a symlink into ..data.
		ts := tsDirs(t, dir)
		if len(ts) != 1 {
			t.Fatalf("%s: timestamped dirs = %v, want one", s.name, ts)
		}
		if link, err := os.Readlink(filepath.Join(dir, "..data")); err != nil || link != ts[0] {
			t.Errorf("%s: ..data -> %q (%v), want %q", s.name, link, err, ts[0])
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "..") {
				continue
			}
			link, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil || link != filepath.Join("..data", e.Name()) {
				t.Errorf("%s: %s -> %q (%v), want a symlink into ..data", s.name, e.Name(), link, err)
			}
		}
	}
}

func TestWriteAtomicRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", "/abs", "../up", "a/../../b", "..hidden"} {
		if _, err := writeAtomic(t.TempDir(), map[string]fileProjection{p: {Data: []byte("x"), Mode: 0o644}}); err == nil {
			t.Errorf("path %q: no error, want one", p)
		}
	}
}
