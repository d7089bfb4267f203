// Package sqlite is the embedded database: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode, holding our tables and River's queue.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating it if needed) the database file at path, brings its
// schema up to date, and returns the store. maxAttempts is the retry budget
// of each job.
func Open(ctx context.Context, path string, maxAttempts int) (*sqlstore.Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating database directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// SQLite has one writer; River's maintenance runs in parallel with our
	// queries, so one connection serialises everything instead of failing
	// with SQLITE_BUSY. Queries here are short; generation runs outside.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// The database holds customers' jobs (and later key hashes): owner only.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("restricting %s: %w", f, err)
		}
	}
	driver := riversqlite.New(db)
	sub, _ := fs.Sub(migrations, "migrations")
	if err := sqlstore.Migrate(ctx, db, goose.DialectSQLite3, sub, driver); err != nil {
		db.Close()
		return nil, err
	}
	s, err := sqlstore.New(db, sqlstore.Dialect{
		Time:              func(t time.Time) any { return t.UnixMicro() },
		Epoch:             func(col string) string { return "(" + col + " / 1000000)" },
		IsUniqueViolation: isUniqueViolation,
	}, driver, maxAttempts)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The reads outside transactions (a job's status, a key, a list) get
	// read-only connections of their own: WAL lets them read beside the
	// writer, instead of waiting for the one connection behind River's
	// polling and every write.
	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_pragma", "query_only(1)")
	rdb, err := sql.Open("sqlite", "file:"+path+"?"+r.Encode())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("opening %s to read: %w", path, err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)
	s.ReadFrom(rdb, true)
	return s, nil
}

// readConns is the size of the read pool: reads run on every core.
var readConns = max(2, min(runtime.NumCPU(), 8))

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
