package store

import (
	"context"
	"time"
)

// History is what monitoring keeps beside the jobs: per-minute rollups of
// API requests and of workers' time, GPU readings, the dashboard's
// sessions, and the reads the dashboard and the report make of all of it
// and of the jobs and their charges. Rollups are written by every process
// for itself (a row per replica or worker and minute, added to) and summed
// when read.
type History interface {
	// AddRequests adds request counts to their minutes' rollups.
	AddRequests(ctx context.Context, counts []RequestCount) error
	// AddWorkerTime adds workers' time to their minutes' rollups.
	AddWorkerTime(ctx context.Context, use []WorkerTime) error
	// AddGPUSamples adds GPU readings to their minutes' sums.
	AddGPUSamples(ctx context.Context, samples []GPUSample) error
	// AddRefusals adds rate-limit refusals to their minutes' rollups.
	AddRefusals(ctx context.Context, counts []RefusalCount) error
	// AddOwnerRequests adds owners' requests to their minutes' rollups.
	AddOwnerRequests(ctx context.Context, counts []OwnerRequestCount) error
	// Prune deletes rollups (refusals' included) and GPU readings from before p.Before, and
	// sessions expired at p.Now. Jobs and their charges are kept.
	Prune(ctx context.Context, p PruneParams) (int64, error)

	// CreateSession stores a new dashboard session.
	CreateSession(ctx context.Context, s Session) error
	// SessionByHash returns the session of a token's hash, expired or
	// not, or ErrNotFound.
	SessionByHash(ctx context.Context, hash string) (Session, error)
	// DeleteSession ends a session; a missing one is not an error.
	DeleteSession(ctx context.Context, hash string) error

	// Requests sums the request rollups of every replica per bucket and
	// status class.
	Requests(ctx context.Context, p BucketParams) ([]RequestBucket, error)
	// Outcomes counts the jobs that ended in each bucket, by final state
	// (a job whose video has expired counts as completed).
	Outcomes(ctx context.Context, p BucketParams) ([]OutcomeBucket, error)
	// ChargedIn sums the charges made in w.
	ChargedIn(ctx context.Context, w Window) (time.Duration, NanoUSD, error)
	// GPU sums the GPU readings of each bucket, per worker and GPU.
	GPU(ctx context.Context, p BucketParams) ([]GPUBucket, error)
	// SubmittedPer counts the jobs created in each bucket.
	SubmittedPer(ctx context.Context, p BucketParams) ([]CountBucket, error)
	// ChargedPerOwner sums the charges made in each bucket per owner.
	ChargedPerOwner(ctx context.Context, p BucketParams) ([]OwnerBucket, error)
	// WorkersPer sums each worker's rollups in each bucket.
	WorkersPer(ctx context.Context, p BucketParams) ([]WorkerBucket, error)
	// RunTimes lists the run times of the jobs completed in w, in order of
	// completion.
	RunTimes(ctx context.Context, w Window) ([]RunTime, error)
	// Submitted counts the jobs created in w.
	Submitted(ctx context.Context, w Window) (int64, error)
	// CostByOwner sums the charges made in w per owner, highest cost
	// first, at most limit.
	CostByOwner(ctx context.Context, w Window, limit int) ([]OwnerCost, error)
	// UsageByOwner counts the jobs created in w per owner and how they
	// ended, most jobs first, at most limit.
	UsageByOwner(ctx context.Context, w Window, limit int) ([]OwnerUsage, error)
	// Failures lists the jobs that failed in w, newest first, at most limit.
	Failures(ctx context.Context, w Window, limit int) ([]*Job, error)
	// ErrorCodes counts the failures in w per error code, most first.
	ErrorCodes(ctx context.Context, w Window, limit int) ([]CodeCount, error)
	// Slowest lists the jobs completed in w with the longest run times.
	Slowest(ctx context.Context, w Window, limit int) ([]*Job, error)
	// QueueDepths counts the queued and the running jobs of each backend,
	// now.
	QueueDepths(ctx context.Context) ([]QueueDepth, error)
	// RefusalsByOwner sums the rate-limit refusals of each owner in w,
	// most first, at most limit.
	RefusalsByOwner(ctx context.Context, w Window, limit int) ([]OwnerRefusals, error)
	// OldestQueued returns when the job that has waited longest in state
	// queued became queued (its creation, or its last return to the
	// queue), or nil when none is queued.
	OldestQueued(ctx context.Context) (*time.Time, error)
	// Charges lists a job's charges, oldest first.
	Charges(ctx context.Context, jobID string) ([]Charge, error)
	// UsagePer sums one owner's jobs and charges in each bucket: what the
	// owner's own usage report reads.
	UsagePer(ctx context.Context, p UsageParams) ([]UsageBucket, error)
	// RecentRuns lists the figures of a backend's completed jobs (expired
	// since included) finished since p.Since, latest first, at most p.Limit.
	RecentRuns(ctx context.Context, p RecentRunsParams) ([]RunFigures, error)
}

