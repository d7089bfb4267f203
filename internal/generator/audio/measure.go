package audio

import "math"

// silentDB stands for the loudness of a window with no sound at all.
const silentDB = -120.0

// measures holds, per video frame, what the analysis needs of the sound.
type measures struct {
	db     []float64 // RMS loudness in dBFS (a full-scale square wave is 0)
	bright []float64 // mean squared slope over mean square: 0 for a hum, ~2 at 4 kHz, 4 at Nyquist
}

// measure reads pcm once and describes n frames at fps. Frame i looks at a
// window two frames wide centred on the middle of the frame, so the
// windows overlap by half and the result moves smoothly. Frames past the
// end of the audio come out silent.
func measure(pcm PCM, fps, n int) measures {
	energy, slope, count := halfFrameSums(pcm, fps, 2*n+2)
	m := measures{db: make([]float64, n), bright: make([]float64, n)}
	for i := range n {
		var e, s float64
		var c int
		for b := 2 * i; b < 2*i+4; b++ {
			e, s, c = e+energy[b], s+slope[b], c+count[b]
		}
		m.db[i], m.bright[i] = silentDB, 0
		if c > 0 && e > 0 {
			m.db[i] = max(10*math.Log10(e/float64(c)), silentDB)
			m.bright[i] = s / e
		}
	}
	return m
}

// halfFrameSums splits the audio into k blocks half a frame long, the first
// starting half a frame before time zero, and returns each block's sum of
// squares, sum of squared sample-to-sample differences, and sample count.
// Summing blocks instead of sliding a window keeps the work to one pass.
func halfFrameSums(pcm PCM, fps, k int) (energy, slope []float64, count []int) {
	energy, slope, count = make([]float64, k), make([]float64, k), make([]int, k)
	x := pcm.Samples
	var prev float32
	if len(x) > 0 {
		prev = x[0]
	}
	for b := range k {
		from, to := blockStart(b, pcm.Rate, fps, len(x)), blockStart(b+1, pcm.Rate, fps, len(x))
		var e, s float64
		for _, v := range x[from:to] {
			d := v - prev
			e += float64(v * v)
			s += float64(d * d)
			prev = v
		}
		energy[b], slope[b], count[b] = e, s, to-from
	}
	return energy, slope, count
}

// blockStart is the first sample of block b, clamped to the audio.
func blockStart(b, rate, fps, samples int) int {
	pos := int64(b-1) * int64(rate) / int64(2*fps)
	return int(min(max(pos, 0), int64(samples)))
}
