package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
)

// lintDockerfile runs BuildKit's Dockerfile linter on the file at path:
// the rules `docker build --check` applies (stage and instruction casing,
// deprecated MAINTAINER, legacy ENV/LABEL syntax, undefined variables,
// JSON form for ENTRYPOINT/CMD, secrets in ARG or ENV, …), without a
// daemon and without resolving the base image. Every warning is a
// problem, as is a file BuildKit cannot parse.
func lintDockerfile(ctx context.Context, path string) (warnings int, problems []error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, []error{err}
	}
	name := filepath.Base(path)
	source := llb.NewSourceMap(nil, name, "Dockerfile", dt)
	source.Definition = &llb.Definition{} // no build: nothing to define
	opt := dockerfile2llb.ConvertOpt{Config: dockerui.Config{}, SourceMap: source, MetaResolver: offlineImages{}}
	results, err := dockerfile2llb.DockerfileLint(ctx, dt, opt)
	if err != nil {
		return 0, []error{fmt.Errorf("%s: linting: %w", path, err)}
	}
	for _, w := range results.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		problems = append(problems, fmt.Errorf("%s:%d: %s: %s (%s)", path, line, w.RuleName, w.Detail, w.URL))
	}
	if results.Error != nil {
		problems = append(problems, fmt.Errorf("%s: BuildKit cannot read it: %s", path, results.Error.Message))
	}
	return len(results.Warnings), problems
}

// offlineImages stands for a registry: every base image is an empty
// linux/amd64 image, so that the lint reads no registry (the rules that
// need the base image's real configuration are not applied).
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	return ref, "", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"config":{}}`), nil
}
