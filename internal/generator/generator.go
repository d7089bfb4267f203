// Package generator turns a portrait and a speech recording into a video.
// Generator is the seam between the job worker and whatever produces the
// frames: the built-in CPU animator, a still-image stand-in, or a GPU backend.
package generator

import (
	"context"
	"errors"
	"time"

	"github.com/avatar-api/avatar-api/internal/gpu"
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
// every attempt; generators that run elsewhere (Elsewhere) use it.
type Remote struct {
	JobID   string // the job and attempt, for the logs of a generator elsewhere
	Attempt int
	Image   Object // the portrait, as ImagePath holds it
	Audio   Object // the recording, as AudioPath holds it (its format is AudioFormat)
	// Output is where a generator running elsewhere PUTs the video (then
	// reporting Result.Uploaded): a staging key of this run alone. The
	// worker checks what arrived there, copies it to the job's result key
	// (which is never signed for PUT, so nothing can change a video once
	// it is accepted) and deletes the staging object.
	Output Object
	// Previous is a run of the job at another service that an earlier
	// attempt started and recorded (Record), whose process was lost or
	// shut down: a generator may follow it to its end instead of starting
	// another (its video then arrives at Previous.Output, reported as
	// Result.UploadedKey), or must stop it there.
	Previous Run
	// Record, when set, is called by a generator running elsewhere with
	// the run it started there (or adopted), and again once it knows how
	// long the run waited there; an error (the job is no longer this
	// attempt's) means the run must be stopped.
	Record func(ctx context.Context, run Run) error
}

// Run is a generation running at another service (RunPod).
type Run struct {
	ID     string        // its id there; "" for none
	Output string        // the staging key its video is PUT to
	Delay  time.Duration // how long it waited there for a worker
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
	// MaxBytes, for the output, is the largest video the worker accepts:
	// local storage refuses a larger upload, and after an upload to S3
	// (which cannot refuse one) the worker deletes it and fails the
	// attempt. For an input, it is the object's size.
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
	// Request.Remote.Output.URL rather than writing OutputPath, or, when
	// UploadedKey is set, had a run that did PUT it there (an adopted
	// Previous run).
	Uploaded    bool
	UploadedKey string
	// Billed is what the service that made the video billed for it
	// (RunPod's executionTime); nil when it is this machine's time.
	Billed *time.Duration
	// Worker and GPU, for a video made elsewhere: the machine that made
	// it (RunPod's worker id) and its GPU's readings meanwhile.
	Worker string
	GPU    []gpu.Sample
}

// Elsewhere is implemented by generators that run on another service:
// the worker hands them no local copies of the inputs (ImagePath and
// AudioPath are empty), only Remote.
type Elsewhere interface {
	Elsewhere() bool
}

// ErrShutdown is the cause of a generation's context when this process is
// stopping: a generator running elsewhere leaves its run going, for the
// job's next attempt to adopt (Remote.Previous). Any other end of the
// context — the job cancelled or taken over, its time up — stops that run
// too.
var ErrShutdown = errors.New("worker shutting down")

// ErrSuperseded is the cause of a generation's context (and Record's
// error) when another attempt has taken the job over: a generator running
// elsewhere leaves its run alone, since the successor may be following
// it.
var ErrSuperseded = errors.New("another attempt took the job over")

// Failure is a generation that failed with a stable code: final, or worth
// another attempt. Billed is what the service that ran it billed, if it
// says. The worker fails the job with Code (at once, or once its attempts
// are used up) and Message, which the customer reads.
type Failure struct {
	Code      string
	Message   string
	Retryable bool
	Billed    *time.Duration
	Err       error // the cause, for the log
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Code + ": " + f.Err.Error()
	}
	return f.Code + ": " + f.Message
}

func (f *Failure) Unwrap() error { return f.Err }

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
