package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// Lifecycle is the one owner of a job's life once it is queued: every
// transition of store.Machine is made here (through store.Apply, which
// records its event in the same transaction), and what a transition leaves
// behind is deleted here: a job's inputs when it ends, its video when it
// expires. The API's cancel, the workers and the sweep all call it.
type Lifecycle struct {
	store    store.Store
	storage  storage.Storage
	log      *slog.Logger
	observer Observer
	runs     RunStopper
}

// RunStopper stops a job's run at another service (RunPod), by the id the
// job recorded (store.Job.RemoteID).
type RunStopper interface {
	StopRun(ctx context.Context, remoteID string) error
}

// StopRunsWith makes the lifecycle stop, at the service that runs it, the
// run of a job it ends while no attempt may be following it: the
// customer's cancel (a job given back by a shutdown, whose run goes on),
// the sweep failing a lost job.
func (l *Lifecycle) StopRunsWith(s RunStopper) { l.runs = s }

// stopRun stops j's run elsewhere, if it has one, in the background (the
// service may be slow; the caller is a request, or the sweep).
func (l *Lifecycle) stopRun(ctx context.Context, j *store.Job) {
	if l.runs == nil || j == nil || j.RemoteID == "" {
		return
	}
	go func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := l.runs.StopRun(sctx, j.RemoteID); err != nil {
			l.log.WarnContext(sctx, "stopping the job's run at its backend failed", "job_id", j.ID, "remote_id", j.RemoteID, "error", err)
		}
	}()
}

// Observer learns of every transition this process makes, once it has
// committed, with the event and the charge it recorded: metrics count
// them. Each transition is made by one process, so a fleet's observers
// see each exactly once (but for a process that dies between the commit
// and the call, whose counters die with it). It must not block.
type Observer interface {
	Transitioned(ctx context.Context, a store.Applied)
}

// RescueObserver is an Observer that also learns how many jobs the
// heartbeat rescue put back on the queue (metrics count them): a rescue
// moves queue entries, not jobs, so no transition tells of it.
type RescueObserver interface {
	Rescued(ctx context.Context, n int)
}

// NewLifecycle returns the lifecycle of the jobs in st, whose files are in
// sg; obs, if not nil, is told of each transition.
func NewLifecycle(st store.Store, sg storage.Storage, log *slog.Logger, obs Observer) *Lifecycle {
	return &Lifecycle{store: st, storage: sg, log: log, observer: obs}
}

// recordTimeout bounds a transition made on a context that must not cut it
// short: a transition is recorded whole, and its caller then decides from
// its own context what comes next.
const recordTimeout = 30 * time.Second

// Start gives the job to attempt. It is recorded whatever happens to ctx
// meanwhile. ErrNotFound if the job is gone; store.ErrConflict (with the
// job) if it has ended, whose leftovers are then deleted.
func (l *Lifecycle) Start(ctx context.Context, id string, attempt int, worker string) (*store.Job, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	j, err := l.apply(rctx, store.ApplyParams{JobID: id, Transition: store.Start, Attempt: attempt, Worker: worker})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotFound
	case errors.Is(err, store.ErrConflict):
		// Past its queue deadline before it ever started: it lapses
		// instead (the store refuses the start, in the transaction that
		// would have made it).
		// (A queued job never started is refused a start only for that.)
		if j != nil && j.State == store.StateQueued && j.StartedAt == nil && j.QueueDeadline != nil {
			if done, lerr := l.lapse(rctx, j); lerr == nil || errors.Is(lerr, store.ErrConflict) {
				j = done
			}
		}
		// Ended meanwhile (cancelled while its worker was down, say): make
		// sure its inputs go too. A start refused because a later attempt
		// holds the job leaves them to that attempt.
		if j != nil && j.State.Final() {
			l.deleteInputs(ctx, j)
		}
		return j, err
	case err != nil:
		return nil, fmt.Errorf("starting job: %w", err)
	}
	return j, nil
}

// Progress records how far attempt has come and returns the job's state,
// so that the attempt learns of a cancellation; store.ErrConflict if
// another attempt has taken the job over.
func (l *Lifecycle) Progress(ctx context.Context, j *store.Job, attempt int, progress float64) (store.State, error) {
	return l.store.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: attempt, Progress: progress})
}

