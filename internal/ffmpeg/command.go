package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Demuxers are the input formats a run may name. ffmpeg is never left to
// guess a format from the bytes: it skips an ID3 tag when it guesses, so an
// "MP3" made of a tag, an HLS playlist and real frames was demuxed as HLS and
// opened the files its playlist named (other customers' videos among them).
// None of these demuxers opens another resource (mov's external data
// references are off by default, and turned off explicitly below).
var Demuxers = []string{
	"wav", "mp3", "ogg", "flac", "matroska", "mov", "aac", // audio uploads and the canonical WAV
	"image2",   // one still image (pattern matching off)
	"rawvideo", // our own frames on stdin
}

// ErrDeadline marks a run stopped because it went past its own deadline,
// not because its caller gave up.
var ErrDeadline = errors.New("ran past its deadline")

// Input is one input of a run: a local file, or our own data on stdin
// (Path ""), with its format always named.
type Input struct {
	Format  string   // the demuxer, forced with -f; one of Demuxers
	Path    string   // a local file; "" reads stdin
	Options []string // more input options, placed before -i (e.g. -framerate 25)
}

// args are the input's options: the protocol whitelist (the one protocol
// this input is read through: file, or pipe for stdin) so that a demuxer
// cannot open anything else, the forced format, and -i.
func (in Input) args() []string {
	proto, url := "file", "file:"+in.Path
	if in.Path == "" {
		proto, url = "pipe", "pipe:0"
	}
	a := []string{"-protocol_whitelist", proto, "-f", in.Format}
	if in.Format == "mov" {
		a = append(a, "-enable_drefs", "0")
	}
	a = append(a, in.Options...)
	return append(a, "-i", url)
}

func (in Input) check() error {
	switch {
	case !slices.Contains(Demuxers, in.Format):
		return fmt.Errorf("ffmpeg input: format %q is not one of %v", in.Format, Demuxers)
	case in.Path != "" && strings.ContainsAny(in.Path, "\x00\n"):
		return errors.New("ffmpeg input: path holds a NUL or newline")
	}
	return checkOptions("input", in.Options)
}

// forbidden are options a caller may not pass: they would add an input, or
// change how inputs are read, behind the constructor's back.
var forbidden = []string{"-i", "-f", "-protocol_whitelist", "-protocol_blacklist", "-enable_drefs", "-safe",
	"-filter_complex_script", "-filter_script", "-attach", "-dump_attachment"}

// filters are the only filters a filter graph may use: none of them opens
// anything (movie, amovie, subtitles, drawtext's textfile, sendcmd and zmq
// would).
var filters = []string{"scale", "crop", "format", "setsar", "pad", "fps", "null", "anull", "aformat", "aresample"}

// checkOptions refuses forbidden options and filter graphs with other
// filters than those listed.
func checkOptions(where string, opts []string) error {
	for i, o := range opts {
		if slices.Contains(forbidden, o) {
			if where == "output" && o == "-f" { // the output's muxer is ours to name
				continue
			}
			return fmt.Errorf("ffmpeg %s: option %s is not allowed here", where, o)
		}
		if i > 0 && isFilterOption(opts[i-1]) {
			if err := checkGraph(o); err != nil {
				return fmt.Errorf("ffmpeg %s: %w", where, err)
			}
		}
	}
	return nil
}

func isFilterOption(o string) bool {
	return o == "-vf" || o == "-af" || o == "-lavfi" || strings.HasPrefix(o, "-filter")
}

// checkGraph refuses a filter graph naming a filter not in filters. Our
// graphs are plain chains: labels, quotes and escapes (which ffmpeg's
// parser honours, and a naive split does not) are refused outright.
func checkGraph(graph string) error {
	if strings.ContainsAny(graph, "[]'\"\\") {
		return fmt.Errorf("filter graph %q has labels, quotes or escapes", graph)
	}
	for _, f := range strings.FieldsFunc(graph, func(r rune) bool { return r == ',' || r == ';' }) {
		name, _, _ := strings.Cut(strings.TrimSpace(f), "=")
		if name, _, _ = strings.Cut(name, "@"); !slices.Contains(filters, strings.TrimSpace(name)) {
			return fmt.Errorf("filter %q is not one of %v", name, filters)
		}
	}
	return nil
}

// Cmd is one prepared run of ffmpeg or ffprobe, built only by Command or
// Probe. It ends when its caller's context ends or its own deadline passes,
// whichever is first, and is then killed at once (SIGKILL: ffmpeg may
// ignore a polite signal mid-encode). Stderr keeps the end of its stderr.
type Cmd struct {
	*exec.Cmd
	Stderr   *TailBuffer
	Timeout  time.Duration
	ctx      context.Context // the run's own, with the deadline
	parent   context.Context
	stop     context.CancelFunc
	program  string
	finished bool
}

