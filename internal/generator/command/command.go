// Package command is the Generator that runs an external program
// (GENERATOR=command): any neural model (an InfiniteTalk, MuseTalk,
// LatentSync or SadTalker inference script) plugs in as a command line,
// written once as a template such as
//
//	python3 infer.py --image {image} --audio {audio} --prompt={prompt} --out {output} --width {width} --height {height} --fps {fps}
//
// The template is split into arguments when the service starts, by the
// rule of parseTemplate: whitespace separates, single and double quotes
// group, nothing else is special. Then, for each video, the placeholders
// are replaced inside each argument: {image}, {audio} and {output} are
// absolute paths, {audio_format} the ffmpeg demuxer of the audio ("wav"),
// {prompt} the customer's text, {width}, {height}, {fps} and {seed}
// integers, {duration} the audio's length in seconds ("4.659"). Whatever
// a prompt holds, it stays inside its one argument: no shell ever reads
// it. (A script's own argument parser may still take a separate argument
// beginning with "-" for an option: write --prompt={prompt}.)
//
// The command runs with no shell, no standard input and a minimal
// environment (PATH, HOME and LANG as the service has them, then
// Config.Env), so that it never sees the service's secrets. It runs in a
// process group of its own, which is killed whole when the job is
// cancelled, when its timeout passes and when it exits (nothing it
// started outlives it), and on Linux the kernel kills it if the service
// dies.
//
// It writes the video to {output}, a path in a directory of its own
// beside Request.OutputPath. Only when it exits 0 and the video passes
// media.Prober.CheckVideo (an MP4 with H.264 and AAC, as long as the
// audio, of the size asked for) is the video moved to OutputPath; on
// any failure nothing is left there, nor in the directory, which is
// removed with whatever else the command wrote into it.
//
// What it prints on stdout and stderr is read line by line (a line ends
// at a newline or a carriage return). A line "progress F", F a fraction
// from 0 to 1, or "progress DONE/TOTAL" (0 <= DONE <= TOTAL, TOTAL > 0)
// reports progress; the other lines are kept, the last 20 and at most
// 4 KiB, for the error if it fails, with the request's paths replaced by
// words ("the image").
//
// Errors, for the log: an *ExitError (non-zero exit or a signal, with the
// status and those last lines), ErrNoVideo, ErrBadVideo (naming the check
// that failed), an error wrapping context.DeadlineExceeded when the
// timeout passed, or the context's own error when the caller gave up.
// None is a *refusal.Error, so the customer reads the worker's
// generation_failed and never the command's output: a bad video from the
// model is the model's failure, not the customer's input. The one
// refusal is refusal.CodeInvalidAudio, when a request without the audio's
// length carries audio that ffprobe cannot measure.
package command

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// Config is the command and how it runs.
type Config struct {
	// Template is the command line, with placeholders (see the package
	// comment).
	Template string
	// Timeout bounds one run (GENERATOR_TIMEOUT); zero: none beyond the
	// caller's context.
	Timeout time.Duration
	// Dir is the command's working directory; "" inherits the service's.
	// A relative program path (./infer.sh) is found from it.
	Dir string
	// Prober checks the video the command writes (CheckVideo).
	Prober media.Prober
	// Env is added to the command's minimal environment, as KEY=value
	// (CUDA_VISIBLE_DEVICES, HF_HOME, …); a key named again here wins.
	Env []string
}

// Generator runs the configured command for each video. It is safe for
// concurrent use.
type Generator struct {
	program string
	args    []arg
	timeout time.Duration
	dir     string
	env     []string
	prober  media.Prober
}

var _ generator.Generator = (*Generator)(nil)

// New checks the configuration once, at startup: the template must parse
// (a known placeholder each, {output} among them, a program that is
// neither empty nor a placeholder), the program must be found (a bare
// name on the service's PATH, a relative path from Dir), Dir must be a
// directory and each Env entry KEY=value.
func New(cfg Config) (*Generator, error) {
	program, args, err := parseTemplate(cfg.Template)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("command generator: timeout %s is negative", cfg.Timeout)
	}
	if cfg.Dir != "" {
		if info, err := os.Stat(cfg.Dir); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("command generator: working directory %q is not a directory", cfg.Dir)
		}
	}
	if err := findProgram(program, cfg.Dir); err != nil {
		return nil, err
	}
	env, err := environment(cfg.Env)
	if err != nil {
		return nil, err
	}
	return &Generator{program: program, args: args, timeout: cfg.Timeout, dir: cfg.Dir, env: env, prober: cfg.Prober}, nil
}

// findProgram reports a program that cannot be run, so that a typo fails
// the start rather than every job.
func findProgram(program, dir string) error {
	path := program
	if strings.ContainsRune(program, '/') && !filepath.IsAbs(program) && dir != "" {
		path = filepath.Join(dir, program)
	}
	if _, err := exec.LookPath(path); err != nil {
		return fmt.Errorf("command template: program %q: %w", program, err)
	}
	return nil
}

