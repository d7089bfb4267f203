package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// resultKey is where attempt's video of j is kept: one key per attempt,
// so that an attempt wrongly taken for dead that finishes late does not
// overwrite, nor on its conflict delete, its successor's video.
func resultKey(j *store.Job) string { return fmt.Sprintf("results/%s-%d.mp4", j.ID, j.Attempt) }

// storeVideo puts the video in storage under key and returns its size.
// The worker uploads OutputPath itself unless the generator reports having
// PUT the video to the output's staging URL; then the staged object is
// checked (not empty, within the bound S3 cannot enforce), copied to key
// — exactly the bytes checked — and deleted, whatever the outcome. The
// staging URL stays valid until the attempt's deadline, but nothing
// written to it later reaches the result.
func (w *generateWorker) storeVideo(ctx context.Context, req generator.Request, gres generator.Result, key string) (int64, error) {
	if !gres.Uploaded {
		if err := storage.PutFile(ctx, w.deps.Storage, key, req.OutputPath, "video/mp4"); err != nil {
			return 0, err
		}
		return gres.Size, nil
	}
	staged := req.Remote.Output
	st := w.deps.Storage
	defer func() { _ = st.Delete(context.WithoutCancel(ctx), staged.Key) }()
	n, err := st.Size(ctx, staged.Key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0, fmt.Errorf("the generator reported uploading the video, but storage has none at %s", staged.Key)
	case err != nil:
		return 0, fmt.Errorf("checking the uploaded video: %w", err)
	case n == 0:
		return 0, errors.New("the uploaded video is empty")
	case n > staged.MaxBytes:
		return 0, fmt.Errorf("the uploaded video is %d bytes, more than the %d allowed", n, staged.MaxBytes)
	}
	rc, err := st.Open(ctx, staged.Key)
	if err != nil {
		return 0, fmt.Errorf("reading the uploaded video: %w", err)
	}
	defer rc.Close()
	if err := st.Put(ctx, key, io.LimitReader(rc, n), n, "video/mp4"); err != nil {
		return 0, fmt.Errorf("storing the uploaded video: %w", err)
	}
	return n, nil
}

// Bounds of a video a generator uploads itself (maxVideoBytes). They stop
// a runaway or hostile upload from filling storage, not a large video: at
// one bit per pixel and frame, a 1080p video at 30 fps may run at 62 Mbit/s,
// several times what H.264 needs for a talking head at any quality.
const (
	videoBitsPerPixel   = 1
	audioBytesPerSecond = 64 << 10 // 512 kbit/s, more than any AAC stream we make
	containerBytes      = 1 << 20  // MP4 boxes and index
	// unknownDuration stands for the audio's length for jobs accepted
	// before it was recorded: twice media's default limit.
	unknownDuration = 10 * time.Minute
)

// maxVideoBytes is the largest video accepted for j: its frames at
// videoBitsPerPixel, its sound at audioBytesPerSecond, for its audio's
// length rounded up plus a second, and containerBytes.
func maxVideoBytes(j *store.Job) int64 {
	d := j.AudioDuration
	if d <= 0 {
		d = unknownDuration
	}
	seconds := int64(d/time.Second) + 2
	perSecond := int64(j.Width)*int64(j.Height)*int64(j.FPS)*videoBitsPerPixel/8 + audioBytesPerSecond
	return containerBytes + seconds*perSecond
}
