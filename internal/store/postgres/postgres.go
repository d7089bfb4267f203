// Package postgres is the production database: PostgreSQL through pgx, shared
// by every API replica and worker, holding our tables and River's queue.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database at url, brings its schema up to date (under
// an advisory lock, so replicas starting together take turns), and returns
// the store. maxAttempts is the retry budget of each job.
//
// Our queries and River's share one database/sql pool so that a job row and
// its queue entry are written in one transaction; River also gets the pgx
// pool for LISTEN/NOTIFY, so workers wake up as soon as a job is queued.
func Open(ctx context.Context, url string, maxAttempts int) (*sqlstore.Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", redact(err))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", redact(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	driver := riverdatabasesql.NewWithPgxListener(db, pool)
	if err := migrate(ctx, pool, db, driver); err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	s, err := sqlstore.New(db, sqlstore.Dialect{
		Numbered:          true,
		ForUpdate:         " FOR UPDATE",
		LockFirstKey:      "SELECT pg_advisory_xact_lock(7317022401)",
		LockEvents:        "SELECT pg_advisory_xact_lock(7317022402)",
		Time:              func(t time.Time) any { return t },
		Epoch:             func(col string) string { return "CAST(FLOOR(EXTRACT(EPOCH FROM " + col + ")) AS BIGINT)" },
		IsUniqueViolation: isUniqueViolation,
	}, driver, maxAttempts)
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	s.AlsoClose(pool.Close)
	return s, nil
}

// migrateLock is the advisory lock replicas take turns under to migrate.
const migrateLock = 7317022400

// migrate applies our migrations and River's under one session advisory
// lock, so replicas starting together do not race (goose's own lock would
// not cover River's).
func migrate(ctx context.Context, pool *pgxpool.Pool, db *sql.DB, driver *riverdatabasesql.Driver) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("locking for migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("locking for migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock) //nolint:errcheck // released with the session anyway
	sub, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Migrate(ctx, db, goose.DialectPostgres, sub, driver)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// redact drops the connection string (and its password) from errors.
func redact(err error) error {
	var pe *pgconn.ConnectError
	if errors.As(err, &pe) {
		return errors.New("cannot reach the database server (check DATABASE_URL host, port and credentials)")
	}
	return err
}
