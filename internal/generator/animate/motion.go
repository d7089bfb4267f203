package animate

import (
	"math"
	"math/rand/v2"
	"strings"
)

// Style is how lively the performance is, chosen from the prompt.
type Style struct {
	Name   string  // "neutral", "singing", "calm", "lively"
	Mouth  float64 // scales the jaw's opening
	Motion float64 // scales head sway and nod
}

// styles by the words of a prompt that select them, first match wins.
var styles = []struct {
	words []string
	style Style
}{
	{[]string{"sing", "song", "chant", "opera", "rap"}, Style{"singing", 1.3, 1.6}},
	{[]string{"calm", "serious", "quiet", "whisper", "news", "formal", "gentle", "sad"}, Style{"calm", 0.75, 0.5}},
	{[]string{"excited", "energetic", "happy", "lively", "enthusiastic", "angry", "shout"}, Style{"lively", 1.15, 1.4}},
}

// StyleFor picks the style a prompt asks for: "A woman singing" opens the
// mouth wider and moves the head more; "a calm newsreader" less.
func StyleFor(prompt string) Style {
	p := strings.ToLower(prompt)
	for _, s := range styles {
		for _, w := range s.words {
			if strings.Contains(p, w) {
				return s.style
			}
		}
	}
	return Style{"neutral", 1, 1}
}

// Plan gives the pose of every frame: the jaw follows open (0..1 per frame,
// from the audio), lips round with round, eyes blink at a natural rate and
// the head sways, rolls and nods gently about the neck, dipping a little
// into loud phrases. The same seed gives the same motion.
func (s *Scene) Plan(fps int, open, round []float64, st Style, seed int64) []Pose {
	n := len(open)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	size := s.face.Size
	blinks := blinkCurve(rng, n, fps)
	// Two slow sines per axis with random phases and rates read as natural,
	// never as a loop.
	sway := newWave(rng, 0.17, 0.31)
	nod := newWave(rng, 0.23, 0.41)
	roll := newWave(rng, 0.13, 0.29)
	poses := make([]Pose, n)
	speech := 0.0
	for i := range poses {
		t := float64(i) / float64(fps)
		speech += (open[i] - speech) * 0.15 // slow follower: the head dips into loud phrases
		poses[i] = Pose{
			Angle:  st.Motion * 0.014 * roll.at(t),
			ShiftX: st.Motion * 0.012 * size * sway.at(t),
			NodY:   st.Motion * (0.010*size*nod.at(t) + 0.018*size*speech),
			Open:   math.Min(1, open[i]*st.Mouth),
			Blink:  blinks[i],
		}
		if i < len(round) {
			poses[i].Round = round[i]
		}
	}
	return poses
}

// wave is a sum of two sines, in [-1, 1].
type wave struct{ f1, f2, p1, p2 float64 }

func newWave(rng *rand.Rand, f1, f2 float64) wave {
	return wave{f1 * (0.8 + 0.4*rng.Float64()), f2 * (0.8 + 0.4*rng.Float64()), 2 * math.Pi * rng.Float64(), 2 * math.Pi * rng.Float64()}
}

func (w wave) at(t float64) float64 {
	return 0.6*math.Sin(2*math.Pi*w.f1*t+w.p1) + 0.4*math.Sin(2*math.Pi*w.f2*t+w.p2)
}

// blinkCurve places blinks 2.5–6 s apart (about 15 a minute, sometimes a
// double blink), each closing in ~75 ms and opening in ~150 ms.
func blinkCurve(rng *rand.Rand, n, fps int) []float64 {
	curve := make([]float64, n)
	t := 0.6 + 1.6*rng.Float64()
	end := float64(n) / float64(fps)
	for t < end {
		addBlink(curve, fps, t)
		if rng.Float64() < 0.12 {
			addBlink(curve, fps, t+0.35)
		}
		t += 2.5 + 3.5*rng.Float64()
	}
	return curve
}

func addBlink(curve []float64, fps int, start float64) {
	const closing, hold, opening = 0.075, 0.04, 0.15
	for i := range curve {
		dt := float64(i)/float64(fps) - start
		var v float64
		switch {
		case dt < 0 || dt > closing+hold+opening:
			continue
		case dt < closing:
			v = smoothstep(0, 1, dt/closing)
		case dt < closing+hold:
			v = 1
		default:
			v = 1 - smoothstep(0, 1, (dt-closing-hold)/opening)
		}
		curve[i] = math.Max(curve[i], v)
	}
	// A frame lasts 40 ms at 25 fps, as long as the closing: make sure a
	// blink is seen closed in at least one frame.
	if i := int(math.Round((start + closing) * float64(fps))); i >= 0 && i < len(curve) {
		curve[i] = 1
	}
}
