package kubelet

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// volumeObjects is what volumes read from the API.
type volumeObjects interface {
	objectReader
	claim(ctx context.Context, ns, name string) (*v1.PersistentVolumeClaim, error)
	volume(ctx context.Context, name string) (*v1.PersistentVolume, error)
	// readsTrustBundles says whether trustBundle and trustBundlesOf can
	// answer.
	readsTrustBundles() bool
	trustBundle(ctx context.Context, name string) (*certificatesv1.ClusterTrustBundle, error)
	trustBundlesOf(ctx context.Context, signer string, selector labels.Selector) ([]certificatesv1.ClusterTrustBundle, error)
}

// volumeManager makes a pod's volumes on the node: directories for
// emptyDir, files written atomically for configMap, secret, downwardAPI and
// projected (secret, downwardAPI and projected on tmpfs, as upstream wraps
// them in a memory-backed emptyDir), host paths for hostPath and for the
// hostPath or local PersistentVolume a claim is bound to.
type volumeManager struct {
	podsDir     string
	objects     volumeObjects
	allocatable v1.ResourceList
	// mountTmpfs mounts a tmpfs on dir unless one is there; nil writes
	// to the directory itself (tests without root).
	mountTmpfs func(dir string) error
	// tokens issues the ServiceAccount tokens of projected volumes; nil
	// leaves them out with a warning.
	tokens *tokenManager
	// podCerts holds the podCertificate sources' keys and certificates;
	// nil leaves them out with a warning.
	podCerts *podCertificates
}

// podVolume is one volume as the pod's containers mount it.
type podVolume struct {
	path     string
	readOnly bool // API data volumes, read-only claims
}

// volumeSetup is the outcome of setting up a pod's volumes.
type volumeSetup struct {
	volumes map[string]podVolume
	// failed are the event messages (FailedMount) of volumes that could
	// not be set up; the pod's containers wait for them.
	failed []string
	// warnings are event messages of volumes set up without a part
	// kubelet-lite cannot provide.
	warnings []string
}

const (
	defaultVolumeMode = 0o644 // v1.ConfigMapVolumeSourceDefaultMode and the others
	tmpfsMagic        = 0x01021994
)

func (m *volumeManager) volumeDir(pod *v1.Pod, plugin, name string) string {
	if plugin == "" {
		// emptyDir keeps the layout of earlier agents, so pods adopted
		// across an upgrade keep their data.
		return filepath.Join(m.podsDir, string(pod.UID), "volumes", name)
	}
	return filepath.Join(m.podsDir, string(pod.UID), "volumes", "kubernetes.io~"+plugin, name)
}

// setup makes (or refreshes) every volume of pod. It is idempotent and
// cheap when nothing changed: the atomic writer writes only a changed
// payload, so calling it again is how updates of ConfigMaps and Secrets
// reach mounted files.
func (m *volumeManager) setup(ctx context.Context, pod *v1.Pod) volumeSetup {
	out := volumeSetup{volumes: map[string]podVolume{}}
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		pv, warn, err := m.setupVolume(ctx, pod, vol)
		if err != nil {
			var claimErr *claimError
			if errors.As(err, &claimErr) {
				out.failed = append(out.failed, fmt.Sprintf("Unable to attach or mount volumes: unmounted volumes=[%s], unattached volumes=[%s], failed to process volumes=[%s]: %v",
					vol.Name, vol.Name, vol.Name, err))
			} else {
				out.failed = append(out.failed, fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", vol.Name, err))
			}
			continue
		}
		out.warnings = append(out.warnings, warn...)
		out.volumes[vol.Name] = pv
	}
	return out
}

// claimError is a claim that cannot be used (yet).
type claimError struct {
	ns, name string
	err      error
}

func (e *claimError) Error() string {
	return fmt.Sprintf("error processing PVC %s/%s: %v", e.ns, e.name, e.err)
}

