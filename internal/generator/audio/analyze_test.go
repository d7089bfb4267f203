package audio

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		fps  int
		want int
	}{
		{3 * time.Second, 25, 75},
		{3*time.Second + time.Nanosecond, 25, 76},
		{4658625 * time.Microsecond, 25, 117},
		{time.Millisecond, 30, 1},
		{0, 25, 1},
		{-time.Second, 25, 1},
		{time.Second, 0, 1},
		{5 * time.Minute, 60, 18000},
	}
	for _, tt := range tests {
		if got := Frames(tt.d, tt.fps); got != tt.want {
			t.Errorf("Frames(%v, %d) = %d, want %d", tt.d, tt.fps, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pcm  PCM
		want time.Duration
	}{
		{PCM{Samples: make([]float32, 16000), Rate: 16000}, time.Second},
		{PCM{Samples: make([]float32, 8), Rate: 16000}, 500 * time.Microsecond},
		{PCM{Samples: make([]float32, 8)}, 0},
		{PCM{Rate: 16000}, 0},
	}
	for _, tt := range tests {
		if got := tt.pcm.Duration(); got != tt.want {
			t.Errorf("%d samples at %d Hz: %v, want %v", len(tt.pcm.Samples), tt.pcm.Rate, got, tt.want)
		}
	}
}

func TestAnalyzeSilenceStaysClosed(t *testing.T) {
	t.Parallel()
	pcm := decodeFixture(t, "silence_3s.wav")
	for _, fps := range []int{25, 30} {
		n := Frames(pcm.Duration(), fps)
		for i, f := range Analyze(pcm, fps, n, Style{}) {
			if f.Open != 0 || f.Level != 0 || f.Round != 0 {
				t.Fatalf("%d fps, frame %d: %+v, want closed", fps, i, f)
			}
		}
	}
}

func TestAnalyzeSpeech(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"speech_en_4s.wav", "speech_en_12s.wav", "speech_en_12s.mp3", "speech_en_4s_f32.wav"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pcm := decodeFixture(t, name)
			const fps = 25
			frames := Analyze(pcm, fps, Frames(pcm.Duration(), fps), Style{})
			for i, f := range frames {
				if f.Open < 0 || f.Open > 1 || f.Round < 0 || f.Round > 1 || f.Level < 0 || f.Level > 1 {
					t.Fatalf("frame %d out of range: %+v", i, f)
				}
			}
			s := summarise(frames)
			if s.openShare < 0.4 || s.openShare > 0.9 {
				t.Errorf("%.0f%% of frames open, want 40–90%%", 100*s.openShare)
			}
			if s.closures < 3 {
				t.Errorf("%d closed frames between the first and last word, want several", s.closures)
			}
			if s.correlation < 0.85 {
				t.Errorf("Level–Open correlation %.3f, want ≥ 0.85", s.correlation)
			}
			if s.maxOpen < 0.99 {
				t.Errorf("widest opening %.2f, want 1 for the loudest sounds", s.maxOpen)
			}
			t.Logf("%s: %d frames, %.0f%% open, %d closed inside (%d gaps), mean open %.2f, Level–Open r=%.3f, mean round %.2f",
				name, len(frames), 100*s.openShare, s.closures, s.gaps, s.meanOpen, s.correlation, s.meanRound)
		})
	}
}

// summary is what TestAnalyzeSpeech checks of a clip's frames.
type summary struct {
	openShare   float64 // share of frames with the mouth visibly open
	closures    int     // nearly closed frames between the first and last open one
	gaps        int     // runs of such frames
	correlation float64 // Pearson correlation of Level and Open
	meanOpen    float64
	maxOpen     float64
	meanRound   float64
}

const visiblyOpen = 0.05

