package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxPrepared bounds the statements a reader keeps prepared: the store's
// reads are a fixed set of queries, so this is never reached in practice;
// past it, queries run unprepared.
const maxPrepared = 128

// reader runs the store's reads that are outside any transaction (a job's
// status, a key by its hash, a customer's list: the hot paths of the API).
// On SQLite it is a pool of read-only connections of its own, which WAL
// lets read beside the one writer instead of queueing behind it, and each
// query is prepared once per connection instead of parsed on every call
// (database/sql re-prepares a statement on each connection it meets). On
// PostgreSQL it is the store's pool, whose driver already caches prepared
// statements.
type reader struct {
	db      *sql.DB
	prepare bool

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// stmt is query prepared, or nil to run it unprepared. The lock is not
// held while preparing, which waits for a connection: two callers may
// prepare the same query at once, and the second's is closed.
func (r *reader) stmt(ctx context.Context, query string) *sql.Stmt {
	if !r.prepare {
		return nil
	}
	r.mu.Lock()
	st, ok := r.stmts[query]
	full := r.closed || len(r.stmts) >= maxPrepared
	r.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // run unprepared: the query's own error, if any, is the caller's
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if had, ok := r.stmts[query]; ok || r.closed {
		st.Close()
		return had // nil once closed: the pool is closing too
	}
	if r.stmts == nil {
		r.stmts = map[string]*sql.Stmt{}
	}
	r.stmts[query] = st
	return st
}

func (r *reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, query, args...)
}

func (r *reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, query, args...)
}

// ExecContext is the querier's; a reader's connections are read-only.
func (r *reader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.db.ExecContext(ctx, query, args...)
}

func (r *reader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.stmts {
		st.Close()
	}
	r.stmts, r.closed = nil, true
}