func (m *volumeManager) setupVolume(ctx context.Context, pod *v1.Pod, vol *v1.Volume) (podVolume, []string, error) {
	switch {
	case vol.EmptyDir != nil:
		dir := m.volumeDir(pod, "", vol.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return podVolume{}, nil, err
		}
		_ = os.Chmod(dir, 0o777)
		if vol.EmptyDir.Medium == v1.StorageMediumMemory {
			if err := m.tmpfs(dir); err != nil {
				return podVolume{}, nil, err
			}
			_ = os.Chmod(dir, 0o777)
		}
		return podVolume{path: dir}, nil, nil
	case vol.HostPath != nil:
		if err := checkHostPath(vol.HostPath.Path, vol.HostPath.Type); err != nil {
			return podVolume{}, nil, err
		}
		return podVolume{path: vol.HostPath.Path}, nil, nil
	case vol.PersistentVolumeClaim != nil:
		path, err := m.claimPath(ctx, pod.Namespace, vol.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return podVolume{}, nil, err
		}
		return podVolume{path: path, readOnly: vol.PersistentVolumeClaim.ReadOnly}, nil, nil
	case vol.ConfigMap != nil:
		payload, err := m.configMapPayload(ctx, pod, vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.Optional, modeOr(vol.ConfigMap.DefaultMode))
		if err != nil {
			return podVolume{}, nil, err
		}
		return m.write(pod, "configmap", vol.Name, false, payload, nil)
	case vol.Secret != nil:
		payload, err := m.secretPayload(ctx, pod, vol.Secret.SecretName, vol.Secret.Items, vol.Secret.Optional, modeOr(vol.Secret.DefaultMode))
		if err != nil {
			return podVolume{}, nil, err
		}
		return m.write(pod, "secret", vol.Name, true, payload, nil)
	case vol.DownwardAPI != nil:
		payload, err := m.downwardPayload(pod, vol.DownwardAPI.Items, modeOr(vol.DownwardAPI.DefaultMode))
		if err != nil {
			return podVolume{}, nil, err
		}
		return m.write(pod, "downward-api", vol.Name, true, payload, nil)
	case vol.Projected != nil:
		payload, warnings, err := m.projectedPayload(ctx, pod, vol.Name, vol.Projected)
		if err != nil {
			return podVolume{}, nil, err
		}
		return m.write(pod, "projected", vol.Name, true, payload, warnings)
	}
	return podVolume{}, nil, errors.New("unsupported volume type: kubelet-lite mounts emptyDir, hostPath, configMap, secret, downwardAPI, projected and persistentVolumeClaim volumes")
}

func modeOr(mode *int32) int32 {
	if mode != nil {
		return *mode
	}
	return defaultVolumeMode
}

func (m *volumeManager) write(pod *v1.Pod, plugin, name string, memory bool, payload map[string]fileProjection, warnings []string) (podVolume, []string, error) {
	dir := m.volumeDir(pod, plugin, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return podVolume{}, nil, err
	}
	if memory {
		if err := m.tmpfs(dir); err != nil {
			return podVolume{}, nil, err
		}
	}
	if _, err := writeAtomic(dir, payload); err != nil {
		return podVolume{}, nil, fmt.Errorf("writing the files of volume %s: %w", name, err)
	}
	return podVolume{path: dir, readOnly: true}, warnings, nil
}

func (m *volumeManager) tmpfs(dir string) error {
	if m.mountTmpfs == nil {
		return nil
	}
	return m.mountTmpfs(dir)
}

// mountTmpfs mounts a tmpfs on dir unless dir already is one (the volume
// of a pod adopted from an earlier agent).
func mountTmpfs(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == tmpfsMagic {
		return nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", dir, err)
	}
	return nil
}

// unmountBelow detaches every mount at or below dir (a pod's tmpfs
// volumes), deepest first, so that dir can be removed.
func unmountBelow(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) <= 4 {
			continue
		}
		// mountinfo escapes space, tab, newline and backslash in octal.
		mp := mountinfoUnescaper.Replace(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
}

var mountinfoUnescaper = strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)

// checkHostPath checks (and for the ...OrCreate types makes) a hostPath
// as the kubelet's hostPath type checker does.
func checkHostPath(path string, typ *v1.HostPathType) error {
	if typ == nil {
		return nil
	}
	switch *typ {
	case v1.HostPathDirectoryOrCreate:
		if err := os.MkdirAll(path, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", path, err)
		}
		return nil
	case v1.HostPathFileOrCreate:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return fmt.Errorf("creating %s: %w", path, err)
		}
		return f.Close()
	case v1.HostPathUnset:
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s does not exist", path)
	}
	var ok bool
	what := map[v1.HostPathType]string{v1.HostPathDirectory: "directory", v1.HostPathFile: "file", v1.HostPathSocket: "socket",
		v1.HostPathCharDev: "character device", v1.HostPathBlockDev: "block device"}[*typ]
	switch *typ {
	case v1.HostPathDirectory:
		ok = fi.IsDir()
	case v1.HostPathFile:
		ok = fi.Mode().IsRegular()
	case v1.HostPathSocket:
		ok = fi.Mode()&os.ModeSocket != 0
	case v1.HostPathCharDev:
		ok = fi.Mode()&os.ModeCharDevice != 0
	case v1.HostPathBlockDev:
		ok = fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
	default:
		return fmt.Errorf("hostPath type %q is not supported", *typ)
	}
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", path, what)
	}
	return nil
}

