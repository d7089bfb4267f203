package metric

import (
	"math"
	"time"
)

// Outcomes of a run (RunEnded) or of a job (JobFinished, the first three
// only). Any other outcome is reported as "other", so that a label never
// takes a value nobody expected.
const (
	Completed = "completed"
	Failed    = "failed"
	Cancelled = "cancelled"
	Requeued  = "requeued" // the run stopped and its job went back to the queue (a shutdown, a failure to retry)
	Lost      = "lost"     // the run's worker vanished without a word; a sweep settled the job
)

// other stands for a label value outside the set the label allows.
const other = "other"

// maxLabel is the longest name a backend or failure code may have.
const maxLabel = 40

// name is s when it reads as a name from our code, lower_snake_case of at
// most 40 characters ("local", "no_face_detected"), and "other" when not.
// Backends and failure codes come from constants and configuration, a
// bounded set; the guard keeps it bounded when a value comes from a
// database row or a remote backend's answer.
func name(s string) string {
	if len(s) == 0 || len(s) > maxLabel || s[0] == '_' || s[len(s)-1] == '_' {
		return other
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9' && i > 0:
		case c == '_' && s[i-1] != '_':
		default:
			return other
		}
	}
	return s
}

// outcome is o when it is one of allowed, else "other".
func outcome(o string, allowed ...string) string {
	for _, a := range allowed {
		if o == a {
			return o
		}
	}
	return other
}

// seconds is d in seconds, never below 0: a wait measured across machines
// whose clocks disagree must not take a histogram's sum backwards.
func seconds(d time.Duration) float64 {
	return max(d, 0).Seconds()
}

// addable reports whether a counter may add v: not negative (Add panics),
// not NaN or infinite (the counter would stay so for ever).
func addable(v float64) bool {
	return v >= 0 && !math.IsInf(v, 1)
}
