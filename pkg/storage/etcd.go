package storage

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// EtcdConfig configures the embedded etcd.
type EtcdConfig struct {
	// DataDir holds etcd's WAL and database.
	DataDir string
	// MaxRequestBytes must exceed the apiserver's 3 MiB body limit so
	// that big objects get our 413, not a gRPC failure.
	MaxRequestBytes uint
	// QuotaBackendBytes sizes the database before etcd raises NOSPACE.
	QuotaBackendBytes int64
	// CompactionRetention is how much history the periodic compaction
	// keeps (watches older than that get 410).
	CompactionRetention time.Duration
	// UnsafeNoFsync trades durability for speed, for tests.
	UnsafeNoFsync bool
}

// NewEtcdConfig holds the defaults.
func NewEtcdConfig(dataDir string) EtcdConfig {
	return EtcdConfig{
		DataDir:             dataDir,
		MaxRequestBytes:     8 << 20,
		QuotaBackendBytes:   4 << 30,
		CompactionRetention: 5 * time.Minute,
	}
}

// Etcd is a running embedded etcd; it listens on 127.0.0.1 ports the
// kernel chose, never on 2379/2380.
type Etcd struct {
	e        *embed.Etcd
	endpoint string
}

// StartEtcd starts the embedded etcd and waits until it serves.
func StartEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = "minik8s"
	ec.Dir = cfg.DataDir
	any0, _ := url.Parse("http://127.0.0.1:0")
	ec.ListenClientUrls = []url.URL{*any0}
	ec.AdvertiseClientUrls = []url.URL{*any0}
	ec.ListenPeerUrls = []url.URL{*any0}
	ec.AdvertisePeerUrls = []url.URL{*any0}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.MaxRequestBytes = cfg.MaxRequestBytes
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	if cfg.CompactionRetention > 0 {
		ec.AutoCompactionMode = embed.CompactorModePeriodic
		ec.AutoCompactionRetention = cfg.CompactionRetention.String()
	}
	ec.WatchProgressNotifyInterval = 5 * time.Second
	ec.Logger = "zap"
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s did not become ready within 60s", cfg.DataDir)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Etcd{e: e, endpoint: "http://" + e.Clients[0].Addr().String()}, nil
}

// Endpoint is the client URL.
func (e *Etcd) Endpoint() string { return e.endpoint }

// ReadyNotify is closed once etcd serves (already true after StartEtcd).
func (e *Etcd) ReadyNotify() <-chan struct{} { return e.e.Server.ReadyNotify() }

// Err reports a fatal etcd failure.
func (e *Etcd) Err() <-chan error { return e.e.Err() }

// Close stops etcd.
func (e *Etcd) Close() { e.e.Close() }

// NewClient connects to endpoints with message limits large enough for
// any object the apiserver accepts.
func NewClient(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        10 * time.Second,
		MaxCallSendMsgSize: 16 << 20,
		MaxCallRecvMsgSize: math.MaxInt32,
		Logger:             zap.NewNop(),
		DialOptions:        []grpc.DialOption{},
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd %v: %w", endpoints, err)
	}
	return c, nil
}

// Compact runs until ctx ends, compacting every interval to the revision
// seen one interval before, so about interval of history stays. Use it
// with an external etcd; the embedded one compacts itself.
func Compact(ctx context.Context, client *clientv3.Client, interval time.Duration) {
	var last int64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := client.Get(ctx, Root+"/", clientv3.WithCountOnly(), clientv3.WithLimit(1))
		if err != nil {
			continue
		}
		if last > 0 {
			_, _ = client.Compact(ctx, last)
		}
		last = resp.Header.Revision
	}
}