// Window is a span of time: From inclusive, To exclusive.
type Window struct{ From, To time.Time }

// BucketParams selects the rows of a window, summed in buckets of Step
// counted from the Unix epoch (a bucket starts at a multiple of Step).
// Step is whole seconds; every time zone's offset is a multiple of 15
// minutes, so buckets of 15 minutes or less never straddle a local hour or
// day and can be summed into them.
type BucketParams struct {
	Window
	Step time.Duration
}

// RequestCount is a replica's requests of one status class in one minute.
type RequestCount struct {
	Minute   time.Time // the minute's start
	Replica  string
	Class    string // "2xx" … "5xx"
	Requests int64
}

// WorkerTime is a worker's time in one minute: slot-time it could run
// jobs (slots × time up) and slot-time it did.
type WorkerTime struct {
	Minute   time.Time
	Worker   string
	Capacity time.Duration
	Busy     time.Duration
}

// GPUSample is one reading of one GPU of a worker.
type GPUSample struct {
	At          time.Time
	Worker      string
	GPU         int
	Utilization float64 // 0..1; NaN when the GPU did not say
	MemoryUsed  int64   // bytes; -1 when unknown
	MemoryTotal int64   // bytes; -1 when unknown
}

// PruneParams are what Prune deletes: history from before Before,
// sessions expired at Now.
type PruneParams struct{ Before, Now time.Time }

// Session is an operator's dashboard session; only a hash of its token is
// kept.
type Session struct {
	Hash      string
	KeyID     string // the admin key it was opened with
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RequestBucket is the requests of one status class in one bucket.
type RequestBucket struct {
	Start    time.Time
	Class    string
	Requests int64
}

// OutcomeBucket is the jobs that ended in one final state in one bucket.
type OutcomeBucket struct {
	Start time.Time
	State State // completed (expired included), failed or cancelled
	Jobs  int64
}

// GPUBucket sums one GPU's readings in one bucket: the mean is Sum/Count.
type GPUBucket struct {
	Start            time.Time
	Worker           string
	GPU              int
	UtilizationSum   float64
	UtilizationCount int64
	MemoryRatioSum   float64 // used ÷ total
	MemoryRatioCount int64
}

// CountBucket is how many rows one bucket holds.
type CountBucket struct {
	Start time.Time
	Count int64
}

// OwnerBucket is one owner's charges in one bucket: how many runs were
// billed, for how long and how much.
type OwnerBucket struct {
	Start  time.Time
	Owner  string
	Runs   int64
	Billed time.Duration
	Cost   NanoUSD
}

// WorkerBucket is one worker's time in one bucket.
type WorkerBucket struct {
	Start      time.Time
	Worker     string
	Capacity   time.Duration
	Busy       time.Duration
	LastMinute time.Time // the start of its last minute with time in the bucket
}

// RunTime is a completed job's generation time.
type RunTime struct {
	FinishedAt time.Time
	Run        time.Duration
}

// OwnerCost is one owner's charges.
type OwnerCost struct {
	Owner  string
	Jobs   int64 // jobs charged
	Billed time.Duration
	Cost   NanoUSD
}

// OwnerUsage is what one owner asked for, and how it ended.
type OwnerUsage struct {
	Owner                        string
	Submitted                    int64
	Completed, Failed, Cancelled int64 // of those, by final state (expired counts as completed)
}

// WorkerUse is one worker's time in a window.
type WorkerUse struct {
	Worker   string
	Capacity time.Duration
	Busy     time.Duration
	LastSeen time.Time // the start of its last minute with time
}

// CodeCount is how many failures had one error code.
type CodeCount struct {
	Code  string
	Count int64
}

// QueueDepth is one backend's queued and running jobs.
type QueueDepth struct {
	Backend string
	Queued  int64
	Running int64
}
