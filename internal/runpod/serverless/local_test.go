package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test_input.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunTestInput: a test_input.json runs through the real handler with
// no RunPod, and its result is printed as RunPod would receive it.
func TestRunTestInput(t *testing.T) {
	t.Parallel()
	files := newStorage(t)
	h, _ := handler(t, still.New("", ""))
	in, _ := json.Marshal(map[string]any{"input": files.input()})
	var stdout bytes.Buffer
	if err := RunTestInput(t.Context(), writeFile(t, string(in)), h, &stdout); err != nil {
		t.Fatal(err)
	}
	var res struct{ Output runpod.Output }
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Output.Version != runpod.Version || res.Output.Video.Bytes == 0 {
		t.Fatalf("printed %s (%v)", stdout.String(), err)
	}
	if m := testkit.Probe(t, files.uploaded(t)); m.VideoCodec != "h264" {
		t.Errorf("uploaded %+v", m)
	}
}

// TestRunTestInputFailures: a failed job prints its error and returns
// it; a file with no input runs nothing.
func TestRunTestInputFailures(t *testing.T) {
	t.Parallel()
	fails := call(func(context.Context, json.RawMessage, func(float64)) (any, *runpod.WorkError) {
		return nil, &runpod.WorkError{Code: runpod.CodeBadInput, Message: "no"}
	})
	var stdout bytes.Buffer
	err := RunTestInput(t.Context(), writeFile(t, `{"input": {"version": 9}}`), fails, &stdout)
	var werr *runpod.WorkError
	if !errors.As(err, &werr) || werr.Code != runpod.CodeBadInput {
		t.Errorf("error %v", err)
	}
	var res struct{ Error string }
	if json.Unmarshal(stdout.Bytes(), &res) != nil || runpod.ParseError(res.Error).Code != runpod.CodeBadInput {
		t.Errorf("printed %s", stdout.String())
	}

	ran := false
	h := call(func(context.Context, json.RawMessage, func(float64)) (any, *runpod.WorkError) {
		ran = true
		return nil, nil
	})
	for _, body := range []string{`{"id": "x"}`, `{"input": null}`, `not json`} {
		if err := RunTestInput(t.Context(), writeFile(t, body), h, &stdout); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
	if err := RunTestInput(t.Context(), filepath.Join(t.TempDir(), "none.json"), h, &stdout); err == nil || !strings.Contains(err.Error(), "test input") {
		t.Errorf("missing file: %v", err)
	}
	if ran {
		t.Error("the handler ran")
	}
}
