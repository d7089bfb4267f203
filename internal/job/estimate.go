package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/store"
)

// What an estimate reads of the backend's recent jobs.
const (
	// EstimateRuns is how many of the backend's latest completed jobs an
	// estimate reads, at most.
	EstimateRuns = 50
	// EstimateWindow is how far back those jobs may have finished.
	EstimateWindow = 7 * 24 * time.Hour
	// EstimateMinRuns is how many such jobs an estimate needs; with fewer,
	// it takes DefaultBilledPerVideo.
	EstimateMinRuns = 5
	// DefaultBilledPerVideo is the billed seconds per second of video an
	// estimate assumes without enough recent jobs: the builtin CPU
	// generator at 512×512, 25 fps, measured on a 2-core machine
	// (avatar-api generate on the 4.68 s speech fixture: 0.70–0.77 s of
	// generation, 0.94–1.35 s with ffmpeg's canonicalisation, that is
	// 0.20–0.29 s a second), rounded up. A GPU backend's runs differ; its
	// own recent jobs replace this as soon as there are enough.
	DefaultBilledPerVideo = 0.3
)

// Basis methods of an Estimate.
const (
	BasisRecent  = "recent"  // the backend's recent completed jobs
	BasisDefault = "default" // DefaultBilledPerVideo
)

// Estimate is what a submission would be billed, were it made now.
type Estimate struct {
	Video  time.Duration // the audio's length, and so the video's
	Billed time.Duration // expected
	Price  store.NanoUSD // a second of the backend
	Cost   store.NanoUSD // Billed at Price
	// Basis is how Billed was reached (BasisRecent or BasisDefault); Runs
	// the jobs it read, and SameSize whether they were all of the
	// submission's width, height and frame rate.
	Basis    string
	Runs     int
	SameSize bool
	PerVideo float64 // billed seconds per second of video
	Width    int
	Height   int
	FPS      int
}

// recentRuns is the store's read of a backend's latest completed jobs
// (store.History).
type recentRuns interface {
	RecentRuns(ctx context.Context, p store.RecentRunsParams) ([]store.RunFigures, error)
}

// Estimate checks a submission as Submit does, with the same errors, and
// answers what it would be billed; it stores and queues nothing, and
// removes the canonical forms it made. The idempotency key, if any, is
// not looked at: an estimate is no job.
func (s *Service) Estimate(ctx context.Context, sub Submission) (*Estimate, error) {
	if err := checkMaxQueue(sub); err != nil {
		return nil, err
	}
	prompt, err := media.ValidatePrompt(sub.Prompt, s.settings.MaxPromptChars)
	if err != nil {
		return nil, err
	}
	sub.Prompt = prompt // as Submit hands it to the check
	w, h, fps, err := s.options(sub)
	if err != nil {
		return nil, err
	}
	if _, err := s.webhook(ctx, sub); err != nil {
		return nil, err
	}
	if sub.Dir == "" {
		return nil, errors.New("submission without a scratch directory")
	}
	dir, err := os.MkdirTemp(sub.Dir, "estimate-")
	if err != nil {
		return nil, fmt.Errorf("%w: creating scratch directory: %w", ErrUnavailable, err)
	}
	defer os.RemoveAll(dir)
	video, err := s.inspect(ctx, sub, dir, w, h, fps)
	if err != nil {
		return nil, err
	}
	e := &Estimate{Video: video, Price: s.settings.Backend.Price, Width: w, Height: h, FPS: fps}
	if err := s.rate(ctx, e); err != nil {
		return nil, err
	}
	e.Billed = time.Duration(e.PerVideo * float64(e.Video)).Round(time.Millisecond)
	e.Cost = e.Price.Of(e.Billed)
	return e, nil
}

// inspect runs Submit's checks of the files (checkFiles) into dir. It
// answers the audio's length as a job would store it.
func (s *Service) inspect(ctx context.Context, sub Submission, dir string, w, h, fps int) (time.Duration, error) {
	_, aud, err := s.checkFiles(ctx, sub, dir, sub.Prompt, w, h, fps)
	if err != nil {
		return 0, err
	}
	return aud.Duration.Round(time.Millisecond), nil
}

// rate sets e's billed seconds per second of video: the median over the
// backend's recent completed jobs of the same width, height and frame
// rate when there are enough of them, else over all of them (which
// assumes similar output sizes: a run's time is not proportional to its
// pixels, having a fixed part), else the default. The median, not the
// mean: one job billed twice (a crashed run retried) does not move it.
func (s *Service) rate(ctx context.Context, e *Estimate) error {
	e.Basis, e.PerVideo = BasisDefault, DefaultBilledPerVideo
	rr, ok := s.Store.(recentRuns)
	if !ok {
		return nil
	}
	runs, err := rr.RecentRuns(ctx, store.RecentRunsParams{
		Backend: s.settings.Backend.OrLocal().Name, Since: s.now().Add(-EstimateWindow), Limit: EstimateRuns})
	if err != nil {
		return fmt.Errorf("%w: reading recent jobs: %w", ErrUnavailable, err)
	}
	var all, same []float64
	for _, r := range runs {
		if r.Video <= 0 {
			continue
		}
		ratio := r.Billed.Seconds() / r.Video.Seconds()
		all = append(all, ratio)
		if r.Width == e.Width && r.Height == e.Height && r.FPS == e.FPS {
			same = append(same, ratio)
		}
	}
	switch {
	case len(same) >= EstimateMinRuns:
		e.Basis, e.Runs, e.SameSize, e.PerVideo = BasisRecent, len(same), true, median(same)
	case len(all) >= EstimateMinRuns:
		e.Basis, e.Runs, e.PerVideo = BasisRecent, len(all), median(all)
	}
	return nil
}

// median is the middle of xs (the mean of the two middle ones), which it
// sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
