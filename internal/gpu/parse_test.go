package gpu

import (
	"math"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

func TestParse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	nan := math.NaN()
	for _, c := range []struct {
		name string
		out  string
		want []Sample // nil: an error
		err  string   // in the error
	}{
		{"one GPU", "45, 1024, 24576\n", []Sample{{0, 0.45, 1024 * mib, 24576 * mib, at}}, ""},
		{"no final newline", "0, 0, 81920", []Sample{{0, 0, 0, 81920 * mib, at}}, ""},
		{"four GPUs, blank lines after", "100, 79000, 81920\n0, 5, 81920\n7, 100, 81920\n99, 81920, 81920\n\n \n",
			[]Sample{{0, 1, 79000 * mib, 81920 * mib, at}, {1, 0, 5 * mib, 81920 * mib, at}, {2, 0.07, 100 * mib, 81920 * mib, at}, {3, 0.99, 81920 * mib, 81920 * mib, at}}, ""},
		{"CRLF", "12, 1, 2\r\n13, 3, 4\r\n", []Sample{{0, 0.12, 1 * mib, 2 * mib, at}, {1, 0.13, 3 * mib, 4 * mib, at}}, ""},
		{"decimal percentage", "12.5, 1, 2\n", []Sample{{0, 0.125, 1 * mib, 2 * mib, at}}, ""},
		{"not available", "[N/A], [N/A], 24576\n[Not Supported], 100, [Unknown Error]\n[GPU is lost], [GPU is lost], [GPU is lost]\nN/A, [Insufficient Permissions], 1\n",
			[]Sample{{0, nan, -1, 24576 * mib, at}, {1, nan, 100 * mib, -1, at}, {2, nan, -1, -1, at}, {3, nan, -1, 1 * mib, at}}, ""},

		{"empty", "", nil, "no GPU listed"},
		{"only blank lines", "\n\n  \n", nil, "no GPU listed"},
		{"two fields", "45, 1024\n", nil, "line 1: want 3 values"},
		{"four fields", "45, 1, 2, 3\n", nil, "line 1: want 3 values"},
		{"second line malformed", "45, 1, 2\n45,1,2\n", nil, "line 2: want 3 values"},
		{"units left in", "45 %, 1024 MiB, 24576 MiB\n", nil, `line 1: utilization.gpu: "45 %" is not a percentage`},
		{"header left in", "utilization.gpu [%], memory.used [MiB], memory.total [MiB]\n45, 1, 2\n", nil, "line 1: utilization.gpu"},
		{"over 100 %", "101, 1, 2\n", nil, "line 1: utilization.gpu"},
		{"negative", "-1, 1, 2\n", nil, "line 1: utilization.gpu"},
		{"signed memory", "1, +1, 2\n", nil, "line 1: memory.used"},
		{"hex memory", "1, 1, 0x10\n", nil, "line 1: memory.total"},
		{"memory too large", "1, 1, 9999999999999\n", nil, "line 1: memory.total"},
		{"NaN", "NaN, 1, 2\n", nil, "line 1: utilization.gpu"},
		{"empty brackets", "[], 1, 2\n", nil, "line 1: utilization.gpu"},
		{"extra space", "45,  1, 2\n", nil, "line 1: memory.used"},
		{"blank line between GPUs", "1, 1, 2\n\n2, 1, 2\n", nil, "line 2 is blank"},
		{"blank first line", "\n1, 1, 2\n", nil, "line 1 is blank"},
		{"long line", strings.Repeat("1", 2000) + ", 1, 2\n", nil, "line 1 is longer than 1024 bytes"},
		{"65 GPUs", strings.Repeat("1, 1, 2\n", 65), nil, "line 65: more than 64 GPUs"},
	} {
		got, err := Parse([]byte(c.out), at)
		if c.want == nil {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !sameSamples(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

func TestParseQuotesOnlyACleanExcerpt(t *testing.T) {
	t.Parallel()
	secret := "token=" + strings.Repeat("s", 500)
	out := "45, 1, 2\n\x1b[2J\xff" + secret + ", 1\n"
	_, err := Parse([]byte(out), time.Now())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "line 2: ") || len(msg) > 120 || strings.Contains(msg, strings.Repeat("s", 40)) {
		t.Errorf("error quotes too much: %q", msg)
	}
	for _, c := range []byte(msg) {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("error holds byte %#x: %q", c, msg)
		}
	}
}

func sameSamples(a, b []Sample) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		sameU := x.Utilization == y.Utilization || math.IsNaN(x.Utilization) && math.IsNaN(y.Utilization)
		if x.GPU != y.GPU || !sameU || x.MemoryUsedBytes != y.MemoryUsedBytes || x.MemoryTotalBytes != y.MemoryTotalBytes || !x.At.Equal(y.At) {
			return false
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"45, 1024, 24576\n",
		"100, 79000, 81920\n0, 5, 81920\n7, 100, 81920\n99, 81920, 81920\n\n",
		"[N/A], [N/A], 24576\n[Not Supported], 100, [Unknown Error]\n",
		"12.5, 1, 2\r\n",
		"45, 1024\n",
		"\n1, 1, 2\n",
		"101, 1, 2",
	} {
		f.Add([]byte(s))
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, out []byte) {
		got, err := Parse(out, at)
		if err != nil {
			if got != nil {
				t.Fatalf("samples with an error: %v", got)
			}
			msg := err.Error()
			if len(msg) > 200 {
				t.Fatalf("error of %d bytes", len(msg))
			}
			for _, c := range []byte(msg) {
				if c < 0x20 || c > 0x7e {
					t.Fatalf("error holds byte %#x: %q", c, msg)
				}
			}
			return
		}
		if len(got) == 0 || len(got) > maxGPUs {
			t.Fatalf("%d samples", len(got))
		}
		for i, s := range got {
			u := s.Utilization
			switch {
			case s.GPU != i || !s.At.Equal(at):
				t.Fatalf("sample %d: %+v", i, s)
			case !math.IsNaN(u) && (u < 0 || u > 1):
				t.Fatalf("sample %d: utilization %v", i, u)
			case !inBytes(s.MemoryUsedBytes) || !inBytes(s.MemoryTotalBytes):
				t.Fatalf("sample %d: memory %d of %d", i, s.MemoryUsedBytes, s.MemoryTotalBytes)
			}
		}
	})
}

// inBytes reports whether n is unknown (-1) or a whole, non-negative
// number of MiB.
func inBytes(n int64) bool { return n == -1 || n >= 0 && n%mib == 0 }
