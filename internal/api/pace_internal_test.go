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
	// 320 KiB in the first second: ten more seconds of credit.
	pr.earn(start.Add(time.Second), 320<<10)
	if at, why := pr.deadline(start.Add(time.Second)); !at.Equal(start.Add(20*time.Second)) || why != errUploadSlow {
		t.Errorf("after 320 KiB: %s %v", at.Sub(start), why)
	}
	// The whole body's deadline: the grace, then the declared length (or,
	// when there is none, the largest body) at the rate.
	if d := p.Deadline(0); d < 10*time.Second+64*time.Second || d > 10*time.Second+96*time.Second {
		t.Errorf("total deadline of a body of unknown length: %s", d)
	}
	if d := p.Deadline(320 << 10); d != 20*time.Second {
		t.Errorf("total deadline of 320 KiB: %s", d)
	}
	// Bytes sent fast at first buy no more than 30 s of pausing.
	banker := newPacedReader(strings.NewReader(""), httptest.NewRecorder(), p, 0, func() time.Time { return clock })
	banker.earn(start.Add(time.Second), 10<<20)
	if at, _ := banker.deadline(start.Add(time.Second)); at.After(start.Add(31 * time.Second)) {
		t.Errorf("10 MiB at once: may pause until %s, want 30 s at most", at.Sub(start))
	}
	banker.earn(start.Add(31*time.Second), 1) // a byte, just before the pause rule
	if at, why := banker.deadline(start.Add(31 * time.Second)); at.After(start.Add(31*time.Second+time.Millisecond)) || why != errUploadSlow {
		t.Errorf("10 MiB, then a byte 30 s later: may go on until %s (%v), want cut at once as too slow", at.Sub(start), why)
	}
	// A read once the rate is broken fails at once, and keeps failing.
	clock = start.Add(21 * time.Second)
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

// cutAt plays a client through a pacedReader on a fake clock: it sends at
// rate bytes a second in tenths of a second, pausing from pauseAt for
// pause, until total bytes; it returns when the reader would cut it off
// (zero if never) and why.
func cutAt(p UploadPolicy, rate float64, pauseAt, pause time.Duration, total int64) (time.Duration, error) {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := start
	pr := newPacedReader(strings.NewReader(""), httptest.NewRecorder(), p, total, func() time.Time { return clock })
	step := 100 * time.Millisecond
	for pr.n < total {
		next := clock.Add(step)
		if el := next.Sub(start); el > pauseAt && el <= pauseAt+pause {
			next = start.Add(pauseAt + pause) // nothing arrives during the pause
		}
		if at, why := pr.deadline(clock); !at.After(next) {
			return at.Sub(start), why
		}
		clock = next
		pr.earn(clock, int(rate*step.Seconds()))
	}
	return 0, nil
}

// TestPacingClients: honest clients, fast or slow, with or without a
// pause, are not cut off; tricklers and bankers are.
func TestPacingClients(t *testing.T) {
	t.Parallel()
	p := UploadPolicy{ImageBytes: 20 << 20, AudioBytes: 50 << 20, MinRate: 32 << 10, Grace: 10 * time.Second, Idle: 30 * time.Second}
	kib := float64(1 << 10)
	tests := []struct {
		name          string
		rate          float64
		pauseAt, long time.Duration
		total         int64
		cut           bool
	}{
		{"just above the minimum, steady", 32.05 * kib, 0, 0, 4 << 20, false},
		{"40 KiB/s, steady", 40 * kib, 0, 0, 8 << 20, false},
		{"40 KiB/s, a 20 s pause after a minute", 40 * kib, time.Minute, 20 * time.Second, 8 << 20, false},
		{"1 MiB/s, a 29 s pause", 1024 * kib, 5 * time.Second, 29 * time.Second, 20 << 20, false},
		{"1 MiB/s, a 40 s pause", 1024 * kib, 5 * time.Second, 40 * time.Second, 20 << 20, true},
		{"below the minimum", 30 * kib, 0, 0, 8 << 20, true},
		{"a trickle", 10, 0, 0, 1 << 20, true},
	}
	for _, tt := range tests {
		at, why := cutAt(p, tt.rate, tt.pauseAt, tt.long, tt.total)
		if (at != 0) != tt.cut {
			t.Errorf("%s: cut at %s (%v), want cut %v", tt.name, at, why, tt.cut)
		}
	}
}
