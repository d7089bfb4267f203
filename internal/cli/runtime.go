package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// loadConfig reads the configuration from the environment, once, and makes
// the logger it asks for.
func loadConfig(stderr io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration (see docs/configuration.md):\n%w", err)
	}
	return cfg, logging.New(stderr, cfg.LogLevel), nil
}

// openStore opens the configured database, for the commands that need
// nothing else (keys, migrate).
func openStore(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	return app.OpenStore(ctx, cfg)
}

// subcommand splits `avatar-api <command> <sub> [flags]`: the subcommand
// and a flag set for its flags, printing usage for none, -h or --help
// (need names the subcommands, for the error of none).
func subcommand(command, usage, need string, args []string, stderr io.Writer) (string, []string, *flag.FlagSet, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return "", nil, nil, fmt.Errorf("a subcommand is needed: %s", need)
		}
		return "", nil, nil, flag.ErrHelp
	}
	fs := flag.NewFlagSet(command+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, usage) }
	return args[0], args[1:], fs, nil
}
