package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Root is the prefix of every key the store writes.
const Root = "/registry"

// Key is the etcd key of one object; namespace is "" for cluster-scoped
// resources.
func Key(resource, namespace, name string) string {
	if namespace == "" {
		return Root + "/" + resource + "/" + name
	}
	return Root + "/" + resource + "/" + namespace + "/" + name
}

// Prefix is the key prefix of a list: every object of resource, or only
// those in namespace. It ends in "/".
func Prefix(resource, namespace string) string {
	if namespace == "" {
		return Root + "/" + resource + "/"
	}
	return Root + "/" + resource + "/" + namespace + "/"
}

// Store reads and writes objects as JSON under /registry.
type Store struct {
	client *clientv3.Client
	// transformerFor and its memo (storage name → value.Transformer or
	// nil) encrypt the values of some resources (transform.go).
	transformerFor TransformerFor
	transformers   sync.Map
	// decoded finishes each object read (WithDecoded).
	decoded func(obj runtime.Object) error
}

// WithDecoded makes the store pass every object it decodes from etcd
// (get, list, watch, and the current object of an update or delete)
// through f before anyone sees it, as kube-apiserver's storage codec
// runs its decoder's steps on each read: custom resources are pruned
// and defaulted there with their definition's current schema. An error
// fails the read.
func WithDecoded(f func(obj runtime.Object) error) Option {
	return func(s *Store) { s.decoded = f }
}

// New returns a store over client; the caller keeps owning the client.
func New(client *clientv3.Client, opts ...Option) *Store {
	s := &Store{client: client}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Client gives the underlying etcd client.
func (s *Store) Client() *clientv3.Client { return s.client }

// Preconditions must hold on the stored object for a delete to proceed.
type Preconditions struct {
	UID             *types.UID
	ResourceVersion *string
}

func (p *Preconditions) check(key string, obj runtime.Object) error {
	if p == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if p.UID != nil && *p.UID != m.GetUID() {
		return newErr(ErrConflict, key, fmt.Sprintf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return newErr(ErrConflict, key, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// encode stores obj without its resourceVersion (the revision is the
// version); obj itself is left as it was.
func encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	if rv != "" {
		m.SetResourceVersion("")
		defer m.SetResourceVersion(rv)
	}
	return json.Marshal(obj)
}

// decode fills into from data and sets its resourceVersion to rev.
func decode(data []byte, rev int64, into runtime.Object) error {
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("decoding stored object: %w", err)
	}
	return SetResourceVersion(into, rev)
}

// decode is the package's decode followed by the store's decoded step.
func (s *Store) decode(data []byte, rev int64, into runtime.Object) error {
	if err := decode(data, rev, into); err != nil {
		return err
	}
	if s.decoded != nil {
		if err := s.decoded(into); err != nil {
			return fmt.Errorf("decoding stored object: %w", err)
		}
	}
	return nil
}

// SetResourceVersion writes rev as obj's metadata.resourceVersion.
func SetResourceVersion(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// ParseResourceVersion turns "" into 0 and a number into itself.
func ParseResourceVersion(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid resource version %q", rv)
	}
	return n, nil
}

func newLike(obj runtime.Object) runtime.Object {
	return reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
}

// etcdErr maps etcd's own errors to the store's sentinels.
func etcdErr(key string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrRequestTooLarge), strings.Contains(err.Error(), "request is too large"):
		return newErr(ErrTooLarge, key, err.Error())
	case errors.Is(err, rpctypes.ErrCompacted):
		return newErr(ErrExpired, key, err.Error())
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted {
		return newErr(ErrTooLarge, key, st.Message())
	}
	return fmt.Errorf("etcd %s: %w", key, err)
}

// Create writes obj at key if nothing is there, and sets obj's
// resourceVersion to the new revision.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object) error {
	_, err := s.CreateJSON(ctx, key, obj)
	return err
}

// CreateJSON is Create that also returns the object's JSON as stored,
// with its resourceVersion, so a caller can answer without encoding again.
func (s *Store) CreateJSON(ctx context.Context, key string, obj runtime.Object) ([]byte, error) {
	data, err := encode(obj)
	if err != nil {
		return nil, err
	}
	stored, err := s.toStorage(ctx, key, data)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(stored))).
		Commit()
	if err != nil {
		return nil, etcdErr(key, err)
	}
	if !resp.Succeeded {
		return nil, newErr(ErrAlreadyExists, key, "")
	}
	if err := SetResourceVersion(obj, resp.Header.Revision); err != nil {
		return nil, err
	}
	return InjectResourceVersion(data, resp.Header.Revision), nil
}

