package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// storeVideo makes sure the video is in storage under the output's key and
// returns its size. The worker uploads OutputPath itself unless the
// generator reports having PUT the video to the output's URL; then the
// object's size is checked against the URL's bound, which S3 cannot
// enforce, and a larger video is deleted and the attempt fails.
func (w *generateWorker) storeVideo(ctx context.Context, req generator.Request, gres generator.Result) (int64, error) {
	out := req.Remote.Output
	if !gres.Uploaded {
		if err := storage.PutFile(ctx, w.deps.Storage, out.Key, req.OutputPath, "video/mp4"); err != nil {
			return 0, err
		}
		return gres.Size, nil
	}
	n, err := w.deps.Storage.Size(ctx, out.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, fmt.Errorf("the generator reported uploading the video, but storage has none at %s", out.Key)
	}
	if err != nil {
		return 0, fmt.Errorf("checking the uploaded video: %w", err)
	}
	if n > out.MaxBytes {
		_ = w.deps.Storage.Delete(context.WithoutCancel(ctx), out.Key)
		return 0, fmt.Errorf("the uploaded video is %d bytes, more than the %d allowed", n, out.MaxBytes)
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
