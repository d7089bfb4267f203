// Package storage keeps job inputs and finished videos, and hands out signed,
// expiring download URLs for them. Two backends implement Storage: the local
// disk (the embedded default, served by the API itself) and any S3-compatible
// service (AWS S3, Cloudflare R2, MinIO, versitygw).
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("object not found")

// Storage stores objects under slash-separated keys such as
// "inputs/<job-id>/image.png" or "results/<job-id>.mp4".
//
// Put is atomic: a reader never sees a partly written object, and a failed
// Put leaves nothing behind. Delete of a missing key is not an error.
type Storage interface {
	// Put stores size bytes read from r under key.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns the object's content; ErrNotFound if it does not exist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// URL returns a URL from which anyone holding it can GET the object
	// until expires; filename is suggested to the browser for saving.
	URL(ctx context.Context, key string, expires time.Time, filename string) (string, error)
	// Ping checks that the backend is reachable and writable.
	Ping(ctx context.Context) error
}
