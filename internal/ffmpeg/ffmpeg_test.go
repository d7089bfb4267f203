package ffmpeg

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestScrubAndTail(t *testing.T) {
	t.Parallel()
	stderr := "noise\n[mp3 @ 0x55d0c8a0] bad frame in file:/srv/data/up/audio: x\n\nlast line /srv/data/up/audio\n"
	got := Scrub(TailLines(stderr, 2), map[string]string{"/srv/data/up/audio": "the audio"})
	want := "mp3: bad frame in the audio: x; last line the audio"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if TailLines("\n \n", 3) != "" {
		t.Fatal("blank input should give nothing")
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	t.Parallel()
	b := &TailBuffer{Max: 4}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("defg"))
	if b.String() != "defg" {
		t.Fatalf("kept %q", b.String())
	}
}

func TestRunIsKilledWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := Run(ctx, "sleep", "30")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
	out, stderr, err := Run(context.Background(), "sh", "-c", "echo out; echo err >&2")
	if err != nil || strings.TrimSpace(string(out)) != "out" || strings.TrimSpace(stderr) != "err" {
		t.Fatalf("%q %q %v", out, stderr, err)
	}
}
