//go:build !linux

package command

import "syscall"

// procAttr: elsewhere than Linux, the command still gets a process group
// of its own, but no parent-death signal exists: it outlives a killed
// service until it ends by itself.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