// Get reads key into out (a linearizable read).
func (s *Store) Get(ctx context.Context, key string, out runtime.Object) error {
	return s.get(ctx, key, out)
}

// GetLocal reads key from the etcd member the client talks to, without a
// quorum round: it may lag a just-committed write on another member. For
// checks that tolerate that (does the namespace exist).
func (s *Store) GetLocal(ctx context.Context, key string, out runtime.Object) error {
	return s.get(ctx, key, out, clientv3.WithSerializable())
}

func (s *Store) get(ctx context.Context, key string, out runtime.Object, opts ...clientv3.OpOption) error {
	resp, err := s.client.Get(ctx, key, opts...)
	if err != nil {
		return etcdErr(key, err)
	}
	if len(resp.Kvs) == 0 {
		return newErr(ErrNotFound, key, "")
	}
	data, _, err := s.fromStorage(ctx, key, resp.Kvs[0].Value)
	if err != nil {
		return err
	}
	return s.decode(data, resp.Kvs[0].ModRevision, out)
}

// UpdateFunc computes the new object from the stored one (a private copy
// with its resourceVersion set). Returning an object whose resourceVersion
// is non-empty and differs from cur's fails the update with ErrConflict;
// an empty one means "whatever is stored".
type UpdateFunc func(cur runtime.Object) (runtime.Object, error)

// GuaranteedUpdate reads key, applies tryUpdate and writes the result on
// the read mod revision, retrying when someone else wrote in between.
// out receives the written object.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, tryUpdate UpdateFunc) error {
	// The first read is local (the transaction's revision compare keeps
	// the write correct); a retry reads through the quorum.
	readOpts := []clientv3.OpOption{clientv3.WithSerializable()}
	for {
		resp, err := s.client.Get(ctx, key, readOpts...)
		if err != nil {
			return etcdErr(key, err)
		}
		if len(resp.Kvs) == 0 {
			if len(readOpts) > 0 {
				readOpts = nil
				continue
			}
			return newErr(ErrNotFound, key, "")
		}
		kv := resp.Kvs[0]
		// stale: written with a key that is no longer the first, so
		// rewritten even when unchanged, as kube-apiserver does.
		orig, stale, err := s.fromStorage(ctx, key, kv.Value)
		if err != nil {
			return err
		}
		cur := newLike(out)
		if err := s.decode(orig, kv.ModRevision, cur); err != nil {
			return err
		}
		curRV := strconv.FormatInt(kv.ModRevision, 10)
		updated, err := tryUpdate(cur)
		if err != nil {
			if len(readOpts) > 0 && apierrors.IsConflict(err) {
				// tryUpdate found the client's resourceVersion stale:
				// maybe only the local read is.
				readOpts = nil
				continue
			}
			return err
		}
		m, err := meta.Accessor(updated)
		if err != nil {
			return err
		}
		if rv := m.GetResourceVersion(); rv != "" && rv != curRV {
			if len(readOpts) > 0 {
				readOpts = nil // maybe only a stale local read
				continue
			}
			return newErr(ErrConflict, key, OptimisticLockMsg)
		}
		data, err := encode(updated)
		if err != nil {
			return err
		}
		if !stale && string(data) == string(orig) {
			// Nothing changed: no write, the revision stays.
			if err := s.decode(orig, kv.ModRevision, out); err != nil {
				return err
			}
			return nil
		}
		stored, err := s.toStorage(ctx, key, data)
		if err != nil {
			return err
		}
		tresp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut(key, string(stored))).
			Commit()
		if err != nil {
			return etcdErr(key, err)
		}
		if !tresp.Succeeded {
			readOpts = nil
			continue
		}
		return s.decode(data, tresp.Header.Revision, out)
	}
}

