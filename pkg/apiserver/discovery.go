package apiserver

import (
	"net"
	"net/http"
	"runtime"

	"minik8s/pkg/api"

	"github.com/gin-gonic/gin"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// Version is what /version reports: the Kubernetes API level served.
var Version = version.Info{
	Major:      "1",
	Minor:      "37",
	GitVersion: "v1.37.2-minik8s",
	GitCommit:  "minik8s",
	BuildDate:  "1970-01-01T00:00:00Z",
	GoVersion:  runtime.Version(),
	Compiler:   runtime.Compiler,
	Platform:   runtime.GOOS + "/" + runtime.GOARCH,
}

func (s *Server) version(c *gin.Context) {
	v := Version
	writeJSON(c, http.StatusOK, &v)
}

func (s *Server) serverAddress(c *gin.Context) []metav1.ServerAddressByClientCIDR {
	addr := c.Request.Host
	if _, _, err := net.SplitHostPort(addr); err != nil && len(s.listeners) > 0 {
		addr = s.listeners[0].Addr().String()
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: addr}}
}

func (s *Server) coreVersions(c *gin.Context) {
	if wantsAggregated(c) {
		aggregatedDiscovery(c, s.discoverable(), true)
		return
	}
	writeJSON(c, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: s.serverAddress(c),
	})
}

// groups lists the named groups in table order, each with its versions.
func groups(resources []*api.Resource) []metav1.APIGroup {
	var out []metav1.APIGroup
	idx := map[string]int{}
	for _, r := range resources {
		if r.Group == "" {
			continue
		}
		gv := metav1.GroupVersionForDiscovery{GroupVersion: r.Group + "/" + r.Version, Version: r.Version}
		i, ok := idx[r.Group]
		if !ok {
			idx[r.Group] = len(out)
			out = append(out, metav1.APIGroup{Name: r.Group, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
			continue
		}
		found := false
		for _, v := range out[i].Versions {
			if v == gv {
				found = true
			}
		}
		if !found {
			out[i].Versions = append(out[i].Versions, gv)
		}
	}
	return out
}

func (s *Server) groupList(c *gin.Context) {
	if wantsAggregated(c) {
		aggregatedDiscovery(c, s.discoverable(), false)
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range groups(s.discoverable()) {
		g.ServerAddressByClientCIDRs = s.serverAddress(c)
		list.Groups = append(list.Groups, g)
	}
	writeJSON(c, http.StatusOK, list)
}

// discovery serves /apis/{group} and /apis/{group}/{version}, /api/v1;
// it reports false when the path is not one of them.
func (s *Server) discovery(c *gin.Context, segs []string) bool {
	switch {
	case len(segs) == 2 && segs[0] == "api" && segs[1] == "v1":
		s.resourceList(c, "", "v1")
		return true
	case len(segs) == 2 && segs[0] == "apis":
		for _, g := range groups(s.discoverable()) {
			if g.Name == segs[1] {
				g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(c, http.StatusOK, &g)
				return true
			}
		}
	case len(segs) == 3 && segs[0] == "apis":
		return s.resourceList(c, segs[1], segs[2])
	}
	return false
}

func (s *Server) resourceList(c *gin.Context, group, version string) bool {
	gv := version
	if group != "" {
		gv = group + "/" + version
	}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
	for _, r := range s.discoverable() {
		if r.Group == group && r.Version == version {
			list.APIResources = append(list.APIResources, r.APIResources()...)
		}
	}
	if len(list.APIResources) == 0 {
		return false
	}
	writeJSON(c, http.StatusOK, list)
	return true
}
