// Package audio turns a speech recording into a per-video-frame "mouth
// drive": how open, and how rounded, a portrait's mouth should be in each
// frame. It decodes any file ffmpeg can read (Decode) and analyses the
// loudness and brightness of the sound (Analyze), cheaply enough to run on
// the CPU for every job.
package audio

import "time"

// SampleRate is the rate Decode delivers: plenty for speech loudness and
// brightness, and a quarter of the memory of 44.1 kHz stereo.
const SampleRate = 16000

// PCM is decoded audio: mono samples in [-1, 1] at Rate samples per second
// (SampleRate when it comes from Decode).
type PCM struct {
	Samples []float32
	Rate    int
}

// Duration is the length of the audio; zero when Rate is not set.
func (p PCM) Duration() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(int64(len(p.Samples)) * int64(time.Second) / int64(p.Rate))
}

// Frames is the number of video frames that cover d at fps frames per
// second: ceil(d × fps), and at least 1 so that even an empty clip makes a
// video. A non-positive fps gives 1.
func Frames(d time.Duration, fps int) int {
	if fps <= 0 || d <= 0 {
		return 1
	}
	n := (int64(d)*int64(fps) + int64(time.Second) - 1) / int64(time.Second)
	return int(max(n, 1))
}
