package command

import (
	"math"
	"strconv"
	"strings"

	"github.com/avatar-api/avatar-api/internal/generator"
)

// Bounds of what is kept of a command's output: enough to say why it
// failed, never a model's whole log.
const (
	tailLines = 20
	tailBytes = 4 << 10
	lineBytes = 1 << 10 // a longer line is cut here
)

// fractionTotal is the total reported for a "progress 0.42" line.
const fractionTotal = 1000

// output reads what the command prints, on stdout and stderr alike, line
// by line: progress lines go to progress, the others to a bounded tail.
// A line ends at \n or at \r (a progress bar that redraws itself prints
// \r). It is written to by one goroutine at a time (os/exec gives stdout
// and stderr one pipe when they are the same writer) and read once the
// command has been waited for.
type output struct {
	progress generator.ProgressFunc
	line     []byte
	cut      bool // the current line went past lineBytes
	tail     []string
	size     int // bytes in tail
}

// Write implements io.Writer.
func (o *output) Write(p []byte) (int, error) {
	for _, c := range p {
		switch {
		case c == '\n' || c == '\r':
			o.end()
		case len(o.line) < lineBytes:
			o.line = append(o.line, c)
		default:
			o.cut = true
		}
	}
	return len(p), nil
}

// end finishes the current line (also called for a last line that has
// no newline).
func (o *output) end() {
	line := strings.TrimSpace(string(o.line))
	if o.cut {
		line += "…"
	}
	o.line, o.cut = o.line[:0], false
	if line == "" {
		return
	}
	if done, total, ok := parseProgress(line); ok {
		if o.progress != nil {
			o.progress(done, total)
		}
		return
	}
	o.tail = append(o.tail, line)
	o.size += len(line)
	for len(o.tail) > tailLines || o.size > tailBytes {
		o.size -= len(o.tail[0])
		o.tail = o.tail[1:]
	}
}

// String is the tail, lines joined with "; ".
func (o *output) String() string { return strings.Join(o.tail, "; ") }

// parseProgress reads a progress line: two words, "progress" and either
// a fraction from 0 to 1 ("progress 0.42") or done/total with
// 0 <= done <= total and total > 0 ("progress 17/120"). Anything else is
// not a progress line.
func parseProgress(line string) (done, total int, ok bool) {
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "progress" {
		return 0, 0, false
	}
	if d, n, found := strings.Cut(f[1], "/"); found {
		done, err1 := strconv.Atoi(d)
		total, err2 := strconv.Atoi(n)
		if err1 != nil || err2 != nil || total <= 0 || done < 0 || done > total {
			return 0, 0, false
		}
		return done, total, true
	}
	x, err := strconv.ParseFloat(f[1], 64)
	if err != nil || !(x >= 0 && x <= 1) {
		return 0, 0, false
	}
	return int(math.Round(x * fractionTotal)), fractionTotal, true
}
