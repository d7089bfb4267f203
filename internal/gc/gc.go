// Package gc is the garbage collection: it deletes the stored objects no
// job needs any more (orphans) and the jobs kept past their retention.
//
// An orphan is an object under one of the service's key layouts whose job
// does not exist (the inputs of a request that failed or crashed before
// its job was created; anything of a job pruned), or whose job has ended
// and does not name it (a superseded attempt's video, a run's staging
// upload, inputs whose deletion failed), or the leftover of a write that
// never finished (storage.Object.Partial). It is deleted only once older
// than OrphanAge: a submission stores its inputs before it creates the job
// that names them, and an attempt writes its video before it records it,
// so a young object may be one whose job is about to need it. A job not
// final keeps every object of its own, however old.
//
// Retention prunes the final jobs that ended more than Retention ago
// (store.Retention.PruneJobs, which keeps what the usage figures count of
// them) and deletes the objects they named, if any are left.
//
// Both are bounded by Limit a run and log what they did; the worker's
// periodic job runs them once across every process.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// DefaultLimit is how many objects, and how many jobs, one run deletes at
// most: a backlog (the first run on an old deployment) is worked off over
// several runs rather than in one long one.
const DefaultLimit = 1000

// batch is how many old objects are looked up in the store at once.
const batch = 500

// Collector deletes orphaned objects and jobs past their retention.
type Collector struct {
	Store   store.Retention
	Storage storage.Storage
	Log     *slog.Logger
	// OrphanAge is how old an object no job needs must be before it is
	// deleted (STORAGE_ORPHAN_AGE); Retention how long a job is kept
	// after it ended (JOB_RETENTION).
	OrphanAge, Retention time.Duration
	Limit                int              // per run, of objects and of jobs; 0: DefaultLimit
	Now                  func() time.Time // nil: time.Now
	// Metrics, if set, is told what each run deleted.
	Metrics interface {
		Collected(jobs, objects, bytes int64)
	}
}

// Swept is what one sweep of storage deleted.
type Swept struct {
	Objects, Partial int64 // Partial of Objects were leftovers of unfinished writes
	Bytes            int64
}

// Collect prunes the jobs past their retention, then sweeps storage: the
// objects a pruned job left behind are orphans the same run deletes.
func (c *Collector) Collect(ctx context.Context) error {
	p, perr := c.Prune(ctx)
	s, serr := c.Sweep(ctx)
	if c.Metrics != nil {
		c.Metrics.Collected(int64(p.Jobs), s.Objects, s.Bytes)
	}
	return errors.Join(perr, serr)
}

// Prune deletes at most Limit jobs that ended more than Retention ago,
// and the objects they named.
func (c *Collector) Prune(ctx context.Context) (store.Pruned, error) {
	p, err := c.Store.PruneJobs(ctx, store.PruneJobsParams{Before: c.now().Add(-c.Retention), Limit: c.limit()})
	if err != nil {
		return p, fmt.Errorf("retention: %w", err)
	}
	var errs []error
	for _, key := range p.Keys {
		if err := c.Storage.Delete(ctx, key); err != nil {
			errs = append(errs, err) // an orphan now: the next sweep tries again
		}
	}
	if p.Jobs > 0 {
		c.Log.InfoContext(ctx, "retention: pruned jobs", "jobs", p.Jobs, "events", p.Events, "webhook_deliveries", p.Deliveries,
			"before", c.now().Add(-c.Retention).UTC().Format(time.RFC3339))
	}
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("retention: deleting a pruned job's objects: %w", err)
	}
	return p, nil
}

// errLimit stops the listing once Limit objects are deleted.
var errLimit = errors.New("limit reached")

// Sweep deletes at most Limit orphaned objects.
func (c *Collector) Sweep(ctx context.Context) (Swept, error) {
	s := sweep{c: c, cutoff: c.now().Add(-c.OrphanAge)}
	err := c.Storage.List(ctx, "", func(o storage.Object) error {
		if !o.ModTime.Before(s.cutoff) {
			return nil // young: perhaps about to be named by its job
		}
		if o.Partial {
			return s.delete(ctx, o)
		}
		id, ok := jobOf(o.Key)
		if !ok {
			return nil // not a layout of ours: never touched
		}
		s.pending = append(s.pending, pending{o, id})
		if len(s.pending) < batch {
			return nil
		}
		return s.flush(ctx)
	})
	// A listing that failed part-way (a directory it could not read)
	// still has its objects so far looked up and deleted.
	switch {
	case errors.Is(err, errLimit):
		err = nil
	case ctx.Err() == nil:
		if ferr := s.flush(ctx); !errors.Is(ferr, errLimit) {
			err = errors.Join(err, ferr)
		}
	}
	if s.done.Objects > 0 {
		c.Log.InfoContext(ctx, "gc: deleted orphaned objects", "count", s.done.Objects, "bytes", s.done.Bytes,
			"partial", s.done.Partial, "older_than", s.cutoff.UTC().Format(time.RFC3339))
	}
	if err = errors.Join(err, errors.Join(s.errs...)); err != nil {
		return s.done, fmt.Errorf("gc: %w", err)
	}
	return s.done, nil
}

// sweep is one run of Sweep: the old objects waiting for their jobs to be
// looked up, and what was deleted.
type sweep struct {
	c       *Collector
	cutoff  time.Time
	pending []pending
	done    Swept
	errs    []error
}

type pending struct {
	obj storage.Object
	job string
}

// flush looks up the pending objects' jobs and deletes the objects none
// needs.
func (s *sweep) flush(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	ids := make([]string, len(s.pending))
	for i, p := range s.pending {
		ids[i] = p.job
	}
	refs, err := s.c.Store.JobRefs(ctx, ids)
	if err != nil {
		return err
	}
	for _, p := range s.pending {
		if ref, ok := refs[p.job]; ok && ref.Needs(p.obj.Key) {
			continue
		}
		if err := s.delete(ctx, p.obj); err != nil {
			return err
		}
	}
	s.pending = s.pending[:0]
	return nil
}

// delete deletes o, counting it; errLimit once Limit are deleted. A
// failure is remembered and the sweep goes on.
func (s *sweep) delete(ctx context.Context, o storage.Object) error {
	if err := s.c.Storage.Delete(ctx, o.Key); err != nil {
		s.errs = append(s.errs, err)
		return nil
	}
	s.done.Objects++
	s.done.Bytes += o.Size
	if o.Partial {
		s.done.Partial++
	}
	if s.done.Objects >= int64(s.c.limit()) {
		return errLimit
	}
	return nil
}

// jobOf is the id of the job key belongs to, by the layouts the service
// writes: inputs/<id>/…, results/<id>-<attempt>.mp4 and
// staging/<id>-<attempt>-<run>.mp4. ok is false for any other key.
func jobOf(key string) (id string, ok bool) {
	dir, rest, _ := strings.Cut(key, "/")
	const n = 36 // a UUID's text
	if len(rest) <= n {
		return "", false
	}
	switch {
	case dir == "inputs" && rest[n] == '/':
	case (dir == "results" || dir == "staging") && rest[n] == '-':
	default:
		return "", false
	}
	return store.ParseID(rest[:n])
}

func (c *Collector) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Collector) limit() int {
	if c.Limit <= 0 {
		return DefaultLimit
	}
	return c.Limit
}
