//go:build pprof

package main

// Built with -tags pprof (make bench's profiles: scripts/bench --profile),
// the binary serves net/http/pprof on AVATAR_PPROF_ADDR, a listener of its
// own. Production builds leave it out.

import (
	"net/http"
	_ "net/http/pprof" // registers on http.DefaultServeMux
	"os"
	"runtime"
)

func init() {
	if addr := os.Getenv("AVATAR_PPROF_ADDR"); addr != "" {
		runtime.SetMutexProfileFraction(10)
		runtime.SetBlockProfileRate(10_000) // a sample per 10 µs blocked
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
