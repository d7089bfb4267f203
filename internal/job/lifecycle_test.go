package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
)

// recorder keeps what the observer was told.
type recorder struct{ seen []store.Applied }

func (r *recorder) Transitioned(_ context.Context, a store.Applied) { r.seen = append(r.seen, a) }

// TestEachRunLogsOneLine: every run ends with one log line saying when it
// started, how long it took, how it ended, what it was billed and cost,
// for which customer and which request — the request that created the
// job, even when another request ended it; and the observer hears of each
// transition once.
func TestEachRunLogsOneLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files, err := local.New(filepath.Join(dir, "objects"), "http://localhost", bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return now })
	var logs bytes.Buffer
	obs := &recorder{}
	l := job.NewLifecycle(st, files, logging.New(&logs, slog.LevelInfo), obs)

	id := uuid.Must(uuid.NewV7()).String()
	j := &store.Job{ID: id, Owner: store.CustomerOwner("Acme Corp"), RequestID: "req-created-it", ImageKey: "inputs/" + id + "/i.png",
		AudioKey: "inputs/" + id + "/a.wav", Width: 512, Height: 512, FPS: 25, Seed: 1, Price: 190_000}
	if _, err := st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Start(ctx, id, 1, "host:7"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if _, err := l.Requeue(ctx, j, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Start(ctx, id, 2, "host:8"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	cancelCtx := logging.With(ctx, slog.String("request_id", "req-cancelled-it"))
	if _, err := l.Cancel(cancelCtx, j.Owner, id); err != nil {
		t.Fatal(err)
	}

	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line that is not JSON: %s", line)
		}
		if m["msg"] == "generation ended" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines for two runs:\n%s", len(lines), logs.String())
	}
	for i, want := range []struct {
		outcome, worker string
		seconds         float64
	}{{"requeued", "host:7", 2}, {"cancelled", "host:8", 0}} {
		m := lines[i]
		if m["outcome"] != want.outcome || m["worker"] != want.worker || m["customer"] != "Acme Corp" || m["request_id"] != "req-created-it" ||
			m["job_id"] != id || m["billed_seconds"] != want.seconds || m["cost_usd"] != want.seconds*0.00019 || m["started"] == nil {
			t.Errorf("run %d: %v", i+1, m)
		}
	}
	// The cancel ended the second run at its last sign of life, its start
	// (it reported no progress in the 10 s before the cancel).
	if got := lines[1]["duration_seconds"]; got != 0.0 {
		t.Errorf("the cancelled run's duration %v, want 0 s, to its last sign of life", got)
	}
	var moves []store.Transition
	for _, a := range obs.seen {
		moves = append(moves, a.Event.Transition)
	}
	if len(moves) != 4 || moves[0] != store.Start || moves[1] != store.Requeue || moves[2] != store.Start || moves[3] != store.Cancel {
		t.Errorf("the observer heard %v", moves)
	}
	if obs.seen[1].Charge == nil || obs.seen[1].Charge.Billed != 2*time.Second || obs.seen[0].Charge != nil {
		t.Errorf("charges seen: %+v, %+v", obs.seen[0].Charge, obs.seen[1].Charge)
	}
}
