package generator

import "fmt"

// The sizes and rates every generator makes: the one definition the
// configuration's defaults, a request's options and the API's documentation
// are checked against.
const (
	MinSide = 128  // pixels, width or height
	MaxSide = 1920 // pixels
	MinFPS  = 10
	MaxFPS  = 60
)

// CheckSide says what is wrong with a width or height ("" if nothing):
// an even number of pixels from MinSide to MaxSide (H.264 in 4:2:0 needs
// even sides).
func CheckSide(px int) string {
	if px < MinSide || px > MaxSide || px%2 != 0 {
		return fmt.Sprintf("must be an even number from %d to %d", MinSide, MaxSide)
	}
	return ""
}

// CheckFPS says what is wrong with a frame rate ("" if nothing).
func CheckFPS(fps int) string {
	if fps < MinFPS || fps > MaxFPS {
		return fmt.Sprintf("must be from %d to %d", MinFPS, MaxFPS)
	}
	return ""
}