// claimPath resolves a claim to the host path of its bound volume, as the
// kubelet's volume populator does (getPVCExtractPV, getPVSpec), for the
// hostPath and local volumes kubelet-lite mounts.
func (m *volumeManager) claimPath(ctx context.Context, ns, name string) (string, error) {
	fail := func(err error) (string, error) { return "", &claimError{ns: ns, name: name, err: err} }
	claim, err := m.objects.claim(ctx, ns, name)
	if err != nil {
		return fail(fmt.Errorf("failed to fetch PVC from API server: %v", err))
	}
	// As the kubelet: a claim being deleted without the pvc-protection
	// finalizer (which keeps it while pods use it) is not mounted.
	if claim.DeletionTimestamp != nil && !slices.Contains(claim.Finalizers, "kubernetes.io/pvc-protection") {
		return fail(errors.New("PVC is being deleted"))
	}
	if claim.Status.Phase != v1.ClaimBound {
		return fail(errors.New("PVC is not bound"))
	}
	if claim.Spec.VolumeName == "" {
		return fail(errors.New("PVC has empty pvc.Spec.VolumeName"))
	}
	pv, err := m.objects.volume(ctx, claim.Spec.VolumeName)
	if err != nil {
		return fail(fmt.Errorf("failed to fetch PV %s from API server: %v", claim.Spec.VolumeName, err))
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Name == "" {
		return fail(fmt.Errorf("found PV object %s but it has a nil or empty ClaimRef", pv.Name))
	}
	// The binder sets the claim's UID in the reference; a reference
	// written by hand with namespace and name only is taken as well.
	if (ref.UID != "" && ref.UID != claim.UID) || (ref.UID == "" && (ref.Namespace != ns || ref.Name != name)) {
		return fail(fmt.Errorf("found PV object %s but its ClaimRef.UID (%s) does not point to claim.UID (%s)", pv.Name, ref.UID, claim.UID))
	}
	switch {
	case pv.Spec.HostPath != nil:
		if err := checkHostPath(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type); err != nil {
			return fail(err)
		}
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return fail(fmt.Errorf("local volume %s: %w", pv.Name, err))
		}
		return pv.Spec.Local.Path, nil
	}
	return fail(fmt.Errorf("PV %s: kubelet-lite mounts only hostPath and local persistent volumes", pv.Name))
}

// configMapPayload is configmap.MakePayload.
func (m *volumeManager) configMapPayload(ctx context.Context, pod *v1.Pod, name string, items []v1.KeyToPath, optionalPtr *bool, defaultMode int32) (map[string]fileProjection, error) {
	optional := isTrue(optionalPtr)
	cm, err := m.objects.configMap(ctx, pod.Namespace, name)
	if err != nil {
		if !(apierrors.IsNotFound(err) && optional) {
			return nil, err
		}
		cm = &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: name}}
	}
	payload := map[string]fileProjection{}
	if len(items) == 0 {
		for k, v := range cm.Data {
			payload[k] = fileProjection{Data: []byte(v), Mode: defaultMode}
		}
		for k, v := range cm.BinaryData {
			payload[k] = fileProjection{Data: v, Mode: defaultMode}
		}
		return payload, nil
	}
	for _, it := range items {
		var data []byte
		if s, ok := cm.Data[it.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[it.Key]; ok {
			data = b
		} else {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		payload[it.Path] = fileProjection{Data: data, Mode: itemMode(it.Mode, defaultMode)}
	}
	return payload, nil
}

// secretPayload is secret.MakePayload.
func (m *volumeManager) secretPayload(ctx context.Context, pod *v1.Pod, name string, items []v1.KeyToPath, optionalPtr *bool, defaultMode int32) (map[string]fileProjection, error) {
	optional := isTrue(optionalPtr)
	s, err := m.objects.secret(ctx, pod.Namespace, name)
	if err != nil {
		if !(apierrors.IsNotFound(err) && optional) {
			return nil, err
		}
		s = &v1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: name}}
	}
	payload := map[string]fileProjection{}
	if len(items) == 0 {
		for k, v := range s.Data {
			payload[k] = fileProjection{Data: v, Mode: defaultMode}
		}
		return payload, nil
	}
	for _, it := range items {
		v, ok := s.Data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
		}
		payload[it.Path] = fileProjection{Data: v, Mode: itemMode(it.Mode, defaultMode)}
	}
	return payload, nil
}

