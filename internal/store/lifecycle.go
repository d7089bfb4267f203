package store

import "time"

// Transition is a move in a job's life. Every change of a job's state is
// one of these, made by Apply (or CreateJob) in one transaction that also
// records the move as an Event.
type Transition string

// The transitions.
const (
	Create   Transition = "create"   // a new job is queued
	Start    Transition = "start"    // an attempt takes the job (also over an attempt taken for dead)
	Requeue  Transition = "requeue"  // the attempt gives the job back (shutdown, a failure to retry)
	Complete Transition = "complete" // the attempt stored the video
	Fail     Transition = "fail"     // the job ends without a video, with a reason
	Cancel   Transition = "cancel"   // the customer stops the job
	Expire   Transition = "expire"   // the video was deleted after its retention
	Lapse    Transition = "lapse"    // a queued job's deadline passed before it started
)

// Rule is what a transition moves a job from, and to.
type Rule struct {
	From []State // "" (no state) for Create
	To   State
}

// Machine is the job state machine, written once: every transition, the
// states it may leave, and the state it makes. Nothing else changes a
// job's state.
var Machine = map[Transition]Rule{
	Create:   {From: []State{""}, To: StateQueued},
	Start:    {From: []State{StateQueued, StateProcessing}, To: StateProcessing},
	Requeue:  {From: []State{StateProcessing}, To: StateQueued},
	Complete: {From: []State{StateProcessing}, To: StateCompleted},
	Fail:     {From: []State{StateQueued, StateProcessing}, To: StateFailed},
	Cancel:   {From: []State{StateQueued, StateProcessing}, To: StateCancelled},
	Expire:   {From: []State{StateCompleted}, To: StateExpired},
	Lapse:    {From: []State{StateQueued}, To: StateExpired},
}

// Allows reports whether the transition may leave state from.
func (r Rule) Allows(from State) bool {
	for _, s := range r.From {
		if s == from {
			return true
		}
	}
	return false
}

// Event is one transition of one job, recorded in the transaction that
// made it: the outbox from which metrics, webhooks, alerts and live status
// read what happened, so none can miss or invent a move.
type Event struct {
	ID         int64 // increasing in commit order: a reader that has seen n never finds a smaller id later
	JobID      string
	Owner      string
	Transition Transition
	From, To   State // From is "" for Create
	Attempt    int   // the attempt that made or suffered the move (0: none yet)
	Code       string
	At         time.Time
}

// ApplyParams is one transition to make.
type ApplyParams struct {
	JobID      string
	Transition Transition
	// Attempt fences the move: for Start, the attempt taking the job (none
	// lower than the job's own: a late start cannot take it back); for
	// the others, the attempt that must still own the job, or 0 for
	// whoever holds it (the customer's cancel, the sweeper).
	Attempt int
	Owner   string // when set, only this owner's job (the customer's cancel)
	Result  Result // Complete
	Code    string // Fail, Lapse: the reason's stable code
	Message string // Fail, Lapse: the reason, for the customer
	Worker  string // Start: the worker that runs the attempt
	// Billed is what the backend itself billed for the run this
	// transition ends (RunPod's executionTime), when the attempt that ran
	// it makes the transition; nil: the run's wall time is billed.
	Billed *time.Duration
}

// Applied is what a transition did: the job as it left it, the event it
// recorded and, when it ended a run, the run's Charge.
type Applied struct {
	Job    *Job
	Event  Event
	Charge *Charge
}

// Charge is one billed run of a job: the cost record, written in the
// transaction of the transition that ended the run. A run ends when its
// attempt completes, fails, is cancelled or requeued, or is taken over
// after its worker was lost. Its billed time is, unless the backend
// reported its own, the wall time from the run's start to its end — the
// transition, when the run's own attempt makes it, or else the run's last
// sign of life (its last progress report), since a run ended by someone
// else (a cancel, the sweep, a successor) may be long dead.
type Charge struct {
	ID       int64
	JobID    string
	Owner    string
	Backend  string
	Worker   string
	Attempt  int
	Started  time.Time     // the run's start
	Billed   time.Duration // the run's wall time, unless Reported
	Cost     NanoUSD
	Reported bool      // the backend reported Billed
	At       time.Time // when it was billed: the transition's time
}

// EventsParams selects events: of one job ("" for all), after an event id,
// oldest first, at most Limit.
type EventsParams struct {
	JobID string
	After int64
	Limit int
}
