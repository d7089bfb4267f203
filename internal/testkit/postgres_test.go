package testkit_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestPostgresRestart: the private server keeps its data and its port
// across a stop and a start, and refuses connections while stopped.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testkit.StartPostgres(t)
	db, err := sql.Open("pgx", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("the stopped server answered")
	}
	pg.Start()
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 7 {
		t.Fatalf("after the restart: %d, %v", v, err)
	}
}
