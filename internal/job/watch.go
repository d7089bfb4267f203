package job

import (
	"context"
	"fmt"
	"math"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Watch follows one of its owner's jobs for a live status stream, a read
// at a time, and numbers what it sees with a revision.
//
// A job's revision is the id of its latest store event (each transition
// records one, ids increasing in commit order across every replica) times
// 1001, plus its progress in thousandths. Every transition makes a new
// event and resets the progress, which grows only within a run, so the
// revision grows with every change of state or progress, and any replica,
// before or after a restart, numbers the same row alike: a client resuming
// a stream on another server with the last revision it saw is sent only
// what is newer.
//
// Each read is one read of the job's row: progress is no event, so the row
// has to be read anyway, and the row also shows every transition, made by
// any process. The events are read only when the row shows a transition
// (its state or attempt moved, or its progress went back), to number it.
type Watch struct {
	s            *Service
	owner, id    string
	event        int64 // the job's latest event, as last read (0: none read yet)
	to           store.State
	attempt      int
	lastProgress float64
}

// Reading is one read of a watched job.
type Reading struct {
	Revision int64
	Final    bool // no worker will change the job again
	// Job is the job as Get shows it when Revision is above the one the
	// caller has seen; nil otherwise (and no queue position was counted).
	Job *Job
}

// Watch starts following one of owner's jobs; ErrNotFound as Get.
func (s *Service) Watch(ctx context.Context, owner, id string) (*Watch, error) {
	if _, err := s.owned(ctx, owner, id); err != nil {
		return nil, err
	}
	id, _ = store.ParseID(id) // owned has checked it
	return &Watch{s: s, owner: owner, id: id}, nil
}

// Read reads the job once; seen is the revision the caller last sent.
func (w *Watch) Read(ctx context.Context, seen int64) (Reading, error) {
	j, err := w.row(ctx)
	if err != nil {
		return Reading{}, err
	}
	r := Reading{Revision: w.event*1001 + permille(j.Progress), Final: j.State.Final()}
	if r.Revision > seen {
		if r.Job, err = w.s.viewWithPosition(ctx, j); err != nil {
			return Reading{}, err
		}
	}
	return r, nil
}

// row reads the job's row and, when it shows a transition not yet
// numbered, the events since the last read. The events are read before
// the row is read again, so that the event numbers a row at least as new
// as itself: a revision is never ahead of the row it is sent with.
func (w *Watch) row(ctx context.Context) (*store.Job, error) {
	j, err := w.s.owned(ctx, w.owner, w.id)
	if err == nil && !(w.current(j) && j.Progress >= w.lastProgress) {
		// A transition, or the first read, or a progress gone back (a
		// restart of the same attempt makes it, or a late report). A job
		// made before events were recorded has none: its revision is its
		// progress.
		for try := 0; try < 3; try++ {
			if err = w.events(ctx); err != nil {
				break
			}
			if j, err = w.s.owned(ctx, w.owner, w.id); err != nil || w.current(j) || w.event == 0 {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	w.lastProgress = j.Progress
	return j, nil
}

// current reports whether the latest event read is j's latest
// transition: it left the job in j's state, at j's attempt.
func (w *Watch) current(j *store.Job) bool {
	return w.event != 0 && j.State == w.to && j.Attempt == w.attempt
}

// events reads the job's events after the last one read.
func (w *Watch) events(ctx context.Context) error {
	const page = 100
	for {
		evs, err := w.s.Store.Events(ctx, store.EventsParams{JobID: w.id, After: w.event, Limit: page})
		if err != nil {
			return fmt.Errorf("%w: reading job events: %w", ErrUnavailable, err)
		}
		if len(evs) > 0 {
			last := evs[len(evs)-1]
			w.event, w.to, w.attempt = last.ID, last.To, last.Attempt
		}
		if len(evs) < page {
			return nil
		}
	}
}

// permille is a progress in whole thousandths, 0 to 1000.
func permille(p float64) int64 {
	return int64(math.Round(min(max(p, 0), 1) * 1000))
}