// SetRemote records that attempt runs the job at another service
// (RunPod) under remoteID, its video going to the staging key output,
// after waiting delay there. store.ErrConflict if the job is no longer
// attempt's.
func (l *Lifecycle) SetRemote(ctx context.Context, j *store.Job, attempt int, remoteID, output string, delay time.Duration) error {
	return l.store.SetRemote(ctx, store.RemoteParams{JobID: j.ID, Attempt: attempt, RemoteID: remoteID, Output: output, Delay: delay})
}

// Requeue gives the job back to the queue (shutdown, a failure to retry).
// billed is what the backend billed for the run, if it says (nil: its
// wall time). store.ErrConflict, with the job as it is, if the job is no
// longer attempt's: cancelled meanwhile, or taken over.
func (l *Lifecycle) Requeue(ctx context.Context, j *store.Job, attempt int, billed *time.Duration) (*store.Job, error) {
	return l.apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Requeue, Attempt: attempt, Billed: billed})
}

// Complete records attempt's video and deletes the inputs. billed is
// what the backend billed for the run, if it says (nil: its wall time).
// store.ErrConflict if the job was cancelled or taken over meanwhile.
func (l *Lifecycle) Complete(ctx context.Context, j *store.Job, attempt int, r store.Result, billed *time.Duration) error {
	if _, err := l.apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: attempt, Result: r, Billed: billed}); err != nil {
		return err
	}
	l.deleteInputs(ctx, j)
	return nil
}

// Fail ends the job with a reason (code for machines, message for the
// customer) and deletes the inputs. attempt 0 fails it whoever holds it;
// billed is as for Requeue.
// A job that ended already, or that another attempt has taken over, is
// left as it is, its inputs too: the transition that ended it deleted
// them, and a successor still needs them.
func (l *Lifecycle) Fail(ctx context.Context, j *store.Job, attempt int, code, message string, billed *time.Duration) error {
	_, err := l.apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Fail, Attempt: attempt, Code: code, Message: message, Billed: billed})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil
	case err != nil:
		return err
	}
	l.deleteInputs(ctx, j)
	return nil
}

// Cancel stops one of owner's jobs and deletes its inputs. A worker
// generating it is told by the queue and stops within a second.
func (l *Lifecycle) Cancel(ctx context.Context, owner, id string) (*store.Job, error) {
	j, err := l.apply(ctx, store.ApplyParams{JobID: id, Transition: store.Cancel, Owner: owner})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return j, ErrFinal
	case err != nil:
		return nil, fmt.Errorf("%w: cancelling job: %w", ErrUnavailable, err)
	}
	l.deleteInputs(ctx, j)
	l.stopRun(ctx, j)
	l.log.InfoContext(ctx, "job cancelled", "job_id", id)
	return j, nil
}

// ExpireDue deletes the videos whose time has come (at most limit) and
// marks their jobs expired. One video that cannot be deleted does not hold
// up the others.
func (l *Lifecycle) ExpireDue(ctx context.Context, now time.Time, limit int) error {
	due, err := l.store.DueForExpiry(ctx, now, limit)
	if err != nil {
		return fmt.Errorf("listing expired videos: %w", err)
	}
	var errs []error
	for _, j := range due {
		if err := l.storage.Delete(ctx, j.ResultKey); err != nil {
			errs = append(errs, fmt.Errorf("deleting expired video of job %s: %w", j.ID, err))
			continue
		}
		if _, err := l.apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Expire}); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("expiring job %s: %w", j.ID, err))
			continue
		}
		l.log.InfoContext(ctx, "video expired and deleted", "job_id", j.ID)
	}
	return errors.Join(errs...)
}

// CodeQueueDeadline is the code of a job that lapsed: not started before
// its max_queue_seconds.
const CodeQueueDeadline = "queue_deadline_exceeded"

// lapse ends a queued job whose deadline has passed: expired, unbilled
// (it never ran), its queue entry ended and its inputs deleted. A job
// that started or ended meanwhile is left alone.
func (l *Lifecycle) lapse(ctx context.Context, j *store.Job) (*store.Job, error) {
	done, err := l.apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Lapse, Code: CodeQueueDeadline,
		Message: "the job was not started within its max_queue_seconds"})
	if err != nil {
		return done, err
	}
	l.deleteInputs(ctx, done)
	l.log.InfoContext(ctx, "job lapsed: not started before its queue deadline", "job_id", j.ID)
	return done, nil
}

