// Package queue names the River jobs the service runs and their queues. It
// holds only argument types, so that both the store (which enqueues) and the
// worker (which runs them) can use them without depending on each other.
package queue

import (
	"time"

	"github.com/riverqueue/river"
)

// Queue names.
const (
	Generate    = "generate"    // video generation, slow and CPU/GPU bound
	Maintenance = "maintenance" // sweeps: expiry, reconciliation
)

// GenerateArgs asks a worker to make the video of one job.
type GenerateArgs struct {
	JobID string `json:"job_id"`
}

// Kind identifies the job type in River's table.
func (GenerateArgs) Kind() string { return "generate_video" }

// InsertOpts puts generation jobs on their own queue, one River job per
// service job.
func (GenerateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:      Generate,
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	}
}

// SweepArgs asks for one maintenance pass: expire old videos and settle jobs
// whose queue entry ended without the job ending.
type SweepArgs struct{}

// Kind identifies the job type in River's table.
func (SweepArgs) Kind() string { return "sweep" }

// InsertOpts keeps sweeps off the generation queue and never doubles them.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       Maintenance,
		MaxAttempts: 1,
		UniqueOpts:  river.UniqueOpts{ByPeriod: 30 * time.Second},
	}
}
