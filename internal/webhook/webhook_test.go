package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/netguard"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

var secret = []byte(strings.Repeat("k", 32))

func open(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func service(t *testing.T, st *sqlstore.Store, allowPrivate bool, render webhook.Renderer) *webhook.Service {
	t.Helper()
	s, err := webhook.New(webhook.Options{SigningSecret: secret, Store: st, Guard: netguard.Guard{AllowPrivate: allowPrivate}, Render: render})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// completedJob makes a job with a webhook to sealed and completes it: its
// job.completed delivery is written.
func completedJob(t *testing.T, st *sqlstore.Store, sealed string) string {
	t.Helper()
	ctx := context.Background()
	j := &store.Job{ID: "0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d", Owner: store.CustomerOwner("acme"), Width: 128, Height: 128, FPS: 10,
		ImageKey: "i", AudioKey: "a", WebhookURL: sealed, WebhookDisplay: "shown"}
	if _, err := st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1,
		Result: store.Result{Key: "v", Bytes: 1, Duration: time.Second, ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	ds, _, err := st.JobWebhooks(ctx, j.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries: %v %v", ds, err)
	}
	return ds[0].ID
}

// TestConnectTimeRefusal: a stored URL whose host is not public (it passed
// the check of a service that allowed private addresses, or its name
// resolves elsewhere by now) is refused when the delivery connects,
// without the receiver seeing a request, and the refusal is recorded.
func TestConnectTimeRefusal(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	st := open(t)
	ctx := context.Background()
	lax := service(t, st, true, nil)
	sealed, display, err := lax.Seal(ctx, srv.URL+"/hook?token=t0k3n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "t0k3n") || strings.Contains(display, "t0k3n") || strings.Contains(display, "/hook") {
		t.Fatalf("sealed %q, display %q show the URL", sealed, display)
	}
	if _, err := lax.Rotate(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	id := completedJob(t, st, sealed)
	strict := service(t, st, false, func(context.Context, *store.WebhookDelivery) ([]byte, error) { return []byte(`{}`), nil })
	if err := strict.Deliver(ctx, id, 0, false); err == nil {
		t.Fatal("a delivery to 127.0.0.1 succeeded without WEBHOOK_ALLOW_PRIVATE")
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver on 127.0.0.1 got %d requests", hits.Load())
	}
	_, as, err := st.JobWebhooks(ctx, "0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d")
	if err != nil || len(as) != 1 || as[0].Delivered || !strings.Contains(as[0].Error, "loopback") || strings.Contains(as[0].Error, "t0k3n") {
		t.Fatalf("attempts %+v, %v: want one refused for a loopback address, without the URL", as, err)
	}
	// The service that allows private addresses delivers it.
	if err := service(t, st, true, func(context.Context, *store.WebhookDelivery) ([]byte, error) { return []byte(`{}`), nil }).Deliver(ctx, id, 0, false); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Fatalf("the receiver got %d requests, want 1", hits.Load())
	}
}

// TestSealNeedsTheSameSecret: a URL sealed under one SIGNING_SECRET does
// not open under another; the delivery records why and gives no URL.
func TestSealNeedsTheSameSecret(t *testing.T) {
	t.Parallel()
	st := open(t)
	ctx := context.Background()
	a := service(t, st, true, nil)
	sealed, _, err := a.Seal(ctx, "http://127.0.0.1:1/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	id := completedJob(t, st, sealed)
	other, err := webhook.New(webhook.Options{SigningSecret: []byte(strings.Repeat("o", 32)), Store: st,
		Render: func(context.Context, *store.WebhookDelivery) ([]byte, error) { return []byte(`{}`), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Deliver(ctx, id, 0, false); err != nil { // not final, but no retry can help
		t.Fatalf("a final attempt = %v, want nil (given up)", err)
	}
	ds, as, _ := st.JobWebhooks(ctx, "0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d")
	if ds[0].State != store.DeliveryFailed || len(as) != 1 || !strings.Contains(as[0].Error, "SIGNING_SECRET") {
		t.Fatalf("delivery %+v, attempts %+v", ds[0], as)
	}
}

// TestTarget: events are checked and deduplicated, a key's default URL
// applies when the submission gives none, and a webhook needs a secret.
func TestTarget(t *testing.T) {
	t.Parallel()
	st := open(t)
	ctx := context.Background()
	s := service(t, st, true, nil)
	code := func(err error) string {
		var re *refusal.Error
		if errors.As(err, &re) {
			return re.Code
		}
		return ""
	}
	if _, err := s.Target(ctx, "acme", "", "http://127.0.0.1/x", nil); code(err) != webhook.CodeSecretMissing {
		t.Fatalf("no secret: %v", err)
	}
	if _, err := s.Rotate(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	tg, err := s.Target(ctx, "acme", "", "http://127.0.0.1/x", []string{"job.started, job.completed", "job.started"})
	if err != nil || tg.URL == "" || len(tg.Events) != 2 {
		t.Fatalf("target %+v, %v", tg, err)
	}
	if _, err := s.Target(ctx, "acme", "", "http://127.0.0.1/x", []string{"job.done"}); code(err) != webhook.CodeEventsInvalid {
		t.Fatalf("unknown event: %v", err)
	}
	if tg, err := s.Target(ctx, "acme", "", "", nil); err != nil || tg.URL != "" {
		t.Fatalf("no webhook: %+v %v", tg, err)
	}
	sealed, display, _ := s.Seal(ctx, "http://127.0.0.1/default")
	k := &store.APIKey{ID: "0193a8e2-c4f3-7c2a-9b1d-000000000001", Hash: "h", Display: "d", Customer: "acme", Scopes: []string{"generate"},
		WebhookURL: sealed, WebhookDisplay: display}
	if err := st.CreateKey(ctx, k, store.Audit{Action: "created", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if tg, err := s.Target(ctx, "acme", k.ID, "", nil); err != nil || tg.URL != sealed || tg.Display != display {
		t.Fatalf("key default: %+v %v", tg, err)
	}
	if _, err := s.Rotate(ctx, "acme", webhook.MaxGrace+time.Second); code(err) != webhook.CodeGraceInvalid {
		t.Fatalf("grace beyond the bound: %v", err)
	}
}
