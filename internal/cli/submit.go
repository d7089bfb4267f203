package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/apiclient"
)

// runSubmit is the customer's command: send a portrait and a recording to
// a server, follow the job with a progress bar and download the video.
// It is built on the client generated from the OpenAPI document, as a
// customer's own program would be.
func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", cmpEnv("AVATAR_API_URL", "http://localhost:8080"), "the API's base URL (default $AVATAR_API_URL)")
	image := fs.String("image", "", "portrait image (PNG, JPEG or WebP)")
	audio := fs.String("audio", "", "speech recording (WAV, MP3, OGG, FLAC, M4A…)")
	prompt := fs.String("prompt", "", `style of the performance, e.g. "A woman singing"`)
	out := fs.String("o", "avatar.mp4", "where to save the MP4")
	width := fs.Int("width", 0, "output width, even, 128–1920 (default: the server's, 512)")
	height := fs.Int("height", 0, "output height, even, 128–1920 (default: the server's, 512)")
	fps := fs.Int("fps", 0, "frames per second, 10–60 (default: the server's, 25)")
	idem := fs.String("idempotency-key", "", "the job's Idempotency-Key (default: a new random one); the same key never makes a second job")
	poll := fs.Duration("poll", time.Second, "how often to ask for the job's status")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: AVATAR_API_KEY=av_live_… avatar-api submit --server URL --image PORTRAIT --audio SPEECH [--prompt TEXT] [-o out.mp4]\n\n"+
			"Sends the inputs to the server, shows the job's progress, and saves the video.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	key := os.Getenv("AVATAR_API_KEY")
	switch {
	case *image == "" || *audio == "":
		fs.Usage()
		return errors.New("--image and --audio are required")
	case key == "":
		return errors.New("AVATAR_API_KEY is not set: export the API key your operator gave you")
	case *poll < 100*time.Millisecond:
		return errors.New("--poll must be at least 100ms")
	}
	for _, f := range []string{*image, *audio} {
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	if *idem == "" {
		*idem = newIdempotencyKey()
	}
	c, err := apiclient.NewClientWithResponses(strings.TrimRight(*server, "/"), apiclient.WithRequestEditorFn(
		func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("User-Agent", "avatar-api-submit")
			return nil
		}))
	if err != nil {
		return err
	}
	s := &submission{c: c, stderr: stderr, bar: newProgress(stderr), poll: *poll, wait: sleep}
	fields := map[string]string{"prompt": *prompt}
	for name, v := range map[string]int{"width": *width, "height": *height, "fps": *fps} {
		if v != 0 {
			fields[name] = strconv.Itoa(v)
		}
	}
	job, err := s.create(ctx, *idem, *image, *audio, fields)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "job %s accepted\n", job.JobId)
	job, err = s.follow(ctx, job)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped following job %s, which goes on at the server (cancel it with POST %s)", job.JobId, job.Links.Cancel)
		}
		return err
	}
	if job.State != apiclient.JobState("completed") {
		reason := ""
		if job.Error != nil {
			reason = fmt.Sprintf(": %s: %s", job.Error.Code, job.Error.Message)
		}
		return fmt.Errorf("job %s %s%s", job.JobId, job.State, reason)
	}
	res, err := s.result(ctx, job.JobId.String())
	if err != nil {
		return err
	}
	if err := download(ctx, res.Url, res.SizeBytes, *out); err != nil {
		return fmt.Errorf("job %s completed, but its video could not be saved (ask again until %s: avatar-api submit is idempotent with --idempotency-key %s): %w",
			job.JobId, res.ExpiresAt.Format(time.RFC3339), *idem, err)
	}
	fmt.Fprintf(stdout, "%s: %.1f s, %dx%d, %d bytes, cost $%.6f\n", *out, res.DurationSeconds, res.Width, res.Height, res.SizeBytes, res.CostUsd)
	return nil
}

// submission is one job's way through the API.
type submission struct {
	c      *apiclient.ClientWithResponses
	stderr io.Writer
	bar    *progress
	poll   time.Duration
	wait   func(ctx context.Context, d time.Duration) error
}

// attempts is how often a request that failed for a passing reason (the
// network, a 5xx, a 429) is tried before giving up.
const attempts = 6

// create posts the job, streaming the files, and tries again on what
// passes: the same Idempotency-Key makes a retry return the first job.
func (s *submission) create(ctx context.Context, idem, image, audio string, fields map[string]string) (*apiclient.Job, error) {
	for n := 1; ; n++ {
		body, contentType := multipartBody(image, audio, fields)
		r, err := s.c.GenerateWithBodyWithResponse(ctx, &apiclient.GenerateParams{IdempotencyKey: &idem}, contentType, body)
		body.Close()
		if err == nil && r.JSON202 != nil {
			return r.JSON202, nil
		}
		if err == nil {
			err = refused(r.HTTPResponse, r.Body)
		}
		if err = s.retry(ctx, n, "submit", err); err != nil {
			return nil, err
		}
	}
}

