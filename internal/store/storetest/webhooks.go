package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// RunWebhooks holds an implementation of store.Webhooks (and the webhook
// deliveries Apply writes, and keys' default webhook URLs) to its
// contract. open returns a new, empty store for each case.
func RunWebhooks(t *testing.T, open func(t *testing.T) Clocked) {
	t.Helper()
	t.Run("CompletedDelivery", func(t *testing.T) { webhookCompleted(t, open(t)) })
	t.Run("StartedOnce", func(t *testing.T) { webhookStartedOnce(t, open(t)) })
	t.Run("EndEvents", func(t *testing.T) { webhookEndEvents(t, open(t)) })
	t.Run("Attempts", func(t *testing.T) { webhookAttempts(t, open(t)) })
	t.Run("Redeliver", func(t *testing.T) { webhookRedeliver(t, open(t)) })
	t.Run("Secrets", func(t *testing.T) { webhookSecrets(t, open(t)) })
	t.Run("Health", func(t *testing.T) { webhookHealth(t, open(t)) })
	t.Run("KeyDefaults", func(t *testing.T) { webhookKeyDefaults(t, open(t)) })
}

const (
	hookURL     = "v1.sealed-x"
	hookDisplay = "https://example.com/… #abcd1234"
)

func webhooks(t *testing.T, s Clocked) store.Webhooks {
	t.Helper()
	w, ok := s.(store.Webhooks)
	if !ok {
		t.Fatalf("%T does not implement store.Webhooks", s)
	}
	return w
}

// hookedJob creates a job of owner with the webhook URL and display, and
// the events asked for.
func hookedJob(t *testing.T, s Clocked, owner, url, display string, events ...string) *store.Job {
	t.Helper()
	j := newJob(owner)
	j.WebhookURL, j.WebhookDisplay, j.WebhookEvents = url, display, events
	_, err := s.CreateJob(context.Background(), j)
	must(t, err)
	return j
}