// Command prepares ffmpeg (the executable program) to read inputs and
// write output (output options and the output URL). Every input names its
// format and its one protocol; a zero timeout or an input without a known
// format is refused, so that no run can be built without them.
func Command(ctx context.Context, program string, timeout time.Duration, inputs []Input, output ...string) (*Cmd, error) {
	if len(inputs) == 0 {
		return nil, errors.New("ffmpeg: a run needs an input")
	}
	stdin := 0
	for _, in := range inputs {
		if err := in.check(); err != nil {
			return nil, err
		}
		if in.Path == "" {
			stdin++
		}
	}
	if stdin > 1 {
		return nil, errors.New("ffmpeg: at most one input can be read from stdin")
	}
	args := []string{"-hide_banner"}
	if stdin == 0 {
		args = append(args, "-nostdin") // never read a terminal's keys
	}
	for _, in := range inputs {
		args = append(args, in.args()...)
	}
	if err := checkOptions("output", output); err != nil {
		return nil, err
	}
	return newCmd(ctx, program, timeout, append(args, output...))
}

// Probe prepares ffprobe (program) to describe the input in; args are
// ffprobe's output options (-show_streams, -of json, …).
func Probe(ctx context.Context, program string, timeout time.Duration, in Input, args ...string) (*Cmd, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Path == "" {
		return nil, errors.New("ffprobe: the input must be a file")
	}
	if err := checkOptions("probe", args); err != nil {
		return nil, err
	}
	all := append([]string{"-hide_banner"}, args...)
	return newCmd(ctx, program, timeout, append(all, in.args()...))
}

func newCmd(ctx context.Context, program string, timeout time.Duration, args []string) (*Cmd, error) {
	if timeout <= 0 {
		return nil, errors.New("ffmpeg: a run needs a deadline")
	}
	rctx, stop := context.WithTimeout(ctx, timeout)
	stderr := &TailBuffer{Max: StderrKeep}
	cmd := exec.CommandContext(rctx, program, args...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = 2 * time.Second
	return &Cmd{Cmd: cmd, Stderr: stderr, Timeout: timeout, ctx: rctx, parent: ctx, stop: stop, program: program}, nil
}

// ErrNotStarted marks a run whose program could not be started: missing
// (a package upgrade half done, a PATH without it), not executable, or no
// process to be had. The service's trouble, not the input's, and it
// passes: a request answers 503, a generation is tried again.
var ErrNotStarted = errors.New("could not be started")

// Installed reports, as a run that could not start would (ErrNotStarted),
// a program that is not there to run: not on PATH, or not executable. It
// starts nothing. Work that needs no run of ffmpeg itself, but whose
// result ffmpeg must later read, asks it first.
func Installed(program string) error {
	if _, err := exec.LookPath(program); err != nil {
		return fmt.Errorf("run %s: %w: %w", program, ErrNotStarted, err)
	}
	return nil
}

// Start starts the run; the caller must then Wait.
func (c *Cmd) Start() error {
	if err := c.Cmd.Start(); err != nil {
		c.stop()
		return fmt.Errorf("run %s: %w: %w", c.program, ErrNotStarted, err)
	}
	return nil
}

// Wait waits for the run to end and releases its deadline. A run stopped
// by its own deadline gives an error wrapping ErrDeadline; one stopped by
// the caller's context gives that context's error.
func (c *Cmd) Wait() error {
	if c.finished {
		return nil
	}
	c.finished = true
	err := c.Cmd.Wait()
	defer c.stop()
	switch {
	case err == nil:
		return nil
	case c.parent.Err() != nil:
		return fmt.Errorf("%s stopped: %w", c.program, c.parent.Err())
	case c.ctx.Err() != nil:
		return fmt.Errorf("%s %w of %s", c.program, ErrDeadline, c.Timeout)
	}
	return err
}

// Run starts the run and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs to the end and returns what the program wrote to stdout.
func (c *Cmd) Output() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}

// Failed reports whether err means the program ran and exited with an
// error (for these programs: it did not like its input), as opposed to not
// running at all or being stopped: by its deadline, or killed from outside
// (Killed). A crash of its own (SIGSEGV, SIGABRT on a hostile file) is a
// failure over its input.
func Failed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && !errors.Is(err, ErrDeadline) && !Killed(err)
}

// Killed reports whether the program was killed by SIGKILL or SIGTERM
// that it was not sent for its deadline: the kernel's OOM killer, an
// operator, a container stopping. The input is not to blame; a retry may
// well succeed.
func Killed(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) || errors.Is(err, ErrDeadline) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && (ws.Signal() == syscall.SIGKILL || ws.Signal() == syscall.SIGTERM)
}

// Deadline is how long a run over media lasting d may take: a margin for
// starting up, plus d divided by speed, the slowest pace (in multiples of
// real time) the run may keep on a loaded machine.
func Deadline(d time.Duration, speed float64) time.Duration {
	return 10*time.Second + time.Duration(float64(d)/speed)
}

// EncodeDeadline is how long encoding d of video at w×h and fps may take:
// the Deadline of d at the pace of 2 million pixels a second, fifty times
// slower than the built-in generator runs on two idle cores.
func EncodeDeadline(d time.Duration, w, h, fps int) time.Duration {
	const pixelsPerSecond = 2e6
	return Deadline(d, pixelsPerSecond/float64(max(w*h*fps, 1)))
}

// LookPath reports whether program can be found (a name on PATH or a path).
func LookPath(program string) error {
	_, err := exec.LookPath(program)
	return err
}
