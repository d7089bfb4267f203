package cli

import (
	"context"
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
