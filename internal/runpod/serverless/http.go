package serverless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxAnswer bounds what is read of an answer of RunPod's: a job's input
// is at most 10 MB on /run (20 MB on /runsync), by RunPod's documented
// limits.
const maxAnswer = 32 << 20

// errTooMany is RunPod's 429: wait, then ask again (rp_job.py raises
// TooManyRequests; rp_scale.py waits 5 s).
var errTooMany = errors.New("RunPod answered 429 Too Many Requests")

// statusError is an answer of RunPod's that is neither what was asked nor
// one the protocol gives a meaning to.
type statusError struct{ status int }

func (e *statusError) Error() string {
	return fmt.Sprintf("RunPod answered %d %s", e.status, http.StatusText(e.status))
}

// answer is what is kept of a response.
type answer struct {
	status int
	ctype  string
	body   []byte
}

func (a answer) json() bool { return isJSON(a.ctype) }

// do sends one request to RunPod, with its key, and reads the answer.
// Its error never holds the URL's query (net/http's does: it is
// replaced).
func (l *loop) do(ctx context.Context, method, rawURL string, body []byte, header http.Header) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: bad URL", method, redact(rawURL))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// rp_ping.py and http_client.py get_auth_header: the key, raw.
	req.Header.Set("Authorization", l.w.Env.AIKey)
	req.Header.Set("User-Agent", "avatar-api-runpod-worker (RunPod-Python-SDK/"+SDKVersion+" protocol)")
	res, err := l.client.Do(req)
	if err != nil {
		return answer{}, redactErr(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: reading the answer: %w", method, redact(rawURL), redactErr(err))
	}
	return answer{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: b}, nil
}

// redactErr strips the query from the URL net/http puts in its errors.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redact(ue.URL)
	}
	return err
}
