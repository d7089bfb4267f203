package s3

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/storage/storagetest"
)

// newStore returns a store on the test bucket under a key prefix of its own,
// so parallel tests never see each other's objects.
func newStore(t *testing.T, modify ...func(*Config)) *Bucket {
	t.Helper()
	cfg := gw.config(testBucket)
	cfg.Prefix = "t/" + strings.ToLower(rand.Text())
	for _, m := range modify {
		m(&cfg)
	}
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Storage {
		s := newStore(t)
		s.now = now
		return s
	},
		// fasthttp v1.73.0 under versitygw reports a connection closed
		// before Content-Length as a normal end of body.
		storagetest.ServerKeepsAbortedUploads("versitygw v1.8.0 keeps a body cut short by the client; S3, R2 and MinIO discard it"),
		storagetest.UploadSizeUnbound("a presigned PUT cannot limit the size; callers check Size after the upload"))
}

func TestNew(t *testing.T) {
	t.Parallel()
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tests := map[string]Config{
		"NoBucket":      {Endpoint: gw.Endpoint},
		"OnlySecretKey": {Bucket: "b", SecretAccessKey: secret},
		"OnlyAccessKey": {Bucket: "b", AccessKeyID: "AKID"},
		"RelativeURL":   {Bucket: "b", Endpoint: "localhost:9000"},
		"UnknownScheme": {Bucket: "b", Endpoint: "ftp://example.com"},
		"UnparsableURL": {Bucket: "b", Endpoint: "http://[::1"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(t.Context(), cfg)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error reveals the secret access key: %v", err)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	prefixed := newStore(t, func(c *Config) { c.Prefix = "/tenant-" + strings.ToLower(rand.Text()[:8]) })
	if err := prefixed.Put(t.Context(), "inputs/a.png", strings.NewReader("png"), 3, "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	out, err := prefixed.client.GetObject(t.Context(), &awss3.GetObjectInput{
		Bucket: aws.String(testBucket),
		Key:    aws.String(prefixed.prefix + "inputs/a.png"),
	})
	if err != nil {
		t.Fatalf("GetObject %q: %v", prefixed.prefix+"inputs/a.png", err)
	}
	defer out.Body.Close()
	if !strings.HasPrefix(prefixed.prefix, "tenant-") || !strings.HasSuffix(prefixed.prefix, "/") {
		t.Errorf("prefix = %q, want it without a leading slash and with a trailing one", prefixed.prefix)
	}
	if got := aws.ToString(out.ContentType); got != "image/png" {
		t.Errorf("stored Content-Type = %q, want image/png", got)
	}
}

func TestPutUnknownSize(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	r := strings.NewReader("skip:the rest")
	if _, err := io.CopyN(io.Discard, r, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "k", r, -1, ""); err != nil {
		t.Fatalf("Put of a seeker with size -1: %v", err)
	}
	rc, err := s.Open(t.Context(), "k")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "the rest" {
		t.Fatalf("Open = %q, want %q", got, "the rest")
	}

	unseekable := struct{ io.Reader }{strings.NewReader("x")}
	if err := s.Put(t.Context(), "k2", unseekable, -1, ""); err == nil {
		t.Fatal("Put of a plain reader with size -1 succeeded, want an error")
	}
}

func TestMissingBucketIsNotErrNotFound(t *testing.T) {
	t.Parallel()
	s := newStore(t, func(c *Config) { c.Bucket = "no-such-bucket" })
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping of a missing bucket succeeded")
	}
	_, err := s.Open(t.Context(), "k")
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open in a missing bucket: error = %v, want one that is not storage.ErrNotFound", err)
	}
}

func TestWrongSecretIsNotLeaked(t *testing.T) {
	t.Parallel()
	const wrong = "thisIsNotTheRightSecretAccessKey0123456789"
	s := newStore(t, func(c *Config) { c.SecretAccessKey = wrong })
	err := s.Put(t.Context(), "k", strings.NewReader("x"), 1, "")
	if err == nil {
		t.Fatal("Put with a wrong secret succeeded")
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), gw.SecretKey) {
		t.Fatalf("error reveals a secret access key: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil || strings.Contains(err.Error(), wrong) {
		t.Fatalf("Ping error = %v, want an error without the secret", err)
	}
}

// TestURLMaxExpiry: SigV4 presigned URLs, for download or upload, last at
// most MaxURLExpiry. (That an expired URL is refused is in the contract.)
func TestURLMaxExpiry(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	tooLate := time.Now().Add(MaxURLExpiry + time.Hour)
	if _, err := s.URL(t.Context(), "k", tooLate, ""); err == nil {
		t.Error("URL beyond the SigV4 maximum succeeded, want an error")
	}
	if _, err := s.UploadURL(t.Context(), "k", tooLate, 1); err == nil {
		t.Error("UploadURL beyond the SigV4 maximum succeeded, want an error")
	}
	if _, err := s.UploadURL(t.Context(), "k", time.Now().Add(MaxURLExpiry-time.Minute), 1); err != nil {
		t.Errorf("UploadURL within the SigV4 maximum: %v", err)
	}
}

func TestRetryRewindsSeekableBody(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("abc"), 1000)
	r := bytes.NewReader(data)
	body := newExactReader(r, int64(len(data)))
	sk, ok := body.(io.Seeker)
	if !ok {
		t.Fatal("exact reader over a bytes.Reader is not seekable")
	}
	start, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, body, 1500); err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Seek(start, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after rewind read %d bytes, err %v; want all %d", len(got), err, len(data))
	}
}
