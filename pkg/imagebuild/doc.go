// Package imagebuild builds container images from a Dockerfile without a
// Docker daemon: BuildKit's own parser and instruction types read the
// Dockerfile (so its syntax, heredocs, escapes and error messages are
// Docker's), COPY and ADD layers are written here from the build context,
// and RUN steps run as containers on the lab's containerd with the image
// built so far as their root filesystem; the snapshot's changes become the
// step's layer through containerd's snapshotter and diff service.
//
// Every filesystem-changing step is looked up first in a layer cache on
// disk keyed like BuildKit's: the chain of layers below it, the
// instruction after variable expansion, the configuration a RUN sees (ENV,
// ARG, WORKDIR, USER, SHELL) and the content hash of what COPY and ADD
// read. A hit reuses the stored layer without running anything.
package imagebuild
