// Package store persists jobs and keys. Store is implemented once, in
// sqlstore, over database/sql, with what differs per database (SQLite,
// PostgreSQL) in a small dialect and each database's own embedded
// migrations; one shared suite (storetest) holds both to the same contract.
//
// Creating a job also enqueues it in the River queue in the same
// transaction, so a job is either accepted and queued, or not there at all.
// Every later change of its state is a Transition of the Machine, made by
// Apply with its Event in the same transaction.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors every implementation maps its own errors to.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// ParseID returns the canonical form of an id (a job's or a key's): only
// the 36-character form of a UUID is an id, in lower case. Other spellings
// uuid.Parse accepts (urn:uuid:…, braces, 32 hex digits) are not: PostgreSQL
// reads some of them and refuses others, while SQLite compares text, so
// they would answer differently on each database.
func ParseID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// CustomerOwner is the owner of a customer's jobs: the customer, so that a
// rotated key's successor sees the same jobs.
func CustomerOwner(customer string) string { return ownerPrefix + customer }

// OwnerCustomer is the customer an owner names.
func OwnerCustomer(owner string) string { return strings.TrimPrefix(owner, ownerPrefix) }

const ownerPrefix = "customer:"

// State is where a job is in its life.
type State string

// The states of a job. Completed, failed, cancelled and expired are final,
// except that completed becomes expired when its video is deleted.
const (
	StateQueued     State = "queued"
	StateProcessing State = "processing"
	StateCompleted  State = "completed"
	StateFailed     State = "failed"
	StateCancelled  State = "cancelled"
	StateExpired    State = "expired"
)

// Final reports whether no worker will touch a job in this state again.
func (s State) Final() bool {
	switch s {
	case StateCompleted, StateFailed, StateCancelled, StateExpired:
		return true
	}
	return false
}

// Job is one request to make a video, and everything known about it.
type Job struct {
	ID             string // UUIDv7: sorts by creation time
	Owner          string // who created it; only the owner sees it
	IdempotencyKey string // optional, unique per owner
	Fingerprint    string // SHA-256 over the inputs, to detect reuse of an idempotency key
	RequestID      string

	State    State
	Progress float64 // 0..1
	Attempt  int

	Prompt   string
	ImageKey string // storage keys of the inputs, deleted when the job ends
	AudioKey string
	Width    int
	Height   int
	FPS      int
	Seed     int64
	// FaceFallback animates an estimated face when none is detected.
	FaceFallback bool
	// Backend generates the job, and Queue is the River queue of its
	// entry, that backend's (queue.Backend); both empty at creation mean
	// the local backend.
	Backend string
	Queue   string

	AudioDuration time.Duration
	// QueueDeadline, if set, is when a job still queued lapses: it ends
	// expired with a code, unbilled (max_queue_seconds). CreateJob sets it
	// MaxQueue after the job's creation, when MaxQueue is given.
	QueueDeadline *time.Time
	MaxQueue      time.Duration

	ErrorCode    string // set when failed, or lapsed
	ErrorMessage string

	ResultKey      string // storage key of the video, set when completed
	ResultBytes    int64
	ResultDuration time.Duration

	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time // the first start
	FinishedAt *time.Time
	ExpiresAt  *time.Time // when the video will be deleted

	// What monitoring and cost tracking read. A run is one attempt's time
	// on a worker, from its start to the transition that ends it.
	Worker       string        // the worker of the last run
	RunStartedAt *time.Time    // when the current run started; nil once it was billed
	RunTime      time.Duration // the last ended run's wall time: a completed job's generation time
	Billed       time.Duration // what its runs were billed, in all
	Cost         NanoUSD       // Billed at Price
	Price        NanoUSD       // per second: its backend's price when the job was created

	// A job sent to a backend with its own queue (RunPod): its id there
	// and the staging key its video goes to, as the last attempt that
	// dispatched it recorded (SetRemote), and how long it waited there
	// for a worker.
	RemoteID     string
	RemoteOutput string
	RemoteDelay  time.Duration

	// Where its webhook events go: the URL sealed (never in clear), its
	// display form, and the events asked for (none: DefaultWebhookEvents).
	// An empty WebhookURL sends none.
	WebhookURL     string
	WebhookDisplay string
	WebhookEvents  []string
}

// IdempotencyWindow is how long an Idempotency-Key names its job: a
// retry within it gets the job back; after it, the key is free again.
const IdempotencyWindow = 24 * time.Hour

// NanoUSD is an amount of US dollars in billionths, a whole number so that
// sums of many small costs are exact.
type NanoUSD int64

// USD is the amount in dollars.
func (n NanoUSD) USD() float64 { return float64(n) / 1e9 }

