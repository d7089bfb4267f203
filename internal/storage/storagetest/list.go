package storagetest

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// runList checks List: what it reports under a prefix, and that fn's
// error stops it.
func runList(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// Object stores keep times to the second (S3's Last-Modified).
		before := time.Now().Add(-time.Second)
		objects := map[string]string{
			"inputs/job-1/image.png": "png", "inputs/job-1/audio.wav": "wave",
			"inputs/job-10/image.png": "x", "results/job-1-1.mp4": "video!",
		}
		for key, data := range objects {
			put(t, s, key, []byte(data))
		}
		after := time.Now().Add(time.Second)
		tests := map[string][]string{
			"":               slices.Sorted(maps.Keys(objects)),
			"inputs/":        {"inputs/job-1/audio.wav", "inputs/job-1/image.png", "inputs/job-10/image.png"},
			"inputs/job-1/":  {"inputs/job-1/audio.wav", "inputs/job-1/image.png"},
			"inputs/job-1":   {"inputs/job-1/audio.wav", "inputs/job-1/image.png", "inputs/job-10/image.png"},
			"results/job-1-": {"results/job-1-1.mp4"},
			"staging/":       nil,
			"nothing/at/all": nil,
		}
		for prefix, want := range tests {
			var got []string
			err := s.List(t.Context(), prefix, func(o storage.Object) error {
				if o.Partial {
					t.Errorf("List(%q) reports %q partial", prefix, o.Key)
				}
				if o.Size != int64(len(objects[o.Key])) {
					t.Errorf("List(%q): %q is %d bytes, want %d", prefix, o.Key, o.Size, len(objects[o.Key]))
				}
				if o.ModTime.Before(before) || o.ModTime.After(after) {
					t.Errorf("List(%q): %q modified %s, want between %s and %s", prefix, o.Key, o.ModTime, before, after)
				}
				got = append(got, o.Key)
				return nil
			})
			if err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			if slices.Sort(got); !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, want %q", prefix, got, want)
			}
		}

		stop := errors.New("stop")
		n := 0
		err := s.List(t.Context(), "", func(storage.Object) error { n++; return stop })
		if err != stop || n != 1 { // List returns fn's error unwrapped
			t.Fatalf("List with fn failing: %v after %d objects, want fn's error after 1", err, n)
		}
		if err := s.Delete(t.Context(), "results/job-1-1.mp4"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		var left []string
		if err := s.List(t.Context(), "results/", func(o storage.Object) error { left = append(left, o.Key); return nil }); err != nil || left != nil {
			t.Fatalf("List after Delete = %q, %v; want nothing", left, err)
		}
	})
}
