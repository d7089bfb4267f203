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
	a, err := app.New(ctx, cfg, log, o)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := server.Listen(":" + strconv.Itoa(cfg.Port))
	if err != nil {
		_ = a.StopWorkers(0)
		return err
	}
	return a.Serve(ctx, ln)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
