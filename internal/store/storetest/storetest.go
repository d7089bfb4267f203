// Package storetest is the contract every store.Store implementation must
// meet, run by each implementation's tests against a real database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Run exercises s. Each subtest uses its own owner, so s may be shared.
// dropQueue must delete every entry of River's queue behind s, as a queue
// that lost its entries (attempts used up) looks to the store.
func Run(t *testing.T, s store.Store, dropQueue func(t *testing.T)) {
	t.Helper()
	ctx := context.Background()

	t.Run("CompleteTTL", func(t *testing.T) {
		// A result's TTL runs from the completion as the store times it.
		j := newJob(newOwner())
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		_, err = s.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1})
		must(t, err)
		done, err := s.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1,
			Result: store.Result{Key: "v", Bytes: 1, Duration: time.Second, ExpiresAt: time.Unix(0, 0), TTL: time.Hour}})
		must(t, err)
		read, err := s.GetJob(ctx, j.ID)
		must(t, err)
		for _, got := range []*store.Job{done.Job, read} {
			if got.ExpiresAt == nil || got.FinishedAt == nil || !got.ExpiresAt.Equal(got.FinishedAt.Add(time.Hour)) {
				t.Fatalf("expires %v, finished %v: want an hour after", got.ExpiresAt, got.FinishedAt)
			}
		}
	})

	t.Run("CreateGetList", func(t *testing.T) {
		owner := newOwner()
		var ids []string
		for i := range 5 {
			j := newJob(owner)
			j.Prompt = fmt.Sprintf("prompt %d", i)
			got, err := s.CreateJob(ctx, j)
			must(t, err)
			if got.State != store.StateQueued {
				t.Fatalf("state = %s, want queued", got.State)
			}
			ids = append(ids, j.ID)
		}
		j, err := s.GetJob(ctx, ids[2])
		must(t, err)
		if j.Prompt != "prompt 2" || j.Owner != owner || j.Width != 512 || j.AudioDuration != 4700*time.Millisecond || !j.FaceFallback {
			t.Fatalf("job read back wrong: %+v", j)
		}
		if j.CreatedAt.IsZero() || j.StartedAt != nil || j.FinishedAt != nil {
			t.Fatalf("timestamps wrong: %+v", j)
		}
		page, err := s.ListJobs(ctx, store.ListParams{Owner: owner, Limit: 2})
		must(t, err)
		if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
			t.Fatalf("first page = %v, want newest two", jobIDs(page))
		}
		page, err = s.ListJobs(ctx, store.ListParams{Owner: owner, Before: page[1].ID, Limit: 10})
		must(t, err)
		if len(page) != 3 || page[0].ID != ids[2] {
			t.Fatalf("second page = %v", jobIDs(page))
		}
		other, err := s.ListJobs(ctx, store.ListParams{Owner: newOwner(), Limit: 10})
		must(t, err)
		if len(other) != 0 {
			t.Fatalf("another owner sees %d jobs", len(other))
		}
		if _, err := s.GetJob(ctx, uuid.Must(uuid.NewV7()).String()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing job: err = %v, want ErrNotFound", err)
		}
		st, err := s.QueueJobState(ctx, ids[0])
		must(t, err)
		if st != "available" {
			t.Fatalf("queue entry state = %q, want available", st)
		}
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		owner := newOwner()
		first := newJob(owner)
		first.IdempotencyKey = "order-42"
		_, err := s.CreateJob(ctx, first)
		must(t, err)
		again := newJob(owner)
		again.IdempotencyKey = "order-42"
		got, err := s.CreateJob(ctx, again)
		if !errors.Is(err, store.ErrConflict) || got == nil || got.ID != first.ID {
			t.Fatalf("reused key: job %v err %v, want the first job and ErrConflict", got, err)
		}
		if _, err := s.GetJob(ctx, again.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused job was stored: %v", err)
		}
		otherOwner := newJob(newOwner())
		otherOwner.IdempotencyKey = "order-42"
		_, err = s.CreateJob(ctx, otherOwner)
		must(t, err)
	})

	t.Run("ConcurrentIdempotencyKey", func(t *testing.T) {
		owner := newOwner()
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Go(func() {
				j := newJob(owner)
				j.IdempotencyKey = "same"
				got, err := s.CreateJob(ctx, j)
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("create: %v", err)
					return
				}
				ids[i] = got.ID
			})
		}
		wg.Wait()
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("concurrent creates with one key gave different jobs: %v", ids)
			}
		}
	})

	t.Run("Lifecycle", func(t *testing.T) {
		owner := newOwner()
		j := newJob(owner)
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		started, err := start(ctx, s, j.ID, 1)
		must(t, err)
		if started.State != store.StateProcessing || started.Attempt != 1 || started.StartedAt == nil {
			t.Fatalf("started: %+v", started)
		}
		st, err := s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: 1, Progress: 0.5})
		must(t, err)
		if st != store.StateProcessing {
			t.Fatalf("state = %s", st)
		}
		must(t, s.SetRemote(ctx, store.RemoteParams{JobID: j.ID, Attempt: 1, RemoteID: "rp-1", Output: "staging/x.mp4", Delay: 1500 * time.Millisecond}))
		if err := s.SetRemote(ctx, store.RemoteParams{JobID: j.ID, Attempt: 2, RemoteID: "rp-2"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SetRemote by an attempt that does not hold the job: %v, want ErrConflict", err)
		}
		if got, err := s.GetJob(ctx, j.ID); err != nil || got.RemoteID != "rp-1" || got.RemoteOutput != "staging/x.mp4" || got.RemoteDelay != 1500*time.Millisecond {
			t.Fatalf("remote job recorded as %q after %s (%v)", got.RemoteID, got.RemoteDelay, err)
		}
		must(t, requeue(ctx, s, j.ID, 1))
		requeued, err := s.GetJob(ctx, j.ID)
		must(t, err)
		if requeued.State != store.StateQueued || requeued.Progress != 0 {
			t.Fatalf("requeued: %+v", requeued)
		}
		_, err = start(ctx, s, j.ID, 2)
		must(t, err)
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		if err := complete(ctx, s, j.ID, 1, store.Result{Key: "stale"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("completion by a replaced attempt: %v, want ErrConflict", err)
		}
		must(t, complete(ctx, s, j.ID, 2, store.Result{Key: "results/x.mp4", Bytes: 1234, Duration: 4700 * time.Millisecond, ExpiresAt: exp}))
		done, err := s.GetJob(ctx, j.ID)
		must(t, err)
		if done.State != store.StateCompleted || done.Progress != 1 || done.ResultKey != "results/x.mp4" ||
			done.ResultBytes != 1234 || done.FinishedAt == nil || done.ExpiresAt == nil || !done.ExpiresAt.Equal(exp) {
			t.Fatalf("completed: %+v", done)
		}
		if _, err := start(ctx, s, j.ID, 3); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("start of completed job: %v, want ErrConflict", err)
		}
		if err := fail(ctx, s, j.ID, 0, "x", "y"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("fail of completed job: %v, want ErrConflict", err)
		}
		due, err := s.DueForExpiry(ctx, exp.Add(time.Second), 1000)
		must(t, err)
		if !containsJob(due, j.ID) {
			t.Fatalf("completed job not due for expiry")
		}
		must(t, expire(ctx, s, j.ID))
		expired, err := s.GetJob(ctx, j.ID)
		must(t, err)
		if expired.State != store.StateExpired {
			t.Fatalf("state = %s, want expired", expired.State)
		}
	})

	t.Run("Fail", func(t *testing.T) {
		j := newJob(newOwner())
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		must(t, fail(ctx, s, j.ID, 0, "generation_failed", "ffmpeg exited"))
		got, err := s.GetJob(ctx, j.ID)
		must(t, err)
		if got.State != store.StateFailed || got.ErrorCode != "generation_failed" || got.ErrorMessage != "ffmpeg exited" || got.FinishedAt == nil {
			t.Fatalf("failed: %+v", got)
		}
		if err := fail(ctx, s, uuid.Must(uuid.NewV7()).String(), 0, "a", "b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("fail of missing job: %v", err)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		owner := newOwner()
		j := newJob(owner)
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		if _, err := cancel(ctx, s, j.ID, newOwner()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cancel by another owner: %v, want ErrNotFound", err)
		}
		got, err := cancel(ctx, s, j.ID, owner)
		must(t, err)
		if got.State != store.StateCancelled || got.FinishedAt == nil {
			t.Fatalf("cancelled: %+v", got)
		}
		st, err := s.QueueJobState(ctx, j.ID)
		must(t, err)
		if st != "cancelled" {
			t.Fatalf("queue entry = %s, want cancelled", st)
		}
		if _, err := cancel(ctx, s, j.ID, owner); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second cancel: %v, want ErrConflict", err)
		}
		// A worker that had the job learns of the cancellation.
		k := newJob(owner)
		_, err = s.CreateJob(ctx, k)
		must(t, err)
		_, err = start(ctx, s, k.ID, 1)
		must(t, err)
		_, err = cancel(ctx, s, k.ID, owner)
		must(t, err)
		state, err := s.SetProgress(ctx, store.ProgressParams{JobID: k.ID, Attempt: 1, Progress: 0.7})
		must(t, err)
		if state != store.StateCancelled {
			t.Fatalf("worker sees %s, want cancelled", state)
		}
		if err := complete(ctx, s, k.ID, 1, store.Result{Key: "k"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("complete after cancel: %v, want ErrConflict", err)
		}
	})

	t.Run("QueuePositionAndUnfinished", func(t *testing.T) {
		owner := newOwner()
		a, b := newJob(owner), newJob(owner)
		_, err := s.CreateJob(ctx, a)
		must(t, err)
		_, err = s.CreateJob(ctx, b)
		must(t, err)
		pa, err := s.QueuePosition(ctx, a.ID)
		must(t, err)
		pb, err := s.QueuePosition(ctx, b.ID)
		must(t, err)
		if pb != pa+1 {
			t.Fatalf("positions a=%d b=%d, want b = a+1", pa, pb)
		}
	})

	t.Run("Backends", func(t *testing.T) { backends(t, s) })

	t.Run("AttemptFencing", func(t *testing.T) {
		j := newJob(newOwner())
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		_, err = start(ctx, s, j.ID, 1)
		must(t, err)
		_, err = start(ctx, s, j.ID, 2) // attempt 1 was taken for dead
		must(t, err)
		if _, err := s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: 1, Progress: 0.5}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("progress of a replaced attempt: %v, want ErrConflict", err)
		}
		if err := requeue(ctx, s, j.ID, 1); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("requeue by a replaced attempt: %v, want ErrConflict", err)
		}
		if err := fail(ctx, s, j.ID, 1, "x", "y"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("failure by a replaced attempt: %v, want ErrConflict", err)
		}
		st, err := s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: 2, Progress: 0.5})
		must(t, err)
		if st != store.StateProcessing {
			t.Fatalf("state = %s", st)
		}
	})

	t.Run("Events", func(t *testing.T) { events(t, s) })
	t.Run("EventsInCommitOrder", func(t *testing.T) { eventsInCommitOrder(t, s) })
	t.Run("LateStart", func(t *testing.T) {
		j := newJob(newOwner())
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		_, err = start(ctx, s, j.ID, 2)
		must(t, err)
		if _, err := start(ctx, s, j.ID, 1); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a late start of attempt 1 over attempt 2: %v, want ErrConflict", err)
		}
		if got, _ := s.GetJob(ctx, j.ID); got.Attempt != 2 {
			t.Fatalf("the job is held by attempt %d, want 2", got.Attempt)
		}
	})

	t.Run("QueueDeadline", func(t *testing.T) { queueDeadline(t, s) })
	t.Run("Orphaned", func(t *testing.T) {
		j := newJob(newOwner())
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		later := time.Now().Add(time.Minute)
		orphans, err := s.Orphaned(ctx, later, 100000)
		must(t, err)
		if containsJob(orphans, j.ID) {
			t.Fatal("a job with a live queue entry is listed as orphaned")
		}
		dropQueue(t)
		orphans, err = s.Orphaned(ctx, later, 100000)
		must(t, err)
		if !containsJob(orphans, j.ID) {
			t.Fatal("a job whose queue entry vanished is not listed as orphaned")
		}
		orphans, err = s.Orphaned(ctx, time.Now().Add(-time.Hour), 100000)
		must(t, err)
		if containsJob(orphans, j.ID) {
			t.Fatal("a job updated just now is listed as orphaned")
		}
	})
}

