package worker

import (
	"cmp"
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/queue"
)

// Collector is the garbage collection (gc.Collector): old jobs pruned,
// orphaned objects deleted, each bounded a run.
type Collector interface {
	Collect(ctx context.Context) error
}

// CollectEvery is how often the garbage collection runs when
// Options.CollectEvery is 0.
const CollectEvery = 15 * time.Minute

// collectTimeout bounds one run: a listing of a large bucket takes
// longer than River's default minute.
const collectTimeout = 10 * time.Minute

// collecting registers the garbage collection's worker and returns its
// periodic job, run once across every process; none without a collector.
func collecting(workers *river.Workers, opts Options) []*river.PeriodicJob {
	if opts.Collector == nil {
		return nil
	}
	river.AddWorker(workers, &collectWorker{collector: opts.Collector})
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cmp.Or(opts.CollectEvery, CollectEvery)),
		func() (river.JobArgs, *river.InsertOpts) { return queue.CollectArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// collectWorker runs one garbage collection.
type collectWorker struct {
	river.WorkerDefaults[queue.CollectArgs]
	collector Collector
}

// Work collects once; the periodic job comes back every CollectEvery.
func (w *collectWorker) Work(ctx context.Context, _ *river.Job[queue.CollectArgs]) error {
	return w.collector.Collect(ctx)
}

// Timeout lets a run list the whole storage.
func (w *collectWorker) Timeout(*river.Job[queue.CollectArgs]) time.Duration { return collectTimeout }
