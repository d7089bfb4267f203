package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// UploadPolicy bounds how POST /generate bodies are received, so that no
// customer's uploads can take the service's upload capacity from the
// others: a body must keep a minimum average rate once a short grace has
// passed (a client trickling a byte every few seconds is cut off within
// the grace, not after the server's read timeout), has a total deadline
// sized from the size limits, and a customer holds at most a share of the
// upload slots.
type UploadPolicy struct {
	ImageBytes, AudioBytes int64
	Slots                  int           // uploads received and checked at once (each may decode an image and run ffmpeg)
	SlotsPerCustomer       int           // of which one customer may hold (0: a quarter, at least 1)
	SlotWait               time.Duration // how long an upload waits for a slot (0: 10 s)
	MinRate                int64         // bytes a second a body must average once Grace has passed (0: none)
	Grace                  time.Duration
	Idle                   time.Duration // longest pause in a body (0: 30 s)
}

func (p UploadPolicy) withDefaults() UploadPolicy {
	p.Slots = max(p.Slots, 1)
	if p.SlotsPerCustomer <= 0 {
		p.SlotsPerCustomer = DefaultSlotsPerCustomer(p.Slots)
	}
	p.SlotsPerCustomer = min(p.SlotsPerCustomer, p.Slots)
	if p.SlotWait <= 0 {
		p.SlotWait = 10 * time.Second
	}
	if p.Idle <= 0 {
		p.Idle = 30 * time.Second
	}
	return p
}

// DefaultSlotsPerCustomer is the share of slots one customer may hold: a
// quarter, at least one. With the default four slots, one customer holds
// one, and it takes four customers' uploads at once to fill them.
func DefaultSlotsPerCustomer(slots int) int { return max(1, slots/4) }

// maxBody is the largest body the policy accepts.
func (p UploadPolicy) maxBody() int64 { return p.ImageBytes + p.AudioBytes + maxParts*maxFieldBytes }

// Deadline is the longest an upload of size bytes may take: the grace,
// then size at the minimum rate. A body that declares its length gets the
// deadline of that length, one that does not (chunked) the deadline of the
// largest body.
func (p UploadPolicy) Deadline(size int64) time.Duration {
	if p.MinRate <= 0 {
		return 0
	}
	if size <= 0 || size > p.maxBody() {
		size = p.maxBody()
	}
	return p.Grace + time.Duration(float64(size)/float64(p.MinRate)*float64(time.Second))
}

// totalTimeout is errUploadTotal with the deadline it missed.
type totalTimeout struct{ d time.Duration }

func (e *totalTimeout) Error() string { return errUploadTotal.Error() }
func (e *totalTimeout) Unwrap() error { return errUploadTotal }

// Why an upload was cut off.
var (
	errUploadIdle  = errors.New("the upload paused too long")
	errUploadSlow  = errors.New("the upload is too slow")
	errUploadTotal = errors.New("the upload took too long")
)

// pacedReader reads a body under an UploadPolicy. It keeps a credit of
// bytes: the grace's worth at MinRate to start with, MinRate a second spent,
// every byte received earned, and never more than Idle's worth at MinRate —
// so a body must average MinRate once its grace is over, may pause while
// it is ahead, and bytes sent fast at first buy no more than Idle of
// pausing later. Before each read it sets the connection's read deadline
// to the first moment a rule would be broken if no more bytes came — the
// credit running out, a pause of Idle, the total deadline — so a stalled
// client is cut off by the connection itself, and a read past that moment
// says which rule.
type pacedReader struct {
	r      io.Reader
	rc     *http.ResponseController
	p      UploadPolicy
	total  time.Duration // the whole body's deadline
	start  time.Time
	n      int64
	credit float64   // bytes, as of at
	at     time.Time // when credit was last worked out
	now    func() time.Time
	broken error
}

// newPacedReader paces a body of size bytes (its Content-Length; 0 when
// unknown).
//
// The server's WriteTimeout, counted from the request's head, would cut
// off the answer to an upload that took longer, at the minimum rate, than
// the timeout allows: the answer's deadline becomes the upload's own plus
// answerTime, for the checks that follow it.
func newPacedReader(r io.Reader, w http.ResponseWriter, p UploadPolicy, size int64, now func() time.Time) *pacedReader {
	start := now()
	pr := &pacedReader{r: r, rc: http.NewResponseController(w), p: p, total: p.Deadline(size), start: start,
		credit: float64(p.MinRate) * p.Grace.Seconds(), at: start, now: now}
	if pr.total > 0 {
		_ = pr.rc.SetWriteDeadline(time.Now().Add(pr.total + answerTime)) // unsupported by some writers: then the server's timeout rules
	}
	return pr
}

// answerTime is how long the answer to an upload may take once the
// upload has ended: its checks (ffprobe, canonicalisation) and writing.
const answerTime = 10 * time.Minute

// earn spends the credit for the time since it was last worked out, then
// adds n bytes, up to the cap.
func (pr *pacedReader) earn(now time.Time, n int) {
	pr.n += int64(n)
	if pr.p.MinRate <= 0 {
		return
	}
	rate := float64(pr.p.MinRate)
	pr.credit -= rate * now.Sub(pr.at).Seconds()
	pr.at = now
	if pr.credit >= 0 {
		pr.credit = min(pr.credit+float64(n), rate*pr.p.Idle.Seconds())
	}
}

// deadline is when the first rule breaks if nothing more arrives, and which.
func (pr *pacedReader) deadline(now time.Time) (time.Time, error) {
	at, why := now.Add(pr.p.Idle), errUploadIdle
	if pr.p.MinRate > 0 {
		if slow := pr.at.Add(time.Duration(pr.credit / float64(pr.p.MinRate) * float64(time.Second))); slow.Before(at) {
			at, why = slow, errUploadSlow
		}
		if total := pr.start.Add(pr.total); total.Before(at) {
			at, why = total, errUploadTotal
		}
	}
	return at, why
}

func (pr *pacedReader) Read(b []byte) (int, error) {
	if pr.broken != nil {
		return 0, pr.broken
	}
	now := pr.now()
	at, why := pr.deadline(now)
	if !at.After(now) {
		pr.broken = why
		if why == errUploadTotal {
			pr.broken = &totalTimeout{pr.total}
		}
		return 0, pr.broken
	}
	_ = pr.rc.SetReadDeadline(at) // unsupported by some writers: then the server's timeout rules
	n, err := pr.r.Read(b)
	pr.earn(pr.now(), n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		pr.broken = why
		if why == errUploadTotal {
			pr.broken = &totalTimeout{pr.total}
		}
		return n, pr.broken
	}
	return n, err
}

// uploadTimeout explains why an upload was cut off, or returns "".
func (p UploadPolicy) uploadTimeout(err error) string {
	var te *totalTimeout
	if errors.As(err, &te) {
		return fmt.Sprintf("the upload took longer than %s, its deadline at %d KiB/s", te.d.Round(time.Second), p.MinRate>>10)
	}
	switch {
	case errors.Is(err, errUploadIdle), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("the upload sent nothing for %s", p.Idle)
	case errors.Is(err, errUploadSlow):
		return fmt.Sprintf("the upload was slower than %d KiB/s after its first %s; send it faster, or smaller", p.MinRate>>10, p.Grace)
	}
	return ""
}
