// Package runpod is our side of RunPod serverless: the client of its job
// API (run, status, cancel, health) and REST API (the endpoint's worker
// limits), and the job contract between the API, which dispatches a
// generation to a RunPod endpoint, and `avatar-api worker --runpod`, which
// takes it inside RunPod's container.
//
// RunPod facts relied on, from its documentation (docs.runpod.io,
// serverless/endpoints/job-operations, serverless/references/job-states)
// and its Python SDK's worker (github.com/runpod/runpod-python, release
// 1.12.0: runpod/serverless/modules/rp_job.py, rp_http.py, rp_ping.py,
// worker_state.py):
//
//   - POST /v2/{endpoint}/run {"input", "webhook", "policy":
//     {"executionTimeout" (ms), "ttl" (ms)}} answers {"id", "status"};
//     GET /v2/{endpoint}/status/{id} answers the job with "delayTime" and
//     "executionTime" in milliseconds; POST /v2/{endpoint}/cancel/{id};
//     GET /v2/{endpoint}/health answers {"jobs": {…}, "workers": {…}}.
//   - A job is IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED or
//     TIMED_OUT. Results of /run are kept 30 minutes; after that, and
//     after the job's ttl, /status answers 404.
//   - The webhook is POSTed the job's status body when it ends, unsigned,
//     and retried twice when it does not answer 200.
//   - The worker takes a job by GET RUNPOD_WEBHOOK_GET_JOB (204: none)
//     and returns it by POST RUNPOD_WEBHOOK_POST_OUTPUT, whose body is
//     {"output": …} or {"error": "…"}, or {"status": "IN_PROGRESS",
//     "output": …} for a progress update.
//
// The types below are the "input" we send and the "output" or "error" our
// worker returns. They are versioned: a worker refuses an input whose
// Version it does not know, so that an API and a worker image of
// different releases fail loudly rather than make a wrong video.
package runpod

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the version of Input and Output this build speaks.
const Version = 1

// Job states, as RunPod names them.
const (
	InQueue    = "IN_QUEUE"
	InProgress = "IN_PROGRESS"
	Completed  = "COMPLETED"
	Failed     = "FAILED"
	Cancelled  = "CANCELLED"
	TimedOut   = "TIMED_OUT"
)

// Ended reports whether status is one RunPod never leaves.
func Ended(status string) bool {
	switch status {
	case Completed, Failed, Cancelled, TimedOut:
		return true
	}
	return false
}