// The transitions, as the job service makes them.
func start(ctx context.Context, s store.Store, id string, attempt int) (*store.Job, error) {
	a, err := s.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Start, Attempt: attempt, Worker: "worker-1"})
	return a.Job, err
}

func requeue(ctx context.Context, s store.Store, id string, attempt int) error {
	_, err := s.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Requeue, Attempt: attempt})
	return err
}

func complete(ctx context.Context, s store.Store, id string, attempt int, r store.Result) error {
	_, err := s.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Complete, Attempt: attempt, Result: r})
	return err
}

func fail(ctx context.Context, s store.Store, id string, attempt int, code, message string) error {
	_, err := s.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Fail, Attempt: attempt, Code: code, Message: message})
	return err
}

func expire(ctx context.Context, s store.Store, id string) error {
	_, err := s.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Expire})
	return err
}

func cancel(ctx context.Context, s store.Store, id, owner string) (*store.Job, error) {
	a, err := s.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Cancel, Owner: owner})
	return a.Job, err
}

// backends: a job records its backend and queue, the local backend's when
// none is named (as for jobs from before backends), its queue entry is
// there, and its queue position counts only the jobs of its queue.
func backends(t *testing.T, s store.Store) {
	ctx := context.Background()
	owner := newOwner()
	q := "gpu_" + uuid.NewString()[:8] // a queue of this run's alone
	first, local, second := newJob(owner), newJob(owner), newJob(owner)
	first.Backend, first.Queue = "gpu", q
	second.Backend, second.Queue = "gpu", q
	for _, j := range []*store.Job{first, local, second} {
		_, err := s.CreateJob(ctx, j)
		must(t, err)
	}
	for _, c := range []struct {
		j              *store.Job
		backend, queue string
		position       int
	}{{first, "gpu", q, 0}, {second, "gpu", q, 1}, {local, "local", "generate", -1}} {
		got, err := s.GetJob(ctx, c.j.ID)
		must(t, err)
		if got.Backend != c.backend || got.Queue != c.queue {
			t.Errorf("job recorded on backend %q, queue %q; want %q, %q", got.Backend, got.Queue, c.backend, c.queue)
		}
		st, err := s.QueueJobState(ctx, c.j.ID)
		must(t, err)
		if st != "available" {
			t.Errorf("backend %s: queue entry %q, want available", c.backend, st)
		}
		if c.position < 0 {
			continue
		}
		pos, err := s.QueuePosition(ctx, c.j.ID)
		must(t, err)
		if pos != c.position {
			t.Errorf("position on %s = %d, want %d: only the jobs of its queue are ahead", q, pos, c.position)
		}
	}
}

