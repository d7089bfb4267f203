package cli

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// version and gitSHA are set when the binary is linked (make build:
// -ldflags -X), from `git describe` and the commit; the container image
// carries the same values as its labels.
var (
	version = "dev"
	gitSHA  = ""
)

// runVersion prints the build's version and commit, so that an operator
// can tell which build a container or a machine runs.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noFlags("version", args, stderr); err != nil {
		return err
	}
	sha := gitSHA
	if sha == "" { // a plain go build records the commit it was built at
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					sha = s.Value
				}
			}
		}
	}
	if sha == "" {
		sha = "unknown commit"
	}
	fmt.Fprintf(stdout, "avatar-api %s (%s)\n", version, sha)
	return nil
}
