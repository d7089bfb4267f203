package audio

import (
	"math"
	"slices"
)

// Frame is the mouth drive of one video frame.
type Frame struct {
	Open  float64 // 0 = closed … 1 = widest for this recording
	Round float64 // 0 = spread/neutral … 1 = rounded (oo/oh); a weaker cue than Open
	Level float64 // smoothed, normalised loudness 0..1 before the gate (for tests and diagnostics)
}

// Analyze computes the mouth drive of exactly n video frames at fps from
// pcm. Frames past the end of the audio are closed, so n may exceed
// Frames(pcm.Duration(), fps). The result depends only on its arguments.
// A non-positive fps or an empty pcm gives n closed frames.
func Analyze(pcm PCM, fps, n int, st Style) []Frame {
	frames := make([]Frame, max(n, 0))
	if n <= 0 || fps <= 0 || pcm.Rate <= 0 || len(pcm.Samples) == 0 {
		return frames
	}
	st = st.resolve()
	// Measure the whole recording, so that its loud level does not depend
	// on n, and Anticipate frames beyond n, to read the lead from.
	inAudio := Frames(pcm.Duration(), fps)
	m := measure(pcm, fps, max(n+st.Anticipate, inAudio))
	level := normalise(m.db, inAudio)
	follow(level, frameMS(fps), st.AttackMS, st.ReleaseMS)
	open := mouthOpen(level, m.bright, st)
	round := roundness(m.bright, open, inAudio, frameMS(fps))
	for i := range frames {
		j := i + st.Anticipate
		frames[i] = Frame{Open: open[j], Round: round[j], Level: level[j]}
	}
	return frames
}

// Loudness normalisation. The recording's loud level is loudPercentile of
// its frames; rangeDB below that is level 0. floorDB is absolute: however
// quiet a recording is, sound below it is silence, so a silent file keeps
// the mouth shut instead of being amplified into noise. minSpanDB stops a
// recording that barely rises above the floor from swinging fully open.
const (
	loudPercentile = 0.95
	rangeDB        = 30.0
	floorDB        = -50.0
	minSpanDB      = 12.0
)

// normalise maps loudness in dB to 0..1 against the loud level of the first
// inAudio frames (the rest are padding past the end of the audio).
func normalise(db []float64, inAudio int) []float64 {
	loud := percentile(db[:inAudio], loudPercentile)
	lo := max(floorDB, loud-rangeDB)
	span := max(loud-lo, minSpanDB)
	level := make([]float64, len(db))
	for i, d := range db {
		level[i] = clamp((d-lo)/span, 0, 1)
	}
	return level
}

// percentile returns the p-quantile (0..1) of xs, or silentDB when xs is
// empty. It sorts a copy.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return silentDB
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

func frameMS(fps int) float64 { return 1000 / float64(fps) }

// follow smooths x in place with a one-pole filter that rises with time
// constant attackMS and falls with releaseMS, like a compressor's envelope.
func follow(x []float64, stepMS, attackMS, releaseMS float64) {
	up, down := pole(stepMS, attackMS), pole(stepMS, releaseMS)
	var y float64
	for i, v := range x {
		if v > y {
			y += up * (v - y)
		} else {
			y += down * (v - y)
		}
		x[i] = y
	}
}

// pole is the share of the remaining distance a one-pole filter with time
// constant tauMS covers in one step of stepMS (1 when tau is zero).
func pole(stepMS, tauMS float64) float64 {
	if tauMS <= 0 {
		return 1
	}
	return 1 - math.Exp(-stepMS/tauMS)
}
