package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/builtin"
	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/storage/s3"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// runtime is what serve and worker share: configuration, logs, database,
// storage and the generator, opened once.
type runtime struct {
	cfg       *config.Config
	log       *slog.Logger
	store     *sqlstore.Store
	storage   storage.Storage
	files     *local.Disk // nil unless STORAGE=local
	generator generator.Generator
}

func loadConfig(stderr io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration (see docs/configuration.md):\n%w", err)
	}
	return cfg, logging.New(stderr, cfg.LogLevel), nil
}

func openStore(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL, cfg.JobMaxAttempts)
	}
	return sqlite.Open(ctx, cfg.SQLitePath(), cfg.JobMaxAttempts)
}

func openRuntime(ctx context.Context, stderr io.Writer) (*runtime, error) {
	cfg, log, err := loadConfig(stderr)
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{cfg.FFmpeg, cfg.FFprobe} {
		if err := ffmpeg.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: install ffmpeg (scripts/install-deps.sh does) or set FFMPEG/FFPROBE", tool)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	rt := &runtime{cfg: cfg, log: log, generator: newGenerator(cfg)}
	if rt.store, err = openStore(ctx, cfg); err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if err := rt.openStorage(ctx); err != nil {
		rt.store.Close()
		return nil, err
	}
	return rt, nil
}

func newGenerator(cfg *config.Config) generator.Generator {
	if cfg.Generator == "still" {
		return still.New(cfg.FFmpeg, cfg.FFprobe)
	}
	return builtin.New(cfg.FFmpeg)
}

// close releases the database and the storage.
func (rt *runtime) close() {
	rt.store.Close()
	if rt.files != nil {
		rt.files.Close()
	}
}

func (rt *runtime) openStorage(ctx context.Context) error {
	cfg := rt.cfg
	if cfg.Storage == "s3" {
		s, err := s3.New(ctx, s3.Config{
			Bucket: cfg.S3Bucket, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, AccessKeyID: cfg.S3AccessKeyID,
			SecretAccessKey: cfg.S3SecretKey, Prefix: cfg.S3Prefix, ForcePathStyle: cfg.S3ForcePathStyle,
		})
		if err != nil {
			return fmt.Errorf("opening S3 storage: %w", err)
		}
		rt.storage = s
		return nil
	}
	secret := []byte(cfg.SigningSecret)
	if len(secret) == 0 {
		var err error
		if secret, err = local.LoadOrCreateSecret(filepath.Join(cfg.DataDir, "signing.key")); err != nil {
			return fmt.Errorf("loading signing secret: %w", err)
		}
	}
	s, err := local.New(filepath.Join(cfg.DataDir, "objects"), cfg.PublicURL, secret)
	if err != nil {
		return fmt.Errorf("opening local storage: %w", err)
	}
	rt.storage, rt.files = s, s
	return nil
}

// processDir returns this process's scratch directory DATA_DIR/<name>/<pid>,
// after removing those of processes that no longer run: a process killed
// mid-upload or mid-job leaves its partial files there.
func (rt *runtime) processDir(name string) (string, error) {
	root := filepath.Join(rt.cfg.DataDir, name)
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		rt.log.Info("removing scratch files of a stopped process", "dir", name, "pid", pid)
		_ = os.RemoveAll(filepath.Join(root, e.Name()))
	}
	dir := filepath.Join(root, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("creating %s directory: %w", name, err)
	}
	return dir, nil
}

func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
