package command

import (
	"slices"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator"
)

func TestTemplateSplitting(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		`infer --out {output}`:                          {"infer", "--out", "{output}"},
		"infer \t--out\n {output}  ":                    {"infer", "--out", "{output}"},
		`infer --out={output}`:                          {"infer", "--out={output}"},
		`infer 'a b' "c  d" --out {output}`:             {"infer", "a b", "c  d", "--out", "{output}"},
		`infer --out="{output}" x'y z'w`:                {"infer", "--out={output}", "xy zw"},
		`infer "it's" 'say "hi"' --out {output}`:        {"infer", "it's", `say "hi"`, "--out", "{output}"},
		`infer '' "" --out {output}`:                    {"infer", "", "", "--out", "{output}"},
		`infer a\ b $HOME ~ * ; | --out {output}`:       {"infer", `a\`, "b", "$HOME", "~", "*", ";", "|", "--out", "{output}"},
		`"/opt/my model/infer" --out {output}`:          {"/opt/my model/infer", "--out", "{output}"},
		`infer --json '{"a":1}' {} {1x} --out {output}`: {"infer", "--json", `{"a":1}`, "{}", "{1x}", "--out", "{output}"},
	}
	for template, want := range tests {
		words, err := split(template)
		if err != nil || !slices.Equal(words, want) {
			t.Errorf("split(%q) = %q, %v; want %q", template, words, err, want)
		}
		if _, _, err := parseTemplate(template); err != nil {
			t.Errorf("parseTemplate(%q): %v", template, err)
		}
	}
}

// TestPlaceholdersAreReplacedOnce: values go in whole, inside their one
// argument, and a value that looks like a placeholder stays as it is.
func TestPlaceholdersAreReplacedOnce(t *testing.T) {
	t.Parallel()
	program, args, err := parseTemplate(`infer --size={width}x{height} --prompt {prompt} '{prompt} at {fps}' --out {output} --d {duration}`)
	if err != nil {
		t.Fatal(err)
	}
	g := &Generator{program: program, args: args}
	req := generator.Request{ImagePath: "/w/i.png", AudioPath: "/w/a.wav", Prompt: "{output} $(id) 'x' \"y\"", Width: 640, Height: 360, FPS: 25}
	got := g.argv(req, "/w/.model-1/video.mp4", 4658594000)
	want := []string{"--size=640x360", "--prompt", req.Prompt, req.Prompt + " at 25", "--out", "/w/.model-1/video.mp4", "--d", "4.659"}
	if program != "infer" || !slices.Equal(got, want) {
		t.Errorf("%s %q, want infer %q", program, got, want)
	}
}

func TestProgressLines(t *testing.T) {
	t.Parallel()
	good := map[string][2]int{
		"progress 0.42": {420, 1000}, "progress 0": {0, 1000}, "progress 1": {1000, 1000}, "progress 1.0": {1000, 1000},
		"progress 17/120": {17, 120}, "  progress\t3/3 ": {3, 3}, "progress 0/5": {0, 5},
	}
	for line, want := range good {
		done, total, ok := parseProgress(strings.TrimSpace(line))
		if !ok || [2]int{done, total} != want {
			t.Errorf("%q: %d/%d %v, want %v", line, done, total, ok, want)
		}
	}
	for _, line := range []string{"progress", "progress 1.5", "progress -0.1", "progress NaN", "progress 5/4", "progress 1/0",
		"progress -1/4", "progress 1/4 frames", "Progress 0.5", "progress: 0.5", "progress 0.5%", "progress 1/2/3"} {
		if _, _, ok := parseProgress(line); ok {
			t.Errorf("%q read as progress", line)
		}
	}
}

func TestOutputKeepsABoundedTail(t *testing.T) {
	t.Parallel()
	var calls [][2]int
	o := &output{progress: func(d, n int) { calls = append(calls, [2]int{d, n}) }}
	for i := range 30 {
		_, _ = o.Write([]byte("line " + strings.Repeat("x", i) + "\n"))
	}
	_, _ = o.Write([]byte("progress 1/2\r\nbar 10%\rbar 20%\rprogress 0.5\n" + strings.Repeat("y", 5000) + "\nno newline"))
	o.end()
	if len(o.tail) > tailLines || o.size > tailBytes {
		t.Errorf("kept %d lines, %d bytes", len(o.tail), o.size)
	}
	if last := o.tail[len(o.tail)-1]; last != "no newline" {
		t.Errorf("last line %q", last)
	}
	if long := o.tail[len(o.tail)-2]; len(long) > lineBytes+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("a long line kept as %d bytes", len(long))
	}
	if !slices.Contains(o.tail, "bar 20%") || strings.Contains(o.String(), "progress") {
		t.Errorf("tail %q", o.String())
	}
	if want := [][2]int{{1, 2}, {500, 1000}}; !slices.Equal(calls, want) {
		t.Errorf("progress %v, want %v", calls, want)
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	req := generator.Request{ImagePath: "/srv/work/job-1/image.png", AudioPath: "/srv/work/job-1/audio.wav", OutputPath: "/srv/work/job-1/out.mp4"}
	got := scrub("open /srv/work/job-1/image.png; write /srv/work/job-1/.model-9/video.mp4; ls /srv/work/job-1/.model-9/tmp /srv/work/job-1/x", req,
		"/srv/work/job-1/.model-9", "/srv/work/job-1/.model-9/video.mp4")
	want := "open the image; write the output; ls the work directory/tmp the work directory/x"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