func summarise(frames []Frame) summary {
	var s summary
	first, last := -1, -1
	for i, f := range frames {
		if f.Open > visiblyOpen {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	for i, f := range frames {
		open := f.Open > visiblyOpen
		if open {
			s.openShare++
		}
		if !open && i > first && i < last {
			s.closures++
			if frames[i-1].Open > visiblyOpen {
				s.gaps++
			}
		}
		s.meanOpen += f.Open
		s.maxOpen = max(s.maxOpen, f.Open)
		s.meanRound += f.Round
	}
	n := float64(len(frames))
	s.openShare, s.meanOpen, s.meanRound = s.openShare/n, s.meanOpen/n, s.meanRound/n
	s.correlation = pearson(frames)
	return s
}

func pearson(frames []Frame) float64 {
	var sl, so, sll, soo, slo float64
	for _, f := range frames {
		sl, so = sl+f.Level, so+f.Open
		sll, soo, slo = sll+f.Level*f.Level, soo+f.Open*f.Open, slo+f.Level*f.Open
	}
	n := float64(len(frames))
	cov := slo/n - sl/n*so/n
	return cov / math.Sqrt((sll/n-sl/n*sl/n)*(soo/n-so/n*so/n))
}

func TestAnalyzeLength(t *testing.T) {
	t.Parallel()
	pcm := decodeFixture(t, "speech_en_4s.wav")
	const fps = 30
	audio := Frames(pcm.Duration(), fps)
	long := Analyze(pcm, fps, audio+60, Style{})
	for _, n := range []int{0, 1, 7, audio - 1, audio, audio + 1, audio + 3, audio + 60} {
		got := Analyze(pcm, fps, n, Style{})
		if len(got) != n {
			t.Fatalf("n=%d: %d frames", n, len(got))
		}
		// Fewer frames are a prefix of more: a short video is not
		// analysed differently, only cut.
		if !slices.Equal(got, long[:n]) {
			t.Errorf("n=%d: not a prefix of the analysis of %d frames", n, len(long))
		}
	}
	// Padding past the end of the audio closes within the release time.
	for i, f := range long[audio+10:] {
		if f.Open != 0 {
			t.Fatalf("padding frame %d: open %.3f", audio+10+i, f.Open)
		}
	}
	if got := Analyze(pcm, fps, -1, Style{}); len(got) != 0 {
		t.Errorf("n=-1: %d frames", len(got))
	}
}

func TestAnalyzeDegenerateInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pcm  PCM
		fps  int
	}{
		{"no samples", PCM{Rate: SampleRate}, 25},
		{"no rate", PCM{Samples: []float32{0.5, -0.5}}, 25},
		{"no fps", PCM{Samples: []float32{0.5, -0.5}, Rate: SampleRate}, 0},
		{"one loud sample", PCM{Samples: []float32{1}, Rate: SampleRate}, 25},
	}
	for _, tt := range tests {
		frames := Analyze(tt.pcm, tt.fps, 5, Style{})
		if len(frames) != 5 {
			t.Errorf("%s: %d frames, want 5", tt.name, len(frames))
		}
		for i, f := range frames {
			if math.IsNaN(f.Open) || math.IsNaN(f.Level) || math.IsNaN(f.Round) || f.Open > 1 {
				t.Errorf("%s: frame %d is %+v", tt.name, i, f)
			}
		}
	}
}

func TestAnalyzeDeterministic(t *testing.T) {
	t.Parallel()
	pcm := decodeFixture(t, "speech_en_12s.mp3")
	n := Frames(pcm.Duration(), 25)
	a, b := Analyze(pcm, 25, n, DefaultStyle()), Analyze(pcm, 25, n, DefaultStyle())
	if !slices.Equal(a, b) {
		t.Error("two analyses of the same audio differ")
	}
}

func TestAnalyzeStyle(t *testing.T) {
	t.Parallel()
	pcm := decodeFixture(t, "speech_en_4s.wav")
	const fps = 25
	n := Frames(pcm.Duration(), fps)
	normal := Analyze(pcm, fps, n, DefaultStyle())

	if zero := Analyze(pcm, fps, n, Style{}); !slices.Equal(zero, normal) {
		t.Error("the zero Style differs from DefaultStyle()")
	}

	calm := DefaultStyle()
	calm.Gain = 0.7
	singing := DefaultStyle()
	singing.Gain = 1.3
	c, s := summarise(Analyze(pcm, fps, n, calm)), summarise(Analyze(pcm, fps, n, singing))
	if c.maxOpen > 0.7+1e-9 {
		t.Errorf("calm opens to %.2f, want at most 0.7", c.maxOpen)
	}
	if m := summarise(normal).meanOpen; !(c.meanOpen < m && m < s.meanOpen) {
		t.Errorf("mean opening calm %.2f, normal %.2f, singing %.2f: want increasing", c.meanOpen, m, s.meanOpen)
	}

	lead0 := DefaultStyle()
	lead0.Anticipate = 0
	lead2 := DefaultStyle()
	lead2.Anticipate = 2
	late, early := Analyze(pcm, fps, n, lead0), Analyze(pcm, fps, n, lead2)
	if !slices.Equal(early[:n-2], late[2:]) {
		t.Error("Anticipate 2 is not the analysis moved two frames earlier")
	}

	gated := DefaultStyle()
	gated.Gate = 0.9
	if g := summarise(Analyze(pcm, fps, n, gated)); g.openShare >= summarise(normal).openShare {
		t.Errorf("a high gate leaves %.0f%% open, no fewer than the default", 100*g.openShare)
	}
}

// BenchmarkAnalyze measures a 60 s clip (the 12 s fixture repeated) at
// 25 fps, without decoding.
func BenchmarkAnalyze(b *testing.B) {
	clip := decodeFixture(b, "speech_en_12s.wav")
	pcm := PCM{Rate: clip.Rate}
	for pcm.Duration() < time.Minute {
		pcm.Samples = append(pcm.Samples, clip.Samples...)
	}
	pcm.Samples = pcm.Samples[:60*pcm.Rate]
	n := Frames(pcm.Duration(), 25)
	b.ReportAllocs()
	for b.Loop() {
		Analyze(pcm, 25, n, Style{})
	}
}