// webhookJobs returns the delivery ids of River's deliver_webhook jobs,
// sorted, checking each is on the webhooks queue with its attempts and
// its args are exactly {"delivery_id": id}.
func webhookJobs(t *testing.T, s Clocked) []string {
	t.Helper()
	rc, err := river.NewClient(s.Driver(), &river.Config{})
	must(t, err)
	res, err := rc.JobList(context.Background(), river.NewJobListParams().Kinds("deliver_webhook").First(1000))
	must(t, err)
	var ids []string
	for _, j := range res.Jobs {
		var args map[string]any
		must(t, json.Unmarshal(j.EncodedArgs, &args))
		id, _ := args["delivery_id"].(string)
		_, gen := args["redelivery"]
		if len(args) != 1 && !(len(args) == 2 && gen) || id == "" {
			t.Fatalf("delivery job with args %s, want {\"delivery_id\": id} and a redelivery's generation", j.EncodedArgs)
		}
		if j.Queue != queue.Webhooks || j.MaxAttempts != queue.DeliverWebhookAttempts {
			t.Fatalf("delivery job on queue %q with %d attempts", j.Queue, j.MaxAttempts)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func clearRiver(t *testing.T, s Clocked) {
	t.Helper()
	must(t, s.Driver().GetExecutor().Exec(context.Background(), "DELETE FROM river_job"))
}

func jobDeliveries(t *testing.T, s Clocked, jobID string) []store.WebhookDelivery {
	t.Helper()
	ds, _, err := webhooks(t, s).JobWebhooks(context.Background(), jobID)
	must(t, err)
	return ds
}

func deliveryTypes(ds []store.WebhookDelivery) []string {
	var ts []string
	for _, d := range ds {
		ts = append(ts, d.Type)
	}
	return ts
}

func wantTypes(t *testing.T, s Clocked, jobID string, want ...string) []store.WebhookDelivery {
	t.Helper()
	ds := jobDeliveries(t, s, jobID)
	if got := deliveryTypes(ds); !slices.Equal(got, want) {
		t.Fatalf("deliveries of job %s: %v, want %v", jobID, got, want)
	}
	return ds
}

func sameDelivery(a, b store.WebhookDelivery) bool {
	return a.ID == b.ID && a.JobID == b.JobID && a.Owner == b.Owner && a.EventID == b.EventID && a.Type == b.Type &&
		a.URL == b.URL && a.Display == b.Display && a.EventAt.Equal(b.EventAt) && a.CreatedAt.Equal(b.CreatedAt) &&
		a.State == b.State && a.Attempts == b.Attempts && sameTime(a.LastAttemptAt, b.LastAttemptAt) &&
		a.LastStatus == b.LastStatus && a.LastError == b.LastError && sameTime(a.DeliveredAt, b.DeliveredAt)
}

func getDelivery(t *testing.T, s Clocked, id string) *store.WebhookDelivery {
	t.Helper()
	d, err := webhooks(t, s).WebhookDelivery(context.Background(), id)
	must(t, err)
	return d
}

// webhookCompleted: a job with a webhook URL and no events asked for
// sends no start; its completion writes one pending delivery, with its
// event's id and time, and its River job.
func webhookCompleted(t *testing.T, s Clocked) {
	c := setClock(s, t0)
	owner := newOwner()
	j := hookedJob(t, s, owner, hookURL, hookDisplay)
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	wantTypes(t, s, j.ID)
	if got := webhookJobs(t, s); len(got) != 0 {
		t.Fatalf("a first start (not asked for) enqueued %v", got)
	}
	c.add(5 * time.Second)
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1,
		Result: store.Result{Key: "results/x.mp4", ExpiresAt: c.t.Add(time.Hour)}})
	ds := wantTypes(t, s, j.ID, store.WebhookCompleted)
	d := ds[0]
	if !strings.HasPrefix(d.ID, "msg_") || len(d.ID) <= len("msg_") {
		t.Fatalf("delivery id %q, want msg_…", d.ID)
	}
	if d.JobID != j.ID || d.Owner != owner || d.EventID != a.Event.ID || d.EventID == 0 || d.URL != hookURL ||
		d.Display != hookDisplay || !d.EventAt.Equal(c.t) || !d.CreatedAt.Equal(c.t) || d.State != store.DeliveryPending ||
		d.Attempts != 0 || d.LastAttemptAt != nil || d.LastStatus != 0 || d.LastError != "" || d.DeliveredAt != nil {
		t.Fatalf("delivery %+v; want of event %d at %s, owner %s, pending", d, a.Event.ID, c.t, owner)
	}
	if got := getDelivery(t, s, d.ID); !sameDelivery(*got, d) {
		t.Fatalf("read back %+v, want %+v", got, d)
	}
	if got := webhookJobs(t, s); !slices.Equal(got, []string{d.ID}) {
		t.Fatalf("delivery jobs for %v, want one for %s", got, d.ID)
	}
	if _, err := webhooks(t, s).WebhookDelivery(context.Background(), "msg_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown delivery: %v, want not found", err)
	}
}

// webhookStartedOnce: a job asking for job.started sends it on its first
// start only (a start after a requeue is the same job going on), and
// nothing it did not ask for.
func webhookStartedOnce(t *testing.T, s Clocked) {
	c := setClock(s, t0)
	j := hookedJob(t, s, newOwner(), hookURL, hookDisplay, store.WebhookStarted)
	c.add(time.Second)
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	ds := wantTypes(t, s, j.ID, store.WebhookStarted)
	if ds[0].EventID != a.Event.ID || !ds[0].EventAt.Equal(c.t) {
		t.Fatalf("started delivery %+v, want of event %d at %s", ds[0], a.Event.ID, c.t)
	}
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Requeue, Attempt: 1})
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 2, Worker: "w2"})
	wantTypes(t, s, j.ID, store.WebhookStarted)
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 2,
		Result: store.Result{Key: "results/x.mp4", ExpiresAt: c.t.Add(time.Hour)}})
	wantTypes(t, s, j.ID, store.WebhookStarted)
	if got := webhookJobs(t, s); !slices.Equal(got, []string{ds[0].ID}) {
		t.Fatalf("delivery jobs for %v, want only %s", got, ds[0].ID)
	}
}

