package api_test

import (
	"context"
	"database/sql"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/store"
)

// estimate posts parts to POST /generate/estimate.
func (tb *testBundle) estimate(t *testing.T, key string, parts ...part) (api.Estimate, problemBody, *http.Response) {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	var e api.Estimate
	resp := tb.call(t, http.MethodPost, "/generate/estimate", key, body, ct, &e)
	var pb problemBody
	if resp.StatusCode != http.StatusOK {
		body, ct := multipartBody(t, parts...)
		tb.call(t, http.MethodPost, "/generate/estimate", key, body, ct, &pb)
	}
	return e, pb, resp
}

// riverJobs counts the entries of the River queue, in the SQLite file.
func (tb *testBundle) riverJobs(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+tb.db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEstimateValidates: the estimate refuses what POST /generate refuses,
// with the same status and code; it answers the inputs' facts and the
// default rate without recent jobs; and it makes nothing: no job row, no
// queue entry, no stored object, no upload left.
func TestEstimateValidates(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true, imageBytes: 600 << 10})
	small := part{Name: "image", File: fixture("chelsea.png")}
	for _, c := range []struct {
		name  string
		parts []part
	}{
		{"truncated image", []part{{Name: "image", File: fixture("truncated.jpg")}, speech}},
		{"truncated audio", []part{small, {Name: "audio", File: fixture("truncated.wav")}}},
		{"image as audio", []part{small, {Name: "audio", File: fixture("chelsea.png")}}},
		{"no audio", []part{small}},
		{"image too large", []part{portrait, speech}},
		{"odd width", []part{small, speech, {Name: "width", Value: "301"}}},
		{"bad face_fallback", []part{small, speech, {Name: "face_fallback", Value: "perhaps"}}},
		{"unknown part", []part{{Name: "video", Value: "x"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, got, resp := tb.estimate(t, keyA, c.parts...)
			var want problemBody
			body, ct := multipartBody(t, c.parts...)
			wresp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &want)
			if resp.StatusCode != wresp.StatusCode || got.Code != want.Code || want.Code == "" {
				t.Fatalf("estimate = %d %q (%s); /generate = %d %q", resp.StatusCode, got.Code, got.Detail, wresp.StatusCode, want.Code)
			}
		})
	}

	e, pb, resp := tb.estimate(t, keyA, small, speech, part{Name: "width", Value: "128"}, part{Name: "height", Value: "128"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("estimate = %d %+v", resp.StatusCode, pb)
	}
	if math.Abs(e.VideoSeconds-4.68) > 0.05 || e.Width != 128 || e.Height != 128 || e.FPS != 25 {
		t.Errorf("estimate %+v: want the 4.68 s of speech at 128×128, 25 fps", e)
	}
	if got := resp.Header.Get("RateLimit-Policy"); !strings.HasPrefix(got, `"polling"`) {
		t.Errorf("RateLimit-Policy = %q: an estimate counts as polling, not as a generation", got)
	}
	if e.Basis.Method != "default" || e.Basis.Jobs != 0 || math.Abs(e.BilledSeconds-e.VideoSeconds*e.Basis.PerVideo) > 0.002 {
		t.Errorf("without recent jobs: %+v", e)
	}
	if e.PricePerSec <= 0 || math.Abs(e.CostUSD-e.BilledSeconds*e.PricePerSec) > 1e-9 {
		t.Errorf("cost %v at %v/s for %v s", e.CostUSD, e.PricePerSec, e.BilledSeconds)
	}

	n, err := tb.store.Submitted(context.Background(), store.Window{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || n != 0 {
		t.Errorf("jobs made by estimates: %d (%v)", n, err)
	}
	if n := tb.riverJobs(t); n != 0 {
		t.Errorf("queue entries made by estimates: %d", n)
	}
	if files := append(filesUnder(t, filepath.Join(tb.dataDir, "uploads")), filesUnder(t, filepath.Join(tb.dataDir, "objects"))...); len(files) != 0 {
		t.Errorf("estimates left files: %v", files)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]any `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	tb.call(t, http.MethodGet, "/openapi.json", "", nil, "", &doc)
	if doc.Paths["/generate/estimate"]["post"].RequestBody.Content["multipart/form-data"] == nil {
		t.Errorf("the OpenAPI document does not give the estimate's multipart body")
	}
	if resp := tb.call(t, http.MethodPost, "/generate/estimate", "", nil, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a key: %d", resp.StatusCode)
	}
}

// TestEstimateMatchesBilled: after a few real jobs of the same inputs, the
// estimate is within 20 % of what a new job of those inputs is billed.
// Not parallel: a local run is billed its wall time, which the load of
// other tests would move between the jobs measured and the job compared.
func TestEstimateMatchesBilled(t *testing.T) {
	tb := setup(t, options{})
	ctx := context.Background()
	// Jobs of some seconds: a longer run averages out the bursts of
	// whatever else the machine runs, which a job of half a second
	// does not (its billed time varies twofold here).
	inputs := []part{portrait, {Name: "audio", File: fixture("speech_en_12s.wav")}}
	run := func() *store.Job {
		t.Helper()
		j, resp := tb.submit(t, keyA, inputs...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		// Waits reading the store, seldom: polling /status every 10 ms
		// would load the machine whose wall time the job is billed.
		var row *store.Job
		deadline := time.Now().Add(90 * time.Second)
		for row == nil || !row.State.Final() {
			if time.Now().After(deadline) {
				t.Fatalf("job %s did not end", j.ID)
			}
			time.Sleep(100 * time.Millisecond)
			var err error
			if row, err = tb.store.GetJob(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
		}
		if row.State != store.StateCompleted {
			t.Fatalf("job %s ended %s", j.ID, row.State)
		}
		return row
	}
	var billed []time.Duration
	for range 5 {
		billed = append(billed, run().Billed)
	}
	t.Logf("billed: %v", billed)
	e, pb, resp := tb.estimate(t, keyA, inputs...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("estimate = %d %+v", resp.StatusCode, pb)
	}
	if e.Basis.Method != "recent" || e.Basis.Jobs != 5 || !e.Basis.SameSize {
		t.Fatalf("basis %+v, want the 5 recent jobs of this size", e.Basis)
	}
	j := run()
	ratio := e.BilledSeconds / j.Billed.Seconds()
	t.Logf("estimated %.3f s (%.3f s a second of video), billed %.3f s: ratio %.2f", e.BilledSeconds, e.Basis.PerVideo, j.Billed.Seconds(), ratio)
	if ratio < 0.8 || ratio > 1.2 {
		t.Errorf("estimate %.3f s, billed %.3f s: ratio %.2f, want within 20 %%", e.BilledSeconds, j.Billed.Seconds(), ratio)
	}
	if math.Abs(e.VideoSeconds-j.AudioDuration.Seconds()) > 0.001 {
		t.Errorf("video %.3f s, the job's %.3f s", e.VideoSeconds, j.AudioDuration.Seconds())
	}
}
