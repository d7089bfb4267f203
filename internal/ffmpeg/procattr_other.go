//go:build !linux

package ffmpeg

import "syscall"

// procAttr: elsewhere than Linux, no parent-death signal exists; a run
// outlives a killed service until it ends by itself.
func procAttr() *syscall.SysProcAttr { return nil }