// webhookEndEvents: failure, cancellation, a lapse and an expiry each send
// their event; a job without a URL sends none; a refused transition none.
func webhookEndEvents(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	owner := newOwner()
	complete := func(j *store.Job) {
		apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
		c.add(time.Second)
		apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1,
			Result: store.Result{Key: "results/" + j.ID + ".mp4", ExpiresAt: c.t.Add(time.Hour)}})
	}

	failed := hookedJob(t, s, owner, hookURL, hookDisplay)
	apply(t, s, store.ApplyParams{JobID: failed.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: failed.ID, Transition: store.Fail, Attempt: 1, Code: failGeneration, Message: "m"})
	wantTypes(t, s, failed.ID, store.WebhookFailed)

	cancelled := hookedJob(t, s, owner, hookURL, hookDisplay)
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: cancelled.ID, Transition: store.Cancel, Owner: owner})
	wantTypes(t, s, cancelled.ID, store.WebhookCancelled)

	lapsed := newJob(owner)
	lapsed.WebhookURL, lapsed.WebhookDisplay, lapsed.MaxQueue = hookURL, hookDisplay, time.Minute
	_, err := s.CreateJob(ctx, lapsed)
	must(t, err)
	c.add(2 * time.Minute)
	a := apply(t, s, store.ApplyParams{JobID: lapsed.ID, Transition: store.Lapse, Code: failLapsed, Message: "m"})
	ds := wantTypes(t, s, lapsed.ID, store.WebhookExpired)
	if ds[0].EventID != a.Event.ID || !ds[0].EventAt.Equal(c.t) {
		t.Fatalf("lapse delivery %+v, want of event %d at %s", ds[0], a.Event.ID, c.t)
	}

	expired := hookedJob(t, s, owner, hookURL, hookDisplay)
	complete(expired)
	c.add(time.Hour)
	a = apply(t, s, store.ApplyParams{JobID: expired.ID, Transition: store.Expire})
	ds = wantTypes(t, s, expired.ID, store.WebhookCompleted, store.WebhookExpired)
	if ds[1].EventID != a.Event.ID || ds[1].EventID <= ds[0].EventID || !ds[1].EventAt.Equal(c.t) {
		t.Fatalf("expiry delivery %+v, want of event %d at %s", ds[1], a.Event.ID, c.t)
	}

	// Refused transitions: a completed job cancelled or failed, a queued
	// one completed.
	before := webhookJobs(t, s)
	for _, p := range []store.ApplyParams{
		{JobID: expired.ID, Transition: store.Cancel},
		{JobID: expired.ID, Transition: store.Expire},
		{JobID: failed.ID, Transition: store.Fail, Code: failGeneration},
		{JobID: lapsed.ID, Transition: store.Complete, Attempt: 1},
	} {
		if _, err := s.Apply(ctx, p); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("%s of job %s: %v, want a conflict", p.Transition, p.JobID, err)
		}
	}
	queued := hookedJob(t, s, owner, hookURL, hookDisplay, store.WebhookEvents...)
	if _, err := s.Apply(ctx, store.ApplyParams{JobID: queued.ID, Transition: store.Complete, Attempt: 1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("completing a queued job: %v, want a conflict", err)
	}
	wantTypes(t, s, queued.ID)
	wantTypes(t, s, expired.ID, store.WebhookCompleted, store.WebhookExpired)
	wantTypes(t, s, failed.ID, store.WebhookFailed)
	if got := webhookJobs(t, s); !slices.Equal(got, before) {
		t.Fatalf("refused transitions enqueued: %v, was %v", got, before)
	}

	// No URL: nothing, whatever the events asked for.
	var plain []*store.Job
	for range 4 {
		j := newJob(owner)
		j.WebhookEvents = store.WebhookEvents
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		plain = append(plain, j)
	}
	complete(plain[0])
	c.add(time.Hour)
	apply(t, s, store.ApplyParams{JobID: plain[0].ID, Transition: store.Expire})
	apply(t, s, store.ApplyParams{JobID: plain[1].ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	apply(t, s, store.ApplyParams{JobID: plain[1].ID, Transition: store.Requeue, Attempt: 1})
	apply(t, s, store.ApplyParams{JobID: plain[1].ID, Transition: store.Fail, Code: failLost})
	apply(t, s, store.ApplyParams{JobID: plain[2].ID, Transition: store.Cancel})
	j := newJob(owner)
	j.MaxQueue = time.Minute
	_, err = s.CreateJob(ctx, j)
	must(t, err)
	c.add(2 * time.Minute)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Lapse, Code: failLapsed})
	for _, j := range append(plain, j) {
		wantTypes(t, s, j.ID)
	}
	if got := webhookJobs(t, s); !slices.Equal(got, before) {
		t.Fatalf("jobs without a webhook URL enqueued: %v, was %v", got, before)
	}
}