func itemMode(mode *int32, defaultMode int32) int32 {
	if mode != nil {
		return *mode
	}
	return defaultMode
}

// downwardPayload is downwardapi.CollectData: the pod's metadata fields
// (labels and annotations as sorted k="v" lines) and its containers'
// resources.
func (m *volumeManager) downwardPayload(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, defaultMode int32) (map[string]fileProjection, error) {
	payload := map[string]fileProjection{}
	var errs []error
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = podFieldValue(pod, it.FieldRef.FieldPath, podFacts{})
		case it.ResourceFieldRef != nil:
			c := findContainer(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				err = fmt.Errorf("container %s not found", it.ResourceFieldRef.ContainerName)
			} else {
				val, err = resourceFieldValue(pod, c, it.ResourceFieldRef, m.allocatable)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		payload[filepath.Clean(it.Path)] = fileProjection{Data: []byte(val), Mode: itemMode(it.Mode, defaultMode)}
	}
	return payload, aggregate(errs)
}

// aggregate is errors as utilerrors.NewAggregate prints them: one error
// as itself, several as [a, b].
func aggregate(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New("[" + strings.Join(msgs, ", ") + "]")
}

// projectedPayload merges a projected volume's sources.
func (m *volumeManager) projectedPayload(ctx context.Context, pod *v1.Pod, volName string, src *v1.ProjectedVolumeSource) (map[string]fileProjection, []string, error) {
	defaultMode := modeOr(src.DefaultMode)
	payload := map[string]fileProjection{}
	var errs []error
	var warnings []string
	for i, s := range src.Sources {
		var part map[string]fileProjection
		var err error
		switch {
		case s.ConfigMap != nil:
			part, err = m.configMapPayload(ctx, pod, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, defaultMode)
		case s.Secret != nil:
			part, err = m.secretPayload(ctx, pod, s.Secret.Name, s.Secret.Items, s.Secret.Optional, defaultMode)
		case s.DownwardAPI != nil:
			part, err = m.downwardPayload(pod, s.DownwardAPI.Items, defaultMode)
		case s.ServiceAccountToken != nil:
			if m.tokens == nil {
				warnings = append(warnings, fmt.Sprintf("projected volume %q: this agent issues no ServiceAccount tokens; %q is left out", volName, s.ServiceAccountToken.Path))
				continue
			}
			part, err = m.tokenPayload(ctx, pod, s.ServiceAccountToken, defaultMode)
		case s.ClusterTrustBundle != nil:
			if !m.objects.readsTrustBundles() {
				warnings = append(warnings, fmt.Sprintf("projected volume %q: this agent reads no ClusterTrustBundles; %q is left out", volName, s.ClusterTrustBundle.Path))
				continue
			}
			part, err = m.trustBundlePayload(ctx, s.ClusterTrustBundle, defaultMode)
		case s.PodCertificate != nil:
			if m.podCerts == nil {
				warnings = append(warnings, fmt.Sprintf("projected volume %q: this agent issues no pod certificates; source %d is left out", volName, i))
				continue
			}
			part, err = m.podCerts.payload(ctx, pod, volName, i, s.PodCertificate, defaultMode)
		default:
			warnings = append(warnings, fmt.Sprintf("projected volume %q: a source other than configMap, secret, downwardAPI, serviceAccountToken, clusterTrustBundle and podCertificate is left out", volName))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for k, v := range part {
			payload[k] = v
		}
	}
	return payload, warnings, aggregate(errs)
}

// containerMounts are the bind mounts of c's volumeMounts: the volume's
// path, or the subPath (subPathExpr expanded with the container's env)
// inside it, made as a directory when missing and kept inside the volume.
func containerMounts(pod *v1.Pod, c *v1.Container, vols map[string]podVolume, env []envVar) ([]Mount, error) {
	var out []Mount
	for _, vm := range c.VolumeMounts {
		vol, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		src := vol.path
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expandVars(vm.SubPathExpr, envLookup(env))
		}
		if sub != "" {
			p, err := subPath(vol.path, sub)
			if err != nil {
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", vm.Name, c.Name, err)
			}
			src = p
		}
		out = append(out, Mount{Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly || vol.readOnly})
	}
	return out, nil
}

