package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/addons"
	"minik8s/pkg/netns"
)

// The lab's cluster DNS: CoreDNS (cmd/coredns, a module of its own) in
// the image minik8s/coredns, installed as the dns add-on with no
// forwarding (no resolver outside the lab is reachable from pods, so
// names outside cluster.local fail at once).
const (
	ClusterDNS    = addons.DefaultDNSClusterIP
	ClusterDomain = addons.DefaultClusterDomain
	corednsRepo   = "minik8s/coredns"
	corednsFix    = "rebuild it static: `(cd cmd/coredns && CGO_ENABLED=0 go build -o ../../bin/ .)`"
)

// corednsImage is CoreDNS at /coredns, with /etc/coredns (the Corefile's
// mount point) and /tmp, as upstream's image: entrypoint /coredns,
// ports 53/udp, 53/tcp.
func corednsImage(binary []byte) (v1.Image, error) {
	layer, err := layerTar([]tarEntry{
		{Name: "etc", Mode: 0o755, Dir: true},
		{Name: "etc/coredns", Mode: 0o755, Dir: true},
		{Name: "tmp", Mode: 0o1777, Dir: true},
		{Name: "coredns", Mode: 0o755, Data: binary},
	})
	if err != nil {
		return nil, err
	}
	return imageFromLayer(layer, v1.Config{
		Entrypoint:   []string{"/coredns"},
		Env:          []string{"PATH=/"},
		ExposedPorts: map[string]struct{}{"53/tcp": {}, "53/udp": {}},
	})
}

// ensureCoreDNSImage pushes minik8s/coredns:<version> and :latest unless
// cacheFile (empty: none) records that the registry holds this binary's
// image.
func ensureCoreDNSImage(ctx context.Context, registry, bin, cacheFile string) error {
	if err := checkImageBinary(bin, corednsFix); err != nil {
		return err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the CoreDNS binary %s: %w", bin, err)
	}
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	tags := []string{addons.CoreDNSVersion, "latest"}
	var rec struct{ Key, Digest string }
	if c, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(c, &rec) == nil && rec.Key == key {
		all := true
		for _, t := range tags {
			ref, err := name.ParseReference(registry+"/"+corednsRepo+":"+t, name.Insecure)
			if err != nil {
				return err
			}
			if d, err := remote.Head(ref, remote.WithContext(ctx)); err != nil || d.Digest.String() != rec.Digest {
				all = false
			}
		}
		if all {
			return nil
		}
	}
	img, err := corednsImage(b)
	if err != nil {
		return fmt.Errorf("building %s: %w", corednsRepo, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	for _, t := range tags {
		ref, err := name.ParseReference(registry+"/"+corednsRepo+":"+t, name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return pushError(ref.String(), err)
		}
	}
	if cacheFile == "" {
		return nil
	}
	c, _ := json.Marshal(map[string]string{"Key": key, "Digest": digest.String()})
	return os.WriteFile(cacheFile, c, 0o644)
}

// installDNS applies the dns add-on: CoreDNS reaches the API server as
// its ServiceAccount (in-cluster config: the mounted token and CA, through
// the default/kubernetes Service 10.96.0.1:443 → 10.200.0.1:6443, which
// the nodes masquerade: apiserverMasquerade).
func installDNS(ctx context.Context, cs kubernetes.Interface, out io.Writer) error {
	dns := addons.NewDNSConfig()
	dns.Upstream = ""
	objs, err := addons.Lookup("dns", dns)
	if err != nil {
		return err
	}
	_, err = addons.Apply(ctx, cs, objs, out)
	return err
}

// apiserverMasquerade is the node's nftables table that lets pods reach
// the API server: pod traffic to 10.200.0.1:6443 (directly, or through the
// kubernetes Service once the proxy DNATed it) leaves the node with the
// node's address, like the agent's own requests, so the root namespace's
// input filter (only node addresses on mk8s0) lets it in. Nothing else
// from pods reaches the root namespace: not the registry, not other ports.
func apiserverMasquerade() string {
	return fmt.Sprintf(`table ip minik8s-lab-node {
	chain postrouting {
		type nat hook postrouting priority srcnat + 10; policy accept;
		ip saddr %s ip daddr %s tcp dport %d oifname "eth0" masquerade
	}
}
`, ClusterCIDR, GatewayAddr, APIPort)
}

// installAPIServerMasquerade loads apiserverMasquerade into the node's
// namespace; the table goes with the namespace.
func installAPIServerMasquerade(n Node) error {
	var out bytes.Buffer
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(apiserverMasquerade())
	cmd.Stdout, cmd.Stderr = &out, &out
	err := netns.Start(n.NetnsPath(), cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("masquerading pod traffic to the API server in %s: %w: %s", n.Netns(), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// findCoreDNS is the coredns binary beside the ctl executable, else on
// $PATH.
func findCoreDNS() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "coredns")
		if statExec(p) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("coredns"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no coredns binary beside ctl or on $PATH: build it with `(cd cmd/coredns && CGO_ENABLED=0 go build -o ../../bin/ .)`, or name it with --coredns")
}

// newPushCoreDNSCommand is `ctl image push-coredns`: the lab's CoreDNS
// image, for the registry of real hosts.
func newPushCoreDNSCommand(ctx context.Context, registry *string) *cobra.Command {
	var bin string
	cmd := &cobra.Command{
		Use:   "push-coredns",
		Short: "Build the image " + corednsRepo + ":" + addons.CoreDNSVersion + " (and :latest) from the coredns binary and push it",
		Long: `Build the cluster DNS image from the coredns binary (cmd/coredns) without
Docker, as ` + "`lab up`" + ` does, and push it to --registry as ` + corednsRepo + `:` + addons.CoreDNSVersion + `
and :latest. Agents whose docker.io mirror is that registry
(--registry-mirror docker.io=http://REGISTRY) then pull the image the dns
add-on names (` + "`ctl addons apply dns`" + `).`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			if bin == "" {
				var err error
				if bin, err = findCoreDNS(); err != nil {
					return err
				}
			}
			if err := ensureCoreDNSImage(ctx, *registry, bin, ""); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "pushed %s/%s:%s and :latest\n", *registry, corednsRepo, addons.CoreDNSVersion)
			return nil
		},
	}
	cmd.Flags().StringVar(&bin, "coredns", "", "coredns binary (default: beside ctl, then $PATH)")
	return cmd
}