// Input is one generation, as the API sends it to the endpoint in the
// "input" of /run. The worker needs nothing else: no database, no storage
// credentials; the URLs are signed and expire with the attempt.
type Input struct {
	Version int    `json:"version"`
	JobID   string `json:"job_id"`  // our job, for the worker's logs
	Attempt int    `json:"attempt"` // our attempt, for the worker's logs

	Image Download `json:"image"` // the canonical portrait (PNG)
	Audio Download `json:"audio"` // the canonical recording
	// AudioFormat is the ffmpeg demuxer the audio must be read with
	// (always forced: "wav" for canonical inputs).
	AudioFormat string `json:"audio_format"`
	// AudioDurationMS is the audio's length as measured when the job was
	// accepted; the worker bounds its work by it.
	AudioDurationMS int64 `json:"audio_duration_ms"`

	Output Upload `json:"output"` // where the worker PUTs the MP4

	Prompt       string `json:"prompt"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FPS          int    `json:"fps"`
	Seed         int64  `json:"seed"`
	FaceFallback bool   `json:"face_fallback"`
}

// Download is an input file: a URL to GET it with no credentials until
// Expires, and the most bytes the worker should accept from it.
type Download struct {
	URL      string    `json:"url"`
	Expires  time.Time `json:"expires"`
	MaxBytes int64     `json:"max_bytes"`
}

// Upload is where the video goes: PUT the body, with its Content-Length
// and Content-Type video/mp4, to URL until Expires; at most MaxBytes.
// A PUT may be repeated; the last one wins.
type Upload struct {
	URL      string    `json:"url"`
	Expires  time.Time `json:"expires"`
	MaxBytes int64     `json:"max_bytes"`
}

// AudioDuration is the input's audio length.
func (in Input) AudioDuration() time.Duration {
	return time.Duration(in.AudioDurationMS) * time.Millisecond
}

// Check reports what is wrong with an input, before any work is done.
func (in Input) Check() error {
	var errs []error
	if in.Version != Version {
		errs = append(errs, fmt.Errorf("input version %d; this worker speaks version %d", in.Version, Version))
	}
	if in.Image.URL == "" || in.Audio.URL == "" || in.Output.URL == "" {
		errs = append(errs, errors.New("image, audio and output URLs are required"))
	}
	if in.Width <= 0 || in.Height <= 0 || in.FPS <= 0 || in.Width%2 != 0 || in.Height%2 != 0 {
		errs = append(errs, fmt.Errorf("bad frame size %dx%d at %d fps", in.Width, in.Height, in.FPS))
	}
	if in.Output.MaxBytes <= 0 {
		errs = append(errs, errors.New("output max_bytes is required"))
	}
	return errors.Join(errs...)
}

// Output is what the worker returns for a video it made and uploaded.
type Output struct {
	Version int    `json:"version"`
	Video   Video  `json:"video"`
	Timings Timing `json:"timings"`
	// GPU holds the GPU's readings taken while the job ran (nvidia-smi),
	// none on a machine without one.
	GPU       []GPUSample `json:"gpu,omitempty"`
	Worker    string      `json:"worker"`    // RUNPOD_POD_ID
	Generator string      `json:"generator"` // builtin, still, command
}

// Video describes the uploaded MP4, as the worker measured it.
type Video struct {
	DurationMS int64 `json:"duration_ms"`
	Bytes      int64 `json:"bytes"`
	Width      int   `json:"width"`
	Height     int   `json:"height"`
	FPS        int   `json:"fps"`
	Frames     int   `json:"frames"`
}

// Timing is where the worker's time went, in milliseconds.
type Timing struct {
	DownloadMS int64 `json:"download_ms"`
	GenerateMS int64 `json:"generate_ms"`
	UploadMS   int64 `json:"upload_ms"`
}

// GPUSample is one reading of one GPU during the job.
type GPUSample struct {
	GPU              int       `json:"gpu"`
	Utilization      float64   `json:"utilization"` // 0..1
	MemoryUsedBytes  int64     `json:"memory_used_bytes"`
	MemoryTotalBytes int64     `json:"memory_total_bytes"`
	At               time.Time `json:"at"`
}

// Progress is the output of an IN_PROGRESS update: the share of the
// frames done, 0..1.
type Progress struct {
	Progress float64 `json:"progress"`
}

// WorkError is a failure the worker reports. RunPod carries errors as a
// string, so the worker sends it JSON-encoded (String) and the API decodes
// it (ParseError); an error that is not ours (the SDK's, RunPod's own)
// decodes as CodeWorkerError with its text.
type WorkError struct {
	Code    string `json:"code"`    // stable: an input refusal's code, or one below
	Message string `json:"message"` // for the customer: plain words, no paths, no URLs
	// Retryable marks a failure another attempt may not repeat (a download
	// that failed, the worker stopping); others are final.
	Retryable bool `json:"retryable"`
	// Detail is what is known beyond Message, for our logs only (an
	// excerpt of an error that is not ours); never sent, never shown.
	Detail string `json:"-"`
}

// Codes of the worker's own failures. Input refusals keep their codes
// (the generator's), so a customer reads the same code whichever backend
// made the video.
const (
	CodeBadInput       = "worker_bad_input"       // the input is not one this worker can read (Check failed)
	CodeDownloadFailed = "worker_download_failed" // an input could not be fetched
	CodeUploadFailed   = "worker_upload_failed"   // the video could not be PUT
	CodeGeneration     = "generation_failed"      // the generator failed
	CodeStopped        = "worker_stopped"         // the worker was told to stop (SIGTERM, a stop request)
	CodeWorkerError    = "worker_error"           // an error that is not ours
)

func (e *WorkError) Error() string { return e.Code + ": " + e.Message }

// String is the error as the worker posts it.
func (e *WorkError) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// ParseError reads the "error" of a RunPod job: ours when it decodes as a
// WorkError with a code, else a CodeWorkerError, retryable, with a short
// excerpt of the text (it may be a Python traceback) as its Detail.
func ParseError(s string) *WorkError {
	var e WorkError
	if json.Unmarshal([]byte(s), &e) == nil && e.Code != "" {
		return &e
	}
	const max = 200
	if len(s) > max {
		s = s[:max] + "…"
	}
	return &WorkError{Code: CodeWorkerError, Message: "the GPU worker failed", Retryable: true, Detail: s}
}