// environment is the command's whole environment: the service's PATH,
// HOME and LANG, then extra.
func environment(extra []string) ([]string, error) {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, kv := range extra {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("command generator: environment entry %q is not KEY=value", kv)
		}
	}
	return append(env, extra...), nil
}

// Errors of a command that exited 0 without a usable video.
var (
	ErrNoVideo  = errors.New("the model command wrote no video")
	ErrBadVideo = errors.New("the model command's video did not pass the check")
)

// Generate runs the command for req and moves its checked video to
// req.OutputPath. req.Remote is not used.
func (g *Generator) Generate(ctx context.Context, req generator.Request, progress generator.ProgressFunc) (generator.Result, error) {
	if err := checkRequest(req); err != nil {
		return generator.Result{}, err
	}
	audio := req.AudioDuration
	if audio <= 0 {
		var err error
		if audio, err = g.prober.AudioLength(ctx, req.AudioPath, req.Demuxer()); err != nil {
			return generator.Result{}, fmt.Errorf("measure audio: %w", err)
		}
	}
	req, err := absolute(req)
	if err != nil {
		return generator.Result{}, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(req.OutputPath), ".model-*")
	if err != nil {
		return generator.Result{}, fmt.Errorf("create the command's output directory: %w", err)
	}
	defer os.RemoveAll(dir)
	video := filepath.Join(dir, "video.mp4")
	out := &output{progress: progress}
	err = g.run(ctx, g.argv(req, video, audio), out)
	tail := scrub(out.String(), req, dir, video)
	if err != nil {
		return generator.Result{}, withTail(err, tail)
	}
	facts, err := g.check(ctx, video, media.VideoWant{Audio: audio, Width: req.Width, Height: req.Height})
	if err != nil {
		return generator.Result{}, withTail(err, tail)
	}
	if err := os.Rename(video, req.OutputPath); err != nil {
		return generator.Result{}, fmt.Errorf("move video into place: %w", err)
	}
	return generator.Result{
		Duration: facts.Duration, Width: facts.Width, Height: facts.Height,
		FPS: int(math.Round(facts.FPS)), Frames: facts.Frames, Size: facts.Bytes,
	}, nil
}

// checkRequest refuses requests that are the caller's mistake, not the
// customer's, so they are ordinary errors.
func checkRequest(req generator.Request) error {
	switch {
	case req.ImagePath == "" || req.AudioPath == "" || req.OutputPath == "":
		return errors.New("command generator: request needs ImagePath, AudioPath and OutputPath")
	case req.Width <= 0 || req.Height <= 0 || req.Width%2 != 0 || req.Height%2 != 0:
		return fmt.Errorf("command generator: size %dx%d must be positive and even (H.264 with 4:2:0 chroma)", req.Width, req.Height)
	case req.FPS <= 0:
		return fmt.Errorf("command generator: fps %d must be positive", req.FPS)
	}
	return nil
}

// absolute makes the request's paths absolute: the command may run in
// another directory, and a path must never read as an option.
func absolute(req generator.Request) (generator.Request, error) {
	for _, p := range []*string{&req.ImagePath, &req.AudioPath, &req.OutputPath} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return req, fmt.Errorf("command generator: %w", err)
		}
		*p = abs
	}
	return req, nil
}

// argv is the command's arguments for req, the video going to video.
func (g *Generator) argv(req generator.Request, video string, audio time.Duration) []string {
	values := map[string]string{
		"image":        req.ImagePath,
		"audio":        req.AudioPath,
		"audio_format": req.Demuxer(),
		"prompt":       req.Prompt,
		"output":       video,
		"width":        strconv.Itoa(req.Width),
		"height":       strconv.Itoa(req.Height),
		"fps":          strconv.Itoa(req.FPS),
		"seed":         strconv.FormatInt(req.Seed, 10),
		"duration":     strconv.FormatFloat(audio.Seconds(), 'f', 3, 64),
	}
	argv := make([]string, len(g.args))
	for i, a := range g.args {
		argv[i] = a.expand(values)
	}
	return argv
}

// check is CheckVideo, its refusal turned into ErrBadVideo: the model's
// failure, not the customer's.
func (g *Generator) check(ctx context.Context, video string, want media.VideoWant) (media.VideoFacts, error) {
	info, err := os.Lstat(video)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return media.VideoFacts{}, fmt.Errorf("%w at {output}", ErrNoVideo)
	case err != nil:
		return media.VideoFacts{}, fmt.Errorf("stat the command's video: %w", err)
	case !info.Mode().IsRegular():
		return media.VideoFacts{}, fmt.Errorf("%w: {output} is not a regular file (a link, a directory…)", ErrNoVideo)
	}
	facts, err := g.prober.CheckVideo(ctx, video, want)
	var re *refusal.Error
	switch {
	case errors.As(err, &re):
		return media.VideoFacts{}, fmt.Errorf("%w: %s", ErrBadVideo, re.Error())
	case err != nil:
		return media.VideoFacts{}, fmt.Errorf("check the command's video: %w", err)
	}
	return facts, nil
}
