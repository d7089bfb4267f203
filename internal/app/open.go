package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/builtin"
	"github.com/avatar-api/avatar-api/internal/generator/command"
	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/storage/s3"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// open is what every process of the service needs: ffmpeg, DATA_DIR, the
// generator, the database and the storage.
func open(ctx context.Context, cfg *config.Config, log *slog.Logger, o Overrides) (*App, error) {
	for _, tool := range []string{cfg.FFmpeg, cfg.FFprobe} {
		if err := ffmpeg.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s %w", tool, errNoTool)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	a := &App{Config: cfg, Log: log, Store: o.Store, name: processName(), alertClock: o.AlertClock}
	var err error
	if cfg.Backend == "runpod" {
		// The videos are made on RunPod, by GENERATOR there: this host
		// needs no model.
		if err := a.openRunPod(); err != nil {
			return nil, fmt.Errorf("RunPod backend: %w", err)
		}
		a.warnUnreachable()
	} else if a.generator, err = NewGenerator(cfg); err != nil {
		return nil, err
	}
	if a.Store == nil {
		if a.Store, err = OpenStore(ctx, cfg); err != nil {
			return nil, fmt.Errorf("opening database: %w", err)
		}
		a.closeDB = true
	}
	if err := a.openStorage(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// OpenStore opens the database of the configuration (PostgreSQL at
// DATABASE_URL, else the SQLite file in DATA_DIR), applying every pending
// migration.
func OpenStore(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL, cfg.JobMaxAttempts)
	}
	return sqlite.Open(ctx, cfg.SQLitePath(), cfg.JobMaxAttempts)
}

// NewGenerator is the generator of GENERATOR, which makes the videos where
// this binary runs them: in `serve`'s embedded workers, in `worker`, and
// inside RunPod's container with `worker --runpod`.
func NewGenerator(cfg *config.Config) (generator.Generator, error) {
	switch cfg.Generator {
	case "still":
		return still.New(cfg.FFmpeg, cfg.FFprobe), nil
	case "command":
		g, err := command.New(command.Config{
			Template: cfg.GeneratorCommand, Timeout: cfg.GeneratorTimeout, Env: cfg.GeneratorEnv,
			Prober: media.Prober{FFmpeg: cfg.FFmpeg, FFprobe: cfg.FFprobe},
		})
		if err != nil {
			return nil, fmt.Errorf("GENERATOR_COMMAND: %w", err)
		}
		return g, nil
	}
	return builtin.New(cfg.FFmpeg), nil
}

func (a *App) openStorage(ctx context.Context) error {
	cfg := a.Config
	if cfg.Storage == "s3" {
		s, err := s3.New(ctx, s3.Config{
			Bucket: cfg.S3Bucket, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, AccessKeyID: cfg.S3AccessKeyID,
			SecretAccessKey: cfg.S3SecretKey, Prefix: cfg.S3Prefix, ForcePathStyle: cfg.S3ForcePathStyle,
		})
		if err != nil {
			return fmt.Errorf("opening S3 storage: %w", err)
		}
		a.Storage = s
		return nil
	}
	secret, err := signingSecret(cfg)
	if err != nil {
		return fmt.Errorf("loading signing secret: %w", err)
	}
	s, err := local.New(joinData(cfg, "objects"), cfg.PublicURL, secret)
	if err != nil {
		return fmt.Errorf("opening local storage: %w", err)
	}
	a.Storage, a.files = s, s
	return nil
}

func joinData(cfg *config.Config, name string) string { return filepath.Join(cfg.DataDir, name) }
