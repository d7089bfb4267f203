package cli

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noFlags("migrate", args, stderr); err != nil {
		return err
	}
	cfg, _, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, cfg) // opening applies every pending migration
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	fmt.Fprintln(stdout, "database schema is up to date")
	return s.Close()
}
