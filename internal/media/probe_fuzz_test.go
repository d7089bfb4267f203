package media

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

// FuzzProbeOutput reads what ffprobe and ffmpeg report about an upload
// (their output repeats what the file's headers claim): one audio stream
// is chosen or the file is refused with an audio code, a claimed length
// lies between zero and the cap parseSeconds puts on it, and the decoded
// length from -progress output is never negative and never wraps.
func FuzzProbeOutput(f *testing.F) {
	f.Add([]byte(`{"streams":[{"codec_type":"audio","codec_name":"pcm_s16le","sample_rate":"22050","channels":1,"duration":"4.660000"}],"format":{"duration":"4.660000"}}`),
		[]byte("out_time_us=4660000\nprogress=end\n"))
	f.Add([]byte(`{"streams":[{"codec_type":"video","disposition":{"attached_pic":1}},{"codec_type":"audio","duration":"N/A"}],"format":{"duration":"nan"}}`),
		[]byte("out_time_us=N/A\nout_time_us=-9223372036854775807\n"))
	f.Add([]byte(`{"streams":[{"codec_type":"audio"},{"codec_type":"audio"}]}`), []byte("out_time_us=9223372036854775807"))
	f.Fuzz(func(t *testing.T, probe, progress []byte) {
		want := time.Duration(0)
		if us, ok := lastValue(progress); ok && us > math.MaxInt64/1000 {
			want = math.MaxInt64
		} else if ok && us > 0 {
			want = time.Duration(us) * time.Microsecond
		}
		if d := lastOutTime(progress); d != want {
			t.Fatalf("decoded length %v from %q; want %v", d, progress, want)
		}
		var r probeResult
		if json.Unmarshal(probe, &r) != nil {
			return
		}
		s, err := r.audioStream()
		if err != nil {
			var re *refusal.Error
			if !errors.As(err, &re) || (re.Code != refusal.CodeInvalidAudio && re.Code != CodeUnsupportedAudioType) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if s.CodecType != "audio" {
			t.Fatalf("chose a %q stream", s.CodecType)
		}
		for _, estimated := range []bool{false, true} {
			r.estimated = estimated
			d, trusted := r.claimedDuration(s)
			if d < 0 || d > 1e7*time.Second || (trusted && (d == 0 || estimated)) {
				t.Fatalf("claimed %v (trusted %v) from %q / %q", d, trusted, s.Duration, r.Format.Duration)
			}
		}
	})
}

// lastValue is the last out_time_us that parses as a number.
func lastValue(progress []byte) (int64, bool) {
	var us int64
	var ok bool
	for line := range strings.SplitSeq(string(progress), "\n") {
		if v, found := strings.CutPrefix(strings.TrimSpace(line), "out_time_us="); found {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				us, ok = n, true
			}
		}
	}
	return us, ok
}