// LapseDue ends the queued jobs whose deadline is before now (at most
// limit).
func (l *Lifecycle) LapseDue(ctx context.Context, now time.Time, limit int) error {
	due, err := l.store.PastQueueDeadline(ctx, now, limit)
	if err != nil {
		return fmt.Errorf("listing jobs past their queue deadline: %w", err)
	}
	var errs []error
	for _, j := range due {
		if _, err := l.lapse(ctx, j); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("lapsing job %s: %w", j.ID, err))
		}
	}
	return errors.Join(errs...)
}

// FailLost ends the jobs (at most limit), not updated since before, whose
// queue entry ended without them: the queue gave up after their attempts
// were used by crashes, so no worker will run them.
func (l *Lifecycle) FailLost(ctx context.Context, before time.Time, limit int, code, message string) error {
	lost, err := l.store.Orphaned(ctx, before, limit)
	if err != nil {
		return fmt.Errorf("listing orphaned jobs: %w", err)
	}
	for _, j := range lost {
		if err := l.Fail(ctx, j, 0, code, message, nil); err != nil {
			return fmt.Errorf("failing lost job: %w", err)
		}
		l.stopRun(ctx, j)
		l.log.WarnContext(ctx, "lost job failed", "job_id", j.ID)
	}
	return nil
}

// RescueStale puts back on the queue the jobs (at most limit) whose
// running attempt has not written for silent: their worker died. A job
// whose attempts are used up is left for FailLost.
func (l *Lifecycle) RescueStale(ctx context.Context, silent time.Duration, limit int) (int, error) {
	n, err := l.store.RescueStale(ctx, silent, limit)
	if err != nil {
		return 0, fmt.Errorf("re-queueing jobs of dead workers: %w", err)
	}
	if n > 0 {
		l.log.WarnContext(ctx, "jobs re-queued: their attempts stopped heartbeating", "jobs", n, "silent_for", silent.String())
		if r, ok := l.observer.(RescueObserver); ok {
			r.Rescued(ctx, n)
		}
	}
	return n, nil
}

// apply makes a transition, and tells of it: a line for a run it ended,
// and the observer.
func (l *Lifecycle) apply(ctx context.Context, p store.ApplyParams) (*store.Job, error) {
	a, err := l.store.Apply(ctx, p)
	if err != nil {
		return a.Job, err
	}
	if c := a.Charge; c != nil {
		// The run's one line: logged without the context's attributes, as
		// the request that made the move (a cancel) is not the job's.
		j := a.Job
		l.log.LogAttrs(context.Background(), slog.LevelInfo, "generation ended",
			slog.String("job_id", j.ID), slog.Int("attempt", c.Attempt), slog.String("worker", c.Worker),
			slog.String("outcome", RunOutcome(a.Event)), slog.Time("started", c.Started),
			slog.Float64("duration_seconds", j.RunTime.Seconds()), // to the run's end (its last sign of life, when lost)
			slog.Float64("billed_seconds", c.Billed.Seconds()), slog.Bool("billed_reported", c.Reported),
			slog.Float64("cost_usd", c.Cost.USD()), slog.String("backend", c.Backend),
			slog.String("customer", store.OwnerCustomer(j.Owner)), slog.String("request_id", j.RequestID),
			slog.String("error_code", j.ErrorCode))
	}
	if l.observer != nil {
		l.observer.Transitioned(ctx, a)
	}
	return a.Job, nil
}

// RunOutcome is how the run that ev ended, ended: completed, failed,
// cancelled, requeued (given back, to be run again) or lost (its worker
// stopped answering and another attempt took the job over).
func RunOutcome(ev store.Event) string {
	switch ev.Transition {
	case store.Complete:
		return "completed"
	case store.Fail:
		return "failed"
	case store.Cancel:
		return "cancelled"
	case store.Requeue:
		return "requeued"
	}
	return "lost" // a start over a run
}

// deleteInputs removes a job's inputs, logging failures: nothing retries
// them yet (a sweep of unreferenced objects is to come), so a failure is
// worth a line and leaves the objects in storage.
func (l *Lifecycle) deleteInputs(ctx context.Context, j *store.Job) {
	if j == nil {
		return
	}
	for _, key := range []string{j.ImageKey, j.AudioKey} {
		if err := l.storage.Delete(context.WithoutCancel(ctx), key); err != nil {
			l.log.WarnContext(ctx, "deleting input failed", "job_id", j.ID, "key", key, "error", err)
		}
	}
}
