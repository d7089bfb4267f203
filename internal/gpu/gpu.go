// Package gpu reads how busy a worker's NVIDIA GPUs are, without cgo: it
// runs nvidia-smi with one fixed query and parses its CSV. A Sampler does
// so every few seconds while the worker runs a job, for the job's record
// and for the metrics endpoint.
package gpu

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// What nvidia-smi prints for the query Query makes, and where that is
// written down:
//
//   - nvidia-smi(1), the manual shipped with the driver (read at
//     manpages.ubuntu.com/manpages/noble/man1/nvidia-smi.1.html,
//     nvidia-utils-580-server): --format= takes "csv - comma separated
//     values (MANDATORY)", "noheader - skip the first line with column
//     headers", "nounits - don't print units for numerical values"; "Some
//     devices and/or environments don't support all possible information.
//     Any unsupported data is indicated by a "N/A" in the output."
//   - nvidia-smi --help-query-gpu (as quoted by NVIDIA in
//     github.com/NVIDIA/gpu-monitoring-tools/issues/12): "utilization.gpu":
//     "Percent of time over the past sample period during which one or more
//     kernels was executing on the GPU. The sample period may be between 1
//     second and 1/6 second depending on the product."; "memory.total":
//     "Total installed GPU memory."; "memory.used": "Total memory allocated
//     by active contexts." The NVML reference says the same of the value
//     behind it (docs.nvidia.com/deploy/nvml-api/structnvmlUtilization__t.html).
//   - Units: without nounits the header names them, "utilization.gpu [%]",
//     "memory.used [MiB]", "memory.total [MiB]", and values read "47 %",
//     "1934 MiB" (the outputs quoted in github.com/Quake4/MindMiner/issues/807
//     and paradoxxxzero/gnome-shell-system-monitor-applet/issues/356).
//   - In CSV a value that is not available is bracketed: "[N/A]", "[Not
//     Supported]", "[Unknown Error]" (github.com/enkore/i3pystatus pull
//     requests 776 and 850, from the drivers' output); "[GPU is lost]" and
//     "[Insufficient Permissions]" are seen in the same place by tools that
//     parse it. The manual names none of these, so any short bracketed
//     phrase is taken for "not available", as is a bare "N/A".
//   - One line per GPU, values separated by ", ", in the driver's natural
//     enumeration, which is what the manual's -i calls the GPU's "0-based
//     index". No text promises the order of the lines; the line's position
//     is taken for the index, since the query cannot name it without
//     changing the arguments.
//
// The manual also says "The output of NVSMI is not guaranteed to be
// backwards compatible", hence a strict Parse: a driver that changes the
// format makes sampling fail loudly instead of recording wrong figures.

// Sample is one reading of one GPU.
type Sample struct {
	GPU              int       // the GPU's index: its line's position in nvidia-smi's output, from 0
	Utilization      float64   // the share of the last sample period a kernel ran, 0..1; NaN when the GPU did not say
	MemoryUsedBytes  int64     // memory allocated by contexts; -1 when unknown
	MemoryTotalBytes int64     // memory installed; -1 when unknown
	At               time.Time // when the reading was taken
}

// ErrNoGPU is the error of output that lists no GPU: the tool ran but
// found nothing to report on.
var ErrNoGPU = errors.New("no GPU listed")

const (
	maxGPUs  = 64   // more lines than any machine we rent has GPUs: the output is not what we asked for
	maxLine  = 1024 // a line of three figures is a few dozen bytes
	mebibyte = 1 << 20
)

// Parse reads the output of nvidia-smi
// --query-gpu=utilization.gpu,memory.used,memory.total
// --format=csv,noheader,nounits, taken at at. It is strict: a line with
// another number of fields, a malformed or out-of-range figure, a blank
// line before the last GPU, a line over 1 KiB or more than 64 GPUs is an
// error naming the line, with at most a short, cleaned excerpt of it
// (output may be anything, and errors end up in logs). Blank lines at the
// end are fine. A value the GPU did not give ("[N/A]", "[Not Supported]"
// …) becomes NaN or -1.
func Parse(out []byte, at time.Time) ([]Sample, error) {
	var samples []Sample
	blank := 0 // the first of the blank lines since the last GPU's
	for n := 1; len(out) > 0; n++ {
		var line []byte
		line, out, _ = bytes.Cut(out, []byte("\n"))
		if len(line) > maxLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", n, maxLine)
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			if blank == 0 {
				blank = n
			}
			continue
		}
		if blank != 0 {
			return nil, fmt.Errorf("line %d is blank, and a GPU is listed after it", blank)
		}
		if len(samples) == maxGPUs {
			return nil, fmt.Errorf("line %d: more than %d GPUs listed", n, maxGPUs)
		}
		s, err := parseLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		s.GPU, s.At = len(samples), at
		samples = append(samples, s)
	}
	if len(samples) == 0 {
		return nil, ErrNoGPU
	}
	return samples, nil
}

// parseLine reads "utilization, used, total".
func parseLine(line string) (Sample, error) {
	f := strings.Split(line, ", ")
	if len(f) != 3 {
		return Sample{}, fmt.Errorf(`want 3 values separated by ", ", got %d in %q`, len(f), excerpt(line))
	}
	u, err := percent(f[0])
	if err != nil {
		return Sample{}, fmt.Errorf("utilization.gpu: %w", err)
	}
	used, err := mebibytes(f[1])
	if err != nil {
		return Sample{}, fmt.Errorf("memory.used: %w", err)
	}
	total, err := mebibytes(f[2])
	if err != nil {
		return Sample{}, fmt.Errorf("memory.total: %w", err)
	}
	return Sample{Utilization: u, MemoryUsedBytes: used, MemoryTotalBytes: total}, nil
}

// percent reads a percentage (nvidia-smi prints whole numbers; a decimal
// part is accepted) as a share, 0..1.
func percent(v string) (float64, error) {
	if unavailable(v) {
		return math.NaN(), nil
	}
	whole, frac, dot := strings.Cut(v, ".")
	if !digits(whole, 3) || dot && !digits(frac, 6) {
		return 0, fmt.Errorf("%q is not a percentage", excerpt(v))
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || p > 100 {
		return 0, fmt.Errorf("%q is not a percentage", excerpt(v))
	}
	return p / 100, nil
}

// mebibytes reads a whole number of MiB as bytes.
func mebibytes(v string) (int64, error) {
	if unavailable(v) {
		return -1, nil
	}
	// 12 digits: up to a million TiB, and no overflow once in bytes.
	if !digits(v, 12) {
		return 0, fmt.Errorf("%q is not a whole number of MiB", excerpt(v))
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of MiB", excerpt(v))
	}
	return n * mebibyte, nil
}

// digits reports whether s is 1 to max ASCII digits.
func digits(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// unavailable reports whether v is nvidia-smi's way of saying it has no
// figure: "N/A", or a short phrase in brackets ("[N/A]", "[Not
// Supported]", "[Unknown Error]", "[GPU is lost]"…).
func unavailable(v string) bool {
	if v == "N/A" {
		return true
	}
	if len(v) < 3 || len(v) > 64 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	inner := v[1 : len(v)-1]
	if strings.TrimSpace(inner) == "" {
		return false
	}
	for _, r := range inner {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" /-_.'", r)) {
			return false
		}
	}
	return true
}

// excerpt is the start of s, safe to print: at most 32 bytes, anything
// but printable ASCII replaced by '?'.
func excerpt(s string) string {
	return clean(s, 32)
}

// clean keeps at most n bytes of s, printable ASCII only ('?' for the
// rest), with "..." when it cut.
func clean(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}
