package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/server"
)

// deadlines records the deadlines set through http.ResponseController.
type deadlines struct {
	http.ResponseWriter
	write time.Time
}

func (d *deadlines) SetWriteDeadline(t time.Time) error { d.write = t; return nil }
func (d *deadlines) SetReadDeadline(time.Time) error    { return nil }

// TestUploadOutlivesWriteTimeout: an upload allowed to take longer than
// the server's WriteTimeout (the largest body at the minimum rate) moves
// its answer's deadline past its own, so that a slow but honest upload is
// answered instead of cut off.
func TestUploadOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	p := UploadPolicy{ImageBytes: 20 << 20, AudioBytes: 50 << 20, MinRate: 32 << 10, Grace: time.Minute}.withDefaults()
	size := p.maxBody()
	if p.Deadline(size) <= server.WriteTimeout {
		t.Fatalf("the largest upload's deadline %s is within WriteTimeout %s: nothing to test", p.Deadline(size), server.WriteTimeout)
	}
	w := &deadlines{ResponseWriter: httptest.NewRecorder()}
	before := time.Now()
	newPacedReader(strings.NewReader(""), w, p, size, time.Now)
	if want := before.Add(p.Deadline(size) + answerTime); w.write.Before(want) {
		t.Errorf("answer's write deadline %s from now, want at least %s", w.write.Sub(before), want.Sub(before))
	}
}
