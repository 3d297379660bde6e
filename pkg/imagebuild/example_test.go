package imagebuild_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"minik8s/pkg/imagebuild"
)

// ExampleParseDockerfile shows BuildKit's error for a bad line.
func ExampleParseDockerfile() {
	_, err := imagebuild.ParseDockerfile("Dockerfile", []byte("FROM scratch\nCOPY only-one-arg\n"))
	fmt.Println(err)
	// Output: Dockerfile:2: dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined
}

// ExampleBuild builds an image FROM scratch: no registry and no RUN, so
// no lab is needed. With a fixed epoch the digest is reproducible.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /\nCMD [\"/hello\"]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644)
	epoch := time.Unix(1700000000, 0)
	res, err := imagebuild.Build(context.Background(), imagebuild.Options{ContextDir: dir, Epoch: &epoch})
	if err != nil {
		fmt.Println(err)
		return
	}
	hist, _ := imagebuild.History(res.Image)
	for _, h := range hist {
		fmt.Printf("%s (layer: %v)\n", h.CreatedBy, h.Layer != "")
	}
	// Output:
	// CMD ["/hello"] (layer: false)
	// COPY hello.txt / # buildkit (layer: true)
}
