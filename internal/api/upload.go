package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// upload is a parsed POST /generate body: the files in a private temporary
// directory (removed by Close), the text fields in memory.
type upload struct {
	dir         string
	imagePath   string
	audioPath   string
	fields      map[string]string
	fingerprint string
}

// Close removes the uploaded files.
func (u *upload) Close() error { return os.RemoveAll(u.dir) }

const (
	maxFieldBytes = 64 << 10 // a text field (the prompt is checked again, in characters)
	maxParts      = 16
)

var textFields = map[string]bool{"prompt": true, "width": true, "height": true, "fps": true, "seed": true, "face_fallback": true,
	"max_queue_seconds": true, "webhook_url": true, "webhook_events": true}

// parseUpload streams a multipart body to files under tmpDir, never holding
// a file in memory, and refuses oversized parts as soon as they pass their
// limit. On error nothing is left on disk.
func parseUpload(w http.ResponseWriter, r *http.Request, tmpDir string, lim UploadPolicy) (*upload, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return nil, problem.New(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"send the request as multipart/form-data with the parts image, audio and prompt")
	}
	total := lim.maxBody()
	if r.ContentLength > total {
		return nil, problem.Newf(http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
			"the request is %d bytes; at most %d are accepted", r.ContentLength, total)
	}
	if err := os.MkdirAll(tmpDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating upload directory: %w", err)
	}
	dir, err := os.MkdirTemp(tmpDir, "upload-")
	if err != nil {
		return nil, fmt.Errorf("creating upload directory: %w", err)
	}
	u := &upload{dir: dir, fields: map[string]string{}}
	body := newPacedReader(http.MaxBytesReader(nil, r.Body, total), w, lim, r.ContentLength, time.Now)
	if err := u.read(multipart.NewReader(body, params["boundary"]), lim); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

func (u *upload) read(mr *multipart.Reader, lim UploadPolicy) error {
	fp := fingerprint{}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bodyError(err, lim)
		}
		if n >= maxParts {
			return problem.Newf(http.StatusBadRequest, CodeBadRequest, "too many parts; at most %d", maxParts)
		}
		name := part.FormName()
		switch {
		case name == "image" && u.imagePath == "":
			u.imagePath, err = u.save(part, "image", lim.ImageBytes, CodeImageTooLarge, fp, lim)
		case name == "audio" && u.audioPath == "":
			u.audioPath, err = u.save(part, "audio", lim.AudioBytes, CodeAudioTooLarge, fp, lim)
		case textFields[name] && u.fields[name] == "":
			u.fields[name], err = readField(part, fp, lim)
		default:
			err = problem.Newf(http.StatusBadRequest, CodeBadRequest,
				"unexpected or repeated part %q; send image, audio, prompt and optionally width, height, fps, seed, face_fallback, max_queue_seconds, webhook_url, webhook_events", name)
		}
		part.Close()
		if err != nil {
			return err
		}
	}
	for _, req := range []struct{ name, path string }{{"image", u.imagePath}, {"audio", u.audioPath}} {
		if req.path == "" {
			return problem.Newf(http.StatusUnprocessableEntity, CodeMissingField, "the %s part is missing", req.name)
		}
	}
	u.fingerprint = fp.sum()
	return nil
}

// fingerprint identifies a request's inputs without decoding them: each
// part is hashed apart while it streams in, and the parts' names, lengths
// and hashes are combined in name order. Bytes moved from the end of one
// part to the start of another change it (the lengths differ), and so does
// any change to any part.
type fingerprint map[string]string

func (f fingerprint) add(name string, n int64, h hash.Hash) {
	f[name] = strconv.FormatInt(n, 10) + ":" + hex.EncodeToString(h.Sum(nil))
}

func (f fingerprint) sum() string {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	all := sha256.New()
	for _, name := range names {
		fmt.Fprintf(all, "%d:%s=%s\n", len(name), name, f[name])
	}
	return hex.EncodeToString(all.Sum(nil))
}

// save writes a file part to disk, at most limit bytes.
func (u *upload) save(part *multipart.Part, name string, limit int64, code string, fp fingerprint, lim UploadPolicy) (string, error) {
	path := filepath.Join(u.dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating upload file: %w", err)
	}
	h := sha256.New()
	fw := &fileWriter{f: f}
	n, err := io.Copy(io.MultiWriter(fw, h), io.LimitReader(part, limit+1))
	if cerr := f.Close(); fw.err == nil && cerr != nil {
		fw.err = cerr
	}
	if fw.err != nil { // our disk, not the client's body
		return "", fmt.Errorf("%w: writing upload: %w", job.ErrUnavailable, fw.err)
	}
	if err != nil {
		return "", bodyError(err, lim)
	}
	if n > limit {
		return "", problem.Newf(http.StatusRequestEntityTooLarge, code, "the %s is larger than %d bytes", name, limit)
	}
	if n == 0 {
		return "", problem.Newf(http.StatusUnprocessableEntity, CodeMissingField, "the %s part is empty", name)
	}
	fp.add(name, n, h)
	return path, nil
}

func readField(part *multipart.Part, fp fingerprint, lim UploadPolicy) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
	if err != nil {
		return "", bodyError(err, lim)
	}
	if len(b) > maxFieldBytes {
		return "", problem.Newf(http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
			"the %s field is larger than %d bytes", part.FormName(), maxFieldBytes)
	}
	h := sha256.New()
	h.Write(b)
	fp.add(part.FormName(), int64(len(b)), h)
	return string(b), nil
}

// boolField parses an optional true/false field.
func (u *upload) boolField(name string) (bool, error) {
	switch strings.ToLower(u.fields[name]) {
	case "", "false", "0", "no":
		return false, nil
	case "true", "1", "yes":
		return true, nil
	}
	return false, problem.Newf(http.StatusUnprocessableEntity, CodeInvalidRequest, "%s must be true or false", name)
}

// intField parses an optional whole-number field.
func (u *upload) intField(name string) (int, error) {
	v := u.fields[name]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, problem.Newf(http.StatusUnprocessableEntity, CodeInvalidRequest, "%s must be a whole number", name)
	}
	return n, nil
}

// fileWriter remembers its own write errors, to tell a full disk from a
// broken request body.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// bodyError explains a failure to read the request body.
func bodyError(err error, lim UploadPolicy) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problem.Newf(http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
			"the request is larger than %d bytes", mbe.Limit)
	}
	if why := lim.uploadTimeout(err); why != "" {
		return problem.New(http.StatusRequestTimeout, CodeRequestTimeout, why).WithHeader("Connection", "close")
	}
	return problem.Newf(http.StatusBadRequest, CodeBadRequest, "the multipart body could not be read: %v", err)
}
