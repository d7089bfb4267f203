package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/runpod"
)

// Generate is the Handler that makes our videos: it reads a runpod.Input,
// downloads the portrait and the recording from their signed URLs, runs
// the generator, PUTs the MP4 to the signed output URL and returns a
// runpod.Output. It needs no database and no storage credentials.
type Generate struct {
	Generator generator.Generator
	Name      string // which generator (builtin, still, command), reported in Output.Generator
	PodID     string // reported in Output.Worker
	WorkDir   string // scratch; each job gets its own temporary directory, removed after
	// HTTP fetches the inputs and puts the video; it must send no
	// credentials (the URLs are signed). Nil: a client that gives up on a
	// server that sends no headers within a minute.
	HTTP *http.Client
	// NvidiaSMI is the path of nvidia-smi; "" takes no GPU readings.
	NvidiaSMI   string
	SampleEvery time.Duration // the time between GPU readings during generation; 0 is 5 s
	Timeout     time.Duration // a job's limit; 0: none beyond ctx
	Log         *slog.Logger  // nil: slog.Default()
}

var _ Handler = (*Generate)(nil)

// Handle runs one job. Every failure is a *runpod.WorkError whose Message
// names no path and no URL; the detail goes to the log.
func (g *Generate) Handle(ctx context.Context, raw json.RawMessage, progress func(float64)) (any, *runpod.WorkError) {
	in, werr := decodeInput(raw)
	if werr != nil {
		return nil, werr
	}
	if progress == nil {
		progress = func(float64) {}
	}
	log := g.log().With("job_id", in.JobID, "attempt", in.Attempt)
	j := &genJob{g: g, in: in, log: log, stopped: ctx}
	if g.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.Timeout)
		defer cancel()
	}
	out, werr := j.run(ctx, progress)
	if werr != nil {
		log.WarnContext(ctx, "job failed", "code", werr.Code, "retryable", werr.Retryable)
		return nil, werr
	}
	return out, nil
}

func (g *Generate) log() *slog.Logger {
	if g.Log != nil {
		return g.Log
	}
	return slog.Default()
}

func (g *Generate) client() *http.Client {
	if g.HTTP != nil {
		return g.HTTP
	}
	return defaultClient
}

// defaultClient has no overall timeout (a video may take a while to send)
// but does not wait for ever on a server that never answers.
var defaultClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}()

// genJob is one job's run.
type genJob struct {
	g   *Generate
	in  runpod.Input
	log *slog.Logger
	// stopped is the Worker's context: it ending means the job was
	// stopped, where the end of the job's own (Timeout) is a timeout.
	stopped context.Context
}

func (j *genJob) run(ctx context.Context, progress func(float64)) (runpod.Output, *runpod.WorkError) {
	in := j.in
	dir, err := os.MkdirTemp(j.g.WorkDir, "runpod-job-")
	if err != nil {
		j.log.ErrorContext(ctx, "creating the job's directory failed", "error", err)
		return runpod.Output{}, &runpod.WorkError{Code: runpod.CodeWorkerError, Message: "the GPU worker could not prepare the job", Retryable: true}
	}
	defer os.RemoveAll(dir)

	var t runpod.Timing
	start := time.Now()
	req := generator.Request{
		ImagePath:     filepath.Join(dir, "image.png"), // canonical portraits are PNG; the generators force the demuxer anyway
		AudioPath:     filepath.Join(dir, "audio."+demuxer(in.AudioFormat)),
		AudioFormat:   demuxer(in.AudioFormat),
		AudioDuration: in.AudioDuration(),
		Prompt:        in.Prompt,
		Width:         in.Width,
		Height:        in.Height,
		FPS:           in.FPS,
		Seed:          in.Seed,
		OutputPath:    filepath.Join(dir, "video.mp4"),
		FaceFallback:  in.FaceFallback,
	}
	if werr := j.fetch(ctx, req.ImagePath, req.AudioPath); werr != nil {
		return runpod.Output{}, j.cut(ctx, werr)
	}
	t.DownloadMS = time.Since(start).Milliseconds()

	start = time.Now()
	stopSampling := j.sample(ctx)
	res, err := j.g.Generator.Generate(ctx, req, func(done, total int) {
		if total > 0 {
			progress(float64(done) / float64(total))
		}
	})
	samples := stopSampling()
	if err != nil {
		return runpod.Output{}, j.cut(ctx, j.generationError(ctx, err))
	}
	t.GenerateMS = time.Since(start).Milliseconds()
	fi, err := os.Stat(req.OutputPath)
	if err != nil {
		j.log.ErrorContext(ctx, "the generator reported success but wrote no video", "error", err)
		return runpod.Output{}, &runpod.WorkError{Code: runpod.CodeGeneration, Message: "the video could not be generated", Retryable: true}
	}
	if fi.Size() > in.Output.MaxBytes {
		j.log.WarnContext(ctx, "the video is larger than the upload allows", "bytes", fi.Size(), "max_bytes", in.Output.MaxBytes)
		return runpod.Output{}, &runpod.WorkError{Code: runpod.CodeUploadFailed,
			Message: fmt.Sprintf("the video is larger than the %d bytes allowed", in.Output.MaxBytes)}
	}

	start = time.Now()
	if werr := j.upload(ctx, req.OutputPath, fi.Size()); werr != nil {
		return runpod.Output{}, j.cut(ctx, werr)
	}
	t.UploadMS = time.Since(start).Milliseconds()
	j.log.InfoContext(ctx, "video made and uploaded", "bytes", fi.Size(), "download_ms", t.DownloadMS, "generate_ms", t.GenerateMS, "upload_ms", t.UploadMS)
	return runpod.Output{
		Version: runpod.Version,
		Video: runpod.Video{DurationMS: res.Duration.Milliseconds(), Bytes: fi.Size(),
			Width: res.Width, Height: res.Height, FPS: res.FPS, Frames: res.Frames},
		Timings:   t,
		GPU:       samples,
		Worker:    j.g.PodID,
		Generator: j.g.Name,
	}, nil
}