// Of is the cost of d at n per second, rounded to the nearest nano-dollar
// (d is counted in whole milliseconds).
func (n NanoUSD) Of(d time.Duration) NanoUSD {
	return NanoUSD((d.Milliseconds()*int64(n) + 500) / 1000)
}

// Result is what a worker records when a job completes.
type Result struct {
	Key       string
	Bytes     int64
	Duration  time.Duration
	ExpiresAt time.Time
	// TTL, if set, makes the video expire TTL after the completion, as
	// the store times it (ExpiresAt is then ignored): the worker's clock
	// and the wait for the database do not shorten it.
	TTL time.Duration
}

// ProgressParams are how far attempt Attempt of a job has got (0..1).
type ProgressParams struct {
	JobID    string
	Attempt  int
	Progress float64
}

// RemoteParams record that attempt Attempt of a job runs at another
// service under RemoteID, putting its video at the staging key Output,
// and waited Delay there.
type RemoteParams struct {
	JobID    string
	Attempt  int
	RemoteID string
	Output   string
	Delay    time.Duration
}

// ListParams selects a page of one owner's jobs, newest first.
type ListParams struct {
	Owner  string
	Before string // a job id: list jobs created before it (the cursor)
	Limit  int
}

// Store is the persistence the job service and the workers need.
type Store interface {
	// CreateJob inserts j (ID, Owner, inputs and options set by the caller)
	// in state queued and enqueues it, atomically. If j.IdempotencyKey is
	// already used by the owner within IdempotencyWindow, it returns the
	// existing job and ErrConflict; an older use of it is forgotten.
	CreateJob(ctx context.Context, j *Job) (*Job, error)
	// JobByIdempotencyKey returns owner's job made with key within
	// IdempotencyWindow, or ErrNotFound.
	JobByIdempotencyKey(ctx context.Context, owner, key string) (*Job, error)
	// GetJob returns a job by id, or ErrNotFound.
	GetJob(ctx context.Context, id string) (*Job, error)
	// ListJobs returns a page of an owner's jobs, newest first.
	ListJobs(ctx context.Context, p ListParams) ([]*Job, error)
	// QueuePosition counts the queued jobs on this one's queue created
	// before it (0: next).
	QueuePosition(ctx context.Context, id string) (int, error)
	// FinishedSince counts the jobs of queue q that ended (completed,
	// failed or cancelled after a start) at or after t: the queue's
	// recent throughput.
	FinishedSince(ctx context.Context, q string, t time.Time) (int, error)

	// Apply makes one transition of a job, as store.Machine allows it, and
	// records its Event and, if it ends a run, the run's Charge, in one
	// transaction; a Cancel also ends the job's queue entry. It returns the
	// job as the transition left it, with the event and charge. ErrNotFound
	// if the job is absent (or, with Owner set, not the owner's);
	// ErrConflict, with the job as it is (Applied.Job), if the job is not in
	// a state the transition leaves or another attempt owns it.
	Apply(ctx context.Context, p ApplyParams) (Applied, error)
	// SetProgress records progress of a job processed by attempt and returns
	// its state, so that a worker learns of a cancellation. ErrConflict if
	// another attempt has taken the job over. Progress is not a transition.
	SetProgress(ctx context.Context, p ProgressParams) (State, error)
	// SetRemote records where attempt runs the job elsewhere (RunPod's job
	// id) and how long it waited there. ErrConflict, changing nothing, if
	// the job is no longer processing under that attempt. Not a
	// transition.
	SetRemote(ctx context.Context, p RemoteParams) error
	// Events lists recorded transitions, oldest first.
	Events(ctx context.Context, p EventsParams) ([]Event, error)

	// DueForExpiry lists completed jobs whose video expires before t.
	DueForExpiry(ctx context.Context, t time.Time, limit int) ([]*Job, error)
	// PastQueueDeadline lists queued jobs that never started whose queue
	// deadline is at or before t.
	PastQueueDeadline(ctx context.Context, t time.Time, limit int) ([]*Job, error)
	// Orphaned lists non-final jobs, not updated since t, whose queue entry
	// has ended or vanished (attempts used up by crashes): no worker will
	// take them again, so the sweeper must end them.
	Orphaned(ctx context.Context, t time.Time, limit int) ([]*Job, error)
	// RescueStale puts back on the queue (at most limit) the generation
	// entries still running an attempt that has not touched its job for
	// silent: its worker died. An entry whose attempts are used up is
	// discarded instead, for Orphaned to find. It returns how many.
	RescueStale(ctx context.Context, silent time.Duration, limit int) (int, error)
	// QueueJobState returns the state of a job's entry in the River queue
	// ("available", "running", "completed", "discarded", …), or ErrNotFound.
	QueueJobState(ctx context.Context, id string) (string, error)

	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}
