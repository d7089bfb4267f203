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
	mrand "math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	// What can be wrong here is said now, before anything is sent or
	// billed: a server URL, the files, where the video goes.
	if u, err := url.Parse(*server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q is not an http(s) URL, e.g. https://avatar.example.com", *server)
	}
	for _, f := range []string{*image, *audio} {
		if err := readable(f); err != nil {
			return err
		}
	}
	if err := writable(*out); err != nil {
		return err
	}
	if *idem == "" {
		*idem = newIdempotencyKey()
	}
	// No answer within a minute of the request being sent is a failure
	// like a broken connection (tried again); the upload itself may take
	// as long as it takes.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = time.Minute
	c, err := apiclient.NewClientWithResponses(strings.TrimRight(*server, "/"),
		apiclient.WithHTTPClient(&http.Client{Transport: transport}),
		apiclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
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
		// The server may have made the job all the same: the same key
		// gets it back instead of a second one.
		return fmt.Errorf("%w\n(to try again without risking a second job, re-run within 24 h with --idempotency-key %s)", err, *idem)
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
	if err := download(ctx, transport, res.Url, res.SizeBytes, *out); err != nil {
		return fmt.Errorf("job %s completed, but its video could not be saved: %w\n(re-run with --idempotency-key %s within 24 h of the submission and before %s: you get this job's video, not a second job)",
			job.JobId, err, *idem, res.ExpiresAt.Format(time.RFC3339))
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
// network, a 5xx, a 429) is tried before giving up; maxWait the longest a
// Retry-After is waited (a longer one is given up on, with the server's
// word).
const (
	attempts = 6
	maxWait  = 5 * time.Minute
	// callTimeout bounds a status or result request.
	callTimeout = 30 * time.Second
)

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
		call, cancel := context.WithTimeout(ctx, callTimeout)
		r, err := s.c.StatusWithResponse(call, id)
		cancel()
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
		call, cancel := context.WithTimeout(ctx, callTimeout)
		r, err := s.c.ResultWithResponse(call, id)
		cancel()
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
	// 1 s, 2 s, 4 s … 32 s, each ±20 % so that many clients do not come
	// back at once.
	wait := time.Duration(float64(time.Second<<min(n-1, 5)) * (0.8 + 0.4*mrand.Float64()))
	var r *refusal
	switch {
	case errors.As(err, &r):
		// 409 with Retry-After: the first request of this Idempotency-Key
		// is still in progress; asked again, the server answers its job.
		if !transient(r.status) && !(r.status == http.StatusConflict && r.retryAfter >= 0) || r.code == codeBudgetExhausted {
			return err
		}
		if r.retryAfter > maxWait {
			return fmt.Errorf("%s: %w (the server asks to wait %s: try again later)", what, err, r.retryAfter)
		}
		if r.retryAfter >= 0 {
			wait = r.retryAfter
		}
	case !passing(err):
		return fmt.Errorf("%s: %w", what, err)
	}
	if n >= attempts {
		return fmt.Errorf("%s: giving up after %d tries: %w", what, n, err)
	}
	s.bar.interrupt()
	fmt.Fprintf(s.stderr, "%s: %v; trying again in %s\n", what, err, wait.Round(100*time.Millisecond))
	return s.wait(ctx, wait)
}

func transient(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests ||
		status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
}

// codeBudgetExhausted is the API's refusal of a new job once a spending cap
// is reached: no retry helps before its Retry-After (hours, maybe).
const codeBudgetExhausted = "budget_exhausted"

// passing tells an error of the connection, which another try may not
// meet (refused, reset, cut short, timed out), from one that will recur
// (a file that cannot be read, a malformed URL).
func passing(err error) bool {
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// refusal is an answer other than the one asked for: its status, and the
// server's problem+json code and detail.
type refusal struct {
	status     int
	code       string
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
		r.code, r.msg = p.Code, fmt.Sprintf("%d %s: %s", resp.StatusCode, p.Code, detail)
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
func download(ctx context.Context, transport http.RoundTripper, link string, size int64, out string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // the link's signature is a credential: not in an error
			ue.URL, _, _ = strings.Cut(ue.URL, "?")
		}
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
		err = tmp.Chmod(0o644) // a video, like any file saved
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

// readable checks that path is a regular file that can be read.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", path)
	}
	return nil
}

// writable checks that the video can be saved at out: its directory
// takes a file.
func writable(out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".check-")
	if err != nil {
		return fmt.Errorf("cannot save the video at %s: %w", out, err)
	}
	f.Close()
	return os.Remove(f.Name())
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
	if !p.tty { // a line at each change of state, and each quarter of the way
		if key := fmt.Sprintf("%s %d", state, int(j.Progress*4)); key != p.last {
			fmt.Fprintf(p.w, "%s %3.0f%%\n", state, 100*j.Progress)
			p.last = key
		}
		return
	}
	filled := min(barWidth, max(0, int(j.Progress*barWidth+0.5)))
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% %s", strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), 100*j.Progress, state)
	p.last = state
}

// interrupt clears the bar's line for a message; the next show redraws it.
func (p *progress) interrupt() {
	if p.tty && p.last != "" {
		fmt.Fprint(p.w, "\r\033[K")
		p.last = ""
	}
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
