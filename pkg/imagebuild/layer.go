package imagebuild

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// emptyTarDiffID is the digest of a tar with no entries (two zero blocks):
// the diff of a step that changed nothing. Like BuildKit, such steps add
// no layer and are recorded as empty in the history.
const emptyTarDiffID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

// fileLayer is a gzip layer blob on disk whose digests are known, so that
// reusing a cached layer costs no hashing or decompression.
type fileLayer struct {
	path      string
	owned     bool // a temporary file the cache may move instead of copy
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
}

var _ v1.Layer = (*fileLayer)(nil)

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return gunzipFile(l.path) }

// gunzipFile opens a gzip file for reading its uncompressed stream.
func gunzipFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// gzipTar compresses an uncompressed layer tar and returns the blob with
// its digest and diffID. The compression level is fixed, so the same tar
// always gives the same blob.
func gzipTar(tarBytes []byte) (blob []byte, digest, diffID v1.Hash, err error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err != nil {
		return nil, v1.Hash{}, v1.Hash{}, err
	}
	if _, err := zw.Write(tarBytes); err != nil {
		return nil, v1.Hash{}, v1.Hash{}, err
	}
	if err := zw.Close(); err != nil {
		return nil, v1.Hash{}, v1.Hash{}, err
	}
	return b.Bytes(), sha256Hash(b.Bytes()), sha256Hash(tarBytes), nil
}

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// bytesLayer is a gzip layer held in memory.
type bytesLayer struct {
	blob           []byte
	digest, diffID v1.Hash
}

func (l *bytesLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *bytesLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *bytesLayer) Size() (int64, error)                { return int64(len(l.blob)), nil }
func (l *bytesLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l *bytesLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}
func (l *bytesLayer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.blob))
	if err != nil {
		return nil, err
	}
	return zr, nil
}

// memLayer compresses an uncompressed layer tar into a layer.
func memLayer(tarBytes []byte) (v1.Layer, error) {
	blob, d, diff, err := gzipTar(tarBytes)
	if err != nil {
		return nil, err
	}
	return &bytesLayer{blob: blob, digest: d, diffID: diff}, nil
}
