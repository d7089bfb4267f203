package encode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrokenPipeReportsFFmpeg: when ffmpeg dies (here: it cannot read the
// audio), writing frames fails with ffmpeg's own reason, no partial file.
func TestBrokenPipeReportsFFmpeg(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "not-audio.wav")
	if err := os.WriteFile(bad, []byte("this is not audio"), 0o600); err != nil {
		t.Fatal(err)
	}
	enc, err := Start(context.Background(), Options{Width: 128, Height: 128, FPS: 25, AudioPath: bad, Output: filepath.Join(dir, "out.mp4"), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, enc.FrameSize())
	for i := 0; i < 1000 && err == nil; i++ {
		err = enc.WriteFrame(frame)
	}
	if err == nil {
		err = enc.Finish()
	}
	if err == nil || !strings.Contains(err.Error(), "ffmpeg failed") || strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want ffmpeg's reason without the path", err)
	}
	t.Logf("error: %v", err)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

func TestWrongFrameSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	enc, err := Start(context.Background(), Options{Width: 128, Height: 128, FPS: 25, AudioPath: filepath.Join("..", "..", "..", "testdata", "silence_3s.wav"), Output: filepath.Join(dir, "out.mp4"), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Abort()
	if err := enc.WriteFrame(make([]byte, 10)); err == nil {
		t.Fatal("a short frame was accepted")
	}
}
