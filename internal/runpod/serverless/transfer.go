package serverless

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod"
)

const (
	// defaultMaxInput bounds an input whose Download says no limit: more
	// than any canonical portrait or recording the API accepts.
	defaultMaxInput = 512 << 20
	// transferAttempts is how often a download or the upload is tried when
	// it fails in a way that may pass: the network, a 5xx, a 429.
	transferAttempts = 3
)

// transferBackoff is the wait before the nth retry of a transfer (1 s,
// then 2 s); tests shorten it.
var transferBackoff = time.Second

// errTooBig is an input larger than its Download allows.
var errTooBig = errors.New("larger than allowed")

// httpStatus is a transfer's answer other than success.
type httpStatus int

func (s httpStatus) Error() string {
	return fmt.Sprintf("answered %d %s", int(s), http.StatusText(int(s)))
}

// transient reports whether a failed transfer may pass if tried again.
func transient(err error) bool {
	var s httpStatus
	switch {
	case errors.Is(err, errTooBig):
		return false
	case errors.As(err, &s):
		return s >= 500 || s == http.StatusTooManyRequests
	}
	return true // the network
}

// download GETs d into path, retrying what may pass. Its WorkError says
// which input failed and whether another attempt may help: not when the
// link has expired or is gone (403, 404, 410: a signed URL's ways of
// saying so) or answers another 4xx, nor when the input is too large.
func (j *genJob) download(ctx context.Context, what string, d runpod.Download, path string) *runpod.WorkError {
	limit := d.MaxBytes
	if limit <= 0 {
		limit = defaultMaxInput
	}
	err := retry(ctx, func() error { return j.get(ctx, d.URL, path, limit) }, func(n int, err error) {
		j.log.WarnContext(ctx, "downloading an input failed; retrying", "input", what, "url", redact(d.URL), "error", err, "attempt", n)
	})
	if err == nil {
		return nil
	}
	j.log.WarnContext(ctx, "downloading an input failed", "input", what, "url", redact(d.URL), "expires", d.Expires, "error", err)
	var s httpStatus
	switch {
	case errors.Is(err, errTooBig):
		return &runpod.WorkError{Code: runpod.CodeDownloadFailed, Message: fmt.Sprintf("the %s is larger than the %d bytes allowed", what, limit)}
	case errors.As(err, &s) && (s == http.StatusForbidden || s == http.StatusNotFound || s == http.StatusGone):
		return &runpod.WorkError{Code: runpod.CodeDownloadFailed, Message: fmt.Sprintf("the %s's link has expired or is gone", what)}
	case !transient(err):
		return &runpod.WorkError{Code: runpod.CodeDownloadFailed, Message: fmt.Sprintf("the %s could not be downloaded", what)}
	}
	return &runpod.WorkError{Code: runpod.CodeDownloadFailed, Message: fmt.Sprintf("the %s could not be downloaded", what), Retryable: true}
}

// get is one try at a download: path is written anew.
func (j *genJob) get(ctx context.Context, rawURL, path string, limit int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("bad URL %s", redact(rawURL))
	}
	res, err := j.g.client().Do(req)
	if err != nil {
		return redactErr(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return httpStatus(res.StatusCode)
	}
	if res.ContentLength > limit {
		return errTooBig
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the input's file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(res.Body, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("receiving: %w", redactErr(err))
	case n > limit:
		return errTooBig
	}
	return nil
}

// upload PUTs the video to the output URL with its length and type,
// retrying what may pass (a PUT may be repeated, the last one wins).
func (j *genJob) upload(ctx context.Context, path string, size int64) *runpod.WorkError {
	u := j.in.Output
	err := retry(ctx, func() error { return j.put(ctx, u.URL, path, size) }, func(n int, err error) {
		j.log.WarnContext(ctx, "uploading the video failed; retrying", "url", redact(u.URL), "error", err, "attempt", n)
	})
	if err == nil {
		return nil
	}
	j.log.WarnContext(ctx, "uploading the video failed", "url", redact(u.URL), "expires", u.Expires, "error", err)
	return &runpod.WorkError{Code: runpod.CodeUploadFailed, Message: "the video could not be uploaded", Retryable: transient(err)}
}

// put is one try at the upload.
func (j *genJob) put(ctx context.Context, rawURL, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the video: %w", err)
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, rawURL, f)
	if err != nil {
		return fmt.Errorf("bad URL %s", redact(rawURL))
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "video/mp4")
	res, err := j.g.client().Do(req)
	if err != nil {
		return redactErr(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return httpStatus(res.StatusCode)
	}
	return nil
}

// retry runs try up to transferAttempts times while it fails in a way
// that may pass and ctx lasts, calling retrying before each new try.
func retry(ctx context.Context, try func() error, retrying func(n int, err error)) error {
	var err error
	for n := 1; ; n++ {
		if err = try(); err == nil || !transient(err) || n == transferAttempts || ctx.Err() != nil {
			return err
		}
		retrying(n, err)
		if !sleep(ctx, transferBackoff*time.Duration(n)) {
			return err
		}
	}
}
