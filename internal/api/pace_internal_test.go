package api

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPacedReaderRules: the deadline of each read is the first moment a
// rule breaks if nothing more comes, and a read past it says which rule.
func TestPacedReaderRules(t *testing.T) {
	t.Parallel()
	p := UploadPolicy{ImageBytes: 1 << 20, AudioBytes: 1 << 20, MinRate: 32 << 10, Grace: 10 * time.Second, Idle: 30 * time.Second}
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := start
	pr := newPacedReader(strings.NewReader(strings.Repeat("x", 1<<20)), httptest.NewRecorder(), p, 0, func() time.Time { return clock })

	// Nothing read yet: the rate rule bites when the grace ends.
	if at, why := pr.deadline(start); !at.Equal(start.Add(10*time.Second)) || why != errUploadSlow {
		t.Errorf("at the start: %s %v", at.Sub(start), why)
	}
	// 320 KiB read: ten more seconds of credit, but the pause rule is nearer.
	pr.n = 320 << 10
	if at, why := pr.deadline(start.Add(time.Second)); !at.Equal(start.Add(20*time.Second)) || why != errUploadSlow {
		t.Errorf("after 320 KiB: %s %v", at.Sub(start), why)
	}
	pr.n = 10 << 20
	if at, why := pr.deadline(start.Add(time.Second)); !at.Equal(start.Add(31*time.Second)) || why != errUploadIdle {
		t.Errorf("well ahead: %s %v", at.Sub(start), why)
	}
	// The whole body's deadline: the grace, then the declared length (or,
	// when there is none, the largest body) at the rate.
	if d := p.Deadline(0); d < 10*time.Second+64*time.Second || d > 10*time.Second+96*time.Second {
		t.Errorf("total deadline of a body of unknown length: %s", d)
	}
	if d := p.Deadline(320 << 10); d != 20*time.Second {
		t.Errorf("total deadline of 320 KiB: %s", d)
	}
	// Bytes sent fast at first buy no trickling: the last 30 s must carry
	// 30 s at the rate too, from the end of the grace and one window on.
	banker := newPacedReader(strings.NewReader(""), httptest.NewRecorder(), p, 0, func() time.Time { return clock })
	clock = start.Add(time.Second)
	banker.n = 10 << 20
	banker.record(clock)
	clock = start.Add(31 * time.Second) // a byte, just before the pause rule
	banker.n++
	banker.record(clock)
	if at, why := banker.deadline(clock); !at.Equal(start.Add(40*time.Second)) || why != errUploadSlow {
		t.Errorf("10 MiB at once, then a byte each 30 s: cut at %s (%v), want at 40 s as too slow", at.Sub(start), why)
	}
	clock = start
	// A read once the rate is broken fails at once, and keeps failing.
	pr.n = 1000
	clock = start.Add(11 * time.Second)
	if _, err := pr.Read(make([]byte, 10)); !errors.Is(err, errUploadSlow) {
		t.Fatalf("read while too slow: %v", err)
	}
	if _, err := pr.Read(make([]byte, 10)); !errors.Is(err, errUploadSlow) {
		t.Fatalf("read after: %v", err)
	}
	if !strings.Contains(p.uploadTimeout(errUploadSlow), "slower than 32 KiB/s") {
		t.Errorf("message %q", p.uploadTimeout(errUploadSlow))
	}
	// Within the rules, reads go through.
	clock = start
	ok := newPacedReader(strings.NewReader("hello"), httptest.NewRecorder(), p, 5, func() time.Time { return clock })
	if b, err := io.ReadAll(ok); err != nil || string(b) != "hello" {
		t.Fatalf("%q %v", b, err)
	}
}
