// Command imagelist prints, for each image run.sh builds into the lab
// registry, its directory under images/ and the name e2e.test will pull it
// by: Kubernetes' own image table (test/utils/image) of this module's
// release, with the registries of $KUBE_TEST_REPO_LIST, so that the names
// pushed are the names e2e.test asks for.
//
//	KUBE_TEST_REPO_LIST=repo-list.yaml go run ./imagelist
package main

import (
	"fmt"

	imageutils "k8s.io/kubernetes/test/utils/image"
)

// images are the e2e images the lab can have, by the directory of their
// Dockerfile; the others (glibc-dns-testing, etcd, sample-apiserver,
// perl, resource-consumer, the volume servers, …) need files that cannot
// be had offline.
var images = []struct {
	dir string
	id  imageutils.ImageID
}{
	{"agnhost", imageutils.Agnhost},
	// agnhost-prev is the previous agnhost release; the module has only
	// the current one.
	{"agnhost", imageutils.AgnhostPrev},
	{"busybox", imageutils.BusyBox},
	{"pause", imageutils.Pause},
	{"nginx", imageutils.Nginx},
	{"nginx", imageutils.NginxNew},
	{"kitten", imageutils.Kitten},
	{"nautilus", imageutils.Nautilus},
	{"nonroot", imageutils.NonRoot},
	{"nonewprivs", imageutils.Nonewprivs},
}

func main() {
	for _, im := range images {
		fmt.Println(im.dir, imageutils.GetE2EImage(im.id))
	}
}
