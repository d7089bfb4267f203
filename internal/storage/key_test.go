package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/storage"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a", "inputs/job-1/image.png", "results/job 1+2.mp4", "a/.hidden", "a/..b/c", "vidéo.mp4",
		strings.Repeat("n", storage.MaxSegmentLen), strings.Repeat(strings.Repeat("n", 254)+"/", 4) + strings.Repeat("n", 3)} {
		if err := storage.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	for _, key := range []string{"", "/a", "..", "../a", "a/../b", "a/..", ".", "./a", "a/./b", "a//b", "a/", `a\b`, "a\x00b", "a\nb", "a\x7fb",
		strings.Repeat("n", storage.MaxSegmentLen+1), "results/" + strings.Repeat("n", 256) + "/0.mp4", strings.Repeat("n/", 512) + "n"} {
		if err := storage.ValidateKey(key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want storage.ErrInvalidKey", key, err)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                  "",
		"avatar.mp4":        `attachment; filename="avatar.mp4"`,
		`a "quoted\" name`:  `attachment; filename="a _quoted__ name"`,
		"../../etc/passwd":  `attachment; filename=".._.._etc_passwd"`,
		"line\r\nbreak.mp4": `attachment; filename="line__break.mp4"`,
		"vidéo finale.mp4":  `attachment; filename="vid_o finale.mp4"; filename*=UTF-8''vid%C3%A9o%20finale.mp4`,
		"a+b.mp4":           `attachment; filename="a+b.mp4"`,
	}
	for name, want := range tests {
		if got := storage.ContentDisposition(name); got != want {
			t.Errorf("ContentDisposition(%q) = %q, want %q", name, got, want)
		}
	}
}
