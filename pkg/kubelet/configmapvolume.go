package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// configMapGetter reads a ConfigMap from the API.
type configMapGetter func(ctx context.Context, namespace, name string) (*v1.ConfigMap, error)

// projectConfigMapVolumes writes the pod's configMap volumes into
// podDir/volumes/<name> once, when a container is created: each key (or
// each of items) a file with defaultMode (0644) or the item's mode. A
// missing ConfigMap is an error unless the volume is optional, then the
// directory stays empty.
//
// It is the least the cluster DNS add-on needs (CoreDNS reads its
// Corefile from the coredns ConfigMap); files are not refreshed when the
// ConfigMap changes.
func projectConfigMapVolumes(ctx context.Context, get configMapGetter, pod *v1.Pod, podDir string) error {
	for _, v := range pod.Spec.Volumes {
		src := v.ConfigMap
		if src == nil {
			continue
		}
		dir := filepath.Join(podDir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if get == nil {
			return fmt.Errorf("volume %s: configMap volumes need an API client", v.Name)
		}
		cm, err := get(ctx, pod.Namespace, src.Name)
		if apierrors.IsNotFound(err) && src.Optional != nil && *src.Optional {
			continue
		}
		if err != nil {
			return fmt.Errorf("volume %s: configmap %q: %w", v.Name, src.Name, err)
		}
		mode := os.FileMode(0o644)
		if src.DefaultMode != nil {
			mode = os.FileMode(*src.DefaultMode)
		}
		files := map[string]os.FileMode{}
		paths := map[string]string{}
		if len(src.Items) == 0 {
			for k := range cm.Data {
				paths[k], files[k] = k, mode
			}
		}
		for _, it := range src.Items {
			if _, ok := cm.Data[it.Key]; !ok {
				return fmt.Errorf("volume %s: configmap %q has no key %q", v.Name, src.Name, it.Key)
			}
			m := mode
			if it.Mode != nil {
				m = os.FileMode(*it.Mode)
			}
			paths[it.Key], files[it.Key] = it.Path, m
		}
		for k, p := range paths {
			if filepath.IsAbs(p) || strings.HasPrefix(filepath.Clean(p), "..") {
				return fmt.Errorf("volume %s: item path %q must be relative and stay inside the volume", v.Name, p)
			}
			target := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(target, []byte(cm.Data[k]), files[k]); err != nil {
				return err
			}
			if err := os.Chmod(target, files[k]); err != nil {
				return err
			}
		}
	}
	return nil
}
