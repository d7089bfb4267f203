package face

import (
	"embed"
	"fmt"
	"sync"

	pigo "github.com/esimov/pigo/core"
)

// The cascades are pigo v1.4.6's trained files (MIT); see cascade/README.md.
//
//go:embed cascade/facefinder cascade/puploc cascade/lp81 cascade/lp82 cascade/lp84
var cascadeFiles embed.FS

// models holds every parsed cascade. All are read-only after parsing, so
// one set is shared by concurrent Detect calls.
type models struct {
	face        *pigo.Pigo
	pupil       *landmarkCascade
	mouthCorner *landmarkCascade // lp84: image-left corner; mirrored for the right one
	upperLip    *landmarkCascade // lp81
	lowerLip    *landmarkCascade // lp82
}

// loadModels parses the embedded cascades on first use (a few MB of trees;
// far too slow to repeat per portrait).
var loadModels = sync.OnceValues(func() (*models, error) {
	b, err := cascadeFiles.ReadFile("cascade/facefinder")
	if err != nil {
		return nil, fmt.Errorf("read facefinder: %w", err)
	}
	face, err := pigo.NewPigo().Unpack(b)
	if err != nil {
		return nil, fmt.Errorf("parse facefinder: %w", err)
	}
	m := &models{face: face}
	for _, c := range []struct {
		name string
		dst  **landmarkCascade
	}{
		{"puploc", &m.pupil},
		{"lp84", &m.mouthCorner},
		{"lp81", &m.upperLip},
		{"lp82", &m.lowerLip},
	} {
		b, err := cascadeFiles.ReadFile("cascade/" + c.name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.name, err)
		}
		if *c.dst, err = parseLandmarkCascade(b); err != nil {
			return nil, fmt.Errorf("parse %s: %w", c.name, err)
		}
	}
	return m, nil
})
