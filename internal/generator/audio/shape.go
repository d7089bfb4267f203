package audio

import "math"

// Sibilants (s, sh, f) are loud and bright but made with the teeth almost
// together. A frame whose brightness is between sibilantFrom and sibilantTo
// has its opening narrowed by up to sibilantNarrow.
const (
	sibilantFrom   = 0.8 // dominant energy above ~2.3 kHz
	sibilantTo     = 1.6 // ~3.5 kHz and up
	sibilantNarrow = 0.5
)

// mouthOpen gates the smoothed level, eases it through a soft curve (no
// jump as the sound crosses the gate, no hard stop at full), scales it by
// the style's gain and narrows it on sibilants.
func mouthOpen(level, bright []float64, st Style) []float64 {
	open := make([]float64, len(level))
	for i, l := range level {
		x := clamp((l-st.Gate)/(1-st.Gate), 0, 1)
		hiss := smoothstep((bright[i] - sibilantFrom) / (sibilantTo - sibilantFrom))
		open[i] = min(smoothstep(x)*st.Gain, 1) * (1 - sibilantNarrow*hiss)
	}
	return open
}

// smoothstep is 0 below 0, 1 above 1 and an S-curve with flat ends between.
func smoothstep(x float64) float64 {
	x = clamp(x, 0, 1)
	return x * x * (3 - 2*x)
}

// Rounded vowels (oo, oh) have their formants low, so they are darker than
// the recording's typical open sound. roundSpread is how many of the open
// frames' darkest share count as fully rounded; roundMS smooths the cue,
// which flickers more than loudness does.
const (
	roundSpread  = 0.1
	roundMS      = 50.0
	roundMinimum = 5 // open frames needed before the cue means anything
)

// roundness rates each open frame's darkness against the open frames among
// the first inAudio (the recording itself, not padding): 0 at their median
// brightness or above, 1 at the darkest roundSpread of them, 0 when closed,
// then smoothed.
func roundness(bright, open []float64, inAudio int, stepMS float64) []float64 {
	round := make([]float64, len(open))
	var logs []float64
	for i, o := range open[:inAudio] {
		if o > 0 && bright[i] > 0 {
			logs = append(logs, math.Log(bright[i]))
		}
	}
	if len(logs) < roundMinimum {
		return round
	}
	median, dark := percentile(logs, 0.5), percentile(logs, roundSpread)
	if median-dark <= 0 {
		return round
	}
	for i, o := range open {
		if o > 0 && bright[i] > 0 {
			round[i] = clamp((median-math.Log(bright[i]))/(median-dark), 0, 1)
		}
	}
	a := pole(stepMS, roundMS)
	var y float64
	for i, r := range round {
		y += a * (r - y)
		round[i] = y
	}
	return round
}
