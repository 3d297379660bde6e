package kubelet

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// fileProjection is one file of a projected volume (configMap, secret,
// downwardAPI, projected): its content and permission bits.
type fileProjection struct {
	Data []byte
	Mode int32
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// writeAtomic makes dir hold exactly payload, the way the kubelet's
// AtomicWriter does, so that a container never sees a half-written update:
// the files go into a fresh timestamped directory (..2006_01_02_15_04_05.N),
// the symlink ..data is swapped to it with one rename, and each user-visible
// top-level name is a symlink into ..data. Paths no longer in the payload
// are removed, then the previous timestamped directory. Nothing is written
// when the content and modes on disk already match. It reports whether it
// wrote.
func writeAtomic(dir string, payload map[string]fileProjection) (bool, error) {
	clean := make(map[string]fileProjection, len(payload))
	for p, f := range payload {
		if err := validateProjectionPath(p); err != nil {
			return false, err
		}
		clean[filepath.Clean(p)] = f
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	dataDir := filepath.Join(dir, dataDirName)
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("reading link %s: %w", dataDir, err)
	}
	var remove []string
	write := true
	if oldTs != "" {
		oldPath := filepath.Join(dir, oldTs)
		remove, err = stalePaths(clean, oldPath)
		if err != nil {
			return false, err
		}
		if !payloadDiffers(clean, oldPath) && len(remove) == 0 {
			write = false
		}
	}
	if write {
		tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
		if err != nil {
			return false, err
		}
		if err := os.Chmod(tsDir, 0o755); err != nil {
			return false, err
		}
		if err := writePayload(clean, tsDir); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
		tmpLink := filepath.Join(dir, newDataDirName)
		_ = os.Remove(tmpLink)
		if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
		if err := os.Rename(tmpLink, dataDir); err != nil {
			_ = os.Remove(tmpLink)
			_ = os.RemoveAll(tsDir)
			return false, err
		}
	}
	for p := range clean {
		top, _, _ := strings.Cut(p, string(os.PathSeparator))
		visible := filepath.Join(dir, top)
		if _, err := os.Lstat(visible); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join(dataDirName, top), visible); err != nil {
				return write, err
			}
		}
	}
	// Deepest first, so a directory is emptied before it goes.
	sort.Sort(sort.Reverse(sort.StringSlice(remove)))
	for _, p := range remove {
		if strings.Contains(p, string(os.PathSeparator)) {
			continue // inside a top-level name: gone with the old ts dir
		}
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !os.IsNotExist(err) {
			return write, err
		}
	}
	if write && oldTs != "" {
		if err := os.RemoveAll(filepath.Join(dir, oldTs)); err != nil {
			return write, err
		}
	}
	return write, nil
}

// validateProjectionPath is upstream's validatePath: relative, no "..",
// not starting with "..".
func validateProjectionPath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if path.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > 4096 {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", 4096)
	}
	items := strings.Split(p, string(os.PathSeparator))
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > 255 {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", 255)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// payloadDiffers reports whether a file of payload is missing from oldDir
// or has other content or mode there.
func payloadDiffers(payload map[string]fileProjection, oldDir string) bool {
	for p, f := range payload {
		full := filepath.Join(oldDir, p)
		fi, err := os.Lstat(full)
		if err != nil || fi.Mode().Perm() != os.FileMode(f.Mode).Perm() {
			return true
		}
		b, err := os.ReadFile(full)
		if err != nil || !bytes.Equal(b, f.Data) {
			return true
		}
	}
	return false
}

// stalePaths are the paths under oldDir that neither are in payload nor
// lead to a file of it.
func stalePaths(payload map[string]fileProjection, oldDir string) ([]string, error) {
	keep := map[string]bool{}
	for p := range payload {
		for sub := p; sub != "." && sub != ""; sub = filepath.Dir(sub) {
			keep[sub] = true
		}
	}
	var out []string
	err := filepath.Walk(oldDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(oldDir, p)
		if rel != "." && !keep[rel] {
			out = append(out, rel)
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil, nil
	}
	return out, err
}

func writePayload(payload map[string]fileProjection, dir string) error {
	for p, f := range payload {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(f.Mode).Perm()
		if err := os.WriteFile(full, f.Data, mode); err != nil {
			return err
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(full, mode); err != nil {
			return err
		}
	}
	return nil
}
