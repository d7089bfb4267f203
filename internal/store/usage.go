package store

import "time"

// UsageParams selects one owner's figures of a window, in buckets (see
// BucketParams: a step of 15 minutes or less sums into any time zone's
// hours and days).
type UsageParams struct {
	BucketParams
	Owner string
}

// UsageBucket is one owner's figures of one bucket. Each is counted at
// its own moment: a job where it was created (Submitted), where it ended
// (the outcomes and Video), a charge where it was made.
type UsageBucket struct {
	Start     time.Time
	Requests  int64 // API requests answered (the owner_request_rollups)
	Submitted int64 // jobs created
	// Jobs that ended, by their state now: a completed job whose video has
	// since been deleted counts as expired, so Completed+Expired are the
	// jobs that made a video.
	Completed, Failed, Cancelled, Expired int64
	// Lapsed are the jobs that expired in the queue (max_queue_seconds):
	// no video, nothing billed.
	Lapsed int64
	Video  time.Duration // the length of the videos (their audio's)
	Runs   int64         // charges: billed runs
	Billed time.Duration
	Cost   NanoUSD
}

// RecentRunsParams selects the latest completed jobs of one backend.
type RecentRunsParams struct {
	Backend string
	Since   time.Time // finished at or after
	Limit   int
}

// RunFigures are what a completed job asked for and what it was billed:
// what an estimate of a new job's billed time is made from.
type RunFigures struct {
	Width, Height, FPS int
	Video              time.Duration // the audio's length, and so the video's
	Billed             time.Duration // all its runs
}
