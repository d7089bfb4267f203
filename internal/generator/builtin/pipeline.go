package builtin

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/animate"
)

// frameWriter takes frames in order; *encode.Encoder is one.
type frameWriter interface {
	WriteFrame(frame []byte) error
}

// render draws the frames on workers goroutines and writes them in order.
// Memory is bounded: 2×workers frame buffers circulate, and a worker takes
// a buffer before it takes the next frame number, so the buffers are always
// held by the lowest frames not yet written and the writer never starves.
func render(ctx context.Context, s *animate.Scene, poses []animate.Pose, workers int, w frameWriter, progress generator.ProgressFunc) error {
	n := len(poses)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	buffers := make(chan []byte, 2*workers)
	for range cap(buffers) {
		buffers <- make([]byte, s.FrameSize())
	}
	ready := make([]chan []byte, n)
	for i := range ready {
		ready[i] = make(chan []byte, 1)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				var buf []byte
				select {
				case buf = <-buffers:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s.Render(buf, poses[i])
				ready[i] <- buf
			}
		})
	}
	defer wg.Wait()
	for i := range n {
		var buf []byte
		select {
		case buf = <-ready[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := w.WriteFrame(buf); err != nil {
			return err
		}
		buffers <- buf
		if progress != nil {
			progress(i+1, n)
		}
	}
	return nil
}