// subPath is sub inside the volume at root, with symlinks resolved and
// checked not to leave it; a missing subPath is made a directory.
func subPath(root, sub string) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be a relative path", sub)
	}
	for _, part := range strings.Split(sub, "/") {
		if part == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	base, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	full := filepath.Join(root, sub)
	if _, err := os.Lstat(full); os.IsNotExist(err) {
		// With the volume's own mode, as the kubelet's SafeMakeDir: a
		// subPath of an emptyDir is writable by any user, as it is.
		fi, err := os.Stat(base)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(full, fi.Mode().Perm()); err != nil {
			return "", err
		}
		_ = os.Chmod(full, fi.Mode().Perm())
	}
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", err
	}
	if resolved != base && !strings.HasPrefix(resolved, base+"/") {
		return "", fmt.Errorf("subPath %q resolves to %s, outside the volume", sub, resolved)
	}
	return resolved, nil
}

// trustBundlePayload is a clusterTrustBundle source: the certificates of
// the bundle named, or of every bundle of the signer whose labels match
// the selector (nil matches none, empty all), deduplicated, in one PEM
// file, as the kubelet's ClusterTrustBundle manager gives them (it
// shuffles their order once per kubelet; here it is sorted, so the file
// changes only when the certificates do). Nothing found is an error
// unless the source is optional, which gives an empty file.
func (m *volumeManager) trustBundlePayload(ctx context.Context, src *v1.ClusterTrustBundleProjection, mode int32) (map[string]fileProjection, error) {
	optional := isTrue(src.Optional)
	var bundles []string
	switch {
	case src.Name != nil:
		ctb, err := m.objects.trustBundle(ctx, *src.Name)
		switch {
		case apierrors.IsNotFound(err) && optional:
		case err != nil:
			return nil, fmt.Errorf("while getting ClusterTrustBundle: %w", err)
		default:
			bundles = append(bundles, ctb.Spec.TrustBundle)
		}
	case src.SignerName != nil:
		selector, err := metav1.LabelSelectorAsSelector(src.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("while parsing label selector: %w", err)
		}
		if src.LabelSelector != nil {
			ctbs, err := m.objects.trustBundlesOf(ctx, *src.SignerName, selector)
			if err != nil {
				return nil, fmt.Errorf("while listing ClusterTrustBundles matching label selector %v: %w", src.LabelSelector, err)
			}
			for _, ctb := range ctbs {
				bundles = append(bundles, ctb.Spec.TrustBundle)
			}
		}
		if len(bundles) == 0 && !optional {
			return nil, errors.New("combination of signerName and labelSelector matched zero ClusterTrustBundles")
		}
	default:
		return nil, errors.New("ClusterTrustBundle projection requires either name or signerName to be set")
	}
	return map[string]fileProjection{src.Path: {Data: trustAnchors(bundles), Mode: mode}}, nil
}

// trustAnchors are the distinct certificates of PEM bundles, sorted, as
// one PEM file.
func trustAnchors(bundles []string) []byte {
	seen := map[string]bool{}
	for _, b := range bundles {
		rest := []byte(b)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			seen[string(block.Bytes)] = true
		}
	}
	ders := make([]string, 0, len(seen))
	for d := range seen {
		ders = append(ders, d)
	}
	sort.Strings(ders)
	out := []byte{}
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(d)})...)
	}
	return out
}

// tokenPayload is a serviceAccountToken source: a token of the pod's
// ServiceAccount bound to the pod, for the audience and lifetime asked,
// as the kubelet's projected volume plugin asks for it (renewed by the
// token manager when due).
func (m *volumeManager) tokenPayload(ctx context.Context, pod *v1.Pod, src *v1.ServiceAccountTokenProjection, mode int32) (map[string]fileProjection, error) {
	var auds []string
	if src.Audience != "" {
		auds = []string{src.Audience}
	}
	tr, err := m.tokens.token(ctx, pod.Namespace, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         auds,
			ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch token: %w", err)
	}
	return map[string]fileProjection{src.Path: {Data: []byte(tr.Status.Token), Mode: mode}}, nil
}
