package main_test

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// loadClients submit at once.
const loadClients = 20

// loadForm is the body every load job is submitted with: the astronaut
// scaled to 128×128 and the first second of the 4 s recording, for a
// 128×128 video at 10 fps (the smallest the service makes), so that the
// run measures the service's handling of jobs more than the animator.
func loadForm(t *testing.T) ([]byte, string) {
	t.Helper()
	dir := t.TempDir()
	img, aud := filepath.Join(dir, "portrait.png"), filepath.Join(dir, "speech_1s.wav")
	if err := scalePNG(testkit.Fixture("astronaut.png"), img, 128); err != nil {
		t.Fatal(err)
	}
	if err := cutWAV(testkit.Fixture("speech_en_4s.wav"), aud, time.Second); err != nil {
		t.Fatal(err)
	}
	return testkit.Multipart(t,
		testkit.Part{Name: "image", File: img}, testkit.Part{Name: "audio", File: aud},
		testkit.Part{Name: "width", Value: "128"}, testkit.Part{Name: "height", Value: "128"},
		testkit.Part{Name: "fps", Value: "10"}, testkit.Part{Name: "prompt", Value: "calm"})
}

// scalePNG writes the PNG at src scaled to size×size at dst.
func scalePNG(src, dst string, size int) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	in, err := png.Decode(f)
	if err != nil {
		return err
	}
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(out, out.Bounds(), in, in.Bounds(), draw.Src, nil)
	var b bytes.Buffer
	if err := png.Encode(&b, out); err != nil {
		return err
	}
	return os.WriteFile(dst, b.Bytes(), 0o600)
}

// cutWAV writes the first d of the PCM WAV at src to dst: its fmt chunk
// as it is, then the data cut to whole frames.
func cutWAV(src, dst string, d time.Duration) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return fmt.Errorf("%s is not a WAV file", src)
	}
	var format, data []byte
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(bin.LittleEndian.Uint32(b[off+4:off+8]))
		body := b[off+8 : min(off+8+size, len(b))]
		switch id {
		case "fmt ":
			format = body
		case "data":
			data = body
		}
		off += 8 + size + size%2
	}
	if len(format) < 16 || data == nil {
		return fmt.Errorf("%s has no fmt or data chunk", src)
	}
	byteRate, frame := int(bin.LittleEndian.Uint32(format[8:12])), int(bin.LittleEndian.Uint16(format[12:14]))
	n := min(len(data), int(d.Seconds()*float64(byteRate))/frame*frame)
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = bin.Write(&out, bin.LittleEndian, uint32(4+8+len(format)+8+n))
	out.WriteString("WAVEfmt ")
	_ = bin.Write(&out, bin.LittleEndian, uint32(len(format)))
	out.Write(format)
	out.WriteString("data")
	_ = bin.Write(&out, bin.LittleEndian, uint32(n))
	out.Write(data[:n])
	return os.WriteFile(dst, out.Bytes(), 0o600)
}

// submitter is the load's clients: each takes the next job number and
// submits it until it is answered 202, retrying with the same
// Idempotency-Key whatever went wrong on the way (a connection cut by a
// kill, 429, 503), so that a job is created at most once however often
// it is sent.
type submitter struct {
	urls     []string // client i submits to urls[i%len(urls)]
	key      string   // the customer's API key
	prefix   string   // of the Idempotency-Keys
	form     []byte
	ct       string
	client   *http.Client
	next     atomic.Int64
	accepted atomic.Int64

	mu       sync.Mutex
	jobs     map[string]int // job id → job number
	accepts  []accept
	retries  map[string]int // why a submission was sent again → times
	replayed int            // 202s that returned an existing job
	failures []string       // answers no retry can mend
}

// accept is one 202: when, from which URL, and how long the request took.
type accept struct {
	at      time.Time
	url     int
	latency time.Duration
}

func newSubmitter(urls []string, key, prefix string, form []byte, ct string) *submitter {
	return &submitter{urls: urls, key: key, prefix: prefix, form: form, ct: ct,
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}},
		jobs:   map[string]int{}, retries: map[string]int{}}
}

