package ffmpeg

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guarded reports whether every -i of an ffmpeg or ffprobe command line is
// preceded, since the previous -i, by a forced format and a protocol
// whitelist; it returns the first unguarded input.
func guarded(args []string) (bad string, ok bool) {
	format, whitelist := false, false
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-f":
			format = i+1 < len(args) && slices.Contains(Demuxers, args[i+1])
		case "-protocol_whitelist":
			whitelist = i+1 < len(args) && (args[i+1] == "file" || args[i+1] == "pipe")
		case "-i":
			if !format || !whitelist || i+1 >= len(args) {
				return strings.Join(args[max(0, i-4):min(len(args), i+2)], " "), false
			}
			format, whitelist = false, false
		}
	}
	return "", true
}

func TestEveryInputNamesItsFormatAndProtocol(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	runs := map[string]func() (*Cmd, error){
		"file": func() (*Cmd, error) {
			return Command(ctx, "ffmpeg", time.Second, []Input{{Format: "mp3", Path: "/up/audio"}}, "-f", "wav", "file:/out.wav")
		},
		"stdin and file": func() (*Cmd, error) {
			return Command(ctx, "ffmpeg", time.Second, []Input{
				{Format: "rawvideo", Options: []string{"-pix_fmt", "yuv420p", "-video_size", "64x64"}},
				{Format: "wav", Path: "/in/audio.wav"},
			}, "-f", "mp4", "file:/out.mp4")
		},
		"filters": func() (*Cmd, error) {
			return Command(ctx, "ffmpeg", time.Second, []Input{{Format: "image2", Path: "/in/image.png", Options: []string{"-pattern_type", "none"}}},
				"-vf", "scale=512:512:force_original_aspect_ratio=increase,crop=512:512,format=yuv420p", "-f", "mp4", "file:/out.mp4")
		},
		"mov": func() (*Cmd, error) {
			return Command(ctx, "ffmpeg", time.Second, []Input{{Format: "mov", Path: "/up/a.m4a"}}, "-f", "null", "-")
		},
		"probe": func() (*Cmd, error) {
			return Probe(ctx, "ffprobe", time.Second, Input{Format: "wav", Path: "/in/a.wav"}, "-of", "json", "-show_streams")
		},
	}
	for name, build := range runs {
		c, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		args := c.Args[1:]
		if bad, ok := guarded(args); !ok {
			t.Errorf("%s: unguarded input %q in %q", name, bad, args)
		}
		if count(args, "-i") != count(args, "-protocol_whitelist") || count(args, "-i") == 0 {
			t.Errorf("%s: inputs and whitelists differ: %q", name, args)
		}
		if name == "mov" && !slices.Contains(args, "-enable_drefs") {
			t.Errorf("mov input without -enable_drefs 0: %q", args)
		}
		if stdin := slices.Contains(args, "pipe:0"); name != "probe" && stdin == slices.Contains(args, "-nostdin") {
			t.Errorf("%s: reading stdin %v but -nostdin %v", name, stdin, !stdin)
		}
	}
}

func count(args []string, s string) int {
	n := 0
	for _, a := range args {
		if a == s {
			n++
		}
	}
	return n
}

func TestCommandRefusesUnguardedRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	wav := Input{Format: "wav", Path: "/a.wav"}
	tests := map[string]func() error{
		"no input":  func() error { _, err := Command(ctx, "ffmpeg", time.Second, nil, "-f", "null", "-"); return err },
		"no format": func() error { _, err := Command(ctx, "ffmpeg", time.Second, []Input{{Path: "/a"}}, "-"); return err },
		"guessing format": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{{Format: "hls", Path: "/a"}}, "-")
			return err
		},
		"concat": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{{Format: "concat", Path: "/a"}}, "-")
			return err
		},
		"no deadline": func() error { _, err := Command(ctx, "ffmpeg", 0, []Input{wav}, "-f", "null", "-"); return err },
		"extra input in options": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{{Format: "wav", Path: "/a", Options: []string{"-i", "/etc/passwd"}}}, "-")
			return err
		},
		"extra input in output": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-i", "/etc/passwd", "-f", "null", "-")
			return err
		},
		"whitelist override": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{{Format: "wav", Path: "/a", Options: []string{"-protocol_whitelist", "file,http"}}}, "-")
			return err
		},
		"format override": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{{Format: "wav", Path: "/a", Options: []string{"-f", "hls"}}}, "-")
			return err
		},
		"movie filter": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-vf", "movie=/etc/passwd", "-f", "null", "-")
			return err
		},
		"subtitles filter": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-vf", "scale=64:64,subtitles=/etc/passwd", "-f", "null", "-")
			return err
		},
		"lavfi graph": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-lavfi", "[0:a]amovie=/etc/passwd", "-f", "null", "-")
			return err
		},
		"escaped label": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-vf", `[a\]scale=1:1]movie=/etc/passwd`, "-f", "null", "-")
			return err
		},
		"quoted label": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-vf", `['x]scale=1:1']movie=/etc/passwd`, "-f", "null", "-")
			return err
		},
		"drawtext": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-filter:v", "drawtext=textfile=/etc/passwd", "-f", "null", "-")
			return err
		},
		"attachment": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{wav}, "-attach", "/etc/passwd", "-f", "matroska", "-")
			return err
		},
		"two stdin inputs": func() error {
			_, err := Command(ctx, "ffmpeg", time.Second, []Input{{Format: "wav"}, {Format: "rawvideo"}}, "-")
			return err
		},
		"probe of stdin": func() error { _, err := Probe(ctx, "ffprobe", time.Second, Input{Format: "wav"}); return err },
		"probe guessing": func() error { _, err := Probe(ctx, "ffprobe", time.Second, Input{Path: "/a"}); return err },
		"probe extra input": func() error {
			_, err := Probe(ctx, "ffprobe", time.Second, wav, "-i", "/etc/passwd")
			return err
		},
	}
	for name, build := range tests {
		if build() == nil {
			t.Errorf("%s: built without error", name)
		}
	}
}

// sleeper is a program that ignores its arguments and sleeps: it stands
// for an ffmpeg that never finishes.
func sleeper(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexec sleep 30\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunStopsAtItsDeadlineOrItsCaller(t *testing.T) {
	t.Parallel()
	prog := sleeper(t)
	in := []Input{{Format: "wav", Path: "/a.wav"}}
	c, err := Command(context.Background(), prog, 200*time.Millisecond, in, "-f", "null", "-")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Run(); !errors.Is(err, ErrDeadline) || time.Since(start) > 10*time.Second || Failed(err) {
		t.Fatalf("past its deadline: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err = Command(ctx, prog, time.Minute, in, "-f", "null", "-")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := c.Wait(); !errors.Is(err, context.Canceled) || errors.Is(err, ErrDeadline) {
		t.Fatalf("caller gave up: %v", err)
	}
}

func TestDeadlineGrowsWithTheMedia(t *testing.T) {
	t.Parallel()
	if got := Deadline(2*time.Minute, 4); got != 40*time.Second {
		t.Errorf("Deadline(2m, 4) = %s", got)
	}
}

// TestNoOtherPackageRunsPrograms is the other half of the guarantee: since
// only this package can start a process, every ffmpeg and ffprobe run of
// the service goes through Command or Probe. Three packages are let
// through: gpu runs nvidia-smi with a fixed argument list; testkit,
// imported by tests alone, runs the tools tests check with (promtool);
// and generator/command runs the operator's model command
// (GENERATOR=command), which is not ffmpeg and reads what it likes, so
// the guards of Command cannot apply: it runs no shell, puts each value
// (the prompt among them) in an argument of its own, and checks the
// video it writes through Probe like any other.
func TestNoOtherPackageRunsPrograms(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	self, _ := filepath.Abs(".")
	allowed := map[string]bool{self: true}
	for _, dir := range []string{"gpu", "testkit", filepath.Join("generator", "command")} {
		abs, _ := filepath.Abs(filepath.Join("..", dir))
		allowed[abs] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if abs, _ := filepath.Abs(filepath.Dir(path)); allowed[abs] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "os/exec" {
				t.Errorf("%s imports os/exec: run programs through package ffmpeg", path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok {
				switch x.Name + "." + sel.Sel.Name {
				case "os.StartProcess", "syscall.Exec", "syscall.ForkExec", "syscall.StartProcess":
					t.Errorf("%s: %s.%s starts a process outside package ffmpeg", fset.Position(sel.Pos()), x.Name, sel.Sel.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
