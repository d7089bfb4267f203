package ffmpeg

import (
	"testing"
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
