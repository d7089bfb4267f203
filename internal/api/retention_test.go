package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// TestUsageAfterRetention: pruning a customer's ended jobs (what the
// garbage collection does after JOB_RETENTION) changes none of the job
// figures GET /usage answers, by day or by hour; the jobs themselves are
// then 404.
func TestUsageAfterRetention(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	var ids []string
	for range 2 {
		j, resp := tb.submit(t, keyA, small...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		tb.waitFor(t, keyA, id, "completed", "failed", "cancelled")
	}
	usage := func() map[string]any {
		t.Helper()
		out := map[string]any{}
		for _, g := range []string{"day", "hour"} {
			u, pb, status := tb.usageOf(t, keyA, url.Values{"granularity": {g}})
			if status != http.StatusOK {
				t.Fatalf("%s: %d %+v", g, status, pb)
			}
			// Requests are the test's own, still being counted: not
			// what pruning could change.
			for i := range u.Buckets {
				u.Buckets[i].Requests = 0
			}
			u.Total.Requests = 0
			out[g] = []any{u.Buckets, u.Total}
		}
		return out
	}
	before := usage()

	p, err := tb.store.PruneJobs(context.Background(), store.PruneJobsParams{Before: time.Now().Add(time.Minute), Limit: 100})
	if err != nil || p.Jobs != int64(len(ids)) {
		t.Fatalf("pruned %+v (%v), want the %d jobs", p, err, len(ids))
	}
	for _, id := range ids {
		if _, err := tb.store.GetJob(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("job %s after pruning: %v", id, err)
		}
		if resp := tb.call(t, http.MethodGet, "/status/"+id, keyA, nil, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /status of a pruned job: %d, want 404", resp.StatusCode)
		}
	}
	if after := usage(); !reflect.DeepEqual(after, before) {
		t.Errorf("GET /usage after pruning:\n  %+v\nbefore:\n  %+v", after, before)
	}
}
