package audio

// Style tunes how the mouth follows the sound. The zero Style means
// DefaultStyle(); any other Style is used as given (out-of-range values are
// clamped), so start from DefaultStyle() and change what you need.
type Style struct {
	// Gate is the loudness, as a share 0..1 of the recording's loud level,
	// below which the mouth stays closed: breaths and room noise do not
	// move it.
	Gate float64
	// Gain scales how wide the mouth opens: 1 is normal, about 1.3 suits
	// singing and 0.7 a calm voice.
	Gain float64
	// AttackMS is the time constant of opening: short, because lips part
	// as a sound starts.
	AttackMS float64
	// ReleaseMS is the time constant of closing: longer, so the mouth
	// does not flutter between syllables.
	ReleaseMS float64
	// Anticipate is how many frames the mouth leads the sound (1–2): lips
	// move before the sound is heard, and a mouth that lags looks dubbed.
	Anticipate int
}

// DefaultStyle suits ordinary speech.
func DefaultStyle() Style {
	return Style{Gate: 0.3, Gain: 1, AttackMS: 15, ReleaseMS: 60, Anticipate: 1}
}

// maxAnticipate keeps the lead short enough to still look like one event.
const maxAnticipate = 5

// resolve applies the zero-value rule and clamps every field to a range
// that keeps the analysis well defined.
func (s Style) resolve() Style {
	if s == (Style{}) {
		return DefaultStyle()
	}
	s.Gate = clamp(s.Gate, 0, 0.95)
	s.Gain = max(s.Gain, 0)
	s.AttackMS = max(s.AttackMS, 0)
	s.ReleaseMS = max(s.ReleaseMS, 0)
	s.Anticipate = min(max(s.Anticipate, 0), maxAnticipate)
	return s
}

func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }
