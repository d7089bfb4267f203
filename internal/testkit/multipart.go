package testkit

import (
	"bytes"
	"mime/multipart"
	"os"
	"path/filepath"
	"testing"
)

// Part is one part of a multipart/form-data body: a file read from File
// (sent under its base name), bytes given as Data (sent under Name), or a
// text field of Value.
type Part struct {
	Name  string
	File  string
	Data  []byte
	Value string
}

// Multipart encodes parts, in order, as a multipart/form-data body and
// returns it with its Content-Type.
func Multipart(t testing.TB, parts ...Part) ([]byte, string) {
	t.Helper()
	body, ct, err := EncodeMultipart(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return body, ct
}

// EncodeMultipart is Multipart for a goroutine of a test, which must not
// stop the test itself.
func EncodeMultipart(parts ...Part) ([]byte, string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		data, filename := p.Data, p.Name
		switch {
		case p.File != "":
			var err error
			if data, err = os.ReadFile(p.File); err != nil {
				return nil, "", err
			}
			filename = filepath.Base(p.File)
		case p.Data == nil:
			if err := w.WriteField(p.Name, p.Value); err != nil {
				return nil, "", err
			}
			continue
		}
		fw, err := w.CreateFormFile(p.Name, filename)
		if err != nil {
			return nil, "", err
		}
		_, _ = fw.Write(data)
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), w.FormDataContentType(), nil
}
