package main_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// fill makes jobs in st at known times before now: what `report` must add
// up. Runs are billed at $0.00019 a second.
func fill(t *testing.T, st *sqlstore.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	var clock time.Time
	st.SetClock(func() time.Time { return clock })
	job := func(customer string, ago, run time.Duration, end store.Transition, code string) {
		id := uuid.Must(uuid.NewV7()).String()
		clock = now.Add(-ago - run - time.Second)
		_, err := st.CreateJob(ctx, &store.Job{ID: id, Owner: store.CustomerOwner(customer), ImageKey: "i/" + id, AudioKey: "a/" + id,
			Width: 512, Height: 512, FPS: 25, Seed: 1, Price: 190_000, AudioDuration: 4 * time.Second})
		must(t, err)
		clock = now.Add(-ago - run)
		_, err = st.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Start, Attempt: 1, Worker: "host:7"})
		must(t, err)
		clock = now.Add(-ago)
		p := store.ApplyParams{JobID: id, Transition: end, Attempt: 1, Code: code, Message: "m",
			Result: store.Result{Key: "r/" + id, ExpiresAt: clock.Add(time.Hour)}}
		if end == store.Cancel {
			p.Attempt, p.Owner = 0, store.CustomerOwner(customer)
		}
		_, err = st.Apply(ctx, p)
		must(t, err)
	}
	for i := range 4 { // acme: 4 completed, 10 to 40 s
		job("acme", time.Duration(i+1)*time.Hour, time.Duration(10*(i+1))*time.Second, store.Complete, "")
	}
	job("acme", 5*time.Hour, 5*time.Second, store.Fail, "timeout")
	job("globex", 6*time.Hour, 100*time.Second, store.Complete, "")
	job("globex", 7*time.Hour, 2*time.Second, store.Fail, "timeout")
	job("globex", 8*time.Hour, 3*time.Second, store.Fail, "no_face_detected")
	job("globex", 9*time.Hour, 0, store.Cancel, "")
	job("initech", 30*time.Hour, 1000*time.Second, store.Complete, "") // outside the last 24 h
	st.SetClock(time.Now)
}

type report struct {
	Submitted, Completed, Failed, Cancelled int
	SuccessRatio                            float64 `json:"success_ratio"`
	BilledSeconds                           float64 `json:"billed_seconds"`
	CostUSD                                 float64 `json:"cost_usd"`
	Generation                              struct {
		Count         int
		P50, P95, P99 float64
	} `json:"generation_seconds"`
	TopByUsage []struct {
		Customer  string
		Submitted int
	} `json:"top_customers_by_usage"`
	TopByCost []struct {
		Customer string
		CostUSD  float64 `json:"cost_usd"`
	} `json:"top_customers_by_cost"`
	ErrorCodes []struct {
		Code string
		Jobs int
	} `json:"error_codes"`
	Slowest []struct {
		JobID             string  `json:"job_id"`
		GenerationSeconds float64 `json:"generation_seconds"`
	} `json:"slowest_jobs"`
	ToDate struct {
		Timezone  string `json:"timezone"`
		Customers []struct {
			Customer string
		} `json:"customers"`
	} `json:"to_date"`
}

// TestReport: `avatar-api report` adds up a database the test filled, on
// SQLite and on PostgreSQL, as JSON and as tables.
func TestReport(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"DATA_DIR=" + dir}
			var st *sqlstore.Store
			var err error
			if db == "sqlite" {
				st, err = sqlite.Open(context.Background(), filepath.Join(dir, "avatar.db"), 3)
			} else {
				url := pgtest.NewDatabase(t)
				env = append(env, "DATABASE_URL="+url)
				st, err = postgres.Open(context.Background(), url, 3)
			}
			must(t, err)
			fill(t, st, time.Now())
			st.Close()

			var r report
			must(t, json.Unmarshal([]byte(cli(t, env, "report", "--since", "24h", "--json")), &r))
			// 9 jobs in the last 24 h: 5 completed (10, 20, 30, 40, 100 s), 3 failed, 1 cancelled.
			if r.Submitted != 9 || r.Completed != 5 || r.Failed != 3 || r.Cancelled != 1 {
				t.Errorf("totals: %+v", r)
			}
			if r.SuccessRatio != 5.0/8 {
				t.Errorf("success ratio %g, want 5/8", r.SuccessRatio)
			}
			g := r.Generation
			if g.Count != 5 || g.P50 != 30 || g.P95 != 100 || g.P99 != 100 {
				t.Errorf("generation percentiles: %+v", g)
			}
			billed := 10.0 + 20 + 30 + 40 + 5 + 100 + 2 + 3
			if r.BilledSeconds != billed || !near(r.CostUSD, billed*0.00019) {
				t.Errorf("billed %g s for $%g, want %g s for $%g", r.BilledSeconds, r.CostUSD, billed, billed*0.00019)
			}
			if len(r.TopByUsage) != 2 || r.TopByUsage[0].Customer != "acme" || r.TopByUsage[0].Submitted != 5 {
				t.Errorf("top by usage: %+v", r.TopByUsage)
			}
			if len(r.TopByCost) != 2 || r.TopByCost[0].Customer != "acme" || !near(r.TopByCost[0].CostUSD, 105*0.00019) {
				t.Errorf("top by cost: %+v", r.TopByCost)
			}
			if len(r.ErrorCodes) != 2 || r.ErrorCodes[0].Code != "timeout" || r.ErrorCodes[0].Jobs != 2 {
				t.Errorf("error codes: %+v", r.ErrorCodes)
			}
			if len(r.Slowest) != 5 || r.Slowest[0].GenerationSeconds != 100 || r.Slowest[4].GenerationSeconds != 10 {
				t.Errorf("slowest: %+v", r.Slowest)
			}
			if r.ToDate.Timezone != "UTC" || len(r.ToDate.Customers) == 0 {
				t.Errorf("to date: %+v", r.ToDate)
			}

			must(t, json.Unmarshal([]byte(cli(t, env, "report", "--since", "2d", "--json", "--top", "1")), &r))
			if r.Submitted != 10 || len(r.TopByCost) != 1 || r.TopByCost[0].Customer != "initech" {
				t.Errorf("two days: %d jobs, top %+v", r.Submitted, r.TopByCost)
			}

			text := cli(t, env, "report")
			for _, want := range []string{"P50 30.00 s", "P95 100.00 s", "62.5 %", "cost $0.0399",
				"timeout", "no_face_detected", "acme", "globex", "host:7"} {
				if !strings.Contains(text, want) {
					t.Errorf("the report lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
