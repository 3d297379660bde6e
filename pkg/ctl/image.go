package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"minik8s/pkg/imagebuild"
)

// AddImageCommands adds build, inspect, history, save, rm, push and pull
// to the `image` verb, whose persistent --registry flag names the lab
// registry. labDir is the lab's state directory: its containerd runs the
// RUN steps, its registry config is what `rm` garbage-collects.
func AddImageCommands(ctx context.Context, image *cobra.Command, labDir string) {
	registry := func(c *cobra.Command) string {
		r, _ := c.Flags().GetString("registry")
		return r
	}
	image.AddCommand(newImageBuildCommand(ctx, registry, labDir),
		newImageInspectCommand(ctx, registry),
		newImageHistoryCommand(ctx, registry),
		newImageSaveCommand(ctx, registry),
		newImageRmCommand(ctx, registry, labDir),
		newImagePushCommand(ctx, registry),
		newImagePullCommand(ctx, registry))
}

func labImage(ctx context.Context, registry, ref string) (v1.Image, name.Reference, error) {
	r, err := imagebuild.LabRef(registry, ref)
	if err != nil {
		return nil, nil, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(imagebuild.Platform()))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w (see `ctl image ls`)", r, err)
	}
	return img, r, nil
}

// imageBuildOptions are the flags of `ctl image build`.
type imageBuildOptions struct {
	Tags       []string
	Dockerfile string
	BuildArgs  []string
	Target     string
	NoCache    bool
	Platform   string
	Push       string
	Output     string
	CacheDir   string
	Containerd string
	Quiet      bool
	OCI        bool

	Registry string // the lab registry
	LabDir   string
}

func (o *imageBuildOptions) addFlags(f *pflag.FlagSet) {
	f.StringArrayVarP(&o.Tags, "tag", "t", nil, "name and tag of the image in the lab registry (NAME[:TAG]; repeatable)")
	f.StringVarP(&o.Dockerfile, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile)")
	f.StringArrayVar(&o.BuildArgs, "build-arg", nil, "build-time variable K=V (K alone takes it from the environment)")
	f.StringVar(&o.Target, "target", "", "build this stage instead of the last")
	f.BoolVar(&o.NoCache, "no-cache", false, "run every step instead of using the layer cache")
	f.StringVar(&o.Platform, "platform", "", "target platform; only this machine's (linux/"+imagebuild.Platform().Architecture+")")
	f.StringVar(&o.Push, "push", "", "also push to this REGISTRY/NAME:TAG (credentials from ~/.docker/config.json)")
	f.StringVar(&o.Output, "output", "", "write the image to a tarball: type=oci,dest=FILE.tar or type=docker,dest=FILE.tar")
	f.StringVar(&o.CacheDir, "cache-dir", imagebuild.DefaultCacheDir(), "the layer cache")
	f.StringVar(&o.Containerd, "containerd-address", "", "containerd socket for RUN steps (default: the lab's)")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only the image digest")
	f.BoolVar(&o.OCI, "oci", false, "write an OCI manifest and media types (default: Docker v2, or OCI when the base image is)")
}