// ValidateDeletion may refuse a delete after seeing the stored object.
type ValidateDeletion func(cur runtime.Object) error

// Delete removes key if preconditions hold and validate (if any) agrees;
// out receives the last stored state.
func (s *Store) Delete(ctx context.Context, key string, out runtime.Object, pre *Preconditions, validate ValidateDeletion) error {
	for {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return etcdErr(key, err)
		}
		if len(resp.Kvs) == 0 {
			return newErr(ErrNotFound, key, "")
		}
		kv := resp.Kvs[0]
		data, _, err := s.fromStorage(ctx, key, kv.Value)
		if err != nil {
			return err
		}
		cur := newLike(out)
		if err := s.decode(data, kv.ModRevision, cur); err != nil {
			return err
		}
		if err := pre.check(key, cur); err != nil {
			return err
		}
		if validate != nil {
			if err := validate(cur); err != nil {
				return err
			}
		}
		tresp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Commit()
		if err != nil {
			return etcdErr(key, err)
		}
		if !tresp.Succeeded {
			continue
		}
		return s.decode(data, kv.ModRevision, out)
	}
}

// ListOptions select a page of a list.
type ListOptions struct {
	// ExactRevision reads the list as it was at this etcd revision
	// (resourceVersionMatch=Exact): ErrExpired once compacted, a
	// FutureRevisionError before it exists. 0 reads the latest; a
	// continue token carries its own revision.
	ExactRevision int64
	// Limit caps the number of items (0: no cap).
	Limit int64
	// Continue resumes a paged list.
	Continue string
	// Predicate, if set, keeps only the objects it accepts; pages are
	// filled up to Limit with matching objects.
	Predicate func(obj runtime.Object) bool
	// Raw, without a Predicate, returns the stored JSON in ListResult.Raw
	// instead of decoded Items (AppendResourceVersion writes it out).
	Raw bool
}

// ListResult is one page.
type ListResult struct {
	Items           []runtime.Object
	Raw             []RawObject
	ResourceVersion int64
	// Continue is set when more items follow.
	Continue           string
	RemainingItemCount *int64
}

type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(key, prefix string, rev int64) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: strings.TrimPrefix(key, prefix)})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(token, prefix string) (string, int64, error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, newErr(ErrInvalidContinue, prefix, err.Error())
	}
	var c continueToken
	// A negative revision (upstream writes -1) lists at the latest one:
	// the token of an inconsistent continue.
	if err := json.Unmarshal(data, &c); err != nil || c.APIVersion != "meta.k8s.io/v1" || c.ResourceVersion == 0 {
		return "", 0, newErr(ErrInvalidContinue, prefix, "malformed token")
	}
	if strings.Contains(c.StartKey, "..") || strings.HasPrefix(c.StartKey, "/") {
		return "", 0, newErr(ErrInvalidContinue, prefix, "bad start key")
	}
	return prefix + c.StartKey, max(c.ResourceVersion, 0), nil
}

// inconsistentContinue is upstream's answer to a continue token whose
// revision was compacted: 410 with a token that resumes at the same key
// at the latest revision (the list is then inconsistent: objects written
// since the first page show as they are now).
func inconsistentContinue(key, prefix string) error {
	return &Error{Err: ErrExpired, Key: prefix, Continue: encodeContinue(key, prefix, -1),
		Detail: "The provided continue parameter is too old to display a consistent list result. " +
			"You can start a new list without the continue parameter, or use the continue token in this response " +
			"to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - " +
			"objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."}
}

