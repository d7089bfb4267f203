// Package storage keeps job inputs and finished videos, and hands out signed,
// expiring URLs to download them and to upload a video directly. Two backends implement Storage: the local
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
// "inputs/<job-id>/image.png", "results/<job-id>-<attempt>.mp4" or
// "staging/<job-id>-<attempt>-<run>.mp4".
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
	// UploadURL returns a URL at which anyone holding it can PUT the
	// object's bytes, with no credentials, until expires. The upload is
	// atomic as Put is; a second PUT to the same URL replaces the object, as
	// atomically. The URL is good for key only, and for PUT only: a URL
	// from URL cannot upload, nor this one download.
	//
	// maxBytes (positive) bounds the upload where the backend can enforce
	// it; S3 cannot (see s3.Bucket.UploadURL), so a caller that must bound
	// the size checks Size once the upload is done.
	UploadURL(ctx context.Context, key string, expires time.Time, maxBytes int64) (string, error)
	// Size returns the object's length in bytes; ErrNotFound if it does not
	// exist.
	Size(ctx context.Context, key string) (int64, error)
	// Ping checks that the backend is reachable and writable.
	Ping(ctx context.Context) error
	// List calls fn for each object whose key begins with prefix (a plain
	// string prefix, "" for all), and for each leftover of an interrupted
	// write there (Object.Partial). It stops at fn's first error and
	// returns it unwrapped, so that a caller may stop early with a
	// sentinel of its own. Objects written or deleted while List runs may
	// or may not be seen.
	List(ctx context.Context, prefix string, fn func(Object) error) error
}

// Object is what List tells of a stored object: what the garbage
// collector needs to decide whether it is still wanted.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time // when it was last written
	// Partial marks what a write that never finished left behind (the
	// local disk's temporary file of a Put whose process died), never an
	// object a Put completed. Delete of its Key removes it.
	Partial bool
}
