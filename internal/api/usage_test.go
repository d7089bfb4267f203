package api_test

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// usageOf asks GET /usage with query.
func (tb *testBundle) usageOf(t *testing.T, key string, query url.Values) (api.Usage, problemBody, int) {
	t.Helper()
	var u api.Usage
	var pb problemBody
	path := "/usage?" + query.Encode()
	resp := tb.call(t, http.MethodGet, path, key, nil, "", &u)
	if resp.StatusCode != http.StatusOK {
		tb.call(t, http.MethodGet, path, key, nil, "", &pb)
	}
	return u, pb, resp.StatusCode
}

// TestUsage: a customer's usage is the sums of its own jobs' rows and
// charges, per day or hour of the cost time zone (one with a half-hour
// offset), never another customer's; ranges that are reversed, too long
// or unreadable are refused with 422.
func TestUsage(t *testing.T) {
	t.Parallel()
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	tb := setup(t, options{configure: func(cfg *config.Config) { cfg.CostLocation = kolkata }})
	ctx := context.Background()
	var ids []string
	for range 2 {
		j, resp := tb.submit(t, keyA, small...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		ids = append(ids, j.ID)
	}
	// Cancelled while queued or running, or completed first: the sums
	// below are compared with whatever the rows say.
	if resp := tb.call(t, http.MethodPost, "/cancel/"+ids[1], keyA, nil, "", nil); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	j, _ := tb.submit(t, keyA, small...)
	ids = append(ids, j.ID)
	jb, _ := tb.submit(t, keyB, small...)
	for _, id := range ids {
		tb.waitFor(t, keyA, id, "completed", "failed", "cancelled")
	}
	tb.waitFor(t, keyB, jb.ID, "completed", "failed", "cancelled")

	// What the store holds of customer A's jobs.
	rows, err := tb.store.ListJobs(ctx, store.ListParams{Owner: store.CustomerOwner("customer-a"), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var want api.UsageFigures
	var cost store.NanoUSD
	for _, r := range rows {
		want.JobsSubmitted++
		switch r.State {
		case store.StateCompleted:
			want.Completed++
			want.VideoSeconds += r.AudioDuration.Seconds()
		case store.StateCancelled:
			want.Cancelled++
		case store.StateFailed:
			want.Failed++
		}
		want.BilledSeconds += r.Billed.Seconds()
		cost += r.Cost
	}
	want.CostUSD = cost.USD()
	if want.JobsSubmitted != 3 || want.BilledSeconds == 0 {
		t.Fatalf("customer A's rows: %+v", rows)
	}

	for _, g := range []string{"day", "hour"} {
		u, pb, status := tb.usageOf(t, keyA, url.Values{"granularity": {g}})
		if status != http.StatusOK {
			t.Fatalf("%s: %d %+v", g, status, pb)
		}
		got := u.Total
		if got.JobsSubmitted != want.JobsSubmitted || got.Completed != want.Completed || got.Cancelled != want.Cancelled ||
			got.Failed != want.Failed || got.Expired != 0 || math.Abs(got.VideoSeconds-want.VideoSeconds) > 1e-9 ||
			math.Abs(got.BilledSeconds-want.BilledSeconds) > 1e-9 || math.Abs(got.CostUSD-want.CostUSD) > 1e-12 {
			t.Errorf("%s: total %+v, the rows sum to %+v", g, got, want)
		}
		var sum api.UsageFigures
		for _, b := range u.Buckets {
			sum.JobsSubmitted += b.JobsSubmitted
			sum.BilledSeconds += b.BilledSeconds
			if _, off := b.Start.Zone(); off != 5*3600+1800 || b.Start.Minute() != 0 || (g == "day" && b.Start.Hour() != 0) {
				t.Fatalf("%s: bucket starts %s, not on the hour (or midnight) of Asia/Kolkata", g, b.Start)
			}
		}
		if sum.JobsSubmitted != got.JobsSubmitted || math.Abs(sum.BilledSeconds-got.BilledSeconds) > 1e-9 {
			t.Errorf("%s: buckets sum to %+v, total %+v", g, sum, got)
		}
		if u.Timezone != "Asia/Kolkata" || u.Granularity != g {
			t.Errorf("timezone %q, granularity %q", u.Timezone, u.Granularity)
		}
		if g == "day" && len(u.Buckets) != 30 {
			t.Errorf("default range: %d days, want 30", len(u.Buckets))
		}
	}

	// Customer B sees its one job only.
	u, _, status := tb.usageOf(t, keyB, nil)
	if status != http.StatusOK || u.Total.JobsSubmitted != 1 {
		t.Errorf("customer B: %d, %+v", status, u.Total)
	}
	// A day in the past holds nothing; a date range includes its last day.
	today := time.Now().In(kolkata).Format(time.DateOnly)
	if u, _, _ := tb.usageOf(t, keyA, url.Values{"from": {"2026-01-01"}, "to": {"2026-01-01"}}); len(u.Buckets) != 1 || u.Total.JobsSubmitted != 0 {
		t.Errorf("a past day: %+v", u)
	}
	if u, _, _ := tb.usageOf(t, keyA, url.Values{"from": {today}, "to": {today}}); len(u.Buckets) != 1 || u.Total.JobsSubmitted != 3 {
		t.Errorf("today, by date: %+v", u)
	}

	now := time.Now().UTC()
	for name, q := range map[string]url.Values{
		"reversed":          {"from": {now.Format(time.RFC3339)}, "to": {now.Add(-time.Hour).Format(time.RFC3339)}},
		"empty":             {"from": {now.Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}},
		"401 days":          {"from": {now.In(kolkata).AddDate(0, 0, -400).Format(time.DateOnly)}},
		"32 days of hours":  {"from": {now.AddDate(0, 0, -32).Format(time.RFC3339)}, "granularity": {"hour"}},
		"not a time":        {"from": {"yesterday"}},
		"not a granularity": {"granularity": {"week"}},
	} {
		if _, pb, status := tb.usageOf(t, keyA, q); status != http.StatusUnprocessableEntity || pb.Code != "invalid_request" {
			t.Errorf("%s: %d %+v, want 422 invalid_request", name, status, pb)
		}
	}
	for _, q := range []url.Values{
		{"from": {now.In(kolkata).AddDate(0, 0, -399).Format(time.DateOnly)}},
		{"from": {now.In(kolkata).AddDate(0, 0, -30).Format(time.DateOnly)}, "granularity": {"hour"}},
	} {
		if u, pb, status := tb.usageOf(t, keyA, q); status != http.StatusOK || u.Total.JobsSubmitted != 3 {
			t.Errorf("%v: %d %+v, %d buckets", q, status, pb, len(u.Buckets))
		}
	}
}

// TestUsageRequests: GET /usage counts the requests a customer's keys
// made, whatever their answer (a 404 too), once the key was valid: not
// a request with a wrong key, not another customer's, not the health
// checks; /usage's own request counts after its answer.
func TestUsageRequests(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	for range 3 {
		if resp := tb.call(t, http.MethodGet, "/jobs", keyB, nil, "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /jobs: %d", resp.StatusCode)
		}
	}
	if resp := tb.call(t, http.MethodGet, "/status/0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d", keyB, nil, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /status of no job: %d", resp.StatusCode)
	}
	tb.call(t, http.MethodGet, "/jobs", "not-a-key", nil, "", nil)
	tb.call(t, http.MethodGet, "/health", "", nil, "", nil)
	tb.call(t, http.MethodGet, "/jobs", keyA, nil, "", nil)
	counted := func() int64 {
		bs, err := tb.store.UsagePer(context.Background(), store.UsageParams{Owner: store.CustomerOwner("customer-b"),
			BucketParams: store.BucketParams{Window: store.Window{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}, Step: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, b := range bs {
			n += b.Requests
		}
		return n
	}
	testkit.WaitFor(t, 10*time.Second, "customer B's requests to be counted", func() bool { return counted() >= 4 })
	u, pb, status := tb.usageOf(t, keyB, url.Values{})
	if status != http.StatusOK || u.Total.Requests != 4 {
		t.Fatalf("usage: %d %+v, requests %d, want 4", status, pb, u.Total.Requests)
	}
	testkit.WaitFor(t, 10*time.Second, "the usage request to be counted", func() bool { return counted() == 5 })
}
