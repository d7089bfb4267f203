// Package generator turns a portrait and a speech recording into a video.
// Generator is the seam between the job worker and whatever produces the
// frames: the built-in CPU animator, a still-image stand-in, or a GPU backend.
package generator

import (
	"context"
	"time"
)

// Request describes one video to make. Paths are local files; the output is
// written to OutputPath only when generation succeeds (no partial files).
// Remote names the same files in storage, for a generator that is not on
// this machine.
type Request struct {
	ImagePath string // a PNG, JPEG or WebP (canonical inputs are PNG)
	AudioPath string
	// AudioFormat is the ffmpeg demuxer AudioPath is read with, always
	// forced: "wav" (also when empty) for canonical inputs; the sniffed
	// format's for jobs accepted before inputs were canonical.
	AudioFormat string
	// AudioDuration is the audio's length as measured when it was
	// accepted; it bounds how long ffmpeg may run over it. Zero: the
	// generator measures it.
	AudioDuration time.Duration
	Prompt        string
	Width         int   // output width in pixels, even
	Height        int   // output height in pixels, even
	FPS           int   // frames per second
	Seed          int64 // makes random choices (blinks, sway) repeatable
	OutputPath    string
	// FaceFallback animates an estimated face region when none is found,
	// instead of refusing the portrait.
	FaceFallback bool
	// Remote is where a generator running elsewhere (a RunPod worker)
	// fetches the same inputs and puts the video itself. Generators running
	// here read the paths above and ignore it.
	Remote Remote
}

// Remote locates a request's files in storage. The worker fills it for
// every attempt; no generator uses it yet.
type Remote struct {
	Image Object // the portrait, as ImagePath holds it
	Audio Object // the recording, as AudioPath holds it (its format is AudioFormat)
	// Output is where a generator running elsewhere PUTs the video (then
	// reporting Result.Uploaded): a staging key of this run alone. The
	// worker checks what arrived there, copies it to the job's result key
	// (which is never signed for PUT, so nothing can change a video once
	// it is accepted) and deletes the staging object.
	Output Object
}

// Object is one file in storage: its key, and a URL that lets whoever
// holds it, with no credentials, reach the file until Expires.
type Object struct {
	Key string
	// URL is signed for GET for the inputs. For the output it is signed
	// for PUT: the body, sent with its Content-Length (and Content-Type
	// video/mp4), is stored atomically under Key; a PUT may be repeated
	// until Expires, replacing the object.
	URL     string
	Expires time.Time
	// MaxBytes, for the output only, is the largest video the worker
	// accepts: local storage refuses a larger upload, and after an upload
	// to S3 (which cannot refuse one) the worker deletes it and fails the
	// attempt.
	MaxBytes int64
}

// Demuxer is the forced ffmpeg format of the request's audio.
func (r Request) Demuxer() string {
	if r.AudioFormat == "" {
		return "wav"
	}
	return r.AudioFormat
}

// Result describes the video that was written.
type Result struct {
	Duration time.Duration
	Width    int
	Height   int
	FPS      int
	Frames   int
	Size     int64 // bytes
	// Uploaded reports that the generator PUT the video to
	// Request.Remote.Output.URL rather than writing OutputPath.
	Uploaded bool
}

// ProgressFunc is called as frames are finished; it must be cheap.
type ProgressFunc func(done, total int)

// Generator makes a video. Implementations stop promptly and remove partial
// output when ctx is cancelled.
type Generator interface {
	Generate(ctx context.Context, req Request, progress ProgressFunc) (Result, error)
}

// Checker refuses inputs before a job is queued (a portrait with no face,
// say), so that customers learn of it at once instead of from a failed job.
// It is a component of its own, chosen by configuration apart from the
// Generator (face.Checker for every generator that animates a face), so
// that changing the generator cannot silently drop the check. It refuses
// with a *refusal.Error; OutputPath and Remote are unused.
type Checker interface {
	Check(ctx context.Context, req Request) error
}
