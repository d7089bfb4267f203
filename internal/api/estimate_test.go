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
	if got := resp.Header.Get("RateLimit-Policy"); !strings.HasPrefix(got, `"hourly"`) {
		t.Errorf("RateLimit-Policy = %q: an estimate does a generation's checks, and counts as one", got)
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

// TestEstimateFromRecentJobs: once the backend has completed 5 jobs of a
// size, the estimate is the median of their billed seconds per second of
// video, times the new job's video: one outlier (a run billed twice as
// long) does not move it. The jobs here are billed known times (a
// worker's transitions made on the store), so that the figure is exact;
// how close it comes to real runs' wall time on a loaded machine is a
// measurement, not a unit test's assertion (see the note).
func TestEstimateFromRecentJobs(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	ctx := context.Background()
	inputs := []part{portrait, {Name: "audio", File: fixture("speech_en_12s.wav")}}
	var video time.Duration
	for _, b := range []time.Duration{2000, 2200, 2400, 2600, 9000} {
		j, resp := tb.submit(t, keyA, inputs...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		if _, err := tb.store.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w"}); err != nil {
			t.Fatal(err)
		}
		billed := b * time.Millisecond
		if _, err := tb.store.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1, Billed: &billed,
			Result: store.Result{Key: "results/" + j.ID + ".mp4", Bytes: 1, ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		video = time.Duration(j.AudioSeconds * float64(time.Second))
	}
	e, pb, resp := tb.estimate(t, keyA, inputs...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("estimate = %d %+v", resp.StatusCode, pb)
	}
	if e.Basis.Method != "recent" || e.Basis.Jobs != 5 || !e.Basis.SameSize {
		t.Fatalf("basis %+v, want the 5 recent jobs of this size", e.Basis)
	}
	if math.Abs(e.BilledSeconds-2.4) > 0.002 || math.Abs(e.VideoSeconds-video.Seconds()) > 0.002 {
		t.Errorf("estimate %.3f s for %.3f s of video, want the median 2.4 s for %.3f s", e.BilledSeconds, e.VideoSeconds, video.Seconds())
	}
	if want := e.BilledSeconds * 0.00019; math.Abs(e.CostUSD-want) > 1e-9 {
		t.Errorf("cost $%g, want $%g", e.CostUSD, want)
	}
}
