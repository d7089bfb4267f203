// Package queue names the River jobs the service runs and their queues. It
// holds only argument types, so that both the store (which enqueues) and the
// worker (which runs them) can use them without depending on each other.
package queue

import (
	"cmp"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Queue names.
const (
	Generate    = "generate"    // video generation by the local backend, slow and CPU bound
	RunPodQueue = "runpod"      // generations dispatched to RunPod: waiting, not working
	Maintenance = "maintenance" // sweeps: expiry, reconciliation, garbage collection; the alerts' evaluation
	Alerts      = "alerts"      // delivery of alert notifications
)

// LocalBackend names the default backend: the generator built into this
// binary (GENERATOR), on the Generate queue, as before backends had names.
const LocalBackend = "local"

// Backend is a place where videos are generated, declared once and given
// to both sides: the job service records it on each new job and enqueues
// the job on its Queue; its workers subscribe to that Queue alone and give
// each attempt its Timeout. Two backends must not share a queue.
type Backend struct {
	Name    string        // recorded on the job row, e.g. "local", "runpod"
	Queue   string        // River queue of its jobs' entries
	Timeout time.Duration // one attempt's limit; 0: River's default of a minute
	// Price is what a second of a run costs (COST_PER_SECOND), recorded
	// on each new job: its runs are billed at the price it was accepted at.
	Price store.NanoUSD
}

// Local is the default backend, with attempts limited to timeout
// (JOB_TIMEOUT) and billed at price per second.
func Local(timeout time.Duration, price store.NanoUSD) Backend {
	return Backend{Name: LocalBackend, Queue: Generate, Timeout: timeout, Price: price}
}

// RunPodBackend names the RunPod serverless backend.
const RunPodBackend = "runpod"

// RunPod is the RunPod backend: attempts limited to timeout (RunPod's ttl
// and a minute), billed at price per second of RunPod's executionTime.
func RunPod(timeout time.Duration, price store.NanoUSD) Backend {
	return Backend{Name: RunPodBackend, Queue: RunPodQueue, Timeout: timeout, Price: price}
}

// OrLocal is b with an empty Name or Queue taken from the local backend,
// so that a zero Backend is the local one.
func (b Backend) OrLocal() Backend {
	b.Name = cmp.Or(b.Name, LocalBackend)
	b.Queue = cmp.Or(b.Queue, Generate)
	return b
}

// GenerateArgs asks a worker to make the video of one job.
type GenerateArgs struct {
	JobID string `json:"job_id"`
}

// Kind identifies the job type in River's table.
func (GenerateArgs) Kind() string { return "generate_video" }

// InsertOpts puts generation jobs on the local backend's queue (the store
// names another backend's queue when it enqueues), one River job per
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

// RescueArgs asks for one look for generation attempts whose heartbeat
// stopped (their worker died), to put their jobs back on the queue.
type RescueArgs struct{}

// Kind identifies the job type in River's table.
func (RescueArgs) Kind() string { return "rescue_stale" }

// InsertOpts keeps rescues off the generation queue; a failed look is not
// retried, the next one comes within seconds.
func (RescueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Maintenance, MaxAttempts: 1}
}

// CollectArgs asks for one run of the garbage collection: jobs past
// their retention pruned, orphaned objects deleted.
type CollectArgs struct{}

// Kind identifies the job type in River's table.
func (CollectArgs) Kind() string { return "collect_garbage" }

// InsertOpts keeps the collection off the generation queue; a failed run
// is not retried, the next comes at the next interval.
func (CollectArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Maintenance, MaxAttempts: 1}
}

// EvaluateAlertsArgs asks for one evaluation of the alert rules.
type EvaluateAlertsArgs struct{}

// Kind identifies the job type in River's table.
func (EvaluateAlertsArgs) Kind() string { return "evaluate_alerts" }

// InsertOpts keeps evaluations off the generation queue. The periodic job
// is enqueued by River's leader, once across every process; two that
// overlap (a change of leader) are harmless: the store decides each
// notification once.
func (EvaluateAlertsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Maintenance, MaxAttempts: 1}
}

// DeliverAlertArgs asks for one notification (store.Notification) to be
// delivered to its channel.
type DeliverAlertArgs struct {
	NotificationID string `json:"notification_id"`
}

// Kind identifies the job type in River's table.
func (DeliverAlertArgs) Kind() string { return "deliver_alert" }

// DeliverAlertAttempts is how many times a notification is tried: with
// the workers' backoff (doubling from 10 s to at most 30 min) about a day.
const DeliverAlertAttempts = 60

// InsertOpts puts deliveries on their own queue, so that a slow receiver
// holds up neither the sweep nor the generations, and keeps one job per
// notification while it waits, runs or retries (store.RequeuePending
// relies on it).
func (DeliverAlertArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Alerts, MaxAttempts: DeliverAlertAttempts, UniqueOpts: oneWhileAlive}
}

// Webhooks is the queue of customers' webhook deliveries, apart from the
// alerts' so that a customer's slow endpoint holds up no alert.
const Webhooks = "webhooks"

// DeliverWebhookArgs asks for one attempt to deliver a webhook
// (store.WebhookDelivery).
type DeliverWebhookArgs struct {
	DeliveryID string `json:"delivery_id"`
	// Redelivery is the generation: 0 for the event's own entry, n for
	// the customer's nth redelivery.
	Redelivery int `json:"redelivery,omitempty"`
}

// Kind identifies the job type in River's table.
func (DeliverWebhookArgs) Kind() string { return "deliver_webhook" }

// DeliverWebhookAttempts bounds a delivery's attempts; the worker's
// retry window (24 h) ends it first.
const DeliverWebhookAttempts = 100

// InsertOpts keeps one job per delivery and generation while it waits,
// runs or retries.
func (DeliverWebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Webhooks, MaxAttempts: DeliverWebhookAttempts, UniqueOpts: oneWhileAlive}
}

// oneWhileAlive keeps one job per kind and arguments while it waits, runs
// or retries (River's required states: a completed, cancelled or
// discarded one does not stop a new one).
var oneWhileAlive = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled},
}