// follow polls the job's status until it ends, showing its progress.
func (s *submission) follow(ctx context.Context, job *apiclient.Job) (*apiclient.Job, error) {
	id := job.JobId.String()
	fails := 0
	for {
		s.bar.show(job)
		switch job.State {
		case "completed", "failed", "cancelled", "expired":
			s.bar.done()
			return job, nil
		}
		if err := s.wait(ctx, s.poll); err != nil {
			s.bar.done()
			return job, err
		}
		r, err := s.c.StatusWithResponse(ctx, id)
		if err == nil && r.JSON200 != nil {
			job, fails = r.JSON200, 0
			continue
		}
		if err == nil {
			err = refused(r.HTTPResponse, r.Body)
		}
		fails++
		if err := s.retry(ctx, fails, "status", err); err != nil {
			s.bar.done()
			return job, err
		}
	}
}

// result asks for the download URL of a completed job.
func (s *submission) result(ctx context.Context, id string) (*apiclient.Result, error) {
	for n := 1; ; n++ {
		r, err := s.c.ResultWithResponse(ctx, id)
		if err == nil && r.JSON200 != nil {
			return r.JSON200, nil
		}
		if err == nil {
			err = refused(r.HTTPResponse, r.Body)
		}
		if err := s.retry(ctx, n, "result", err); err != nil {
			return nil, err
		}
	}
}

// retry returns nil after waiting when the n-th failure of a request may
// pass (the network, 408, 429, 5xx), and the error to give up with
// otherwise: the server's refusal, as it said it.
func (s *submission) retry(ctx context.Context, n int, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	wait := time.Duration(1<<min(n-1, 5)) * time.Second // 1 s, 2 s, 4 s … 32 s
	var r *refusal
	if errors.As(err, &r) {
		// 409 with Retry-After: the first request of this Idempotency-Key
		// is still in progress; asked again, the server answers its job.
		if !transient(r.status) && !(r.status == http.StatusConflict && r.retryAfter >= 0) {
			return err
		}
		if r.retryAfter >= 0 {
			wait = r.retryAfter
		}
	}
	if n >= attempts {
		return fmt.Errorf("%s: giving up after %d tries: %w", what, n, err)
	}
	fmt.Fprintf(s.stderr, "%s: %v; trying again in %s\n", what, err, wait)
	return s.wait(ctx, wait)
}

func transient(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// refusal is an answer other than the one asked for: its status, and the
// server's problem+json code and detail.
type refusal struct {
	status     int
	retryAfter time.Duration // -1: not said
	msg        string
}

func (r *refusal) Error() string { return r.msg }

func refused(resp *http.Response, body []byte) error {
	r := &refusal{status: resp.StatusCode, retryAfter: -1, msg: "unexpected answer " + resp.Status}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		r.retryAfter = time.Duration(s) * time.Second
	}
	var p apiclient.Problem
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		detail := p.Title
		if p.Detail != nil && *p.Detail != "" {
			detail = *p.Detail
		}
		r.msg = fmt.Sprintf("%d %s: %s", resp.StatusCode, p.Code, detail)
	}
	return r
}

// multipartBody streams the form from the files: nothing is read into
// memory whole, whatever their size.
func multipartBody(image, audio string, fields map[string]string) (io.ReadCloser, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, part := range []struct{ name, path string }{{"image", image}, {"audio", audio}} {
				if err := copyPart(mw, part.name, part.path); err != nil {
					return err
				}
			}
			for name, v := range fields {
				if v == "" {
					continue
				}
				if err := mw.WriteField(name, v); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

func copyPart(mw *multipart.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := mw.CreateFormFile(name, filepath.Base(path))
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// download saves the signed URL's video at out, whole or not at all: it
// is written beside out and renamed once complete. The link is its own
// credential; the API key is not sent with it (it may point at another
// host, such as an S3 bucket).
func download(ctx context.Context, url string, size int64, out string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return refused(resp, body)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".part-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // once renamed, there is nothing to remove
	n, err := io.Copy(tmp, resp.Body)
	if err == nil && size > 0 && n != size {
		err = fmt.Errorf("got %d bytes of %d", n, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), abs)
}

// progress shows a job's way on stderr: a bar redrawn in place on a
// terminal, a line at each change of state elsewhere (a log, a pipe).
type progress struct {
	w    io.Writer
	tty  bool
	last string
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return &progress{w: w}
	}
	st, err := f.Stat()
	return &progress{w: w, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

const barWidth = 30

func (p *progress) show(j *apiclient.Job) {
	state := string(j.State)
	if j.State == "queued" && j.QueuePosition != nil {
		state = fmt.Sprintf("queued, %d ahead", *j.QueuePosition)
		if j.QueueEtaSeconds != nil {
			state += fmt.Sprintf(", starts in about %.0f s", *j.QueueEtaSeconds)
		}
	}
	if !p.tty {
		if state != p.last {
			fmt.Fprintf(p.w, "%s %3.0f%%\n", state, 100*j.Progress)
		}
		p.last = state
		return
	}
	filled := min(barWidth, max(0, int(j.Progress*barWidth+0.5)))
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% %s", strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), 100*j.Progress, state)
	p.last = state
}

// done ends the bar's line.
func (p *progress) done() {
	if p.tty && p.last != "" {
		fmt.Fprintln(p.w)
		p.last = ""
	}
}

// sleep waits d, or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand does not fail
	return "submit-" + hex.EncodeToString(b)
}

func cmpEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