// completedDelivery makes a hooked job of owner and completes it, returning
// the job and its delivery.
func completedDelivery(t *testing.T, s Clocked, c *clock, owner, display string, events ...string) (*store.Job, store.WebhookDelivery) {
	t.Helper()
	j := hookedJob(t, s, owner, hookURL, display, events...)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1,
		Result: store.Result{Key: "results/" + j.ID + ".mp4", ExpiresAt: c.t.Add(time.Hour)}})
	ds := jobDeliveries(t, s, j.ID)
	if len(ds) == 0 {
		t.Fatalf("completing job %s wrote no delivery", j.ID)
	}
	return j, ds[len(ds)-1]
}

func record(t *testing.T, s Clocked, a store.WebhookAttempt) {
	t.Helper()
	must(t, webhooks(t, s).RecordWebhookAttempt(context.Background(), a))
}

// webhookAttempts: attempts update their delivery — pending after a
// failure, delivered, failed after a final one — and none is recorded
// after a delivery.
func webhookAttempts(t *testing.T, s Clocked) {
	ctx := context.Background()
	w := webhooks(t, s)
	c := setClock(s, t0)
	owner := newOwner()
	j1, d1 := completedDelivery(t, s, c, owner, hookDisplay)
	j2, d2 := completedDelivery(t, s, c, owner, hookDisplay)

	t1 := c.add(time.Minute).t
	record(t, s, store.WebhookAttempt{DeliveryID: d1.ID, At: t1, Status: 503, Error: "HTTP 503", Latency: 1234 * time.Millisecond})
	got := getDelivery(t, s, d1.ID)
	if got.State != store.DeliveryPending || got.Attempts != 1 || got.LastStatus != 503 || got.LastError != "HTTP 503" ||
		got.LastAttemptAt == nil || !got.LastAttemptAt.Equal(t1) || got.DeliveredAt != nil {
		t.Fatalf("after a failed attempt: %+v", got)
	}

	t2 := c.add(time.Minute).t
	record(t, s, store.WebhookAttempt{DeliveryID: d1.ID, At: t2, Delivered: true, Status: 204, Latency: 80 * time.Millisecond})
	got = getDelivery(t, s, d1.ID)
	if got.State != store.DeliveryDelivered || got.Attempts != 2 || got.LastStatus != 204 || got.LastError != "" ||
		!sameTime(got.LastAttemptAt, &t2) || !sameTime(got.DeliveredAt, &t2) {
		t.Fatalf("after a delivery: %+v", got)
	}

	t3 := c.add(time.Minute).t
	err := w.RecordWebhookAttempt(ctx, store.WebhookAttempt{DeliveryID: d1.ID, At: t3, Status: 500, Error: "late"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an attempt after the delivery: %v, want a conflict", err)
	}
	if again := getDelivery(t, s, d1.ID); !sameDelivery(*again, *got) {
		t.Fatalf("an attempt after the delivery changed it: %+v, was %+v", again, got)
	}

	t4 := c.add(time.Minute).t
	record(t, s, store.WebhookAttempt{DeliveryID: d2.ID, At: t4, Status: 0, Error: "connection refused", Latency: 5 * time.Millisecond, Final: true})
	got2 := getDelivery(t, s, d2.ID)
	if got2.State != store.DeliveryFailed || got2.Attempts != 1 || got2.LastStatus != 0 || got2.LastError != "connection refused" ||
		!sameTime(got2.LastAttemptAt, &t4) || got2.DeliveredAt != nil {
		t.Fatalf("after a final attempt: %+v", got2)
	}

	if err := w.RecordWebhookAttempt(ctx, store.WebhookAttempt{DeliveryID: "msg_nope", At: t4, Status: 500}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an attempt of an unknown delivery: %v, want not found", err)
	}

	ds, as, err := w.JobWebhooks(ctx, j1.ID)
	must(t, err)
	if len(ds) != 1 || !sameDelivery(ds[0], *got) {
		t.Fatalf("job 1's deliveries %+v, want %+v", ds, got)
	}
	if len(as) != 2 {
		t.Fatalf("job 1's attempts %+v, want 2 (none after the delivery)", as)
	}
	if a := as[0]; a.ID == 0 || a.DeliveryID != d1.ID || !a.At.Equal(t1) || a.Delivered || a.Status != 503 || a.Error != "HTTP 503" ||
		a.Latency != 1234*time.Millisecond || a.Final {
		t.Fatalf("first attempt %+v", a)
	}
	if a := as[1]; a.ID <= as[0].ID || a.DeliveryID != d1.ID || !a.At.Equal(t2) || !a.Delivered || a.Status != 204 || a.Error != "" ||
		a.Latency != 80*time.Millisecond || a.Final {
		t.Fatalf("second attempt %+v", a)
	}
	ds, as, err = w.JobWebhooks(ctx, j2.ID)
	must(t, err)
	if len(ds) != 1 || !sameDelivery(ds[0], *got2) || len(as) != 1 {
		t.Fatalf("job 2's deliveries %+v and attempts %+v", ds, as)
	}
	if a := as[0]; a.DeliveryID != d2.ID || !a.At.Equal(t4) || a.Delivered || a.Status != 0 || a.Error != "connection refused" ||
		a.Latency != 5*time.Millisecond || !a.Final {
		t.Fatalf("final attempt %+v", a)
	}
	ds, as, err = w.JobWebhooks(ctx, uuid.NewString())
	if err != nil || len(ds) != 0 || len(as) != 0 {
		t.Fatalf("an unknown job's webhooks: %+v %+v (%v)", ds, as, err)
	}
}

// webhookRedeliver: a redelivery sets the job's last delivery pending
// again and enqueues it as a new generation; a final failure of an older
// generation's attempt then leaves it pending, one of the current
// generation fails it.
func webhookRedeliver(t *testing.T, s Clocked) {
	ctx := context.Background()
	w := webhooks(t, s)
	c := setClock(s, t0)
	owner := newOwner()
	j, last := completedDelivery(t, s, c, owner, hookDisplay, store.WebhookStarted, store.WebhookCompleted)
	ds := wantTypes(t, s, j.ID, store.WebhookStarted, store.WebhookCompleted)
	first := ds[0]
	if last.EventID <= first.EventID {
		t.Fatalf("completion's event %d not after start's %d", last.EventID, first.EventID)
	}
	for _, d := range ds {
		c.add(time.Second)
		record(t, s, store.WebhookAttempt{DeliveryID: d.ID, At: c.t, Delivered: true, Status: 200})
	}
	clearRiver(t, s) // the delivery jobs ran

	got, err := w.RedeliverWebhook(ctx, j.ID)
	must(t, err)
	if got.ID != last.ID || got.State != store.DeliveryPending || got.DeliveredAt != nil || got.Attempts != 1 || got.Redeliveries != 1 {
		t.Fatalf("redelivered %+v, want %s pending, not delivered, its attempts kept", got, last.ID)
	}
	if read := getDelivery(t, s, last.ID); !sameDelivery(*read, *got) {
		t.Fatalf("read back %+v, want %+v", read, got)
	}
	if d := getDelivery(t, s, first.ID); d.State != store.DeliveryDelivered || d.DeliveredAt == nil {
		t.Fatalf("the earlier delivery changed: %+v", d)
	}
	if ids := webhookJobs(t, s); !slices.Equal(ids, []string{last.ID}) {
		t.Fatalf("delivery jobs %v, want one for %s", ids, last.ID)
	}
	// Again while its job waits: a job of the next generation, at once.
	again, err := w.RedeliverWebhook(ctx, j.ID)
	must(t, err)
	if ids := webhookJobs(t, s); !slices.Equal(ids, []string{last.ID, last.ID}) || again.Redeliveries != 2 {
		t.Fatalf("delivery jobs %v after a second redelivery (generation %d), want two for %s", ids, again.Redeliveries, last.ID)
	}
	// The first redelivery's last attempt fails: the second goes on.
	record(t, s, store.WebhookAttempt{DeliveryID: last.ID, At: c.add(time.Second).t, Status: 500, Error: "status 500", Final: true, Generation: 1})
	if d := getDelivery(t, s, last.ID); d.State != store.DeliveryPending {
		t.Fatalf("a superseded generation's final failure made the delivery %s, want pending", d.State)
	}
	// A delivery redelivered can be delivered again.
	record(t, s, store.WebhookAttempt{DeliveryID: last.ID, At: c.add(time.Second).t, Delivered: true, Status: 200})
	if d := getDelivery(t, s, last.ID); d.State != store.DeliveryDelivered || !sameTime(d.DeliveredAt, &c.t) {
		t.Fatalf("delivered after a redelivery: %+v", d)
	}

	plain := newJob(owner)
	_, err = s.CreateJob(ctx, plain)
	must(t, err)
	if _, err := w.RedeliverWebhook(ctx, plain.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redelivering a job with no delivery: %v, want not found", err)
	}
	if _, err := w.RedeliverWebhook(ctx, uuid.NewString()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redelivering an unknown job: %v, want not found", err)
	}
}

func sameSecret(a, b *store.WebhookSecret) bool {
	return a.Customer == b.Customer && a.Salt == b.Salt && a.CreatedAt.Equal(b.CreatedAt) &&
		a.PreviousSalt == b.PreviousSalt && sameTime(a.PreviousUntil, b.PreviousUntil)
}

// webhookSecrets: a customer's secret is created, rotated with a grace
// period for the previous salt, and rotated without one.
func webhookSecrets(t *testing.T, s Clocked) {
	ctx := context.Background()
	w := webhooks(t, s)
	// AddWebhookSecret makes a first secret only.
	other := "cust-" + uuid.NewString()[:8]
	if created, err := w.AddWebhookSecret(ctx, other, "salt-1", t0); err != nil || !created {
		t.Fatalf("a first secret: created %v, %v", created, err)
	}
	if created, err := w.AddWebhookSecret(ctx, other, "salt-2", t0); err != nil || created {
		t.Fatalf("a second: created %v, %v; want the first kept", created, err)
	}
	if got, err := w.WebhookSecret(ctx, other); err != nil || got.Salt != "salt-1" {
		t.Fatalf("after two adds: %+v, %v", got, err)
	}
	customer := "cust-" + uuid.NewString()[:8]
	check := func(got *store.WebhookSecret, want store.WebhookSecret) {
		t.Helper()
		if !sameSecret(got, &want) {
			t.Fatalf("secret %+v, want %+v", got, want)
		}
		read, err := w.WebhookSecret(ctx, customer)
		must(t, err)
		if !sameSecret(read, &want) {
			t.Fatalf("read back %+v, want %+v", read, want)
		}
	}

	got, err := w.PutWebhookSecret(ctx, customer, "salt-1", t0, t0.Add(time.Hour))
	must(t, err)
	check(got, store.WebhookSecret{Customer: customer, Salt: "salt-1", CreatedAt: t0})

	now := t0.Add(time.Hour)
	until := now.Add(24 * time.Hour)
	got, err = w.PutWebhookSecret(ctx, customer, "salt-2", now, until)
	must(t, err)
	check(got, store.WebhookSecret{Customer: customer, Salt: "salt-2", CreatedAt: now, PreviousSalt: "salt-1", PreviousUntil: &until})

	for i, u := range []time.Duration{0, -time.Minute} {
		now = now.Add(time.Hour)
		salt := []string{"salt-3", "salt-4"}[i]
		got, err = w.PutWebhookSecret(ctx, customer, salt, now, now.Add(u))
		must(t, err)
		check(got, store.WebhookSecret{Customer: customer, Salt: salt, CreatedAt: now})
	}

	if _, err := w.WebhookSecret(ctx, "cust-nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown customer's secret: %v, want not found", err)
	}
}