// run submits jobs numbered 0 to n-1 from loadClients clients, returning
// when every one is accepted, refused for good, or ctx ends.
func (s *submitter) run(ctx context.Context, n int) {
	var wg sync.WaitGroup
	for c := range loadClients {
		wg.Go(func() {
			for {
				i := int(s.next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				s.submit(ctx, c%len(s.urls), i)
			}
		})
	}
	wg.Wait()
}

// submit sends job i to urls[u] until it is answered 202, or refused
// with a status no retry can change.
func (s *submitter) submit(ctx context.Context, u, i int) {
	key := fmt.Sprintf("%s-%04d", s.prefix, i)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.urls[u]+"/generate", bytes.NewReader(s.form))
		req.Header.Set("Authorization", "Bearer "+s.key)
		req.Header.Set("Content-Type", s.ct)
		req.Header.Set("Idempotency-Key", key)
		sent := time.Now()
		resp, err := s.client.Do(req)
		if err != nil {
			s.retry("connection: "+connError(err), 200*time.Millisecond)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			s.retry("connection: "+connError(err), 200*time.Millisecond)
		case resp.StatusCode == http.StatusAccepted:
			s.accept(u, i, body, resp.Header.Get("Idempotent-Replayed") == "true", time.Since(sent))
			return
		case slices.Contains([]int{http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}, resp.StatusCode):
			s.retry(strconv.Itoa(resp.StatusCode)+" "+problemCode(body), retryAfter(resp))
		default:
			s.fail(fmt.Sprintf("job %d (%s): %d %s", i, key, resp.StatusCode, body))
			return
		}
	}
}

func (s *submitter) accept(u, i int, body []byte, replayed bool, latency time.Duration) {
	var j jobView
	if err := json.Unmarshal(body, &j); err != nil || j.ID == "" {
		s.fail(fmt.Sprintf("job %d: 202 without a job id: %s", i, body))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.jobs[j.ID]; ok && prev != i {
		s.failures = append(s.failures, fmt.Sprintf("jobs %d and %d were both answered with job %s", prev, i, j.ID))
	}
	s.jobs[j.ID] = i
	s.accepts = append(s.accepts, accept{at: time.Now(), url: u, latency: latency})
	if replayed {
		s.replayed++
	}
	s.accepted.Store(int64(len(s.jobs)))
}

func (s *submitter) retry(why string, wait time.Duration) {
	s.mu.Lock()
	s.retries[why]++
	s.mu.Unlock()
	time.Sleep(wait)
}

func (s *submitter) fail(what string) {
	s.mu.Lock()
	s.failures = append(s.failures, what)
	s.mu.Unlock()
}

// retryAfter is the answer's Retry-After, at most 5 s; half a second
// without one.
func retryAfter(resp *http.Response) time.Duration {
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
		return min(time.Duration(n)*time.Second, 5*time.Second)
	}
	return 500 * time.Millisecond
}

// problemCode is the code of a problem+json body, if it is one.
func problemCode(body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return p.Code
}

// connError names a transport error by its kind, not its addresses.
func connError(err error) string {
	msg := err.Error()
	for _, kind := range []string{"connection reset", "EOF", "connection refused", "broken pipe", "use of closed network connection", "timeout"} {
		if strings.Contains(msg, kind) {
			return kind
		}
	}
	return msg
}

// ids returns the accepted jobs' ids.
func (s *submitter) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// firstAcceptAfter is how long after at the first 202 from urls[u] came
// (0: none did).
func (s *submitter) firstAcceptAfter(at time.Time, u int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, a := range s.accepts {
		if a.url == u && a.at.After(at) && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	if first.IsZero() {
		return 0
	}
	return first.Sub(at)
}

// latencies returns the 50th and 99th percentiles of the requests that
// were answered 202.
func (s *submitter) latencies() (p50, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := make([]time.Duration, len(s.accepts))
	for i, a := range s.accepts {
		l[i] = a.latency
	}
	if len(l) == 0 {
		return 0, 0
	}
	slices.Sort(l)
	return l[len(l)*50/100], l[min(len(l)*99/100, len(l)-1)]
}
