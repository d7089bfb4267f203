package serverless

import (
	"context"
	"math"
	"time"

	"github.com/avatar-api/avatar-api/internal/gpu"
	"github.com/avatar-api/avatar-api/internal/runpod"
)

// maxGPUSamples bounds the readings one output carries (an hour of one
// GPU at 5 s): RunPod bounds the size of a job's output.
const maxGPUSamples = 720

// sample reads the GPUs every SampleEvery, from now until the returned
// function is called, which returns the readings. Without NvidiaSMI it
// reads nothing. A failed reading is logged once and sampling goes on: a
// video is not failed for want of figures.
func (j *genJob) sample(ctx context.Context) func() []runpod.GPUSample {
	if j.g.NvidiaSMI == "" {
		return func() []runpod.GPUSample { return nil }
	}
	every := j.g.SampleEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	var samples []runpod.GPUSample // the goroutine's until done is closed
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		warned := false
		for {
			s, err := gpu.Query(ctx, j.g.NvidiaSMI)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil && !warned:
				warned = true
				j.log.WarnContext(ctx, "reading the GPU failed", "error", err)
			case err == nil:
				for _, r := range s {
					if len(samples) < maxGPUSamples {
						samples = append(samples, gpuSample(r))
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() []runpod.GPUSample {
		cancel()
		<-done
		return samples
	}
}

// gpuSample is r as the output carries it. JSON has no NaN: a
// utilization the GPU did not give is -1, as unknown memory figures are.
func gpuSample(r gpu.Sample) runpod.GPUSample {
	u := r.Utilization
	if math.IsNaN(u) {
		u = -1
	}
	return runpod.GPUSample{GPU: r.GPU, Utilization: u, MemoryUsedBytes: r.MemoryUsedBytes,
		MemoryTotalBytes: r.MemoryTotalBytes, At: r.At}
}
