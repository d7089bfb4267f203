package serverless

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestWorkerMakesAVideo is the whole of `worker --runpod` against the
// RunPod double and a storage server: the API's runpod.Input submitted to
// /run becomes an MP4 at the output URL and a runpod.Output as the job's
// result, with progress on the way.
func TestWorkerMakesAVideo(t *testing.T) {
	t.Parallel()
	files := newStorage(t)
	h, hlog := handler(t, still.New("", ""))
	r := start(t, h, nil)
	in, err := json.Marshal(files.input())
	if err != nil {
		t.Fatal(err)
	}
	id := r.submit(t, string(in))
	rec := r.ended(t, id)
	if rec.Status != runpod.Completed {
		t.Fatalf("job: %+v (%v)", rec, runpod.ParseError(rec.Error))
	}
	var out runpod.Output
	if err := json.Unmarshal(rec.Output, &out); err != nil {
		t.Fatal(err)
	}
	m := testkit.Probe(t, files.uploaded(t))
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || out.Video.Bytes == 0 || out.Generator != "still" {
		t.Errorf("video %+v, output %+v", m, out)
	}
	if len(rec.Progress) == 0 {
		t.Error("no progress was posted")
	}
	if rec.ExecutionTime <= 0 || rec.ExecutionTime > time.Minute {
		t.Errorf("execution time %s", rec.ExecutionTime)
	}
	checkClean(t, h, hlog)
}
