package store

import (
	"context"
	"time"
)

// Retention is what the garbage collection asks of the store: which jobs
// still need their stored objects, and the pruning of jobs kept past
// JOB_RETENTION.
type Retention interface {
	// JobRefs returns, of the jobs ids, those whose rows exist, keyed by
	// id: an id missing from the map names no job (never created, or
	// pruned).
	JobRefs(ctx context.Context, ids []string) (map[string]JobRef, error)
	// PruneJobs deletes at most p.Limit final jobs that ended before
	// p.Before, oldest first, with their events, webhook deliveries and
	// attempts and their ended queue entries, in one transaction that
	// first adds what the usage figures count of them to the job rollups:
	// UsagePer, Submitted, SubmittedPer, Outcomes, UsageByOwner and
	// ErrorCodes answer the same after it. Charges are kept. A job that is
	// not final is never pruned.
	PruneJobs(ctx context.Context, p PruneJobsParams) (Pruned, error)
}

// JobRef is what decides whether a job still needs an object of its own:
// a job not final may need any (an attempt may be writing its video); a
// final one only its video, while completed.
type JobRef struct {
	State     State
	ResultKey string
}

// Needs reports whether the job needs the object at key, one of its own.
func (r JobRef) Needs(key string) bool {
	return !r.State.Final() || (r.State == StateCompleted && key == r.ResultKey)
}

// PruneJobsParams select the jobs PruneJobs deletes.
type PruneJobsParams struct {
	Before time.Time // ended before
	Limit  int
}

// Pruned tells what PruneJobs deleted, and the storage keys the jobs named
// (inputs, video, staging), for the caller to delete: they should be gone
// already, but a failed delete leaves them behind.
type Pruned struct {
	Jobs, Events, Deliveries int64
	Keys                     []string
}
