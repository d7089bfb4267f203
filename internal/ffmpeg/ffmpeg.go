// Package ffmpeg runs ffmpeg and ffprobe as child processes and turns what
// they print into short, safe error text: the end of stderr, with file paths
// (which reveal the server's layout) replaced by words.
package ffmpeg

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// StderrKeep is how many bytes of a program's stderr are kept.
const StderrKeep = 8 << 10

// Command prepares name to run until ctx ends and then be killed at once
// (SIGKILL: ffmpeg may ignore a polite signal mid-encode). The returned
// buffer collects the end of its stderr.
func Command(ctx context.Context, name string, args ...string) (*exec.Cmd, *TailBuffer) {
	stderr := &TailBuffer{Max: StderrKeep}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = 2 * time.Second
	return cmd, stderr
}

// Run runs name to the end and returns its stdout and the end of its stderr.
func Run(ctx context.Context, name string, args ...string) (stdout []byte, stderr string, err error) {
	var out bytes.Buffer
	cmd, errTail := Command(ctx, name, args...)
	cmd.Stdout = &out
	err = cmd.Run()
	return out.Bytes(), errTail.String(), err
}

// TailBuffer keeps the last Max bytes written to it: ffmpeg can print a
// great deal, and only the end says why it stopped.
type TailBuffer struct {
	buf []byte
	Max int
}

// Write implements io.Writer.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.Max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

// String returns what was kept.
func (t *TailBuffer) String() string { return string(t.buf) }

// logContext matches ffmpeg's "[mp3 @ 0x55d0c8a0] " line prefix.
var logContext = regexp.MustCompile(`\[([\w:,-]+) @ 0x[0-9a-fA-F]+\] `)

// Scrub replaces the file paths named in names by their words ("the
// audio") and drops ffmpeg's memory addresses.
func Scrub(s string, names map[string]string) string {
	for path, word := range names {
		for _, p := range []string{"file:" + path, path} {
			s = strings.ReplaceAll(s, p+": ", word+": ")
			s = strings.ReplaceAll(s, p, word)
		}
	}
	return logContext.ReplaceAllString(s, "$1: ")
}

// TailLines returns the last n non-empty lines of s joined with "; ", or ""
// when there are none.
func TailLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}