func newImageBuildCommand(ctx context.Context, registry func(*cobra.Command) string, labDir string) *cobra.Command {
	o := &imageBuildOptions{LabDir: labDir}
	cmd := &cobra.Command{
		Use:   "build -t NAME[:TAG] [-f Dockerfile] CONTEXT",
		Short: "Build an image from a Dockerfile and push it to the lab registry",
		Long: `Build an image from a Dockerfile, without Docker: the Dockerfile is parsed by
BuildKit's parser, RUN steps run as containers on the lab's containerd (with
no network: loopback only), COPY and ADD read the context with its
.dockerignore. Each filesystem-changing step is looked up in a layer cache
(~/.minik8s/cache/imagebuild) keyed by the layers below it, the instruction
and the content of what it copies. The image goes to the lab registry under
each -t name (hello:v1 lands where a pod's "image: hello:v1" finds it), or
to --push, or into a tarball with --output.

SOURCE_DATE_EPOCH (environment or --build-arg) fixes the timestamps of the
config, the history and new files, for reproducible digests.`,
		Example: `  ctl image build -t hello:v1 deploy/examples/hello/
  ctl create deployment hello --image=hello:v1`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			o.Registry = registry(c)
			return runImageBuild(ctx, o, args[0], c.OutOrStdout())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// runImageBuild builds, then pushes to every destination; the digest is
// the last line printed.
func runImageBuild(ctx context.Context, o *imageBuildOptions, contextDir string, stdout io.Writer) error {
	out := stdout
	if o.Quiet {
		out = io.Discard
	}
	opts := imagebuild.Options{ContextDir: contextDir, Dockerfile: o.Dockerfile, Target: o.Target, NoCache: o.NoCache,
		Platform: o.Platform, OCI: o.OCI, Resolve: imagebuild.RegistryResolver(o.Registry),
		Cache: &imagebuild.Cache{Dir: o.CacheDir}, Out: out, BuildArgs: map[string]string{}}
	for _, a := range o.BuildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		opts.BuildArgs[k] = v
	}
	epoch, err := sourceDateEpoch(opts.BuildArgs)
	if err != nil {
		return err
	}
	opts.Epoch = epoch
	// BuildKit reads SOURCE_DATE_EPOCH itself; it is no ARG.
	delete(opts.BuildArgs, "SOURCE_DATE_EPOCH")
	var dest []name.Reference
	for _, t := range o.Tags {
		r, err := imagebuild.LabRef(o.Registry, t)
		if err != nil {
			return err
		}
		dest = append(dest, r)
	}
	if o.Push != "" {
		r, err := name.ParseReference(o.Push)
		if err != nil {
			return fmt.Errorf("--push %q: %w", o.Push, err)
		}
		dest = append(dest, r)
	}
	outKind, outFile, err := parseOutput(o.Output)
	if err != nil {
		return err
	}
	if len(dest) == 0 && outFile == "" {
		return errors.New("give the image a name with -t NAME[:TAG] (or --push REF, or --output type=oci,dest=FILE.tar)")
	}
	address := o.Containerd
	if address == "" {
		address = filepath.Join(o.LabDir, "containerd", "containerd.sock")
	}
	// Without containerd a build still works until a RUN misses the cache.
	if runner, err := imagebuild.NewContainerdRunner(address); err == nil {
		defer runner.Close()
		runner.LayerDir = opts.Cache.TmpDir()
		opts.Runner = runner
	} else {
		opts.Runner = failingRunner{err}
	}
	start := time.Now()
	res, err := imagebuild.Build(ctx, opts)
	if err != nil {
		return err
	}
	d, err := res.Image.Digest()
	if err != nil {
		return err
	}
	v := res.Steps + 1
	fmt.Fprintf(out, "#%d exporting to image\n", v)
	for _, r := range dest {
		ropts := []remote.Option{remote.WithContext(ctx)}
		if r.Context().RegistryStr() != o.Registry {
			ropts = append(ropts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
		}
		if err := remote.Write(r, res.Image, ropts...); err != nil {
			return fmt.Errorf("pushing %s: %w", r, err)
		}
		fmt.Fprintf(out, "#%d pushed %s@%s\n", v, r, d)
	}
	if outFile != "" {
		ref := "image:latest"
		if len(o.Tags) > 0 {
			ref = o.Tags[0]
		}
		if outKind == "docker" {
			t, err := name.NewTag(ref)
			if err != nil {
				return err
			}
			err = imagebuild.WriteDockerArchive(outFile, map[name.Tag]v1.Image{t: res.Image})
			if err != nil {
				return err
			}
		} else if err := imagebuild.WriteOCIArchive(outFile, map[string]v1.Image{ref: res.Image}); err != nil {
			return err
		}
		fmt.Fprintf(out, "#%d wrote %s (%s)\n", v, outFile, outKind)
	}
	fmt.Fprintf(out, "#%d DONE %.1fs\n", v, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "%s\n", d)
	return nil
}

// failingRunner reports why RUN cannot run (no lab) when a step needs it:
// a Dockerfile without RUN, or one whose RUN steps are all cached, builds
// without containerd.
type failingRunner struct{ err error }

func (f failingRunner) Run(context.Context, imagebuild.RunSpec) (v1.Layer, error) { return nil, f.err }

// sourceDateEpoch reads SOURCE_DATE_EPOCH from the build args, else the
// environment, as BuildKit does.
func sourceDateEpoch(args map[string]string) (*time.Time, error) {
	v, ok := args["SOURCE_DATE_EPOCH"]
	if !ok {
		v, ok = os.LookupEnv("SOURCE_DATE_EPOCH")
	}
	if !ok || v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH %q: must be seconds since 1970", v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// parseOutput reads --output type=oci|docker,dest=FILE.
func parseOutput(s string) (kind, dest string, err error) {
	if s == "" {
		return "", "", nil
	}
	kind = "oci"
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "type":
			if v != "oci" && v != "docker" {
				return "", "", fmt.Errorf("--output type=%s: only oci and docker tarballs", v)
			}
			kind = v
		case "dest":
			dest = v
		default:
			return "", "", fmt.Errorf("--output: unknown key %q (type=oci|docker,dest=FILE)", k)
		}
	}
	if dest == "" {
		return "", "", errors.New("--output needs dest=FILE")
	}
	return kind, dest, nil
}

func newImageInspectCommand(ctx context.Context, registry func(*cobra.Command) string) *cobra.Command {
	return &cobra.Command{
		Use:          "inspect NAME[:TAG]...",
		Short:        "Print an image's config, layers and sizes as JSON",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			var all []*imagebuild.Inspection
			for _, a := range args {
				img, r, err := labImage(ctx, registry(c), a)
				if err != nil {
					return err
				}
				in, err := imagebuild.Inspect(img, r.String())
				if err != nil {
					return err
				}
				all = append(all, in)
			}
			return imagebuild.MarshalInspection(c.OutOrStdout(), all)
		},
	}
}

