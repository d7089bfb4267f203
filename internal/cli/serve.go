package cli

import (
	"context"
	"io"
	"os"
	"strconv"

	"github.com/mattn/go-isatty"

	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/server"
)

// runServe runs the API (and, with EMBEDDED_WORKERS, the workers) until
// SIGINT or SIGTERM. It listens on PORT, or on the socket passed by
// socket activation (see server.Listen).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noFlags("serve", args, stderr); err != nil {
		return err
	}
	cfg, log, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	o := app.Overrides{}
	if isTerminal(stdout) {
		o.FirstKey = stdout
	}
	// The socket first: an inherited one (socket activation) is not
	// close-on-exec until Listen takes it, and the embedded workers start
	// ffmpeg processes, which must not inherit it.
	ln, err := server.Listen(":" + strconv.Itoa(cfg.Port))
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, log, o)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	return a.Serve(ctx, ln)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