// webhookHealth: per owner, the deliveries created since a time that are
// retrying or failed, and the most recent failing one's endpoint.
func webhookHealth(t *testing.T, s Clocked) {
	ctx := context.Background()
	w := webhooks(t, s)
	c := setClock(s, t0)
	a, b, d := "owner-a-"+newOwner(), "owner-b-"+newOwner(), "owner-d-"+newOwner()

	// Before since: not counted, though attempted last of all.
	_, oldA := completedDelivery(t, s, c, a, "disp-old")
	_, oldD := completedDelivery(t, s, c, d, "disp-old-d")

	since := c.add(time.Hour).t
	c.add(time.Minute)
	_, retrying := completedDelivery(t, s, c, a, "disp-retrying")
	_, failed := completedDelivery(t, s, c, a, "disp-failed")
	_, delivered := completedDelivery(t, s, c, a, "disp-delivered")
	_, untried := completedDelivery(t, s, c, a, "disp-untried")
	_, okB1 := completedDelivery(t, s, c, b, "disp-b1")
	_, okB2 := completedDelivery(t, s, c, b, "disp-b2")
	_ = untried

	c.add(time.Minute)
	record(t, s, store.WebhookAttempt{DeliveryID: retrying.ID, At: c.t, Status: 503, Error: "HTTP 503"})
	record(t, s, store.WebhookAttempt{DeliveryID: failed.ID, At: c.add(time.Second).t, Status: 502, Error: "HTTP 502", Final: true})
	// Delivered after a failure, later than the failing ones.
	record(t, s, store.WebhookAttempt{DeliveryID: delivered.ID, At: c.add(time.Second).t, Status: 500, Error: "HTTP 500"})
	record(t, s, store.WebhookAttempt{DeliveryID: delivered.ID, At: c.add(time.Second).t, Delivered: true, Status: 200})
	record(t, s, store.WebhookAttempt{DeliveryID: okB1.ID, At: c.add(time.Second).t, Status: 500, Error: "HTTP 500"})
	record(t, s, store.WebhookAttempt{DeliveryID: okB1.ID, At: c.add(time.Second).t, Delivered: true, Status: 200})
	record(t, s, store.WebhookAttempt{DeliveryID: okB2.ID, At: c.add(time.Second).t, Delivered: true, Status: 204})
	for _, old := range []store.WebhookDelivery{oldA, oldD} {
		record(t, s, store.WebhookAttempt{DeliveryID: old.ID, At: c.add(time.Second).t, Status: 404, Error: "HTTP 404", Final: true})
	}

	hs, err := w.WebhookHealth(ctx, since)
	must(t, err)
	byOwner := map[string]store.WebhookHealth{}
	for _, h := range hs {
		byOwner[h.Owner] = h
	}
	if len(hs) != 1 || len(byOwner) != 1 {
		t.Fatalf("health of %v, want only %s: %+v", slices.Sorted(maps.Keys(byOwner)), a, hs)
	}
	h, ok := byOwner[a]
	if !ok || h.Retrying != 1 || h.Failed != 1 || h.Delivered != 1 || h.Deliveries != 3 {
		t.Fatalf("health of %s: %+v; want 1 retrying, 1 failed, 1 delivered of 3 attempted", a, h)
	}
	if h.Display != "disp-failed" || h.LastError != "HTTP 502" || h.LastStatus != 502 {
		t.Fatalf("health of %s: %+v; want the failed delivery's display, error and status", a, h)
	}

	// Since before the old ones: they count, and the latest failing
	// delivery is the old one.
	hs, err = w.WebhookHealth(ctx, t0)
	must(t, err)
	byOwner = map[string]store.WebhookHealth{}
	for _, h := range hs {
		byOwner[h.Owner] = h
	}
	if _, ok := byOwner[b]; ok || len(hs) != 2 {
		t.Fatalf("health since t0: %+v; want %s and %s", hs, a, d)
	}
	if h := byOwner[a]; h.Failed != 2 || h.Retrying != 1 || h.Display != "disp-old" || h.LastStatus != 404 {
		t.Fatalf("health of %s since t0: %+v", a, h)
	}
	if h := byOwner[d]; h.Failed != 1 || h.Retrying != 0 || h.Display != "disp-old-d" || h.LastError != "HTTP 404" {
		t.Fatalf("health of %s since t0: %+v", d, h)
	}
}

