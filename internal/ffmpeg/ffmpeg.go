// Package ffmpeg is the only way the service runs ffmpeg and ffprobe. Every
// run is built by Command or Probe, which name each input's format and the
// one protocol it may be read through, and give the run a deadline; no
// other package may start a process but the few that
// TestNoOtherPackageRunsPrograms names, none of them to run ffmpeg. It
// also turns what the programs print into short error text for logs: the
// end of stderr, with file paths (which reveal the server's layout)
// replaced by words.
package ffmpeg

import (
	"regexp"
	"strings"
)

// StderrKeep is how many bytes of a program's stderr are kept.
const StderrKeep = 8 << 10

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