func newOwner() string { return "owner-" + uuid.NewString()[:8] }

func newJob(owner string) *store.Job {
	id := uuid.Must(uuid.NewV7()).String()
	return &store.Job{
		ID: id, Owner: owner, Fingerprint: "fp", RequestID: "req",
		ImageKey: "inputs/" + id + "/image.png", AudioKey: "inputs/" + id + "/audio.wav",
		Width: 512, Height: 512, FPS: 25, Seed: 7, AudioDuration: 4700 * time.Millisecond, FaceFallback: true,
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func jobIDs(js []*store.Job) []string {
	var ids []string
	for _, j := range js {
		ids = append(ids, j.ID)
	}
	return ids
}

func containsJob(js []*store.Job, id string) bool {
	for _, j := range js {
		if j.ID == id {
			return true
		}
	}
	return false
}

// step is one expected event: transition, from, to, attempt, code.
type step struct {
	tr       store.Transition
	from, to store.State
	attempt  int
	code     string
}

// events holds every path of a job to exactly the events it should write:
// one per transition made, none for a transition refused.
func events(t *testing.T, s store.Store) {
	ctx := context.Background()
	q, p, c, f, x, k := store.StateQueued, store.StateProcessing, store.StateCompleted, store.StateFailed, store.StateExpired, store.StateCancelled
	res := store.Result{Key: "results/x.mp4", Bytes: 1, Duration: time.Second, ExpiresAt: time.Now().Add(time.Hour)}
	paths := map[string]struct {
		run  func(j *store.Job) error
		want []step
	}{
		"complete": {func(j *store.Job) error {
			_, err := start(ctx, s, j.ID, 1)
			return errors.Join(err, complete(ctx, s, j.ID, 1, res))
		}, []step{{store.Create, "", q, 0, ""}, {store.Start, q, p, 1, ""}, {store.Complete, p, c, 1, ""}}},
		"fail before a start": {func(j *store.Job) error {
			return fail(ctx, s, j.ID, 0, "invalid_audio", "bad")
		}, []step{{store.Create, "", q, 0, ""}, {store.Fail, q, f, 0, "invalid_audio"}}},
		"cancel while queued": {func(j *store.Job) error {
			_, err := cancel(ctx, s, j.ID, j.Owner)
			return err
		}, []step{{store.Create, "", q, 0, ""}, {store.Cancel, q, k, 0, ""}}},
		"cancel while running, then a late completion": {func(j *store.Job) error {
			_, err := start(ctx, s, j.ID, 1)
			_, cerr := cancel(ctx, s, j.ID, j.Owner)
			if late := complete(ctx, s, j.ID, 1, res); !errors.Is(late, store.ErrConflict) {
				return fmt.Errorf("late completion: %v", late)
			}
			return errors.Join(err, cerr)
		}, []step{{store.Create, "", q, 0, ""}, {store.Start, q, p, 1, ""}, {store.Cancel, p, k, 1, ""}}},
		"expire": {func(j *store.Job) error {
			_, err := start(ctx, s, j.ID, 1)
			return errors.Join(err, complete(ctx, s, j.ID, 1, res), expire(ctx, s, j.ID))
		}, []step{{store.Create, "", q, 0, ""}, {store.Start, q, p, 1, ""}, {store.Complete, p, c, 1, ""}, {store.Expire, c, x, 1, ""}}},
		"orphaned after crashes": {func(j *store.Job) error {
			_, e1 := start(ctx, s, j.ID, 1)
			_, e2 := start(ctx, s, j.ID, 2) // the first attempt's worker died; River rescued the job
			return errors.Join(e1, e2, fail(ctx, s, j.ID, 0, "worker_lost", "lost"))
		}, []step{{store.Create, "", q, 0, ""}, {store.Start, q, p, 1, ""}, {store.Start, p, p, 2, ""}, {store.Fail, p, f, 2, "worker_lost"}}},
		"requeue at shutdown": {func(j *store.Job) error {
			_, e1 := start(ctx, s, j.ID, 1)
			e2 := requeue(ctx, s, j.ID, 1)
			_, e3 := start(ctx, s, j.ID, 2)
			return errors.Join(e1, e2, e3, complete(ctx, s, j.ID, 2, res))
		}, []step{{store.Create, "", q, 0, ""}, {store.Start, q, p, 1, ""}, {store.Requeue, p, q, 1, ""}, {store.Start, q, p, 2, ""}, {store.Complete, p, c, 2, ""}}},
	}
	for name, path := range paths {
		j := newJob(newOwner())
		_, err := s.CreateJob(ctx, j)
		must(t, err)
		if err := path.run(j); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		evs, err := s.Events(ctx, store.EventsParams{JobID: j.ID, Limit: 100})
		must(t, err)
		var got []step
		for i, e := range evs {
			got = append(got, step{e.Transition, e.From, e.To, e.Attempt, e.Code})
			if e.JobID != j.ID || e.Owner != j.Owner || e.At.IsZero() || (i > 0 && e.ID <= evs[i-1].ID) {
				t.Errorf("%s: event %+v", name, e)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(path.want) {
			t.Errorf("%s: events\n  %v\nwant\n  %v", name, got, path.want)
		}
	}
}

// eventsInCommitOrder: a reader that follows the events with a cursor
// (after the last id it saw) while many jobs change at once misses none:
// ids are handed out in commit order, which PostgreSQL's sequences alone
// do not give.
func eventsInCommitOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, perWriter = 6, 8
	owner := newOwner()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		mine = map[string]bool{}
	)
	for range writers {
		wg.Go(func() {
			for range perWriter {
				j := newJob(owner)
				if _, err := s.CreateJob(ctx, j); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				mine[j.ID] = true
				mu.Unlock()
				if _, err := start(ctx, s, j.ID, 1); err != nil {
					t.Error(err)
					return
				}
				if err := fail(ctx, s, j.ID, 1, "generation_failed", "x"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]bool{}
	var cursor int64
	read := func() {
		for {
			evs, err := s.Events(ctx, store.EventsParams{After: cursor, Limit: 500})
			must(t, err)
			for _, e := range evs {
				seen[e.ID] = true
				cursor = e.ID
			}
			if len(evs) < 500 {
				return
			}
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		read()
	}
	read()
	missed := 0
	for id := range mine {
		evs, err := s.Events(ctx, store.EventsParams{JobID: id, Limit: 10})
		must(t, err)
		for _, e := range evs {
			if !seen[e.ID] {
				missed++
			}
		}
		if len(evs) != 3 {
			t.Errorf("job %s has %d events, want 3", id, len(evs))
		}
	}
	if missed > 0 {
		t.Fatalf("a reader following the cursor missed %d of %d events", missed, 3*len(mine))
	}
}

// failLapsed is the code of a job that lapsed (job.CodeQueueDeadline).
const failLapsed = "queue_deadline_exceeded"

// queueDeadline: a job's deadline is MaxQueue after its creation; once
// past, it is listed, and Lapse ends it expired with its code, unbilled,
// its queue entry cancelled; a started job cannot lapse.
func queueDeadline(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := newJob("customer:lapse")
	j.MaxQueue = time.Minute
	created, err := s.CreateJob(ctx, j)
	must(t, err)
	if created.QueueDeadline == nil || !created.QueueDeadline.Equal(created.CreatedAt.Add(time.Minute)) {
		t.Fatalf("deadline %v of a job created at %v", created.QueueDeadline, created.CreatedAt)
	}
	started := newJob("customer:lapse")
	started.MaxQueue = time.Minute
	_, err = s.CreateJob(ctx, started)
	must(t, err)
	_, err = s.Apply(ctx, store.ApplyParams{JobID: started.ID, Transition: store.Start, Attempt: 1, Worker: "w"})
	must(t, err)
	if due, err := s.PastQueueDeadline(ctx, created.CreatedAt.Add(59*time.Second), 10); err != nil || len(due) != 0 {
		t.Fatalf("due before the deadline: %d (%v)", len(due), err)
	}
	due, err := s.PastQueueDeadline(ctx, created.CreatedAt.Add(2*time.Minute), 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != j.ID {
		t.Fatalf("due after the deadline: %+v, want only the queued job", due)
	}
	a, err := s.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Lapse, Code: failLapsed, Message: "m"})
	must(t, err)
	if a.Job.State != store.StateExpired || a.Job.ErrorCode != failLapsed || a.Charge != nil || a.Job.FinishedAt == nil {
		t.Fatalf("lapsed: %+v, charge %+v", a.Job, a.Charge)
	}
	if st, err := s.QueueJobState(ctx, j.ID); err != nil || st != "cancelled" {
		t.Fatalf("queue entry of the lapsed job: %q (%v)", st, err)
	}
	if _, err := s.Apply(ctx, store.ApplyParams{JobID: started.ID, Transition: store.Lapse, Code: failLapsed}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("lapsing a started job: %v, want a conflict", err)
	}
	// Given back to the queue after a run, it waits for its retry: it is
	// neither listed nor lapsed, whatever its deadline.
	_, err = s.Apply(ctx, store.ApplyParams{JobID: started.ID, Transition: store.Requeue, Attempt: 1})
	must(t, err)
	if due, err := s.PastQueueDeadline(ctx, created.CreatedAt.Add(2*time.Minute), 10); err != nil || len(due) != 0 {
		t.Fatalf("a requeued job listed past its deadline: %d (%v)", len(due), err)
	}
	if _, err := s.Apply(ctx, store.ApplyParams{JobID: started.ID, Transition: store.Lapse, Code: failLapsed}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("lapsing a requeued job: %v, want a conflict", err)
	}
	// A job past its deadline that never started is refused a start.
	past := newJob("customer:lapse")
	past.MaxQueue = time.Microsecond
	_, err = s.CreateJob(ctx, past)
	must(t, err)
	// (A transaction later, the store's clock is past a deadline a
	// microsecond after the creation.)
	if a, err := s.Apply(ctx, store.ApplyParams{JobID: past.ID, Transition: store.Start, Attempt: 1, Worker: "w"}); !errors.Is(err, store.ErrConflict) || a.Job.State != store.StateQueued {
		t.Fatalf("starting a job past its deadline: %v, %+v; want a conflict, still queued", err, a.Job)
	}
}