func newImageHistoryCommand(ctx context.Context, registry func(*cobra.Command) string) *cobra.Command {
	var noTrunc bool
	cmd := &cobra.Command{
		Use:          "history NAME[:TAG]",
		Short:        "Show the history of an image: one row per instruction, newest first, with its layer's size",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			img, _, err := labImage(ctx, registry(c), args[0])
			if err != nil {
				return err
			}
			hist, err := imagebuild.History(img)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "LAYER\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
			for _, h := range hist {
				layer := "<missing>"
				if h.Layer != "" {
					layer = h.Layer
					if !noTrunc {
						layer = strings.TrimPrefix(layer, "sha256:")[:12]
					}
				}
				by := h.CreatedBy
				if !noTrunc && len(by) > 60 {
					by = by[:57] + "..."
				}
				created := "N/A"
				if !h.Created.IsZero() {
					created = h.Created.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", layer, created, by, humanSize(h.Size), h.Comment)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	return cmd
}

// humanSize prints a size as docker does (decimal units).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

func newImageSaveCommand(ctx context.Context, registry func(*cobra.Command) string) *cobra.Command {
	var file, format string
	cmd := &cobra.Command{
		Use:          "save -o FILE.tar NAME[:TAG]...",
		Short:        "Write images of the lab registry to a tarball (the inverse of `ctl image load`)",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("give the tarball with -o FILE.tar")
			}
			docker := map[name.Tag]v1.Image{}
			oci := map[string]v1.Image{}
			for _, a := range args {
				img, _, err := labImage(ctx, registry(c), a)
				if err != nil {
					return err
				}
				t, err := name.NewTag(a)
				if err != nil {
					return err
				}
				docker[t] = img
				oci[a] = img
			}
			switch format {
			case "docker":
				if err := imagebuild.WriteDockerArchive(file, docker); err != nil {
					return err
				}
			case "oci":
				if err := imagebuild.WriteOCIArchive(file, oci); err != nil {
					return err
				}
			default:
				return fmt.Errorf("--format %q: docker or oci", format)
			}
			names := make([]string, 0, len(args))
			names = append(names, args...)
			sort.Strings(names)
			fmt.Fprintf(c.OutOrStdout(), "wrote %s (%s): %s\n", file, format, strings.Join(names, ", "))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "the tarball to write")
	cmd.Flags().StringVar(&format, "format", "docker", "docker (docker save's format) or oci (an OCI layout)")
	return cmd
}

func newImageRmCommand(ctx context.Context, registry func(*cobra.Command) string, labDir string) *cobra.Command {
	var noGC, force bool
	var registryBin string
	cmd := &cobra.Command{
		Use:   "rm NAME[:TAG]...",
		Short: "Delete images from the lab registry and collect their unreferenced blobs",
		Long: `Delete images from the lab registry. The registry deletes manifests by
digest, so every tag of the same digest would go too: rm refuses unless they
are all named (or --force). Then the registry's garbage collector deletes the
blobs no manifest references any more.`,
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			var refs []name.Reference
			named := map[string]bool{}
			for _, a := range args {
				r, err := imagebuild.LabRef(registry(c), a)
				if err != nil {
					return err
				}
				refs = append(refs, r)
				named[r.String()] = true
			}
			// Deleting by digest takes the other tags of that digest too:
			// say so instead of surprising.
			for _, r := range refs {
				if force {
					continue
				}
				others, err := imagebuild.SameDigestTags(ctx, r)
				if err != nil {
					return err
				}
				var hit []string
				for _, t := range others {
					if !named[r.Context().Tag(t).String()] {
						hit = append(hit, r.Context().Tag(t).String())
					}
				}
				if len(hit) > 0 {
					return fmt.Errorf("%s has the same digest as %s: the registry deletes manifests by digest, so they would go too; name them as well, or use --force", r, strings.Join(hit, ", "))
				}
			}
			// Resolve every name first: deleting one digest removes the
			// other names of it.
			var digests []name.Digest
			seen := map[string]bool{}
			for _, r := range refs {
				desc, err := remote.Head(r, remote.WithContext(ctx))
				if err != nil {
					return fmt.Errorf("%s: %w", r, err)
				}
				d := r.Context().Digest(desc.Digest.String())
				if !seen[d.String()] {
					seen[d.String()] = true
					digests = append(digests, d)
				}
			}
			for _, d := range digests {
				if err := imagebuild.RemoveDigest(ctx, d); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "Deleted: %s\n", d)
			}
			if noGC {
				return nil
			}
			out, err := imagebuild.GarbageCollect(ctx, registryBin, filepath.Join(labDir, "registry", "config.yml"))
			if err != nil {
				return err
			}
			n := strings.Count(out, "blob eligible for deletion")
			fmt.Fprintf(c.OutOrStdout(), "garbage collection: %d blobs deleted\n", n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noGC, "no-gc", false, "only delete the manifests")
	cmd.Flags().BoolVar(&force, "force", false, "delete even when other tags share the digest (they go too)")
	cmd.Flags().StringVar(&registryBin, "registry-binary", "docker-registry", "the registry program, for its garbage-collect")
	return cmd
}

func newImagePushCommand(ctx context.Context, registry func(*cobra.Command) string) *cobra.Command {
	var insecure bool
	cmd := &cobra.Command{
		Use:          "push NAME[:TAG] REGISTRY/NAME[:TAG]",
		Short:        "Copy an image from the lab registry to another registry",
		Args:         cobra.ExactArgs(2),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			src, err := imagebuild.LabRef(registry(c), args[0])
			if err != nil {
				return err
			}
			dst, err := parseRemote(args[1], insecure)
			if err != nil {
				return err
			}
			d, err := imagebuild.Copy(ctx, src, dst, nil, []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "pushed %s@%s\n", dst, d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "speak plain HTTP to the destination")
	return cmd
}

func newImagePullCommand(ctx context.Context, registry func(*cobra.Command) string) *cobra.Command {
	var insecure bool
	cmd := &cobra.Command{
		Use:   "pull NAME[:TAG]",
		Short: "Copy an image from a registry into the lab registry (for machines that reach one)",
		Long: `Copy an image (every platform of it) from its registry into the lab registry,
where pods and FROM find it under the same name: nginx:1.25 is fetched from
Docker Hub and lands at REGISTRY/library/nginx:1.25.`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			src, err := parseRemote(args[0], insecure)
			if err != nil {
				return err
			}
			dst, err := imagebuild.LabRef(registry(c), args[0])
			if err != nil {
				return err
			}
			d, err := imagebuild.Copy(ctx, src, dst, []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "pulled %s into %s@%s\n", src, dst, d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "speak plain HTTP to the source registry")
	return cmd
}

func parseRemote(ref string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", ref, err)
	}
	return r, nil
}
