package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// RunTestInput runs one job with no RunPod, as the SDK does with
// --test_input or test_input.json (rp_local.py run_local): the file at
// path holds {"input": {...}} (an "id" is optional); the job's result,
// {"output": …} or {"error": "…"} as it would be posted, is written to
// stdout as one line of JSON. The error is non-nil when the job failed or
// could not be run.
func RunTestInput(ctx context.Context, path string, h Handler, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the test input: %w", err)
	}
	var j job
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("reading the test input: %w", err)
	}
	if len(j.Input) == 0 || string(j.Input) == "null" {
		return errors.New("the test input has no \"input\"") // rp_local.py: "Job has no input parameter"
	}
	out, werr := h.Handle(ctx, j.Input, func(float64) {})
	body, err := resultBody(out, werr)
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", body); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("test job failed: %w", werr)
	}
	return nil
}
