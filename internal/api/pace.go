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
	SlotsPerCustomer       int           // of which one customer may hold (0: half, rounded up)
	SlotWait               time.Duration // how long an upload waits for a slot (0: 10 s)
	MinRate                int64         // bytes a second a body must average once Grace has passed (0: none)
	Grace                  time.Duration
	Idle                   time.Duration // longest pause in a body (0: 30 s)
}

func (p UploadPolicy) withDefaults() UploadPolicy {
	p.Slots = max(p.Slots, 1)
	if p.SlotsPerCustomer <= 0 {
		p.SlotsPerCustomer = (p.Slots + 1) / 2
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

// maxBody is the largest body the policy accepts.
func (p UploadPolicy) maxBody() int64 { return p.ImageBytes + p.AudioBytes + maxParts*maxFieldBytes }

// Deadline is the longest a whole upload may take: the grace, then the
// largest body at the minimum rate.
func (p UploadPolicy) Deadline() time.Duration {
	if p.MinRate <= 0 {
		return 0
	}
	return p.Grace + time.Duration(float64(p.maxBody())/float64(p.MinRate)*float64(time.Second))
}

// Why an upload was cut off.
var (
	errUploadIdle  = errors.New("the upload paused too long")
	errUploadSlow  = errors.New("the upload is too slow")
	errUploadTotal = errors.New("the upload took too long")
)

// pacedReader reads a body under an UploadPolicy. Before each read it sets
// the connection's read deadline to the first moment a rule would be
// broken if no more bytes came — a pause of Idle, the rate falling below
// MinRate after Grace, the total deadline — so a stalled client is cut off
// by the connection itself, and a read past that moment says which rule.
type pacedReader struct {
	r      io.Reader
	rc     *http.ResponseController
	p      UploadPolicy
	start  time.Time
	n      int64
	now    func() time.Time
	broken error
}

func newPacedReader(r io.Reader, w http.ResponseWriter, p UploadPolicy, now func() time.Time) *pacedReader {
	return &pacedReader{r: r, rc: http.NewResponseController(w), p: p, start: now(), now: now}
}

// deadline is when the first rule breaks with n bytes read, and which.
func (pr *pacedReader) deadline(now time.Time) (time.Time, error) {
	at, why := now.Add(pr.p.Idle), errUploadIdle
	if pr.p.MinRate > 0 {
		// n >= rate×(t − start − grace) holds until start + grace + n/rate.
		slow := pr.start.Add(pr.p.Grace + time.Duration(float64(pr.n)/float64(pr.p.MinRate)*float64(time.Second)))
		if slow.Before(at) {
			at, why = slow, errUploadSlow
		}
		if total := pr.start.Add(pr.p.Deadline()); total.Before(at) {
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
		return 0, why
	}
	_ = pr.rc.SetReadDeadline(at) // unsupported by some writers: then the server's timeout rules
	n, err := pr.r.Read(b)
	pr.n += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		pr.broken = why
		return n, why
	}
	return n, err
}

// uploadTimeout explains why an upload was cut off, or returns "".
func (p UploadPolicy) uploadTimeout(err error) string {
	switch {
	case errors.Is(err, errUploadIdle), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("the upload sent nothing for %s", p.Idle)
	case errors.Is(err, errUploadSlow):
		return fmt.Sprintf("the upload was slower than %d KiB/s after its first %s; send it faster, or smaller", p.MinRate>>10, p.Grace)
	case errors.Is(err, errUploadTotal):
		return fmt.Sprintf("the upload took longer than %s", p.Deadline().Round(time.Second))
	}
	return ""
}