// List reads the objects under prefix (which must end in "/"). newItem
// makes the typed object each value is decoded into.
func (s *Store) List(ctx context.Context, prefix string, newItem func() runtime.Object, opts ListOptions) (*ListResult, error) {
	start := prefix
	rev := opts.ExactRevision
	if opts.Continue != "" {
		var err error
		start, rev, err = decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, err
		}
	}
	from := start
	end := clientv3.GetPrefixRangeEnd(prefix)
	res := &ListResult{}
	// Fetch in batches; with a predicate, keep going until the page holds
	// Limit matching items.
	batch := opts.Limit
	if opts.Predicate != nil && batch > 0 && batch < 100 {
		batch = 100
	}
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		if batch > 0 {
			ops = append(ops, clientv3.WithLimit(batch))
		}
		resp, err := s.client.Get(ctx, start, ops...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) && opts.Continue != "" {
				return nil, inconsistentContinue(from, prefix)
			}
			if errors.Is(err, rpctypes.ErrCompacted) && opts.ExactRevision > 0 {
				return nil, newErr(ErrExpired, prefix, fmt.Sprintf("too old resource version: %d", rev))
			}
			if errors.Is(err, rpctypes.ErrFutureRev) && opts.ExactRevision > 0 {
				cur, _ := s.CurrentRevision(ctx)
				return nil, &FutureRevisionError{Requested: rev, Current: cur}
			}
			return nil, etcdErr(prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		raw := opts.Raw && opts.Predicate == nil
		for i, kv := range resp.Kvs {
			data, _, err := s.fromStorage(ctx, string(kv.Key), kv.Value)
			if err != nil {
				return nil, err
			}
			var n int
			if raw {
				res.Raw = append(res.Raw, RawObject{Data: data, Revision: kv.ModRevision})
				n = len(res.Raw)
			} else {
				obj := newItem()
				if err := s.decode(data, kv.ModRevision, obj); err != nil {
					return nil, err
				}
				if opts.Predicate != nil && !opts.Predicate(obj) {
					continue
				}
				res.Items = append(res.Items, obj)
				n = len(res.Items)
			}
			if opts.Limit > 0 && int64(n) == opts.Limit {
				more := resp.More || i < len(resp.Kvs)-1
				if more {
					next := string(kv.Key) + "\x00"
					res.Continue = encodeContinue(next, prefix, rev)
					if opts.Predicate == nil {
						left := resp.Count - int64(i) - 1
						res.RemainingItemCount = &left
					}
				}
				res.ResourceVersion = rev
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.ResourceVersion = rev
	return res, nil
}

// CurrentRevision is etcd's latest revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, Root+"/", clientv3.WithCountOnly(), clientv3.WithLimit(1))
	if err != nil {
		return 0, etcdErr(Root, err)
	}
	return resp.Header.Revision, nil
}

// Count is the number of keys under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, etcdErr(prefix, err)
	}
	return resp.Count, nil
}

// RawObject is one stored value as etcd holds it: JSON without its
// resourceVersion, and the revision that is its resourceVersion.
type RawObject struct {
	Data     []byte
	Revision int64
}

var metadataOpen = []byte(`"metadata":{`)

// AppendResourceVersion appends data to dst with metadata.resourceVersion
// set to rev (see InjectResourceVersion).
func AppendResourceVersion(dst, data []byte, rev int64) []byte {
	i := bytes.Index(data, metadataOpen)
	if i < 0 {
		return append(dst, data...)
	}
	at := i + len(metadataOpen)
	dst = append(dst, data[:at]...)
	dst = append(dst, `"resourceVersion":"`...)
	dst = strconv.AppendInt(dst, rev, 10)
	dst = append(dst, '"')
	if at < len(data) && data[at] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, data[at:]...)
}

// InjectResourceVersion returns stored JSON with metadata.resourceVersion
// set to rev, without decoding it. Values are written by this package
// (json.Marshal of a typed object: kind, apiVersion, then metadata, with
// no resourceVersion), so the first "metadata":{ is the object's own.
func InjectResourceVersion(data []byte, rev int64) []byte {
	i := bytes.Index(data, metadataOpen)
	if i < 0 {
		return data
	}
	at := i + len(metadataOpen)
	rv := strconv.AppendInt([]byte(`"resourceVersion":"`), rev, 10)
	rv = append(rv, '"')
	if at < len(data) && data[at] != '}' {
		rv = append(rv, ',')
	}
	out := make([]byte, 0, len(data)+len(rv))
	out = append(out, data[:at]...)
	out = append(out, rv...)
	return append(out, data[at:]...)
}