// webhookKeyDefaults: a key's default webhook URL round-trips, is changed
// with its display and an audit event, and cleared with it.
func webhookKeyDefaults(t *testing.T, s Clocked) {
	ctx := context.Background()
	ks, ok := s.(store.KeyStore)
	if !ok {
		t.Fatalf("%T does not implement store.KeyStore", s)
	}
	setClock(s, t0)
	k := &store.APIKey{ID: uuid.NewString(), Hash: uuid.NewString() + uuid.NewString(), Display: "av_live_Wh00",
		Customer: "hooked-" + uuid.NewString()[:8], Scopes: []string{"generate"}, WebhookURL: hookURL, WebhookDisplay: hookDisplay}
	must(t, ks.CreateKey(ctx, k, store.Audit{Action: "created", Actor: "op"}))
	want := func(where string, got *store.APIKey, url, display string) {
		t.Helper()
		if got == nil || got.ID != k.ID || got.WebhookURL != url || got.WebhookDisplay != display {
			t.Fatalf("%s: %+v; want webhook %q (%q)", where, got, url, display)
		}
	}
	check := func(url, display string) {
		t.Helper()
		got, err := ks.GetKey(ctx, k.ID)
		must(t, err)
		want("GetKey", got, url, display)
		got, err = ks.KeyByHash(ctx, k.Hash)
		must(t, err)
		want("KeyByHash", got, url, display)
		all, err := ks.ListKeys(ctx)
		must(t, err)
		i := slices.IndexFunc(all, func(x *store.APIKey) bool { return x.ID == k.ID })
		if i < 0 {
			t.Fatalf("ListKeys has no key %s", k.ID)
		}
		want("ListKeys", all[i], url, display)
	}
	check(hookURL, hookDisplay)

	events := func() []store.KeyEvent {
		t.Helper()
		es, err := ks.KeyEvents(ctx, k.ID, 100)
		must(t, err)
		return es
	}
	n := len(events())

	notes := "other"
	up, err := ks.UpdateKey(ctx, store.KeyUpdate{ID: k.ID, Notes: &notes, Actor: "op"})
	must(t, err)
	want("UpdateKey without a URL", up, hookURL, hookDisplay)
	check(hookURL, hookDisplay)
	n++

	url2, disp2 := "v1.sealed-y", "https://hooks.example.org/… #0badf00d"
	up, err = ks.UpdateKey(ctx, store.KeyUpdate{ID: k.ID, WebhookURL: &url2, WebhookDisplay: disp2, Actor: "op-2"})
	must(t, err)
	want("UpdateKey", up, url2, disp2)
	check(url2, disp2)
	es := events()
	if len(es) != n+1 || es[n].Action != "updated" || es[n].Actor != "op-2" || !strings.Contains(es[n].Detail, "webhook_url") {
		t.Fatalf("events after setting the webhook: %+v", es)
	}
	n++

	empty := ""
	up, err = ks.UpdateKey(ctx, store.KeyUpdate{ID: k.ID, WebhookURL: &empty, WebhookDisplay: "stale", Actor: "op-3"})
	must(t, err)
	want("UpdateKey clearing", up, "", "")
	check("", "")
	if es := events(); len(es) != n+1 || es[n].Action != "updated" || es[n].Actor != "op-3" {
		t.Fatalf("events after clearing the webhook: %+v", es)
	}
}
