package stats

import "time"

// RunPodHealth is what this process last read of the RunPod endpoint's
// health (BACKEND=runpod: GET /v2/{endpoint}/health every
// RUNPOD_HEALTH_INTERVAL). The figures are RunPod's now, not history: the
// dashboard shows them as last read, whatever its range.
type RunPodHealth struct {
	Workers RunPodWorkers
	Queue   RunPodQueue
	// ReadAt is when the figures were read; zero: no read has succeeded
	// yet, and the figures are zero for want of any.
	ReadAt time.Time
	// FailedAt is when the last read failed, if none has succeeded since;
	// zero otherwise.
	FailedAt time.Time
	Interval time.Duration // RUNPOD_HEALTH_INTERVAL
}

// RunPodWorkers are the endpoint's workers by state, as RunPod names them.
type RunPodWorkers struct {
	_            struct{} `nullable:"true"` // null until a read has succeeded
	Idle         int      `json:"idle"`
	Initializing int      `json:"initializing"`
	Ready        int      `json:"ready"`
	Running      int      `json:"running"`
	Throttled    int      `json:"throttled"`
	Unhealthy    int      `json:"unhealthy"`
}

// RunPodQueue are the endpoint's jobs waiting for a worker and running.
type RunPodQueue struct {
	_          struct{} `nullable:"true"` // null until a read has succeeded
	InQueue    int      `json:"in_queue" doc:"Jobs in RunPod's queue, waiting for a worker"`
	InProgress int      `json:"in_progress" doc:"Jobs a RunPod worker is running"`
}

// RunPodPanel is the dashboard's RunPod panel: the endpoint's workers and
// queue as last read, when, and whether the reads since have failed. The
// dashboard's runpod is null without BACKEND=runpod.
type RunPodPanel struct {
	_               struct{}       `nullable:"true"` // null without BACKEND=runpod
	Workers         *RunPodWorkers `json:"workers" doc:"The endpoint's workers by state as last read; null: not read yet"`
	Queue           *RunPodQueue   `json:"queue" doc:"RunPod's queue as last read; null: not read yet"`
	ReadAt          *time.Time     `json:"read_at" doc:"When the figures were read; null: no read has succeeded yet"`
	FailedAt        *time.Time     `json:"failed_at" doc:"When the last read failed, if no read has succeeded since (the figures, if any, are older); null otherwise"`
	IntervalSeconds float64        `json:"interval_seconds" doc:"How often the health is read (RUNPOD_HEALTH_INTERVAL)"`
}

// runpodPanel is the panel of h, or nil without a RunPod endpoint.
func runpodPanel(h *RunPodHealth) *RunPodPanel {
	if h == nil {
		return nil
	}
	p := &RunPodPanel{IntervalSeconds: h.Interval.Seconds()}
	if !h.ReadAt.IsZero() {
		w, q, at := h.Workers, h.Queue, h.ReadAt.UTC()
		p.Workers, p.Queue, p.ReadAt = &w, &q, &at
	}
	if !h.FailedAt.IsZero() {
		at := h.FailedAt.UTC()
		p.FailedAt = &at
	}
	return p
}
