package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
)

// FirstKeyFile is where the first admin key is written, in DATA_DIR, when
// there is no terminal to show it on.
const FirstKeyFile = "first-admin-key"

// bootstrapKeys gives a fresh install its first key: the imported API_KEY,
// or a new admin key shown once — on the terminal when there is one; else
// (the output is a log file, a journal, a container's log) written to a
// file only this user can read, whose path is logged, as Jenkins does with
// its first password. The key itself never goes to a log.
func (a *App) bootstrapKeys(ctx context.Context, terminal io.Writer) error {
	cfg, keys, log := a.Config, a.Keys, a.Log
	created, imported, err := keys.Bootstrap(ctx, cfg.APIKey, cfg.APIKeyCustomer)
	switch {
	case err != nil:
		return fmt.Errorf("creating the first key: %w", err)
	case imported != nil:
		log.Info("imported API_KEY as the first key; it can now be removed from the environment",
			"key_id", imported.ID, "customer", imported.Customer)
	case created != nil && terminal != nil:
		fmt.Fprintf(terminal, "\n"+
			"  This is a new installation. An admin key was created; it is shown ONLY NOW:\n\n"+
			"      %s\n\n"+
			"  It can call every endpoint and manage keys (avatar-api keys --help).\n"+
			"  Create a key per customer with:  avatar-api keys create --customer NAME\n\n", created.Key)
		log.Info("created the first admin key and printed it to the terminal", "key_id", created.Record.ID)
	case created != nil:
		path := joinData(cfg, FirstKeyFile)
		if err := writeSecret(path, created.Key+"\n"); err != nil {
			// A key nobody can read is a key to revoke; keys are then made with
			// the CLI, which reaches the database directly.
			if _, rerr := keys.Revoke(ctx, created.Record.ID, "bootstrap"); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return fmt.Errorf("writing the first admin key (it was revoked; make one with: avatar-api keys create --customer ops --scope admin --scope generate): %w", err)
		}
		log.Warn("created the first admin key; it is in this file, readable only by this user: store it, then delete the file",
			"path", path, "key_id", created.Record.ID)
	case cfg.APIKey != "":
		if known, err := keys.Known(ctx, cfg.APIKey); err == nil && !known {
			log.Warn("API_KEY is set but is not among the stored keys, so it is ignored: keys existed before it could be imported; create a key with avatar-api keys create")
		}
	}
	return nil
}

// writeSecret writes s to a new file at path that only this user can
// read. Whatever was at path (a stale file, a planted symbolic link) is
// removed first, and the new file must be the one created here.
func writeSecret(path, s string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// hasLegacyKey reports whether an imported key of the old format exists,
// which must be looked up although it carries no checksum.
func hasLegacyKey(ctx context.Context, keys *apikey.Service) bool {
	all, err := keys.List(ctx)
	if err != nil {
		return false
	}
	now := time.Now()
	for _, k := range all {
		if k.Active(now) && !strings.HasPrefix(k.Display, apikey.Prefix) {
			return true
		}
	}
	return false
}
