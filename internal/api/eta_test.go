package api_test

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestQueueETAAndCost: a queued job's ETA is its place in the queue at
// the rate the queue's jobs ended in the last 15 minutes, absent while
// none ended; a finished job shows what it was billed on /status and
// /result.
func TestQueueETAAndCost(t *testing.T) {
	t.Parallel()
	var shift atomic.Int64
	tb := setup(t, options{noWorkers: true, shift: &shift})
	var ids []string
	for range 3 {
		j := tb.submitSmall(t)
		ids = append(ids, j.ID)
	}
	var j api.Job
	tb.call(t, http.MethodGet, "/status/"+ids[2], keyA, nil, "", &j)
	if j.QueuePosition == nil || *j.QueuePosition != 2 || j.QueueETA != nil {
		t.Fatalf("before any job ended: position %v, eta %v; want 2 and none", j.QueuePosition, j.QueueETA)
	}
	// The first job runs for 2 s and completes (as a worker would).
	ctx := context.Background()
	if _, err := tb.store.Apply(ctx, store.ApplyParams{JobID: ids[0], Transition: store.Start, Attempt: 1, Worker: "w"}); err != nil {
		t.Fatal(err)
	}
	billed := 2 * time.Second
	if _, err := tb.store.Apply(ctx, store.ApplyParams{JobID: ids[0], Transition: store.Complete, Attempt: 1, Billed: &billed,
		Result: store.Result{Key: "results/x.mp4", Bytes: 1, Duration: 4 * time.Second, ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	shift.Store(int64(6 * time.Second)) // past the throughput's cache (5 s)
	j = api.Job{}
	tb.call(t, http.MethodGet, "/status/"+ids[2], keyA, nil, "", &j)
	if j.QueuePosition == nil || *j.QueuePosition != 1 || j.QueueETA == nil || *j.QueueETA != 1800 {
		t.Fatalf("one job ended in 15 min, one ahead: position %v, eta %v; want 1 and (1+1)×900÷1 = 1800", j.QueuePosition, j.QueueETA)
	}
	j = api.Job{}
	tb.call(t, http.MethodGet, "/status/"+ids[0], keyA, nil, "", &j)
	want := 2 * 0.00019
	if j.BilledSeconds != 2 || math.Abs(j.CostUSD-want) > 1e-12 || j.QueueETA != nil {
		t.Fatalf("finished job: billed %g s, $%g, eta %v; want 2 s, $%g, none", j.BilledSeconds, j.CostUSD, j.QueueETA, want)
	}
	var r api.Result
	if resp := tb.call(t, http.MethodGet, "/result/"+ids[0], keyA, nil, "", &r); resp.StatusCode != http.StatusOK ||
		r.BilledSeconds != 2 || math.Abs(r.CostUSD-want) > 1e-12 {
		t.Fatalf("result: %d, billed %g s, $%g", resp.StatusCode, r.BilledSeconds, r.CostUSD)
	}
}

// TestQueueDeadline: a job not started within its max_queue_seconds (the
// one worker is held by a job waiting at RunPod, which runs none) ends
// expired with queue_deadline_exceeded, unbilled, its queue entry ended
// and its inputs deleted, its job.expired webhook sent; a deadline out of
// bounds is refused.
func TestQueueDeadline(t *testing.T) {
	t.Parallel()
	d := newDouble(t, runpodtest.Options{})
	tb := setup(t, options{runpod: d}) // RUNPOD_CONCURRENCY 1, and no RunPod worker
	held := tb.submitSmall(t)
	tb.waitFor(t, keyA, held.ID, "processing")
	r := newReceiver(t)
	secret := tb.webhookSecret(t, keyA, -1)
	late := tb.submitSmall(t, append(hooked(r, ""), part{Name: "max_queue_seconds", Value: "1"})...)
	if late.QueueDeadline == nil || late.QueueDeadline.Sub(late.CreatedAt).Round(time.Millisecond) != time.Second {
		t.Fatalf("queue deadline %v of a job created at %v, want a second later", late.QueueDeadline, late.CreatedAt)
	}
	j := tb.waitFor(t, keyA, late.ID, "expired", "processing", "completed", "failed")
	if j.State != "expired" || j.Error == nil || j.Error.Code != "queue_deadline_exceeded" || j.BilledSeconds != 0 || j.StartedAt != nil {
		t.Fatalf("late job: %s, error %s, billed %g, started %v", j.State, jobError(j), j.BilledSeconds, j.StartedAt)
	}
	// Its webhook tells of it.
	tb.waitDeliveries(t, keyA, late.ID, 1)
	e := verifiedEvent(t, secret.Secret, r.delivered()[0])
	if e.Body.Type != "job.expired" || e.Body.Data.Error == nil || e.Body.Data.Error.Code != "queue_deadline_exceeded" {
		t.Errorf("the lapsed job's webhook: %+v", e.Body)
	}
	var pb problemBody
	if resp := tb.call(t, http.MethodGet, "/result/"+late.ID, keyA, nil, "", &pb); resp.StatusCode != http.StatusConflict {
		t.Errorf("result of a lapsed job: %d %s, want 409 (no video), not 410", resp.StatusCode, pb.Code)
	}
	tb.waitQueue(t, late.ID, "cancelled")
	// The inputs are deleted just after the transition commits.
	testkit.WaitFor(t, 10*time.Second, "the lapsed job's inputs to be deleted", func() bool {
		for _, f := range filesUnder(t, filepath.Join(tb.dataDir, "objects")) {
			if strings.Contains(f, late.ID) {
				return false
			}
		}
		return true
	})
	for _, v := range []string{"-1", "86401", "soon"} {
		body, ct := multipartBody(t, append(slices.Clone(small), part{Name: "max_queue_seconds", Value: v})...)
		if resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb); resp.StatusCode != http.StatusUnprocessableEntity || pb.Code != "invalid_request" {
			t.Errorf("max_queue_seconds=%s: %d %s, want 422 invalid_request", v, resp.StatusCode, pb.Code)
		}
	}
	tb.call(t, http.MethodPost, "/cancel/"+held.ID, keyA, nil, "", nil)
}