// cut replaces werr when the job's context ended: the worker stopping
// (retryable: another worker may finish the job) or the job's Timeout
// (final: another attempt would take as long). A failure of a stage the
// end interrupted says nothing of its own.
func (j *genJob) cut(ctx context.Context, werr *runpod.WorkError) *runpod.WorkError {
	switch {
	case j.stopped.Err() != nil:
		return &runpod.WorkError{Code: runpod.CodeStopped, Message: "the GPU worker stopped before the video was finished", Retryable: true}
	case ctx.Err() != nil:
		return &runpod.WorkError{Code: runpod.CodeGeneration, Message: fmt.Sprintf("the video took longer than the GPU worker's limit of %s", j.g.Timeout)}
	}
	return werr
}

// generationError turns the generator's error into the job's: an input
// refused keeps its code and message (final: the input will not change);
// anything else is CodeGeneration in plain words, retryable as the
// in-process worker retries it, with the detail in the log only.
func (j *genJob) generationError(ctx context.Context, err error) *runpod.WorkError {
	var re *refusal.Error
	if errors.As(err, &re) {
		j.log.InfoContext(ctx, "input refused", "code", re.Code, "error", err)
		return &runpod.WorkError{Code: re.Code, Message: re.Message, Detail: re.Detail}
	}
	j.log.ErrorContext(ctx, "generation failed", "error", err)
	return &runpod.WorkError{Code: runpod.CodeGeneration, Message: "the video could not be generated", Retryable: true}
}

// fetch downloads the portrait and the recording side by side; the first
// failure stops the other, and is the one reported.
func (j *genJob) fetch(ctx context.Context, imagePath, audioPath string) *runpod.WorkError {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first *runpod.WorkError
	)
	for _, f := range []struct {
		what string
		d    runpod.Download
		path string
	}{{"portrait", j.in.Image, imagePath}, {"recording", j.in.Audio, audioPath}} {
		wg.Go(func() {
			if werr := j.download(ctx, f.what, f.d, f.path); werr != nil {
				mu.Lock()
				if first == nil {
					first = werr
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return first
}

// decodeInput reads the job's input: fields this build does not know are
// allowed (a newer API may add some), a version it does not speak is not
// (Input.Check).
func decodeInput(raw json.RawMessage) (runpod.Input, *runpod.WorkError) {
	bad := func(err error) *runpod.WorkError {
		return &runpod.WorkError{Code: runpod.CodeBadInput, Message: "the GPU worker cannot read the job: " + err.Error()}
	}
	var in runpod.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return runpod.Input{}, bad(err)
	}
	if err := in.Check(); err != nil {
		return runpod.Input{}, bad(err)
	}
	for _, u := range []string{in.Image.URL, in.Audio.URL, in.Output.URL} {
		if !httpURL(u) {
			return runpod.Input{}, bad(errors.New("image, audio and output URLs must be http(s)"))
		}
	}
	if f := demuxer(in.AudioFormat); f == "image2" || f == "rawvideo" || !slices.Contains(ffmpeg.Demuxers, f) {
		return runpod.Input{}, bad(fmt.Errorf("audio format %q is not one this worker reads", url.QueryEscape(in.AudioFormat)))
	}
	return in, nil
}

// demuxer is the audio's ffmpeg demuxer: "wav" when unnamed, as
// generator.Request.Demuxer.
func demuxer(format string) string {
	if format == "" {
		return "wav"
	}
	return format
}
