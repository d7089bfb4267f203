package media

import (
	"bytes"
	"testing"
)

func TestSniffAudio(t *testing.T) {
	t.Parallel()
	id3 := func(payload string) []byte { // an ID3v2 tag with a 20-byte body
		return append([]byte("ID3\x04\x00\x00\x00\x00\x00\x14"+string(make([]byte, 20))), payload...)
	}
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return b
	}
	tests := []struct {
		name string
		head []byte
		want string // "" means refused
	}{
		{"wav", []byte("RIFF\x00\x00\x00\x00WAVEfmt "), "wav"},
		{"ogg", []byte("OggS\x00\x02"), "ogg"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), "flac"},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), "webm"},
		{"matroska", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"), ""},
		{"m4a brand", ftyp("M4A ", "M4A ", "mp42", "isom"), "m4a"},
		{"generic brand", ftyp("mp42", "isom"), "m4a"},
		{"quicktime", ftyp("qt  ", "qt  "), ""},
		{"heic", ftyp("heic", "mif1"), ""},
		{"mp3 frame", []byte{0xFF, 0xFB, 0x90, 0x64}, "mp3"},
		{"mpeg-2 mp3 frame", []byte{0xFF, 0xF3, 0x90, 0x64}, "mp3"},
		{"adts", []byte{0xFF, 0xF1, 0x50, 0x80}, "aac"},
		{"mp2 frame", []byte{0xFF, 0xFD, 0x90, 0x64}, ""},
		{"id3 then mp3", id3("\xff\xfb\x90\x64"), "mp3"},
		{"id3 then adts", id3("\xff\xf1\x50\x80"), "aac"},
		{"id3 then flac", id3("fLaC"), "flac"},
		{"gif", []byte("GIF89a"), ""},
		{"avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			head := tt.head[:min(len(tt.head), sniffLen)]
			got, err := sniffAudio(bytes.NewReader(tt.head), head)
			if tt.want == "" {
				if codeOf(err) != CodeUnsupportedAudioType {
					t.Fatalf("got %q, %v; want unsupported_audio_type", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"GIF87a...": "a GIF image",
		"BM\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00": "a BMP image",
		"II*\x00":                       "a TIFF image",
		"%PDF-1.7":                      "a PDF document",
		"PK\x03\x04":                    "a ZIP archive",
		"\x00\x00\x00\x18ftypheic":      "a HEIC image",
		"\x00\x00\x00\x18ftypavif":      "an AVIF image",
		"\xef\xbb\xbf  <!DOCTYPE html>": "an HTML page",
		"plain text":                    "",
	}
	for in, want := range tests {
		if got := describe([]byte(in)); got != want {
			t.Errorf("describe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStderrReason(t *testing.T) {
	t.Parallel()
	path := "/var/tmp/uploads/abc123.wav"
	stderr := "[wav @ 0x55d0c8a0f2c0] some warning\nfile:" + path + ": corrupt input packet in stream 0\n"
	if got, want := stderrReason(stderr, path), "corrupt input packet in stream 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	stderr = "[mp3float @ 0x55f56d0e7fc0] cannot open " + path + " twice\n"
	if got, want := stderrReason(stderr, path), "mp3float: cannot open the audio twice"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
